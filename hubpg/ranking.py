"""A leaderboard of shared REINFORCE agents: claimed scores, and optionally measured ones.

:func:`leaderboard` lists the models on a Hub endpoint tagged with an env id and
``reinforce`` (``HfApi.list_models(..., cardData=True)``), reads each card's
``model-index`` claim from the listing (no download), and ranks the models by
the Deep RL leaderboard's score, claimed mean minus std. Cards that do not
parse, or that claim a result on another env, are kept in the output as
"set apart" rows with the reason in ``problem``: nothing is dropped silently.

With ``verify=True`` every model with a claim is downloaded (safetensors and
JSON only, pinned to the commit that was listed) and re-evaluated; the rows
then carry the measured score and whether the claim holds, and are ranked by
the measured score. Verification runs in a process pool (``workers``, default
the number of usable cores; ``workers=1`` runs in this process), or as Ray
tasks on an existing cluster (``ray_address``; ``"local"`` starts a local Ray).
A model whose verification fails is set apart with the reason; it never stops
the others. With ``db`` (a :mod:`hubpg.store` SQLite file) a model whose listed
commit was already measured with the same protocol is not evaluated again.

Every row is a flat dict of scalars (:data:`ROW_KEYS`), ready for
``pandas.DataFrame(rows)``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubpg.errors import (
    CardMetadataError,
    ConfigError,
    InterruptedByUser,
    LegacyCheckpointError,
    PickleRefusedError,
    RayMissingError,
    one_line,
)
from hubpg.runfolder import format_score, leaderboard_score
from hubpg.store import VerificationKey, VerificationStore, open_store

#: The keys of every row, in display order.
ROW_KEYS = (
    "rank",
    "repo_id",
    "claimed_mean",
    "claimed_std",
    "claimed_score",
    "claimed_n_episodes",
    "measured_mean",
    "measured_std",
    "measured_score",
    "measured_n_episodes",
    "claim_supported",
    "claim_problem",
    "date",
    "revision",
    "problem",
    "verified",
    "verified_at",
)
#: Tag every listed model must carry besides the env id.
ALGO_TAG = "reinforce"
NO_CLAIM = "no parsable mean_reward in the card"
PICKLE_PROBLEM = "not verifiable: pickle"
#: Prefix of the problem of a course checkpoint that ``legacy=True`` refused.
LEGACY_PROBLEM = "refused course checkpoint"
#: Modules the forkserver imports once, so that each worker starts by a plain fork.
_PRELOAD = ["torch", "huggingface_hub", "hubpg.verify", "hubpg.evaluation", "hubpg.ranking"]
_WORKER_READY = False
_SNAPSHOT_PATH = re.compile(r"\S*/snapshots/[0-9a-f]{40}/")


# --------------------------------------------------------------------------- the library form


@dataclass(frozen=True)
class Protocol:
    """How every model is measured: ``episodes`` episodes seeded ``seed``, ``seed + 1``,
    ..., each cut at ``max_t`` steps, actions sampled (or argmax when ``deterministic``);
    with ``legacy``, course checkpoints are read weights-only too."""

    env_id: str
    episodes: int = 100
    seed: int = 0
    max_t: int = 1000
    deterministic: bool = False
    legacy: bool = False

    @property
    def actions(self) -> str:
        """``"argmax"`` or ``"sampled"``."""
        return "argmax" if self.deterministic else "sampled"

    def key(self, endpoint: str, row: dict[str, Any]) -> VerificationKey:
        """The store key of ``row``'s listed commit measured with this protocol.

        Args:
            endpoint: the Hub endpoint the row was listed on.
            row: a leaderboard row with ``repo_id`` and ``revision``.
        """
        return VerificationKey(
            endpoint=endpoint,
            repo_id=row["repo_id"],
            revision=row["revision"],
            env_id=self.env_id,
            episodes=self.episodes,
            seed=self.seed,
            max_t=self.max_t,
            actions=self.actions,
            legacy=self.legacy,
        )


class _Listing:
    """Lists the models tagged ``env_id`` and ``reinforce`` on an endpoint; after
    :meth:`rows`, ``url`` and ``token`` are what it resolved (``HF_ENDPOINT``, ...)."""

    def __init__(
        self,
        env_id: str,
        *,
        endpoint: str | None,
        token: str | None,
        author: str | None,
        timeout: float | None = None,
    ) -> None:
        self.env_id = env_id
        self.timeout = timeout
        self.endpoint = endpoint
        self.author = author
        self.given_token = token
        self.url = ""
        self.token: str | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per listed model, claims read from the listing's card data."""
        # Imports torch (through hubpg.hub): with a pool, this runs in a thread
        # while the workers start.
        from hubpg.hub import (
            hub_client,
            hub_errors,
            list_models,
            resolve_endpoint,
            resolve_timeout,
            resolve_token,
        )

        self.url = resolve_endpoint(self.endpoint)
        self.token = resolve_token(self.given_token)
        resolve_timeout(self.timeout)
        with (
            hub_client(self.url, timeout=self.timeout),
            hub_errors(
                "listing models",
                f"models tagged {self.env_id}",
                self.url,
                token_given=bool(self.token),
            ),
        ):
            items = list_models(
                self.url, self.token, tags=[self.env_id, ALGO_TAG], author=self.author
            )
            return [row_from_listing(item, self.env_id) for item in items]

    def task(self, row: dict[str, Any], protocol: Protocol) -> dict[str, Any]:
        """The verification task of one row (picklable: it goes to a worker)."""
        return {
            "repo_id": row["repo_id"],
            "revision": row["revision"],
            "endpoint": self.url,
            "token": self.token,
            "env_id": protocol.env_id,
            "episodes": protocol.episodes,
            "seed": protocol.seed,
            "max_t": protocol.max_t,
            "deterministic": protocol.deterministic,
            "legacy": protocol.legacy,
            "timeout": self.timeout,
        }


