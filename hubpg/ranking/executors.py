"""Verification of many models: in this process, in a process pool, or as Ray tasks.

Every executor runs the same work unit, :func:`hubpg.ranking.unit.verify_batch`. A unit
whose process dies (a crash, out of memory) is run again model by model, each in a
fresh process, so one bad repo never costs the others their result. A model that gives no result
within the per-repo limit is set apart as timed out, and every process a run started
(pool workers and their children) ends with it, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

from hubpg.errors import ConfigError, InterruptedByUser, RayMissingError
from hubpg.interrupts import interrupts_held
from hubpg.ranking.rows import one_line
from hubpg.ranking.unit import REPO_LIMIT_S, problem_outcome, units, verify_batch, verify_one

#: Modules the forkserver imports once, so that each worker starts by a plain fork.
_PRELOAD = [
    "torch",
    "huggingface_hub",
    # what a fetch imports on first use (huggingface_hub's top level is lazy): about a
    # second in each worker otherwise
    "huggingface_hub.hf_api",
    "huggingface_hub.file_download",
    "safetensors.torch",
    "tqdm.auto",
    "hubpg.verify",
    "hubpg.policy",
    "hubpg.evaluation",
    "hubpg.ranking",
    "hubpg.ranking.lanes",
]
_WORKER_READY = False


def _prepare_worker(ignore_sigint: bool = True, beats: Any = None) -> None:
    """Once per worker process: its own process group (so that it and its children
    end together), one torch thread, no download bars, no Ctrl-C tracebacks; ``beats``:
    the queue its fetches report to (:data:`hubpg.ranking.unit.BEATS`)."""
    global _WORKER_READY
    if _WORKER_READY:
        return
    if beats is not None:
        import hubpg.ranking.unit

        hubpg.ranking.unit.BEATS = beats
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    import torch
    from huggingface_hub.utils import disable_progress_bars

    torch.set_num_threads(1)
    disable_progress_bars()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    _WORKER_READY = True


def _ray_verify_batch(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _prepare_worker(ignore_sigint=False)
    return verify_batch(tasks)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Verifier:
    """Runs :func:`verify_batch` over many models. A context manager: subclasses start
    their workers on entry and stop them on exit. This one verifies in the calling
    process, with one torch thread."""

    workers = 1

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def outcomes(self, tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """One outcome per task, in the order they finish."""
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        bars_off = are_progress_bars_disabled()
        disable_progress_bars()
        try:
            for unit in units(tasks, 1):
                yield from _unit_function()(unit)
        finally:
            if not bars_off:
                enable_progress_bars()

    def run(self, tasks: list[dict[str, Any]], progress: bool = False) -> Iterator[dict[str, Any]]:
        """:meth:`outcomes` with a progress bar of models done (stderr), and Ctrl-C
        turned into :class:`~hubpg.errors.InterruptedByUser`."""
        if not tasks:
            return
        from tqdm.auto import tqdm

        done = 0
        with tqdm(
            total=len(tasks),
            desc=f"verifying {tasks[0]['env_id']}",
            unit="model",
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        ) as bar:
            try:
                for outcome in self.outcomes(tasks):
                    done += 1
                    bar.update(1)
                    yield outcome
            except KeyboardInterrupt:
                raise InterruptedByUser(
                    f"interrupted after verifying {done} of {len(tasks)} models; nothing was "
                    "written"
                ) from None


def _unit_function() -> Any:
    """:func:`verify_batch`, looked up when called (tests replace it)."""
    return sys.modules[__name__].verify_batch


def make_verifier(workers: int | None = None, ray_address: str | None = None) -> Verifier:
    """Ray tasks when ``ray_address`` is given, else ``workers`` processes (default:
    the usable cores), else (``workers=1``) this process.

    Args:
        workers: processes (or, with ``ray_address="local"``, Ray CPUs).
        ray_address: ``HOST:PORT`` of a Ray cluster, or ``"local"``.
    """
    if ray_address:
        return RayVerifier(ray_address, workers)
    workers = workers or default_workers()
    return Verifier() if workers == 1 else PoolVerifier(workers)


def _pool_context() -> Any:
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)  # no effect once the forkserver runs
        return context
    return mp.get_context("spawn")  # pragma: no cover - Windows


def _ready() -> int:
    return os.getpid()


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children, ...), read from /proc.

    Args:
        pid: a process id.
    """
    parents: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    stat = handle.read().decode(errors="replace")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            parents.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pids: list[int]) -> None:
    """SIGKILL ``pids``, their process groups where they lead one, and every process
    below them.

    Args:
        pids: process ids (of pool workers).
    """
    doomed = [p for pid in pids for p in (pid, *descendants(pid))]
    for pid in pids:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
    for pid in doomed:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class PoolVerifier(Verifier):
    """A process pool whose workers import torch once (the forkserver preloads it,
    each worker is a fork of it) and then take unit after unit.

    A worker that dies (crash, out of memory) breaks the pool: the models of the
    units left unfinished are retried one by one, each in a fresh one-worker pool,
    and a model that kills its worker again is set apart. On exit (also on Ctrl-C or
    an error) every worker and every process below it is ended.

    Args:
        workers: worker processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None
        self.context: Any = None
        self.pids: set[int] = set()
        self.beats: Any = None
        self.fetching: dict[tuple[int, str], float] = {}

    def _new_pool(self, workers: int) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            workers,
            mp_context=self.context,
            initializer=_prepare_worker,
            initargs=(True, self.beats),
        )

    def _note_pids(self, pool: Any) -> None:
        self.pids |= _worker_pids(pool)

    def __enter__(self) -> PoolVerifier:
        try:
            # a Ctrl-C while a forkserver worker starts (the parent waits for its pid, the
            # first one while the forkserver imports torch) would end this process before
            # it knows the worker, which would then outlive the run: it waits until then
            with interrupts_held():
                self.context = _pool_context()
                self.beats = self.context.SimpleQueue()
                self.pool = self._new_pool(self.workers)
                with _caller_main_hidden():  # a pool starts its workers in submit()
                    for _ in range(self.workers):
                        self.pool.submit(_ready)
                self._note_pids(self.pool)
        except BaseException:  # Ctrl-C while they started: end them, as __exit__ would
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if self.pool is None:
            return
        pool, self.pool = self.pool, None
        self._note_pids(pool)
        if exc_type is None:
            pool.shutdown(wait=True, cancel_futures=True)
        else:  # Ctrl-C, an error: nothing the workers do now is wanted
            kill_tree(sorted(self.pids))
            pool.shutdown(wait=False, cancel_futures=True)
        kill_tree([p for p in sorted(self.pids) if _alive(p)])

    def outcomes(self, tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        broken: list[dict[str, Any]] = []
        work = _unit_function()
        try:
            with _caller_main_hidden():  # a worker not started on entry starts here
                futures = {self.pool.submit(work, u): u for u in units(tasks, self.workers)}
        except BrokenProcessPool:
            futures, broken = {}, list(tasks)
        self._note_pids(self.pool)
        while futures:
            done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                unit = futures.pop(future)
                try:
                    yield from future.result()
                except BrokenProcessPool:
                    broken += unit
            hung = self._hung(_limit(tasks))
            if hung:
                kill_tree(hung)  # the pool breaks: its unfinished units are retried alone
        for task in broken:
            yield self._alone(work, task)

    def _hung(self, limit: float) -> list[int]:
        """The workers whose current fetch (download and rebuild of one repo) started
        more than ``limit`` s ago, as their heartbeats say: a hang that holds the
        worker's interpreter, where the unit's own limit cannot act."""
        while not self.beats.empty():
            pid, repo_id, running, at = self.beats.get()
            if running:
                self.fetching[(pid, repo_id)] = at
            else:
                self.fetching.pop((pid, repo_id), None)
        now = time.time()
        return sorted({pid for (pid, _), at in self.fetching.items() if now - at > limit})

    def _alone(self, work: Any, task: dict[str, Any]) -> dict[str, Any]:
        from concurrent.futures import TimeoutError as FutureTimeout
        from concurrent.futures.process import BrokenProcessPool

        pool = self._new_pool(1)
        try:
            with interrupts_held(), _caller_main_hidden():
                future = pool.submit(work, [task])
                self._note_pids(pool)
            return future.result(timeout=2 * _limit([task]))[0]
        except FutureTimeout:
            kill_tree(sorted(_worker_pids(pool)))
            return problem_outcome(
                task, f"timed out: no result within {_limit([task]):g} s (its process was ended)"
            )
        except BrokenProcessPool as exc:
            return problem_outcome(
                task, f"verification failed: the worker process died ({one_line(exc)})"
            )
        finally:
            self._note_pids(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            live = _worker_pids(self.pool)
            kill_tree([p for p in sorted(self.pids) if _alive(p) and p not in live])


def _worker_pids(pool: Any) -> set[int]:
    """The pids of a pool's worker processes (none for no pool)."""
    return set(getattr(pool, "_processes", None) or {})


