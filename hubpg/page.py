"""A verified leaderboard as a static site: ``index.html``, ``leaderboard.json`` and a
``README.md`` with Hugging Face Space metadata (``sdk: static``), ready to upload as a Space.

The page is one self-contained file (inline CSS and JavaScript, no network): a sortable
ranked table, the set-apart models with their reasons, and a search box. Everything from
a card or a repo id is escaped by Jinja2's autoescaping, and a Content-Security-Policy
allows only the page's own script and style (by hash).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from hubpg.errors import LeaderboardSiteError
from hubpg.runfolder import CARD_NAME, atomic_dir, atomic_write_text, format_score, write_json

INDEX_NAME = "index.html"
JSON_NAME = "leaderboard.json"
#: ``leaderboard.json``'s ``generator``: marks a folder this module may replace.
GENERATOR = "hubpg leaderboard"
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def leaderboard_page(
    rows: Iterable[dict[str, Any]],
    out_dir: Path | str,
    *,
    env_id: str,
    endpoint: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
) -> Path:
    """Write the static leaderboard site of ``rows`` into ``out_dir``, atomically.

    The folder is written beside ``out_dir`` and renamed into place; an existing
    ``out_dir`` is replaced only when it is empty or an earlier hubpg leaderboard
    site (anything else is refused, never deleted).

    Args:
        rows: the rows of a verified leaderboard (``hubpg.leaderboard(...,
            verify=True)``, or its ``.rows``).
        out_dir: the site's folder.
        env_id: the env the models were verified on.
        endpoint: the Hub the models were listed on (links point there; default: the
            leaderboard's own ``endpoint``, else as in ``huggingface_hub``).
        episodes: evaluation episodes per model (the protocol shown in the header).
        seed: seed of episode 0.
        deterministic: argmax actions were used instead of sampled ones.
        max_t: the episode cap (default: the env's evaluation cap).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    from hubpg.config import evaluation_max_t
    from hubpg.evaluation import utc_now_iso
    from hubpg.hub import resolve_endpoint

    out = Path(out_dir)
    endpoint = endpoint or getattr(rows, "endpoint", None)
    rows = list(rows)
    _check_replaceable(out)
    protocol = {
        "env_id": env_id,
        "episodes": episodes,
        "seed": seed,
        "deterministic": deterministic,
        "max_t": max_t or evaluation_max_t(env_id),
    }
    site = build_site(
        rows, protocol=protocol, endpoint=resolve_endpoint(endpoint), generated_at=utc_now_iso()
    )
    with atomic_dir(out) as tmp:
        atomic_write_text(tmp / INDEX_NAME, site["html"])
        write_json(tmp / JSON_NAME, site["json"])
        atomic_write_text(tmp / CARD_NAME, site["readme"])
    return out


def build_site(
    rows: list[dict[str, Any]], *, protocol: dict[str, Any], endpoint: str, generated_at: str
) -> dict[str, Any]:
    """The site's three files in memory: ``{"html": str, "json": dict, "readme": str}``.

    Args:
        rows: leaderboard rows.
        protocol: ``env_id``, ``episodes``, ``seed``, ``deterministic`` and ``max_t``.
        endpoint: the Hub URL the links point to.
        generated_at: an ISO 8601 date shown on the page.
    """
    import hubpg
    from hubpg.claims import CLAIM_Z
    from hubpg.envs import max_return

    env_id = protocol["env_id"]
    cap = max_return(env_id)
    views = [_view(row, cap, endpoint) for row in rows]
    ranked = [v for v in views if v["rank"] is not None]
    apart = [v for v in views if v["rank"] is None]
    css = (_TEMPLATES / "leaderboard.css").read_text(encoding="utf-8")
    js = (_TEMPLATES / "leaderboard.js").read_text(encoding="utf-8")
    html = (
        _environment()
        .get_template("leaderboard.html.j2")
        .render(
            env_id=env_id,
            endpoint=endpoint,
            endpoint_url=endpoint if _is_web_url(endpoint) else None,
            protocol=protocol,
            version=hubpg.__version__,
            generated_at=generated_at,
            max_return=cap,
            claim_z=CLAIM_Z,
            ranked=ranked,
            apart=apart,
            css=css,
            js=js,
            css_hash=_csp_hash(css),
            js_hash=_csp_hash(js),
        )
    )
    data = {
        "generator": GENERATOR,
        "hubpg_version": hubpg.__version__,
        "generated_at": generated_at,
        "endpoint": endpoint,
        "protocol": protocol,
        "max_return": cap,
        "rows": [_json_row(row, view) for row, view in zip(rows, views, strict=True)],
    }
    return {"html": html, "json": data, "readme": space_readme(env_id, endpoint)}


def claim_impossible(row: dict[str, Any], cap: float | None) -> bool:
    """Whether the row's claimed mean is above the env's maximum return ``cap`` (or
    not a finite number at all).

    Args:
        row: a leaderboard row.
        cap: :func:`hubpg.envs.max_return` of the env, None when unbounded.
    """
    from hubpg.claims import above_max_return

    mean = row.get("claimed_mean")
    if mean is None:
        return False
    return not math.isfinite(mean) or above_max_return(mean, cap)


def space_readme(env_id: str, endpoint: str) -> str:
    """The Space's ``README.md``: metadata (``sdk: static``) and a short description.

    Args:
        env_id: the env of the leaderboard.
        endpoint: the Hub the models were listed on.
    """
    title = f"{env_id} verified leaderboard"
    return (
        "---\n"
        f"title: {_yaml_string(title)}\n"
        "emoji: 🏆\n"
        "colorFrom: indigo\n"
        "colorTo: green\n"
        "sdk: static\n"
        "app_file: index.html\n"
        "pinned: false\n"
        "tags:\n"
        "- reinforcement-learning\n"
        "- leaderboard\n"
        f"- {_yaml_string(env_id)}\n"
        "---\n\n"
        f"# {title}\n\n"
        f"REINFORCE agents tagged `{env_id}` on {endpoint}, each downloaded and re-evaluated "
        "by hubpg; claims that the measurement does not support are flagged. Generated by "
        f"`hubpg leaderboard {env_id} --verify --html DIR`; the rows are in `{JSON_NAME}`.\n"
    )


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that is neither empty nor an earlier site."""
    if not out.exists():
        return
    if not out.is_dir():
        raise LeaderboardSiteError(f"{out} exists and is not a folder. Pass another --html DIR")
    if not any(out.iterdir()):
        return
    try:
        from hubpg.runfolder import read_json

        ours = read_json(out / JSON_NAME).get("generator") == GENERATOR
    except Exception:  # noqa: BLE001 - any unreadable file means "not ours"
        ours = False
    if not ours:
        raise LeaderboardSiteError(
            f"{out} exists and is not a hubpg leaderboard site (no {JSON_NAME} written by "
            "hubpg). Pass a new or empty folder to --html"
        )


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _is_web_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _yaml_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML string


def _num(value: Any) -> str:
    """A sort key for ``data-v``: the number, or empty when missing or not finite."""
    if value is None or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return repr(float(value))


def _fixed(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _verdict(row: dict[str, Any], cap: float | None) -> tuple[str, str]:
    """The verdict text and its CSS class."""
    if row["rank"] is None:
        problem = str(row.get("problem") or "no measurement")
        if not problem.startswith("not verifiable"):
            problem = f"not verifiable: {problem}"
        return problem, "unknown"
    verdict = row.get("claim_verdict") if isinstance(row.get("claim_verdict"), dict) else {}
    reason = verdict.get("reason") if isinstance(verdict.get("reason"), str) else None
    if claim_impossible(row, cap):
        return (
            f"impossible claim: {_fixed(row['claimed_mean'])} is above the maximum return {cap:g}",
            "impossible",
        )
    if verdict.get("code") == "impossible":
        return f"impossible claim: {(reason or '').removeprefix('impossible: ')}", "impossible"
    supported = row.get("claim_supported")
    if supported is True:
        return (f"claim supported: {reason}" if reason else "claim supported"), "ok"
    if supported is False:
        reason = row.get("claim_problem") or "the measured mean is lower by more than chance allows"
        return f"claim not supported: {reason}", "no"
    return "not verified", "unknown"


def _view(row: dict[str, Any], cap: float | None, endpoint: str) -> dict[str, Any]:
    """What the template shows of one row (every string escaped by the template)."""
    repo_id = str(row["repo_id"])
    sha = str(row.get("revision") or "")
    web = _is_web_url(endpoint)
    repo_url = f"{endpoint.rstrip('/')}/{quote(repo_id, safe='/')}" if web else None
    verdict, verdict_class = _verdict(row, cap)
    claimed_n = row.get("claimed_n_episodes")
    return {
        "rank": row["rank"],
        "repo_id": repo_id,
        "repo_url": repo_url,
        "claimed": format_score(row.get("claimed_mean"), row.get("claimed_std")),
        "claimed_mean_v": _num(row.get("claimed_mean")),
        "claimed_n": str(claimed_n) if claimed_n is not None else "unknown",
        "claimed_n_v": _num(claimed_n),
        "measured": format_score(row.get("measured_mean"), row.get("measured_std")),
        "measured_mean_v": _num(row.get("measured_mean")),
        "score": _fixed(row.get("measured_score")),
        "score_v": _num(row.get("measured_score")),
        "verdict": verdict,
        "verdict_class": verdict_class,
        "impossible": claim_impossible(row, cap),
        "short_sha": sha[:7] if sha else "-",
        "commit_url": f"{repo_url}/commit/{sha}" if repo_url and _SHA.match(sha) else None,
        "verified": row.get("verified"),
        "verified_at": row.get("verified_at"),
        "verified_date": _short_date(row.get("verified_at")),
        "date": row.get("date"),
        "listed_date": _short_date(row.get("date")),
    }


def _short_date(value: str | None) -> str:
    if not value:
        return "-"
    try:
        return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)[:16]


def _json_row(row: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """The row for ``leaderboard.json``: non-finite numbers as null, plus the verdict."""
    clean = {
        key: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for key, v in row.items()
    }
    return clean | {"claim_impossible": view["impossible"], "verdict": view["verdict"]}


__all__ = ["GENERATOR", "build_site", "claim_impossible", "leaderboard_page", "space_readme"]