def leaderboard(
    env_id: str,
    endpoint: str | None = None,
    author: str | None = None,
    top: int | None = None,
    verify: bool = False,
    episodes: int = 100,
    seed: int = 0,
    workers: int | None = None,
    ray_address: str | None = None,
    token: str | None = None,
    progress: bool = False,
    *,
    max_t: int | None = None,
    deterministic: bool = False,
    db: str | Path | None = None,
    reverify: bool = False,
    legacy: bool = False,
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    """Rank the models on ``endpoint`` tagged ``env_id`` and ``reinforce``.

    Returns the ranked rows (best first, ``rank`` 1, 2, ...; only the ``top``
    best when given), then the set-apart rows (``rank`` None, ``problem`` saying
    why, sorted by repo id). Without ``verify`` the ranking is by claimed score
    and the ``measured_*`` fields and ``claim_supported`` are None; with it, by
    measured score over ``episodes`` episodes seeded ``seed``, ``seed + 1``, ...
    ``revision`` is the commit the row describes (the listed head, and exactly
    the commit that was verified). Private repos are listed only for a token of
    their owner (the server decides).

    Args:
        env_id: the env the models must be tagged with and are evaluated on.
        endpoint: the Hub (default as in ``huggingface_hub``: ``HF_ENDPOINT``).
        author: only this user's or organisation's models.
        top: keep the ``top`` best ranked rows (set-apart rows are always kept).
        verify: download and re-evaluate every model with a claim.
        episodes: evaluation episodes per model.
        seed: seed of episode 0 (episode k is seeded ``seed + k``).
        workers: verification processes (default: the usable cores; 1 runs in
            this process).
        ray_address: verify as Ray tasks on that cluster instead (``"local"``
            starts one here, with ``workers`` CPUs when given).
        token: default as in ``huggingface_hub`` (``HF_TOKEN`` or the stored login).
        progress: a bar of models verified on stderr.
        max_t: episode cap (default: the env's evaluation cap).
        deterministic: argmax actions instead of sampled ones.
        db: a SQLite verification store (:mod:`hubpg.store`): models whose listed
            commit already has a result for this protocol are not evaluated again
            (their rows say ``"verified": "stored"``, the others ``"now"``), and
            every new result is kept. None: no store, every model is evaluated.
        reverify: evaluate every model even when the store has a result (the new
            results replace the stored ones).
        legacy: verify repos that hold only a course checkpoint (``model.pt``) by
            reading it weights-only (:mod:`hubpg.legacy`); a refused one is set apart
            with the reason. Part of the store key, so a run without it never reports
            a measurement only ``legacy`` could make.
        timeout: seconds each Hub request may wait (:func:`hubpg.hub.resolve_timeout`),
            in the listing and in every verification.

    A claim that cannot be true (above the env's maximum return) has
    ``claim_supported`` False and ``claim_problem`` saying why, even without
    ``verify``, and ranks after every other claim. One listing item or row that
    cannot be read or scored is set apart; it never stops the others.
    """
    from hubpg.envs import check_env_id
    from hubpg.evaluation import default_max_t

    check_env_id(env_id)
    for name, value in (("top", top), ("episodes", episodes), ("workers", workers)):
        _check_positive(name, value)
    _check_positive("max_t", max_t)
    listing = _Listing(env_id, endpoint=endpoint, token=token, author=author, timeout=timeout)
    if not verify:
        return rank_rows(listing.rows(), by="claimed_score", top=top)
    protocol = Protocol(
        env_id,
        episodes=episodes,
        seed=seed,
        max_t=max_t or default_max_t(env_id),
        deterministic=deterministic,
        legacy=legacy,
    )
    verifier = make_verifier(workers, ray_address)
    if db is None:
        rows = _verified_rows(listing, verifier, protocol, None, reverify=True, progress=progress)
    else:
        with open_store(db) as store:
            rows = _verified_rows(
                listing, verifier, protocol, store, reverify=reverify, progress=progress
            )
    return rank_rows(rows, by="measured_score", top=top)


def _verified_rows(
    listing: _Listing,
    verifier: Verifier,
    protocol: Protocol,
    store: VerificationStore | None,
    *,
    reverify: bool,
    progress: bool,
) -> list[dict[str, Any]]:
    """The listed rows, each verifiable one measured now or taken from the store."""
    if isinstance(verifier, PoolVerifier) and reverify:
        # Start the workers (about a second) while a thread lists the models. Not
        # for Ray: it starts its processes with a fork that other threads can hang.
        # Not with a store to consult either: the workers may not be needed at all.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as lister:
            listed = lister.submit(listing.rows)
            with verifier:
                rows = listed.result()
                _measure_rows(_verifiable(rows), listing, verifier, protocol, store, progress)
        return rows
    rows = listing.rows()
    todo = _verifiable(rows)
    if store is not None and not reverify:
        todo = _take_stored(todo, store, protocol, listing.url)
    if todo:
        with verifier:
            _measure_rows(todo, listing, verifier, protocol, store, progress)
    return rows


def _verifiable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["problem"] is None]


