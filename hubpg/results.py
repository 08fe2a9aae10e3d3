"""What the Python API returns: small dataclasses with a one-line ``repr`` and, in
Jupyter, a rich ``_repr_html_`` (score, learning curve, replay video, claim check) in
which everything that came from outside (repo ids, card claims, paths) is escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubpg.config import TrainConfig
from hubpg.runfolder import CARD_NAME, RESULTS_NAME, VIDEO_NAME, format_score, leaderboard_score

#: Largest mp4 embedded in a notebook page; bigger replays are linked instead.
EMBED_MAX_BYTES = 8 * 1024 * 1024


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def video_html(path: Path | None, *, width: int = 320) -> str:
    """A ``<video>`` element playing the mp4 at ``path`` (embedded when small); empty
    when there is no video.

    Args:
        path: the mp4 file, or None.
        width: display width in pixels.
    """
    if path is None or not Path(path).is_file():
        return ""
    path = Path(path)
    if path.stat().st_size <= EMBED_MAX_BYTES:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        source = f"data:video/mp4;base64,{data}"
    else:
        source = _e(path.as_posix())
    return (
        f'<video controls loop muted width="{width}" src="{source}" title="{_e(path.name)}">'
        "your browser cannot play mp4</video>"
    )


def to_json(value: Any) -> str:
    """``value`` as the strict JSON every ``--json`` prints: a non-finite number is null,
    floats lose their rounding noise (:func:`hubpg.runfolder.clean_numbers`), objects are
    indented, and a list of plain values stays on one line (a 100-episode evaluation is
    a few lines, not one number per line).

    Args:
        value: a JSON-ready value (a result's ``to_dict()``).
    """
    from hubpg.claims import finite_or_none
    from hubpg.runfolder import clean_numbers

    return _json(clean_numbers(finite_or_none(value)), 0)


def _json(value: Any, level: int) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {_json(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        items = [inner + _json(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def _claim_html(claimed: dict[str, Any] | None, supported: bool | None) -> str:
    if claimed is None:
        return "<p>claim: none (no parsable model-index in the card)</p>"
    verdict = "supported" if supported else "<b>NOT SUPPORTED</b> by the measurement"
    score = format_score(claimed.get("mean_reward"), claimed.get("std_reward"))
    return f"<p>card claims <code>{_e(score)}</code>: claim {verdict}</p>"


def _scored(evaluation: Evaluated, claimed: dict[str, Any] | None, supported: bool | None) -> str:
    """``MEAN +/- STD over N episodes, claim supported`` (or ``claim NOT SUPPORTED``, or
    ``no claim``), for a repr."""
    if claimed is None:
        verdict = "no claim"
    else:
        verdict = "claim supported" if supported else "claim NOT SUPPORTED"
    return f"{evaluation.summary()} over {evaluation.n_episodes} episodes, {verdict}"


# --------------------------------------------------------------------------- evaluate


@dataclass(repr=False)
class Evaluated:
    """An evaluation (what :func:`hubpg.evaluation.evaluate` returns): ``mean_reward``,
    ``std_reward``, ``summary()`` (``MEAN +/- STD``), ``score`` (mean - std), and
    per-episode ``episode_returns``, ``episode_lengths`` and ``seeds``."""

    env_id: str
    mean_reward: float
    std_reward: float
    n_episodes: int
    episode_returns: list[float]
    episode_lengths: list[int]
    seeds: list[int]
    deterministic: bool
    max_t: int

    @property
    def score(self) -> float:
        """The leaderboard score, mean minus std."""
        return leaderboard_score(self.mean_reward, self.std_reward)

    def summary(self) -> str:
        """``MEAN +/- STD`` with two decimals."""
        return format_score(self.mean_reward, self.std_reward)

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg evaluate --json`` prints."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """``ENV MEAN +/- STD over N episodes, seeds A..B, sampled, max_t T``."""
        protocol = self.protocol().removesuffix(" actions")
        return (
            f"{self.env_id} {self.summary()} over {self.n_episodes} episodes, {protocol}, "
            f"max_t {self.max_t}"
        )

    def save_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` to ``path`` as JSON (``hubpg evaluate --save-json``),
        atomically.

        Args:
            path: the file to write.
        """
        from hubpg.runfolder import write_json

        write_json(path, self.to_dict())

    def protocol(self) -> str:
        """``seeds A..B, sampled actions`` (or ``argmax actions``)."""
        mode = "argmax actions" if self.deterministic else "sampled actions"
        seeds = f"seeds {self.seeds[0]}..{self.seeds[-1]}" if self.seeds else "no seeds"
        return f"{seeds}, {mode}"

    def notes(self) -> list[str]:
        """The line for people ``hubpg evaluate`` writes on stderr: the protocol."""
        return [f"{self.env_id}: {self.n_episodes} episodes, {self.protocol()}, max_t {self.max_t}"]

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"Evaluated({self.describe()})"

    def _repr_html_(self) -> str:
        return f"<p><b>{_e(self.summary())}</b> &mdash; {_e(self.describe())}</p>"


# --------------------------------------------------------------------------- train


@dataclass(repr=False)
class Trained:
    """A finished training run: its folder, the training summary, the final evaluation
    (None with ``eval_episodes=0``) and the config it ran with."""

    run_dir: Path
    env_id: str
    steps: int
    episodes: int
    updates: int
    train_seconds: float
    solved: bool
    evaluation: Evaluated | None
    config: TrainConfig

    @property
    def steps_per_second(self) -> float:
        """Env steps per second of training wall time."""
        return self.steps / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def score(self) -> str:
        """``MEAN +/- STD`` of the final evaluation (``-`` without one)."""
        return self.evaluation.summary() if self.evaluation else format_score(None, None)

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg train --json`` prints."""
        return {
            "run_dir": str(self.run_dir),
            "env_id": self.env_id,
            "steps": self.steps,
            "episodes": self.episodes,
            "updates": self.updates,
            "train_seconds": round(self.train_seconds, 3),
            "steps_per_second": round(self.steps_per_second),
            "solved": self.solved,
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
        }

    def notes(self) -> list[str]:
        """The lines for people ``hubpg train`` writes on stderr (``--quiet`` silences
        them): the training, the evaluation's protocol, the run folder."""
        lines = [self.training_line()]
        e = self.evaluation
        if e is not None:
            lines.append(
                f"evaluation over {e.n_episodes} episodes ({e.protocol()}, max_t {e.max_t}):"
            )
        lines.append(f"run folder: {self.run_dir}")
        return lines

    def __str__(self) -> str:
        """The final evaluation's ``MEAN +/- STD`` (empty without one)."""
        return self.evaluation.summary() if self.evaluation else ""

    def training_line(self) -> str:
        """``trained ENV: S steps, E episodes, U updates in T s (R steps/s)``."""
        return (
            f"trained {self.env_id}: {self.steps:,} steps, {self.episodes:,} episodes, "
            f"{self.updates} updates in {self.train_seconds:.1f} s "
            f"({self.steps_per_second:,.0f} steps/s)"
        )

    def __repr__(self) -> str:
        score = (
            f"{self.score} over {self.evaluation.n_episodes} episodes"
            if self.evaluation
            else "not evaluated"
        )
        return (
            f"Trained({self.env_id} {score}; {self.steps:,} steps in "
            f"{self.train_seconds:.1f} s; {self.run_dir})"
        )

    def learning_curve_png(self) -> bytes | None:
        """The learning curve (mean return per update against steps) as PNG bytes; None
        when the log is empty."""
        from hubpg.errors import HubpgError
        from hubpg.plots import plot_learning_curve
        from hubpg.runfolder import read_log

        try:
            rows = read_log(self.run_dir)
            with tempfile.TemporaryDirectory(prefix="hubpg-curve-") as tmp:
                path = plot_learning_curve(rows, Path(tmp) / "curve.png", self.env_id)
                return path.read_bytes()
        except HubpgError:
            return None

    def _repr_html_(self) -> str:
        parts = [
            f"<p>REINFORCE on <code>{_e(self.env_id)}</code>: <b>{_e(self.score)}</b>",
            f" &mdash; {_e(self.training_line())}; run folder <code>{_e(self.run_dir)}</code></p>",
        ]
        png = self.learning_curve_png()
        if png is not None:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f'<img alt="learning curve" src="data:image/png;base64,{data}"/>')
        return "".join(parts)


