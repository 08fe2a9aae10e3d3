"""What the Python API returns: small dataclasses with a one-line ``repr`` and, in
Jupyter, a rich ``_repr_html_`` (score, learning curve, replay video, claim check).

Everything shown in HTML that came from outside (repo ids, card claims, paths) is
escaped. Videos up to :data:`EMBED_MAX_BYTES` are embedded in the page (a data
URI), so the notebook shows them even when saved and opened elsewhere; larger
ones are linked to the local file.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubpg.config import TrainConfig
from hubpg.evaluation import EvalResult
from hubpg.runfolder import CARD_NAME, RESULTS_NAME, VIDEO_NAME, format_score

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


def _claim_html(claimed: dict[str, Any] | None, supported: bool | None) -> str:
    if claimed is None:
        return "<p>claim: none (no parsable model-index in the card)</p>"
    verdict = "supported" if supported else "<b>NOT SUPPORTED</b> by the measurement"
    score = format_score(claimed.get("mean_reward"), claimed.get("std_reward"))
    return f"<p>card claims <code>{_e(score)}</code>: claim {verdict}</p>"


def _claim_text(claimed: dict[str, Any] | None, supported: bool | None) -> str:
    if claimed is None:
        return "no claim"
    return "claim supported" if supported else "claim NOT SUPPORTED"


# --------------------------------------------------------------------------- evaluate


@dataclass(repr=False)
class Evaluated(EvalResult):
    """An evaluation: ``mean_reward``, ``std_reward``, ``summary()`` (``MEAN +/- STD``),
    ``score`` (mean - std), and per-episode ``episode_returns``, ``episode_lengths``
    and ``seeds``."""

    @classmethod
    def of(cls, result: EvalResult) -> Evaluated:
        """The same evaluation as an :class:`Evaluated`."""
        return cls(**{f.name: getattr(result, f.name) for f in dataclasses.fields(EvalResult)})

    def describe(self) -> str:
        """``ENV MEAN +/- STD over N episodes, seeds A..B, sampled, max_t T``."""
        mode = "argmax" if self.deterministic else "sampled"
        seeds = f"seeds {self.seeds[0]}..{self.seeds[-1]}" if self.seeds else "no seeds"
        return (
            f"{self.env_id} {self.summary()} over {self.n_episodes} episodes, {seeds}, "
            f"{mode}, max_t {self.max_t}"
        )

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
    def of(cls, result: Any) -> Packaged:
        """From :class:`hubpg.packaging.PackageResult`, re-reading the written card's claim."""
        from hubpg.claims import judge_claim
        from hubpg.hub import claim_of

        folder = Path(result.package_dir)
        files = {name: folder / name for name in (CARD_NAME, RESULTS_NAME)}
        claim = claim_of({k: v for k, v in files.items() if v.is_file()})
        evaluation = Evaluated.of(result.evaluation)
        if claim is None:
            claimed, supported = None, None
        else:
            claimed = claim.to_dict()
            supported = judge_claim(
                claim,
                env_id=evaluation.env_id,
                mean=evaluation.mean_reward,
                std=evaluation.std_reward,
                n=evaluation.n_episodes,
            ).supported
        return cls(folder, evaluation, list(result.files), dict(result.timings), claimed, supported)

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

    def __repr__(self) -> str:
        return (
            f"Packaged({self.evaluation.env_id} {self.evaluation.summary()} over "
            f"{self.evaluation.n_episodes} episodes, {_claim_text(self.claimed, self.claim_supported)}; "
            f"{self.package_dir})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p>package <code>{_e(self.package_dir)}</code>: <b>{_e(self.evaluation.summary())}</b>"
            f" &mdash; {_e(self.evaluation.describe())}</p>"
            f"{_claim_html(self.claimed, self.claim_supported)}{video_html(self.video)}"
        )


# --------------------------------------------------------------------------- push


@dataclass(repr=False)
class Pushed:
    """Where a push went: the repo, its URL, the commit."""

    repo_id: str
    url: str
    commit_sha: str
    commit_url: str
    revision: str
    package_dir: Path

    @classmethod
    def of(cls, result: Any) -> Pushed:
        """From :class:`hubpg.hub.PushResult`."""
        return cls(
            result.repo_id,
            result.url,
            result.commit_sha,
            result.commit_url,
            result.revision,
            Path(result.package_dir),
        )

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg push --json`` prints."""
        return {
            "repo_id": self.repo_id,
            "url": self.url,
            "commit_sha": self.commit_sha,
            "commit_url": self.commit_url,
            "revision": self.revision,
            "package_dir": str(self.package_dir),
        }

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
    """A shared model re-evaluated: the measurement, the card's claim, whether the
    measurement supports it, and the replay when one was recorded."""

    repo_id: str
    revision: str
    evaluation: Evaluated
    claimed: dict[str, Any] | None
    claim_supported: bool | None
    video: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, report: dict[str, Any]) -> Verified:
        """From the report :func:`hubpg.hub.load_and_eval` returns."""
        names = [f.name for f in dataclasses.fields(EvalResult)]
        evaluation = Evaluated(**{name: report[name] for name in names})
        video = Path(report["video"]) if report.get("video") else None
        return cls(
            report["repo_id"],
            report["revision"],
            evaluation,
            report.get("claimed"),
            report.get("claim_supported"),
            video,
            dict(report),
        )

    def to_dict(self) -> dict[str, Any]:
        """What ``hubpg load-and-eval --json`` prints."""
        return dict(self.report)

    def __repr__(self) -> str:
        return (
            f"Verified({self.repo_id} @ {self.revision[:12]}: {self.evaluation.summary()} over "
            f"{self.evaluation.n_episodes} episodes, {_claim_text(self.claimed, self.claim_supported)})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><code>{_e(self.repo_id)}</code> @ <code>{_e(self.revision[:12])}</code>: "
            f"measured <b>{_e(self.evaluation.summary())}</b> &mdash; "
            f"{_e(self.evaluation.describe())}</p>"
            f"{_claim_html(self.claimed, self.claim_supported)}{video_html(self.video)}"
        )


# --------------------------------------------------------------------------- leaderboard


@dataclass(repr=False)
class Leaderboard:
    """Ranked rows (best first), then the rows set apart with the reason."""

    env_id: str
    rows: list[dict[str, Any]]
    verified: bool
    endpoint: str

    @property
    def ranked(self) -> list[dict[str, Any]]:
        """The ranked rows, best first."""
        return [r for r in self.rows if r["rank"] is not None]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def table(self) -> str:
        """The text table ``hubpg leaderboard`` prints."""
        from hubpg.ranking import format_table

        return format_table(self.rows, verified=self.verified)

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
    "Evaluated",
    "Leaderboard",
    "Packaged",
    "Pushed",
    "Trained",
    "Verified",
    "video_html",
]