def _take_stored(
    rows: list[dict[str, Any]], store: VerificationStore, protocol: Protocol, endpoint: str
) -> list[dict[str, Any]]:
    """Fill in the rows whose listed commit has a stored result; return the others."""
    left = []
    for row in rows:
        stored = store.get(protocol.key(endpoint, row)) if row["revision"] else None
        if stored is None:
            left.append(row)
            continue
        apply_measurement(row, {**stored, "revision": row["revision"]}, protocol.env_id)
        if row["problem"] is None:
            row.update(verified="stored", verified_at=stored["verified_at"])
    return left


def _measure_rows(
    rows: list[dict[str, Any]],
    listing: _Listing,
    verifier: Verifier,
    protocol: Protocol,
    store: VerificationStore | None,
    progress: bool,
) -> None:
    """Verify ``rows`` (in place), storing each measurement as soon as it arrives."""
    from hubpg.evaluation import utc_now_iso

    by_repo = {row["repo_id"]: row for row in rows}
    tasks = [listing.task(row, protocol) for row in rows]
    kept = 0
    try:
        for outcome in verifier.run(tasks, progress):
            row = by_repo[outcome["repo_id"]]
            key = protocol.key(listing.url, row) if row["revision"] else None
            apply_measurement(row, outcome, protocol.env_id)
            if outcome.get("problem") or row["problem"]:
                continue
            row.update(verified="now", verified_at=utc_now_iso())
            if store is not None and key is not None:
                store.put(key, {**outcome, "verified_at": row["verified_at"]})
                kept += 1
    except InterruptedByUser as exc:
        if store is None:
            raise
        raise InterruptedByUser(
            f"{str(exc).split(';')[0]}; the {kept} results measured are kept in {store.path}"
        ) from None


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ConfigError(f"{name} must be a positive integer (got {value!r})")


def _empty_row(repo_id: str) -> dict[str, Any]:
    return dict.fromkeys(ROW_KEYS) | {"repo_id": repo_id}


def row_from_listing(model: Any, env_id: str) -> dict[str, Any]:
    """A row from one listing item (a ``ModelInfo`` or an
    :class:`~hubpg.hub.UnreadableListing`): the claim read from its ``cardData``.

    Never raises: an item that cannot be read is a set-apart row with the reason.

    Args:
        model: the listing item.
        env_id: the env the leaderboard ranks.
    """
    repo_id = getattr(model, "id", None)
    row = _empty_row(repo_id if isinstance(repo_id, str) else repr(repo_id)[:80])
    try:
        _fill_from_listing(row, model, env_id)
    except Exception as exc:  # noqa: BLE001 - one hostile item must not stop the ranking
        row["problem"] = f"unreadable listing item ({_one_line(exc)})"
    return row


