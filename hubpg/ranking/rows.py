"""Leaderboard rows: one flat dict of scalars per model (:data:`ROW_KEYS`), read from a
listing item, given a measurement, judged, ranked. A row is a plain dict so that
``pandas.DataFrame(rows)``, ``--json`` and ``--csv`` take it as it is; :class:`Row`
declares its keys."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from hubpg.errors import CardMetadataError
from hubpg.runfolder import leaderboard_score


@dataclass
class Row:
    """The columns of a leaderboard row, in display order (``Row().to_dict()`` is an
    empty row)."""

    #: 1, 2, ... for ranked rows; None for the rows set apart.
    rank: int | None = None
    repo_id: str | None = None
    claimed_mean: float | None = None
    claimed_std: float | None = None
    #: The claim's mean - std (the course leaderboard's score).
    claimed_score: float | None = None
    claimed_n_episodes: int | None = None
    measured_mean: float | None = None
    measured_std: float | None = None
    measured_score: float | None = None
    measured_n_episodes: int | None = None
    claim_supported: bool | None = None
    claim_problem: str | None = None
    #: Why the claim is or is not supported (:meth:`hubpg.claims.Verdict.to_dict`).
    claim_verdict: dict[str, Any] | None = None
    #: The listed commit's date (ISO 8601).
    date: str | None = None
    #: The listed commit: exactly the one verified.
    revision: str | None = None
    #: Why the row is set apart (None for ranked rows).
    problem: str | None = None
    #: ``"now"`` or ``"stored"`` (from the verification store) once measured.
    verified: str | None = None
    verified_at: str | None = None
    #: The format of a model hubpg cannot verify (``"stable-baselines3"``, ...), else None.
    other_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as the dict leaderboards return."""
        return asdict(self)


#: The keys of every row, in display order.
ROW_KEYS = tuple(f.name for f in fields(Row))
NO_CLAIM = "no parsable mean_reward in the card"
PICKLE_PROBLEM = "not verifiable: pickle"
#: Prefix of the problem of a course checkpoint that ``legacy=True`` refused.
LEGACY_PROBLEM = "refused course checkpoint"
#: Prefix of the mark of a model in a format hubpg cannot verify.
NOT_VERIFIABLE = "not verifiable here"
_SNAPSHOT_PATH = re.compile(r"\S*/snapshots/[0-9a-f]{40}/")
#: Library names / tags of formats hubpg recognises but cannot verify, as shown.
OTHER_FORMATS = {
    "stable-baselines3": "stable-baselines3",
    "sb3": "stable-baselines3",
    "cleanrl": "CleanRL",
    "sample-factory": "sample-factory",
    "ml-agents": "ML-Agents",
    "rl-zoo": "stable-baselines3",
}
#: Tags or library names of models hubpg can verify (its own, and course checkpoints).
VERIFIABLE_MARKS = frozenset({"hubpg", "reinforce"})


def one_line(exc: BaseException, cap: int = 300) -> str:
    """The message on one line, without download-cache paths: ``<cache>/models--a--b/
    snapshots/<sha>/model.safetensors`` reads ``model.safetensors``.

    Args:
        exc: the exception.
        cap: the most characters kept.
    """
    from hubpg.errors import one_line as quoted

    return quoted(_SNAPSHOT_PATH.sub("", quoted(exc, limit=None, whole=True)), limit=cap)


def not_verifiable(row: dict[str, Any]) -> str | None:
    """``"not verifiable here: FORMAT"`` for a row of another library's model, else None."""
    return f"{NOT_VERIFIABLE}: {row['other_format']}" if row.get("other_format") else None


def row_from_listing(model: Any, env_id: str) -> dict[str, Any]:
    """A row from one listing item (a ``ModelInfo`` or an
    :class:`~hubpg.hub.UnreadableListing`): the claim read from its ``cardData``.

    Never raises: an item that cannot be read is a set-apart row with the reason.

    Args:
        model: the listing item.
        env_id: the env the leaderboard ranks.
    """
    repo_id = getattr(model, "id", None)
    row = Row(repo_id=repo_id if isinstance(repo_id, str) else repr(repo_id)[:80]).to_dict()
    try:
        _fill_from_listing(row, model, env_id)
    except Exception as exc:  # noqa: BLE001 - one hostile item must not stop the ranking
        row["problem"] = f"unreadable listing item ({one_line(exc)})"
    return row


def model_format(model: Any) -> str | None:
    """The other library a listing item's model comes from (``"stable-baselines3"``,
    ``"CleanRL"``, ``"unknown"``), or None when hubpg can verify it (its own models and
    course REINFORCE checkpoints).

    Args:
        model: a listing item (``ModelInfo``).
    """
    card = getattr(model, "card_data", None)
    library = getattr(card, "library_name", None) if card is not None else None
    tags = getattr(model, "tags", None) or []
    marks = [str(library).lower()] if isinstance(library, str) else []
    marks += [str(t).lower() for t in tags if isinstance(t, str)]
    if any(m in VERIFIABLE_MARKS for m in marks):
        return None
    return next((OTHER_FORMATS[m] for m in marks if m in OTHER_FORMATS), "unknown format")


