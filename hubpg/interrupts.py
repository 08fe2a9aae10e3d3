"""Interrupts (Ctrl-C, and SIGTERM where it is one) held through a short critical
section and delivered when it ends, so that bookkeeping that must happen together (an
update counted and its log row written; a worker started and its pid known) is never
cut in half. Only the main thread can set signal handlers; elsewhere nothing is held.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class HeldInterrupts:
    """The signals held so far, and the handlers they were held from."""

    def __init__(self, signums: tuple[int, ...]) -> None:
        self.signums = signums
        self.previous: dict[int, Any] = {}
        self.pending: list[int] = []

    def hold(self) -> None:
        """Record the signals from now on instead of handling them."""
        for signum in self.signums:
            self.previous[signum] = signal.signal(signum, self._record)

    def restore(self) -> None:
        """Give the signals back to the handlers they had."""
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def deliver(self) -> None:
        """Handle the recorded signals as their own handlers would have (Python's SIGINT
        handler raises KeyboardInterrupt; a default action is taken by re-sending)."""
        pending, self.pending = self.pending, []
        for signum in dict.fromkeys(pending):
            handler = self.previous.get(signum)
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let the signals through for a block inside the held section: one held so far
        is delivered as the block starts, and the section holds again after it."""
        self.restore()
        try:
            self.deliver()
            yield
        finally:
            self.hold()

    def _record(self, signum: int, _frame: Any) -> None:
        self.pending.append(signum)


@contextmanager
def interrupts_held(*signums: int) -> Iterator[HeldInterrupts]:
    """Hold ``signums`` (default SIGINT) for the block, then deliver those that came.

    Args:
        signums: the signals to hold.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    # off the main thread there is nothing to hold: signals reach only the main thread
    held = HeldInterrupts((signums or (signal.SIGINT,)) if main_thread else ())
    held.hold()
    try:
        yield held
    finally:
        held.restore()
    held.deliver()