def _fill_from_listing(row: dict[str, Any], model: Any, env_id: str) -> None:
    from hubpg.card import card_env_ids
    from hubpg.claims import impossible_reason, parse_claim

    if getattr(model, "problem", None):  # an UnreadableListing
        row["problem"] = model.problem
        return
    sha = getattr(model, "sha", None)
    row["revision"] = sha if isinstance(sha, str) else None
    modified = getattr(model, "last_modified", None)
    row["date"] = modified.isoformat() if hasattr(modified, "isoformat") else None
    card = getattr(model, "card_data", None)
    if card is None:
        row["problem"] = NO_CLAIM
        return
    try:
        envs = card_env_ids(card)
        if envs and env_id not in envs:
            row["problem"] = f"card claims {', '.join(sorted(envs))}"
            return
        mean, std = parse_claim(card, env_id=env_id)
    except (CardMetadataError, ValueError, TypeError, RecursionError):
        row["problem"] = NO_CLAIM
        return
    row.update(claimed_mean=mean, claimed_std=std, claimed_score=leaderboard_score(mean, std))
    impossible = impossible_reason(mean, env_id)
    if impossible is not None:
        row.update(claim_supported=False, claim_problem=impossible)


def apply_measurement(row: dict[str, Any], outcome: dict[str, Any], env_id: str) -> None:
    """Put one verification outcome into its row and judge the row's claim
    (:func:`hubpg.claims.judge_claim`). Never raises: a row whose numbers cannot be
    scored is set apart with the reason.

    Args:
        row: the row (from :func:`row_from_listing`).
        outcome: what :func:`verify_one` returned for it.
        env_id: the env that was measured.
    """
    try:
        _apply(row, outcome, env_id)
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
        row["problem"] = f"cannot score the measurement ({_one_line(exc)})"


def _apply(row: dict[str, Any], outcome: dict[str, Any], env_id: str) -> None:
    import math

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
    row.update(claim_supported=verdict.supported, claim_problem=verdict.reason)


def _sort_key(row: dict[str, Any], by: str) -> tuple[Any, ...]:
    """Best first; without a measurement, an impossible claim after every other."""
    impossible = by == "claimed_score" and row["claim_supported"] is False
    return (impossible, -row[by], -(row["claimed_score"] or 0.0), row["repo_id"])


def _rankable(row: dict[str, Any], by: str) -> bool:
    import math

    value = row.get(by)
    return (
        row["problem"] is None
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and math.isfinite(row.get("claimed_score") or 0.0)
    )


def rank_rows(
    rows: list[dict[str, Any]], by: str = "claimed_score", top: int | None = None
) -> list[dict[str, Any]]:
    """Ranked rows (score ``by`` descending, then claimed score, then repo id), the
    ``top`` best of them when given, then every set-apart row (``rank`` None)."""
    ranked = [r for r in rows if _rankable(r, by)]
    ranked_ids = {id(r) for r in ranked}
    apart = [r for r in rows if id(r) not in ranked_ids]
    ranked.sort(key=lambda r: _sort_key(r, by))
    if top is not None:
        ranked = ranked[:top]
    for i, row in enumerate(ranked, 1):
        row["rank"] = i
    for row in apart:
        row["rank"] = None
        if row["problem"] is None:  # pragma: no cover - every unranked row has a reason
            row["problem"] = f"no {by.replace('_', ' ')}"
    apart.sort(key=lambda r: r["repo_id"])
    return ranked + apart


# --------------------------------------------------------------------------- one model


def verify_one(task: dict[str, Any]) -> dict[str, Any]:
    """Download one model at the listed commit and evaluate it; never raises.

    Returns ``{"repo_id", "mean", "std", "n_episodes", "claimed_n_episodes",
    "revision"}``, or ``{"repo_id", "problem"}`` when it cannot be verified."""
    repo_id = task["repo_id"]
    try:
        return {"repo_id": repo_id, **_measure(task)}
    except PickleRefusedError:
        return {"repo_id": repo_id, "problem": PICKLE_PROBLEM}
    except LegacyCheckpointError as exc:
        return {"repo_id": repo_id, "problem": f"{LEGACY_PROBLEM}: {_one_line(exc)}"}
    except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the others
        return {"repo_id": repo_id, "problem": f"verification failed: {_one_line(exc)}"}


