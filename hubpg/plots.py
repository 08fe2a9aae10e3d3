"""The learning-curve image shipped with a model: mean episode return against env steps.

Drawn on a matplotlib ``Figure`` never registered with pyplot: no display needed, no
figure leaked, and a notebook's backend left alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hubpg.errors import PlotWriteError, UnplottableLogError
from hubpg.runfolder import atomic_path

#: Figure size in inches and resolution: 640 x 400 pixels.
FIGSIZE = (6.4, 4.0)
DPI = 100


def _points(log_rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    if not log_rows:
        raise UnplottableLogError(
            "the training log has no rows, so there is no learning curve to plot; "
            "train for at least one update first"
        )
    xs, ys = [], []
    # read_log drops empty cells: a segment update that ended no episode has no
    # mean_return, but some row of a run's log does
    returns_logged = any(isinstance(row, Mapping) and "mean_return" in row for row in log_rows)
    for i, row in enumerate(log_rows):
        if not isinstance(row, Mapping) or "steps" not in row or not returns_logged:
            have = sorted(row) if isinstance(row, Mapping) else type(row).__name__
            raise UnplottableLogError(
                f"training log row {i} lacks 'steps' or 'mean_return' (it has {have}); "
                "pass the rows of the run's training log"
            )
        try:
            x, y = float(row["steps"]), float(row.get("mean_return", "nan"))
        except (TypeError, ValueError):
            continue  # an update with no finished episode logs no return
        if math.isfinite(x) and math.isfinite(y):
            xs.append(x)
            ys.append(y)
    if not xs:
        raise UnplottableLogError(
            "no row of the training log has a finite 'mean_return', so there is no "
            "learning curve to plot; train until at least one episode finishes"
        )
    order = np.argsort(xs, kind="stable")
    return np.asarray(xs)[order], np.asarray(ys)[order]


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` points (shorter at the start), same length as ``values``."""
    values = np.asarray(values, dtype=float)
    window = max(1, int(window))
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_learning_curve(
    log_rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    env_id: str,
    title: str | None = None,
) -> Path:
    """Plot ``mean_return`` against ``steps`` from the training log; write a 640x400 PNG
    at ``path`` (atomically) and return it as a :class:`Path`. Raw points are drawn
    faintly, with a rolling mean over about a twentieth of them.

    Args:
        log_rows: the rows of the run's training log.
        path: the image to write.
        env_id: the env, for the default title.
        title: the title.

    Raises :class:`UnplottableLogError` (a ``ValueError``) when ``log_rows`` is empty or
    a row lacks ``steps``/``mean_return``, and :class:`PlotWriteError` when the
    file cannot be written.
    """
    x, y = _points(log_rows)
    path = Path(path)

    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax = fig.subplots()
    window = max(1, len(y) // 20)
    ax.plot(
        x,
        y,
        color="tab:blue",
        alpha=0.3,
        linewidth=1,
        marker="." if len(y) < 50 else None,
        label="mean return per update",
    )
    if window > 1:
        ax.plot(
            x,
            rolling_mean(y, window),
            color="tab:blue",
            linewidth=2,
            label=f"rolling mean ({window} updates)",
        )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode return")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_title(title or f"REINFORCE on {env_id}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    except OSError as exc:
        raise PlotWriteError(
            f"cannot write the learning curve to {path} ({exc.strerror or exc}); "
            "choose a writable output folder"
        ) from exc
    return path