def _fill_from_listing(row: dict[str, Any], model: Any, env_id: str) -> None:
    from hubpg.card import card_data, card_env_ids
    from hubpg.claims import impossible_reason, parse_claim

    if getattr(model, "problem", None):  # an UnreadableListing
        row["problem"] = model.problem
        return
    sha = getattr(model, "sha", None)
    row["revision"] = sha if isinstance(sha, str) else None
    modified = getattr(model, "last_modified", None)
    row["date"] = modified.isoformat() if hasattr(modified, "isoformat") else None
    row["other_format"] = model_format(model)
    card = getattr(model, "card_data", None)
    if card is None:
        row["problem"] = NO_CLAIM
        return
    try:
        card = card_data(card)  # checked once, read twice
        envs = card_env_ids(card)
        if envs and env_id not in envs:
            row["problem"] = f"card claims {', '.join(sorted(envs))}"
            return
        mean, std = parse_claim(card, env_id=env_id)
    except (CardMetadataError, ValueError, TypeError, RecursionError):
        row["problem"] = NO_CLAIM
        return
    row.update(claimed_mean=mean, claimed_std=std, claimed_score=leaderboard_score(mean, std))
    impossible = impossible_reason(mean, env_id, std=std)
    if impossible is not None:
        row.update(claim_supported=False, claim_problem=impossible)


def apply_measurement(row: dict[str, Any], outcome: dict[str, Any], env_id: str) -> None:
    """Put one verification outcome into its row and judge the row's claim
    (:func:`hubpg.claims.judge_claim`). Never raises: a row whose numbers cannot be
    scored is set apart with the reason.

    Args:
        row: the row (from :func:`row_from_listing`).
        outcome: what the verification returned for it.
        env_id: the env that was measured.
    """
    try:
        _apply(row, outcome, env_id)
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
        row["problem"] = f"cannot score the measurement ({one_line(exc)})"


def _apply(row: dict[str, Any], outcome: dict[str, Any], env_id: str) -> None:
    from hubpg.claims import Claim, episode_count, judge_claim

    if outcome.get("problem"):
        row["problem"] = outcome["problem"]
        return
    claimed_n = episode_count(outcome.get("claimed_n_episodes"))
    if claimed_n is not None:
        row["claimed_n_episodes"] = claimed_n
    mean, std, n = float(outcome["mean"]), float(outcome["std"]), int(outcome["n_episodes"])
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ValueError(f"measured {mean} +/- {std} is not finite")
    row.update(
        measured_mean=mean,
        measured_std=std,
        measured_score=leaderboard_score(mean, std),
        measured_n_episodes=n,
        revision=outcome.get("revision") or row["revision"],
    )
    claim = Claim(row["claimed_mean"], row["claimed_std"], row["claimed_n_episodes"])
    verdict = judge_claim(claim, env_id=env_id, mean=mean, std=std, n=n)
    row.update(
        claim_supported=verdict.supported,
        claim_problem=verdict.problem,
        claim_verdict=verdict.to_dict(),
    )


def _sort_key(row: dict[str, Any], by: str) -> tuple[Any, ...]:
    """Best first; without a measurement, an impossible claim after every other."""
    impossible = by == "claimed_score" and row["claim_supported"] is False
    return (impossible, -row[by], -(row["claimed_score"] or 0.0), row["repo_id"])


def _rankable(row: dict[str, Any], by: str) -> bool:
    value = row.get(by)
    return (
        row["problem"] is None
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and math.isfinite(row.get("claimed_score") or 0.0)
    )


def _apart_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Set-apart rows: the models of other formats first, best claim first, then the
    others by repo id."""
    claim = row.get("claimed_score")
    if row.get("other_format") and isinstance(claim, (int, float)) and math.isfinite(claim):
        return (0, -claim, row["repo_id"])
    return (1, 0.0, row["repo_id"])


def rank_rows(
    rows: list[dict[str, Any]], by: str = "claimed_score", top: int | None = None
) -> list[dict[str, Any]]:
    """Ranked rows (score ``by`` descending, then claimed score, then repo id), the
    ``top`` best of them when given, then every set-apart row (``rank`` None).

    Args:
        rows: the rows (changed in place: ``rank``, and ``problem`` of unranked rows).
        by: ``"claimed_score"`` or ``"measured_score"``.
        top: keep this many ranked rows.
    """
    ranked = [r for r in rows if _rankable(r, by)]
    apart = [r for r in rows if not _rankable(r, by)]
    ranked.sort(key=lambda r: _sort_key(r, by))
    if top is not None:
        ranked = ranked[:top]
    for i, row in enumerate(ranked, 1):
        row["rank"] = i
    for row in apart:
        row["rank"] = None
        if row["problem"] is None:  # pragma: no cover - every unranked row has a reason
            row["problem"] = f"no {by.replace('_', ' ')}"
    apart.sort(key=_apart_key)
    return ranked + apart


__all__ = [
    "LEGACY_PROBLEM",
    "NOT_VERIFIABLE",
    "NO_CLAIM",
    "PICKLE_PROBLEM",
    "ROW_KEYS",
    "Row",
    "apply_measurement",
    "model_format",
    "not_verifiable",
    "one_line",
    "rank_rows",
    "row_from_listing",
]