def _measure(task: dict[str, Any]) -> dict[str, Any]:
    """:func:`hubpg.verify.fetch` (the card's claim comes from the listing, so no card)
    and :func:`hubpg.verify.measure` of one task."""
    from hubpg.hub import HubTarget
    from hubpg.verify import fetch, measure

    env_id = task["env_id"]
    got = fetch(
        task["repo_id"],
        revision=task["revision"],
        target=HubTarget(task["endpoint"], task["token"], task.get("timeout")),
        legacy=bool(task.get("legacy")),
        card=False,
    )
    if got.env_id != env_id:
        raise ConfigError(f"its config.json is for {got.env_id}, not {env_id}")
    result = measure(
        got,
        env_id=env_id,
        episodes=task["episodes"],
        seed=task["seed"],
        deterministic=task.get("deterministic", False),
        max_t=task.get("max_t"),
    )
    return {
        "mean": result.mean_reward,
        "std": result.std_reward,
        "n_episodes": result.n_episodes,
        "claimed_n_episodes": got.claimed_n_episodes,
        "revision": got.revision,
    }


def _one_line(exc: BaseException) -> str:
    """The message on one line, without download-cache paths: ``<cache>/models--a--b/
    snapshots/<sha>/model.safetensors`` reads ``model.safetensors``."""
    return one_line(_SNAPSHOT_PATH.sub("", one_line(exc, limit=None, whole=True)))


def _prepare_worker(ignore_sigint: bool = True) -> None:
    """Once per worker process: one torch thread, no download bars, no Ctrl-C tracebacks."""
    global _WORKER_READY
    if _WORKER_READY:
        return
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    import torch
    from huggingface_hub.utils import disable_progress_bars

    torch.set_num_threads(1)
    disable_progress_bars()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    _WORKER_READY = True


def _ray_verify_one(task: dict[str, Any]) -> dict[str, Any]:
    _prepare_worker(ignore_sigint=False)
    return verify_one(task)


# --------------------------------------------------------------------------- many models


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Verifier:
    """Runs :func:`verify_one` over many models. A context manager: subclasses
    start their workers on entry and stop them on exit. This one verifies in the
    calling process, one model after the other, with one torch thread."""

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def outcomes(self, tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """One outcome per task, in the order they finish."""
        import torch
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        threads, bars_off = torch.get_num_threads(), are_progress_bars_disabled()
        torch.set_num_threads(1)
        disable_progress_bars()
        try:
            for task in tasks:
                yield verify_one(task)
        finally:
            torch.set_num_threads(threads)
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


def make_verifier(workers: int | None = None, ray_address: str | None = None) -> Verifier:
    """Ray tasks when ``ray_address`` is given, else ``workers`` processes (default:
    the usable cores), else (``workers=1``) this process."""
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


class PoolVerifier(Verifier):
    """A process pool whose workers import torch once (the forkserver preloads it,
    each worker is a fork of it) and then take model after model.

    A worker that dies (crash, out of memory) breaks the pool: the models left
    unfinished are retried one by one, each in a fresh one-worker pool, and a
    model that kills its worker again is set apart."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None
        self.context: Any = None

    def _new_pool(self, workers: int) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(workers, mp_context=self.context, initializer=_prepare_worker)

    def __enter__(self) -> PoolVerifier:
        self.context = _pool_context()
        self.pool = self._new_pool(self.workers)
        with _caller_main_hidden():  # a pool starts its workers in submit()
            for _ in range(self.workers):
                self.pool.submit(_ready)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def outcomes(self, tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        broken: list[dict[str, Any]] = []
        try:
            with _caller_main_hidden():  # a worker not started on entry starts here
                futures = {self.pool.submit(verify_one, task): task for task in tasks}
        except BrokenProcessPool:
            futures, broken = {}, list(tasks)
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                broken.append(futures[future])
        for task in broken:
            with self._new_pool(1) as pool:
                try:
                    with _caller_main_hidden():
                        future = pool.submit(verify_one, task)
                    yield future.result()
                except BrokenProcessPool as exc:
                    yield {
                        "repo_id": task["repo_id"],
                        "problem": "verification failed: the worker process died "
                        f"({_one_line(exc)})",
                    }


@contextlib.contextmanager
def _caller_main_hidden() -> Iterator[None]:
    """Start workers that do not re-run the caller's ``__main__``.

    A spawn/forkserver worker normally imports the parent's main script first,
    so a script that calls :func:`leaderboard` without an
    ``if __name__ == "__main__":`` guard would run itself again in every worker.
    The workers need nothing from it (their functions live in this module), so
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
            f"--ray needs Ray, which is not installed ({_one_line(exc)}); install it with "
            'pip install "hubpg[ray]", or verify with local processes (--workers)'
        ) from None
    return ray


