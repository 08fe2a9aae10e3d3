"""One work unit of a leaderboard's verification: models download in threads
(:func:`hubpg.verify.fetch`) while those already rebuilt are played together
(:mod:`hubpg.ranking.lanes`, with the numbers each gives alone). Every executor
(:mod:`hubpg.ranking.executors`) runs :func:`verify_batch`.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from hubpg.errors import ConfigError, LegacyCheckpointError, PickleRefusedError
from hubpg.ranking.rows import LEGACY_PROBLEM, PICKLE_PROBLEM, one_line

#: Downloads one worker runs at once (threads: they wait on the network).
FETCH_THREADS = 8
#: Models in one work unit at most.
UNIT_MAX = 256
#: The interpreter's thread switch interval while a unit runs (seconds).
SWITCH_INTERVAL_S = 0.0002
#: Seconds a model may take from the start of its download to its result, by default.
REPO_LIMIT_S = 600.0
#: Where a pool worker reports each fetch's start and end (set by the pool's initializer):
#: the parent ends a worker whose fetch outlives the per-repo limit.
BEATS: Any = None


def _beat(repo_id: str, running: bool) -> None:
    if BEATS is not None:
        with contextlib.suppress(Exception):
            BEATS.put((os.getpid(), repo_id, running, time.time()))


def fetch_model(
    task: dict[str, Any], started: dict[int, float] | None = None
) -> tuple[Any, dict[str, Any]]:
    """The fetch step (:func:`hubpg.verify.fetch`, without the card: the claim comes from
    the listing) of one task, into a temporary folder (each file is read once). Returns
    ``(policy, facts)`` with ``facts`` = ``claimed_n_episodes`` and ``revision``.

    Args:
        task: the verification task (:meth:`hubpg.ranking.board.Board.task`).
        started: where to note when its fetch started (``id(task)`` -> time).
    """
    import tempfile

    from hubpg.hub import HubTarget
    from hubpg.verify import fetch

    env_id = task["env_id"]
    with tempfile.TemporaryDirectory(prefix="hubpg-fetch-") as folder:
        if started is not None:
            started[id(task)] = time.monotonic()
        _beat(task["repo_id"], True)
        try:
            got = fetch(
                task["repo_id"],
                revision=task["revision"],
                target=HubTarget(task["endpoint"], task["token"], task.get("timeout")),
                legacy=bool(task.get("legacy")),
                card=False,
                listed=task.get("files"),
                into=Path(folder),
            )
        finally:
            _beat(task["repo_id"], False)
    if got.env_id != env_id:
        raise ConfigError(f"its config.json is for {got.env_id}, not {env_id}")
    return got.policy, {"claimed_n_episodes": got.claimed_n_episodes, "revision": got.revision}


def problem_outcome(task: dict[str, Any], problem: str) -> dict[str, Any]:
    """The outcome of a task that gives no measurement: its repo id and why.

    Args:
        task: the verification task.
        problem: why it has no measurement.
    """
    return {"repo_id": task["repo_id"], "problem": problem}


def _problem(exc: BaseException) -> str:
    if isinstance(exc, PickleRefusedError):
        return PICKLE_PROBLEM
    if isinstance(exc, LegacyCheckpointError):
        return f"{LEGACY_PROBLEM}: {one_line(exc)}"
    return f"verification failed: {one_line(exc)}"


def _measured(repo_id: str, result: Any, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "repo_id": repo_id,
        "mean": result.mean_reward,
        "std": result.std_reward,
        "n_episodes": result.n_episodes,
        **facts,
    }


class _Unit:
    """The state of one :func:`verify_batch` call."""

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        from hubpg.config import evaluation_max_t

        first = tasks[0]
        self.env_id, self.episodes = first["env_id"], int(first["episodes"])
        self.seed, self.deterministic = int(first["seed"]), bool(first.get("deterministic"))
        self.max_t = int(first.get("max_t") or evaluation_max_t(self.env_id))
        self.limit = float(first.get("repo_limit") or REPO_LIMIT_S)
        self.count = len(tasks)
        self.lanes: dict[Hashable, Any] = {}
        self.outcomes: list[dict[str, Any]] = []

    def measure(self, task: dict[str, Any], policy: Any, facts: dict[str, Any]) -> None:
        """Queue the model in its lanes, or evaluate it now when it cannot be batched."""
        from hubpg.ranking.lanes import MAX_SLOTS, Lanes, batch_key
        from hubpg.verify import measure

        key = batch_key(policy, self.env_id, self.episodes)
        if key is None:
            result = measure(
                policy,
                env_id=self.env_id,
                episodes=self.episodes,
                seed=self.seed,
                deterministic=self.deterministic,
                max_t=self.max_t,
            )
            self.outcomes.append(_measured(task["repo_id"], result, facts))
            return
        if key not in self.lanes:
            fit = max(1, min(self.count, MAX_SLOTS // self.episodes))
            self.lanes[key] = Lanes(
                self.env_id,
                episodes=self.episodes,
                seed=self.seed,
                deterministic=self.deterministic,
                max_t=self.max_t,
                lanes=fit,
            )
        self.lanes[key].add((task["repo_id"], facts), policy)

    @property
    def playing(self) -> bool:
        return any(lanes.busy for lanes in self.lanes.values())

    def sparse(self, coming: int) -> bool:
        """Whether fewer than half the lanes that could be playing are: with ``coming``
        models still downloading, stepping a mostly empty vector env wastes the time
        their downloads need."""
        for lanes in self.lanes.values():
            active = sum(m is not None for m in lanes.models) + len(lanes.queue)
            if 2 * active < min(lanes.lanes, active + coming):
                return True
        return not self.lanes

    def step(self) -> None:
        for lanes in self.lanes.values():
            if lanes.busy:
                for (repo_id, facts), result in lanes.step():
                    self.outcomes.append(_measured(repo_id, result, facts))

    def close(self) -> None:
        for lanes in self.lanes.values():
            lanes.close()


def verify_batch(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Verify ``tasks`` (one env and protocol): fetch each model in a thread, evaluate
    the rebuilt ones together while the others download. Never raises for one model:
    its outcome is ``{"repo_id", "problem"}`` instead of ``{"repo_id", "mean", "std",
    "n_episodes", "claimed_n_episodes", "revision"}``.

    Args:
        tasks: verification tasks of the same env, episodes, seed, max_t and action mode.
    """
    if not tasks:
        return []
    from hubpg.policy import small_model_threads

    unit = _Unit(tasks)
    # The evaluation holds the interpreter between short numpy calls; the download
    # thread waits for it at every step of every request. A short switch interval
    # hands it over within a fraction of a millisecond instead of 5 ms.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    fetcher = _Fetcher(tasks)
    waiting = {id(t): t for t in tasks}
    try:
        with small_model_threads():
            while waiting or unit.playing:
                wait = 1.0 if not unit.playing else 0.02 if unit.sparse(len(waiting)) else 0.0
                for task, got, exc in fetcher.arrived(wait):
                    if waiting.pop(id(task), None) is None:
                        continue  # already set apart as timed out
                    if exc is not None:
                        unit.outcomes.append(problem_outcome(task, _problem(exc)))
                    else:
                        _measure(unit, task, *got)
                for task in fetcher.overdue(waiting.values(), unit.limit):
                    del waiting[id(task)]
                    timed_out = f"timed out: no result within {unit.limit:g} s"
                    unit.outcomes.append(problem_outcome(task, timed_out))
                unit.step()
    finally:
        sys.setswitchinterval(interval)
        unit.close()
        fetcher.stop()
    return unit.outcomes


