"""Training progress on stderr: tqdm's bar in a terminal or a notebook, and elsewhere (a
pipe, a log file) one plain line every few seconds (:class:`LineProgress`). A run that
ends before its budget says why in one last line.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

#: Seconds between two lines of :class:`LineProgress`.
LINE_INTERVAL_S = 5.0

#: tqdm's layout without its own rate (the postfix carries the run's steps/s).
BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
)


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm.auto shows a widget)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython  # ipykernel always brings IPython

    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """A progress report for output that is not a terminal: one line at most every
    ``interval`` seconds (``desc: 17% 872k/5.00M steps, POSTFIX``), and one at the end;
    the part of tqdm's interface training uses.

    Args:
        total: the budget, in ``unit``.
        initial: where the run starts (a resumed run).
        unit: what is counted (``" steps"``, ``" episodes"``).
        desc: the label at the start of each line.
        stream: where the lines go.
        interval: seconds between two lines.
    """

    def __init__(
        self,
        *,
        total: int,
        initial: int = 0,
        unit: str = " steps",
        desc: str = "",
        stream: IO[str] | None = None,
        interval: float = LINE_INTERVAL_S,
    ) -> None:
        self.total, self.n, self.unit, self.desc = int(total), int(initial), unit, desc
        self.stream = stream or sys.stderr
        self.interval = float(interval)
        self.postfix = ""
        self._last = time.monotonic()
        self._written_at = -1

    def update(self, n: int = 1) -> None:
        """Advance by ``n``; writes a line when ``interval`` seconds have passed."""
        self.n += int(n)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._write()
            self._last = now

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """The text after the counts (return, steps/s)."""
        self.postfix = text

    def line(self) -> str:
        """The current line (no newline)."""
        share = 100.0 * self.n / self.total if self.total else 100.0
        counts = f"{_short(self.n)}/{_short(self.total)}{self.unit}"
        postfix = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {share:3.0f}% {counts}{postfix}"

    def _write(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._written_at = self.n

    def close(self) -> None:
        """Write the last line (unless the last written one already shows the end)."""
        if self._written_at != self.n:
            self._write()


def _short(value: int) -> str:
    """``872k``, ``5.00M``: tqdm's unit scaling, for the plain lines."""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= threshold:
            scaled = value / threshold
            return f"{scaled:.2f}{suffix}" if scaled < 10 else f"{scaled:.0f}{suffix}"
    return str(value)


def open_bar(*, total: int, initial: int, unit: str, desc: str) -> Any:
    """The progress display for a run: tqdm's bar in a terminal or a notebook, else a
    :class:`LineProgress` (no carriage returns in pipes and log files).

    Args:
        total: the budget, in ``unit``.
        initial: where the run starts.
        unit: what is counted.
        desc: the label.
    """
    if not (_is_terminal(sys.stderr) or _in_notebook()):
        return LineProgress(total=total, initial=initial, unit=unit, desc=desc)
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        unit_scale=True,
        desc=desc,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        mininterval=0.25,
        bar_format=BAR_FORMAT,
    )


#: Why a run ended before its budget, by ``stopped_on``.
EARLY_STOPS = {
    "target_return": "target return reached",
    "time_limit": "time limit reached",
    "total_episodes": "episode budget reached",
    "total_steps": "step budget reached",
}


def say_why_it_ended(
    desc: str, stopped_on: str | None, share: float, detail: str = "", stream: IO[str] | None = None
) -> None:
    """One line on ``stream`` (stderr) when a run ended before its bar was full: at what
    share of the bar, and why (``stopped_on``). Nothing when the bar is full.

    Args:
        desc: the bar's label.
        stopped_on: what ended the run (see :class:`hubpg.reinforce.TrainResult`).
        share: the bar's filled share, 0 to 1.
        detail: more about the reason (e.g. the target and how it was checked).
        stream: where to write (stderr).
    """
    if stopped_on not in EARLY_STOPS or share >= 1.0:
        return
    reason = EARLY_STOPS[stopped_on]
    more = f" ({detail})" if detail else ""
    out = stream or sys.stderr
    out.write(f"{desc}: stopped at {100 * share:.0f}% of the budget: {reason}{more}\n")
    out.flush()