def _limit(unit: list[dict[str, Any]]) -> float:
    """The per-repo limit of a unit's tasks (seconds)."""
    return float(unit[0].get("repo_limit") or REPO_LIMIT_S)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return False


@contextlib.contextmanager
def _caller_main_hidden() -> Iterator[None]:
    """Start workers that do not re-run the caller's ``__main__``.

    A spawn/forkserver worker normally imports the parent's main script first,
    so a script that calls :func:`leaderboard` without an
    ``if __name__ == "__main__":`` guard would run itself again in every worker.
    The workers need nothing from it (their functions live in this package), so
    while they start, ``__main__`` is a bare module with no file to re-run."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayMissingError(
            f"--ray needs Ray, which is not installed ({one_line(exc)}); install it with "
            'pip install "hubpg[ray]", or verify with local processes (--workers)'
        ) from None
    return ray


def _ray_node_ip(address: str) -> str | None:
    """The address this driver joins a cluster with: the cluster's own host when it is a
    loopback address (Ray would otherwise pick the machine's outward interface and fail
    to find its node), ``RAY_NODE_IP_ADDRESS`` when set, else Ray's own choice."""
    import ipaddress

    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return host
    return os.environ.get("RAY_NODE_IP_ADDRESS") or None


class RayVerifier(Verifier):
    """One Ray task (one CPU) per work unit on the cluster at ``address``; ``"local"``
    starts a Ray here (with ``workers`` CPUs when given) and stops it afterwards.
    Ray itself retries a task whose worker died, once; a unit that still fails is
    run again model by model.

    Args:
        address: ``HOST:PORT`` of the cluster's head (GCS port), or ``"local"``.
        workers: CPUs of a local Ray.
    """

    def __init__(self, address: str, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers or default_workers()
        self.given_workers = workers
        self.ray: Any = None
        self.started_here = False

    def __enter__(self) -> RayVerifier:
        ray = self.ray = _import_ray()
        if ray.is_initialized():
            return self
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if self.address == "local":
            options |= {"address": "local", "include_dashboard": False}
            if self.given_workers:
                options["num_cpus"] = self.given_workers
        else:
            options["address"] = self.address
            node_ip = _ray_node_ip(self.address)
            if node_ip:
                options["_node_ip_address"] = node_ip
        try:
            with contextlib.redirect_stdout(sys.stderr):  # keep stdout for --json
                ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Ray cluster at {self.address!r} ({one_line(exc)}); "
                "start one (ray start --head) or pass --ray local"
            ) from exc
        self.started_here = True
        with contextlib.suppress(Exception):
            self.workers = max(1, int(ray.cluster_resources().get("CPU", self.workers)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.started_here:
            with contextlib.redirect_stdout(sys.stderr):
                self.ray.shutdown()
            self.started_here = False

    def outcomes(self, tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=1)(_ray_verify_batch)
        pending = {remote.remote(u): u for u in units(tasks, self.workers)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    unit = pending.pop(ref)
                    try:
                        yield from ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a crashed unit, not the others
                        yield from self._alone(remote, unit, exc)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _alone(self, remote: Any, unit: list[dict[str, Any]], exc: Exception) -> Iterator[dict]:
        if len(unit) == 1:
            yield problem_outcome(unit[0], f"verification failed: {one_line(exc)}")
            return
        for task in unit:
            try:
                yield from self.ray.get(remote.remote([task]))
            except Exception as again:  # noqa: BLE001 - this model's own failure
                yield problem_outcome(task, f"verification failed: {one_line(again)}")


__all__ = [
    "PoolVerifier",
    "RayVerifier",
    "Verifier",
    "default_workers",
    "descendants",
    "kill_tree",
    "make_verifier",
    "verify_batch",
    "verify_one",
]