# --------------------------------------------------------------------------- package


@dataclass(repr=False)
class Packaged:
    """A package folder: its evaluation, the card's claim checked against it, the files,
    and the replay video (None with ``video=False``)."""

    package_dir: Path
    evaluation: Evaluated
    files: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    claimed: dict[str, Any] | None = None
    claim_supported: bool | None = None

    @classmethod
    def written(
        cls,
        package_dir: Path,
        evaluation: Evaluated,
        files: list[str],
        timings: dict[str, float],
    ) -> Packaged:
        """The package :func:`hubpg.packaging.package` wrote, with the written card's
        claim read back and judged against the evaluation.

        Args:
            package_dir: the package folder.
            evaluation: the evaluation behind the card.
            files: the package's file names.
            timings: seconds per part (evaluation, video, curve, card, total).
        """
        from hubpg.claims import judge_claim, read_claim

        folder = Path(package_dir)
        results, card = folder / RESULTS_NAME, folder / CARD_NAME
        claim = None
        if card.is_file():
            claim = read_claim(card, results=results if results.is_file() else None)
        e = evaluation
        verdict = claim and judge_claim(
            claim, env_id=e.env_id, mean=e.mean_reward, std=e.std_reward, n=e.n_episodes
        )
        return cls(
            folder,
            evaluation,
            list(files),
            dict(timings),
            claim and claim.to_dict(),
            verdict and verdict.supported,
        )

    @property
    def video(self) -> Path | None:
        """``replay.mp4`` in the package, if recorded."""
        path = self.package_dir / VIDEO_NAME
        return path if path.is_file() else None

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg package --json`` prints."""
        return {
            "package_dir": str(self.package_dir),
            "files": self.files,
            "mean_reward": self.evaluation.mean_reward,
            "std_reward": self.evaluation.std_reward,
            "n_episodes": self.evaluation.n_episodes,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def notes(self) -> list[str]:
        """The line for people ``hubpg package`` writes on stderr: the files and timings."""
        split = ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
        return [f"packaged {self.package_dir} ({', '.join(self.files)}); {split}"]

    def __str__(self) -> str:
        return self.evaluation.summary()

    def __repr__(self) -> str:
        scored = _scored(self.evaluation, self.claimed, self.claim_supported)
        return f"Packaged({self.evaluation.env_id} {scored}; {self.package_dir})"

    def _repr_html_(self) -> str:
        return (
            f"<p>package <code>{_e(self.package_dir)}</code>: <b>{_e(self.evaluation.summary())}</b>"
            f" &mdash; {_e(self.evaluation.describe())}</p>"
            f"{_claim_html(self.claimed, self.claim_supported)}{video_html(self.video)}"
        )


# --------------------------------------------------------------------------- push


@dataclass(repr=False)
class Pushed:
    """Where a push went: the repo, its URL, the commit, the package uploaded, and
    whether the repo was made private or nothing changed (no commit made)."""

    repo_id: str
    url: str
    commit_sha: str
    commit_url: str
    revision: str
    package_dir: Path
    made_private: bool = False
    #: False when the Hub already held exactly these files (no commit was made).
    changed: bool = True

    @classmethod
    def of(cls, commit: Any, package_dir: Path | str) -> Pushed:
        """From :class:`hubpg.hub.Commit` (its fields of the same names) and the package
        folder uploaded."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "package_dir"]
        return cls(**{n: getattr(commit, n) for n in names}, package_dir=Path(package_dir))

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg push --json`` prints: every field, the folder as a string."""
        return {**dataclasses.asdict(self), "package_dir": str(self.package_dir)}

    def warnings(self) -> list[str]:
        """What ``hubpg push`` says on stderr even with ``--json`` (``--quiet`` silences
        it): that a public repo was made private."""
        if self.made_private:
            return [f"note: {self.repo_id} was public; it is now private (--private)"]
        return []

    def notes(self) -> list[str]:
        """The lines for people ``hubpg push`` writes on stderr (``--quiet`` silences them)."""
        if not self.changed:
            return [
                f"nothing changed: {self.repo_id} ({self.revision}) already holds "
                f"{self.package_dir}; no commit made"
            ]
        return [f"pushed {self.package_dir} to {self.repo_id} ({self.revision})"]

    def __str__(self) -> str:
        return f"{self.url}\ncommit {self.commit_sha}"

    def __repr__(self) -> str:
        return f"Pushed({self.repo_id} @ {self.commit_sha[:12]} on {self.revision}: {self.url})"

    def _repr_html_(self) -> str:
        return (
            f'<p>pushed to <a href="{_e(self.url)}" target="_blank">{_e(self.repo_id)}</a> '
            f"({_e(self.revision)}), commit <code>{_e(self.commit_sha[:12])}</code></p>"
        )


# --------------------------------------------------------------------------- load and eval


@dataclass(repr=False)
class Verified:
    """A shared model re-evaluated (:func:`hubpg.verify.verify_one`): the measurement,
    the card's claim, whether the measurement supports it (and why not), what a course
    checkpoint was read as, and the replay when one was recorded."""

    repo_id: str
    revision: str
    evaluation: Evaluated
    claimed: dict[str, Any] | None
    claim_supported: bool | None
    claim_problem: str | None = None
    #: Why the claim is or is not supported (:meth:`hubpg.claims.Verdict.to_dict`).
    claim_verdict: dict[str, Any] | None = None
    #: What a course checkpoint was read as and what was assumed (None: a hubpg repo).
    legacy: dict[str, Any] | None = None
    #: Whether course checkpoints were allowed (``legacy=True``): the report then says
    #: ``"legacy"``, None or not.
    legacy_read: bool = False
    video: Path | None = None

    @classmethod
    def of(cls, report: dict[str, Any]) -> Verified:
        """From a :meth:`to_dict` report (the inverse)."""
        names = [f.name for f in dataclasses.fields(Evaluated)]
        evaluation = Evaluated(**{name: report[name] for name in names})
        return cls(
            report["repo_id"],
            report["revision"],
            evaluation,
            report.get("claimed"),
            report.get("claim_supported"),
            report.get("claim_problem"),
            report.get("claim_verdict"),
            report.get("legacy"),
            "legacy" in report,
            Path(report["video"]) if report.get("video") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg load-and-eval --json`` prints (every number finite or None)."""
        from hubpg.claims import finite_or_none

        report = {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "env_id": self.evaluation.env_id,
            **self.evaluation.to_dict(),
            "score": self.evaluation.score,
            "claimed": self.claimed,
            "claim_supported": self.claim_supported,
            "claim_problem": self.claim_problem,
            "claim_verdict": self.claim_verdict,
        }
        if self.legacy_read:
            report["legacy"] = self.legacy
        if self.video is not None:
            report["video"] = str(self.video)
        return finite_or_none(report)

    def verdict_line(self) -> str:
        """``measured M +/- S   claimed C +/- D   claim supported`` (what stdout shows)."""
        measured = self.evaluation.summary()
        if self.claimed is None:
            return f"measured {measured}   claimed: none (no parsable model-index in the card)"
        verdict = (
            "supported"
            if self.claim_supported
            else f"NOT SUPPORTED ({self.claim_problem or 'by the measurement'})"
        )
        claimed = format_score(self.claimed["mean_reward"], self.claimed["std_reward"])
        return f"measured {measured}   claimed {claimed}   claim {verdict}"

    def notes(self) -> list[str]:
        """The lines for people ``hubpg load-and-eval`` writes on stderr (``--quiet``
        silences them): what a course checkpoint was read as, then the protocol."""
        lines = [legacy_note(self.legacy)] if self.legacy else []
        e = self.evaluation
        lines.append(
            f"{self.repo_id} @ {self.revision[:12]} ({e.env_id}): {e.n_episodes} episodes, "
            f"{e.protocol()}"
        )
        if self.video is not None:
            lines.append(f"replay written to {self.video}")
        return lines

    def check_strict(self) -> None:
        """``--strict``: raise :class:`~hubpg.errors.ClaimNotSupportedError` (exit 1)
        when the claim is missing or the measurement does not support it."""
        from hubpg.errors import ClaimNotSupportedError

        if self.claim_supported:
            return
        if self.claimed is None:
            raise ClaimNotSupportedError(
                f"{self.repo_id}'s card claims no score, so --strict cannot pass; package "
                "the model with hubpg so its card carries one"
            )
        raise ClaimNotSupportedError(
            f"the measurement does not support {self.repo_id}'s claim (--strict); "
            "re-evaluate with more --episodes or correct the card"
        )

    def __str__(self) -> str:
        return self.verdict_line()

    def __repr__(self) -> str:
        scored = _scored(self.evaluation, self.claimed, self.claim_supported)
        return f"Verified({self.repo_id} @ {self.revision[:12]}: {scored})"

    def _repr_html_(self) -> str:
        return (
            f"<p><code>{_e(self.repo_id)}</code> @ <code>{_e(self.revision[:12])}</code>: "
            f"measured <b>{_e(self.evaluation.summary())}</b> &mdash; "
            f"{_e(self.evaluation.describe())}</p>"
            f"{_claim_html(self.claimed, self.claim_supported)}{video_html(self.video)}"
        )