class RayVerifier(Verifier):
    """One Ray task (one CPU) per model on the cluster at ``address``; ``"local"``
    starts a Ray here (with ``workers`` CPUs when given) and stops it afterwards.
    Ray itself retries a task whose worker died, once."""

    def __init__(self, address: str, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self.ray: Any = None
        self.started_here = False

    def __enter__(self) -> RayVerifier:
        ray = self.ray = _import_ray()
        if ray.is_initialized():
            return self
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if self.address == "local":
            options |= {"address": "local", "include_dashboard": False}
            if self.workers:
                options["num_cpus"] = self.workers
        else:
            options["address"] = self.address
        try:
            with contextlib.redirect_stdout(sys.stderr):  # keep stdout for --json
                ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Ray cluster at {self.address!r} ({_one_line(exc)}); "
                "start one (ray start --head) or pass --ray local"
            ) from exc
        self.started_here = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.started_here:
            with contextlib.redirect_stdout(sys.stderr):
                self.ray.shutdown()
            self.started_here = False

    def outcomes(self, tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=1)(_ray_verify_one)
        pending = {remote.remote(task): task for task in tasks}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a crashed task, not the others
                        yield {
                            "repo_id": task["repo_id"],
                            "problem": f"verification failed: {_one_line(exc)}",
                        }
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)


# --------------------------------------------------------------------------- output


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _short_date(value: str | None) -> str:
    return "-" if not value else value.replace("T", " ")[:16]


def format_table(rows: list[dict[str, Any]], verified: bool = False) -> str:
    """The ranked rows as an aligned text table, then a "set apart" section."""
    columns: list[tuple[str, Callable[[dict[str, Any]], str], bool]] = [
        ("rank", lambda r: str(r["rank"]), True),
        ("repo", lambda r: r["repo_id"], False),
        ("claimed", lambda r: format_score(r["claimed_mean"], r["claimed_std"]), True),
        ("score", lambda r: _fmt(r["claimed_score"]), True),
    ]
    if verified:
        columns += [
            ("measured", lambda r: format_score(r["measured_mean"], r["measured_std"]), True),
            ("score", lambda r: _fmt(r["measured_score"]), True),
            (
                "claim holds",
                lambda r: {True: "yes", False: "NO"}.get(r["claim_supported"], "-"),
                False,
            ),
        ]
    columns.append(("date (UTC)", lambda r: _short_date(r["date"]), False))
    ranked = [r for r in rows if r["rank"] is not None]
    apart = [r for r in rows if r["rank"] is None]
    lines: list[str] = []
    if ranked:
        cells = [[get(r) for _, get, _ in columns] for r in ranked]
        widths = [
            max(len(name), *(len(c[i]) for c in cells)) for i, (name, _, _) in enumerate(columns)
        ]

        def line(values: list[str]) -> str:
            parts = [
                v.rjust(w) if right else v.ljust(w)
                for v, w, (_, _, right) in zip(values, widths, columns, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines.append(line([name for name, _, _ in columns]))
        lines += [line(c) for c in cells]
    else:
        lines.append("no ranked models")
    if apart:
        lines += ["", f"set apart ({len(apart)}):"]
        width = max(len(r["repo_id"]) for r in apart)
        lines += [f"  {r['repo_id'].ljust(width)}  {r['problem']}" for r in apart]
    return "\n".join(lines)


def write_csv(rows: list[dict[str, Any]], stream: Any) -> None:
    """Header + one line per row (empty cells for None, floats without rounding noise)."""
    import csv

    from hubpg.runfolder import clean_numbers

    writer = csv.DictWriter(stream, fieldnames=list(ROW_KEYS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else clean_numbers(v)) for k, v in row.items()})


__all__ = [
    "ROW_KEYS",
    "Protocol",
    "PoolVerifier",
    "RayMissingError",
    "RayVerifier",
    "Verifier",
    "format_table",
    "leaderboard",
    "make_verifier",
    "rank_rows",
    "verify_one",
    "write_csv",
]