def _measure(unit: _Unit, task: dict[str, Any], policy: Any, facts: dict[str, Any]) -> None:
    try:
        unit.measure(task, policy, facts)
    except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the others
        unit.outcomes.append(problem_outcome(task, _problem(exc)))


class _Fetcher:
    """Daemon threads that run :func:`fetch_model` over tasks (a hung one is abandoned:
    it never keeps the process alive)."""

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.progress = time.monotonic()
        self.todo: Any = queue.SimpleQueue()
        self.done: Any = queue.SimpleQueue()
        self.started: dict[int, float] = {}
        for task in tasks:
            self.todo.put(task)
        for _ in range(min(FETCH_THREADS, len(tasks))):
            threading.Thread(target=self._work, daemon=True, name="hubpg-fetch").start()

    def _work(self) -> None:
        fetch = sys.modules[__name__].fetch_model  # looked up here: tests replace it
        while True:
            try:
                task = self.todo.get_nowait()
            except queue.Empty:
                return
            try:
                self.done.put((task, fetch(task, self.started), None))
            except BaseException as exc:  # noqa: BLE001 - reported as this model's problem
                self.done.put((task, None, exc))

    def arrived(self, wait: float) -> list[tuple[dict[str, Any], Any, Any]]:
        """The fetches finished since the last call (waiting up to ``wait`` s for one)."""
        got = []
        try:
            if wait > 0:
                got.append(self.done.get(timeout=wait))
            while True:
                got.append(self.done.get_nowait())
        except queue.Empty:
            if got:
                self.progress = time.monotonic()
            return got

    def overdue(self, tasks: Any, limit: float) -> list[dict[str, Any]]:
        """The tasks among ``tasks`` whose download started more than ``limit`` s ago;
        all of them when no fetch has finished for ``limit`` s."""
        now = time.monotonic()
        if now - self.progress > limit:
            return list(tasks)
        return [t for t in tasks if now - self.started.get(id(t), now) > limit]

    def stop(self) -> None:
        """Start no further fetch."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.todo.get_nowait()


def verify_one(task: dict[str, Any]) -> dict[str, Any]:
    """Verify one model (:func:`verify_batch` of one task); never raises.

    Args:
        task: the verification task.
    """
    return verify_batch([task])[0]


def units(tasks: list[dict[str, Any]], workers: int) -> list[list[dict[str, Any]]]:
    """``tasks`` cut into work units of equal size: as few as possible, a multiple of
    ``workers`` (each worker takes the same number), each at most :data:`UNIT_MAX`
    models. Few large units keep the lanes full (a unit's last models play beside lanes
    that have finished).

    Args:
        tasks: the verification tasks.
        workers: processes (or Ray CPUs) that take units.
    """
    if not tasks:
        return []
    workers = max(1, workers)
    count = max(workers, math.ceil(len(tasks) / UNIT_MAX))
    count = math.ceil(count / workers) * workers
    size = math.ceil(len(tasks) / count)
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


__all__ = [
    "FETCH_THREADS",
    "REPO_LIMIT_S",
    "UNIT_MAX",
    "fetch_model",
    "units",
    "verify_batch",
    "verify_one",
]