def legacy_note(report: dict[str, Any]) -> str:
    """One paragraph for people: what a course checkpoint was read as, and what was assumed.

    Args:
        report: :meth:`hubpg.legacy.LegacyModel.report`.
    """
    lines = [
        f"read {report['source_file']} ({report['kind']}, {report['format']} format, sha256 "
        f"{report['sha256'][:12]}) weights-only: {report['architecture']}"
    ]
    lines += [f"  assumed: {item}" for item in report["assumed"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- convert


@dataclass(repr=False)
class Converted:
    """A course checkpoint written as a hubpg folder: where, which files, and what was
    read and assumed (:meth:`hubpg.legacy.LegacyModel.report`)."""

    out: Path
    files: list[str]
    report: dict[str, Any]

    @classmethod
    def of(cls, result: Any) -> Converted:
        """From :class:`hubpg.legacy.ConvertResult`."""
        return cls(Path(result.out), list(result.files), result.model.report())

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg convert --json`` prints."""
        return {"out": str(self.out), "files": self.files, **self.report}

    def notes(self) -> list[str]:
        """What was read and assumed (stderr; ``--quiet`` silences it)."""
        return [legacy_note(self.report)]

    def __str__(self) -> str:
        return f"wrote {self.out} ({', '.join(self.files)})"

    def __repr__(self) -> str:
        return f"Converted({self.out}: {self.report.get('architecture')})"


# --------------------------------------------------------------------------- leaderboard


@dataclass(repr=False)
class Leaderboard:
    """Ranked rows (best first), then the rows set apart with the reason."""

    env_id: str
    rows: list[dict[str, Any]]
    verified: bool
    endpoint: str
    #: The text table ``hubpg leaderboard`` prints (:func:`hubpg.ranking.format_table`).
    text: str = ""
    #: What ``hubpg leaderboard --csv`` prints (:func:`hubpg.ranking.write_csv`).
    csv: str = ""

    @property
    def ranked(self) -> list[dict[str, Any]]:
        """The ranked rows, best first."""
        return [r for r in self.rows if r["rank"] is not None]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def to_dict(self) -> list[dict[str, Any]]:
        """What ``hubpg leaderboard --json`` prints: the rows."""
        return self.rows

    def __str__(self) -> str:
        """The text table ``hubpg leaderboard`` prints."""
        return self.text

    def __repr__(self) -> str:
        by = "measured" if self.verified else "claimed"
        ranked = self.ranked
        best = ""
        if ranked:
            top = ranked[0]
            mean, std = top[f"{by}_mean"], top[f"{by}_std"]
            best = f"; #1 {top['repo_id']} {format_score(mean, std)}"
        return (
            f"Leaderboard({self.env_id}: {len(ranked)} ranked by {by} mean - std, "
            f"{len(self.rows) - len(ranked)} set apart{best})"
        )

    def _repr_html_(self) -> str:
        by = "measured" if self.verified else "claimed"
        head = "<tr><th>rank</th><th>repo</th><th>claimed</th>"
        head += "<th>measured</th><th>claim holds</th>" if self.verified else ""
        head += "<th>score</th></tr>"
        body = []
        for r in self.ranked:
            cells = [
                str(r["rank"]),
                r["repo_id"],
                format_score(r["claimed_mean"], r["claimed_std"]),
            ]
            if self.verified:
                cells.append(format_score(r["measured_mean"], r["measured_std"]))
                cells.append({True: "yes", False: "NO"}.get(r["claim_supported"], "-"))
            score = r[f"{by}_score"]
            cells.append("-" if score is None else f"{score:.2f}")
            body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
        apart = [
            f"<li><code>{_e(r['repo_id'])}</code>: {_e(r['problem'])}</li>"
            for r in self.rows
            if r["rank"] is None
        ]
        out = (
            f"<p>models tagged <code>{_e(self.env_id)}</code> on {_e(self.endpoint)}, ranked by "
            f"{by} mean - std</p><table>{head}{''.join(body)}</table>"
        )
        if apart:
            out += f"<p>set apart ({len(apart)}):</p><ul>{''.join(apart)}</ul>"
        return out


__all__ = [
    "EMBED_MAX_BYTES",
    "Converted",
    "Evaluated",
    "Leaderboard",
    "Packaged",
    "Pushed",
    "Trained",
    "Verified",
    "legacy_note",
    "to_json",
    "video_html",
]
