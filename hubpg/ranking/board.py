"""The leaderboard's options, declared once (:class:`LeaderboardOptions`), and the run:
list, take stored results, verify the rest, rank."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from hubpg.errors import ConfigError, InterruptedByUser
from hubpg.ranking.executors import PoolVerifier, Verifier, make_verifier
from hubpg.ranking.listing import Listing
from hubpg.ranking.rows import apply_measurement, not_verifiable, rank_rows
from hubpg.store import VerificationKey, VerificationStore, open_store, stored_problem


@dataclass(frozen=True)
class LeaderboardOptions:
    """Every option of a leaderboard (``hubpg leaderboard``, :func:`hubpg.leaderboard`).

    Args:
        env_id: the env the models are tagged with and evaluated on.
        author: only this user's or organisation's models.
        tag: only models also tagged so (e.g. ``"reinforce"``); default: every model
            tagged ``env_id``, as the course leaderboard lists them.
        top: keep the ``top`` best ranked rows (set-apart rows are always kept).
        verify: download and re-evaluate every model with a claim; rank by the measurement.
        episodes: evaluation episodes per model (with ``verify``).
        seed: seed of episode 0 (episode k is seeded ``seed + k``).
        workers: verification processes (default: the usable cores; 1: this process).
        ray: verify as Ray tasks on the cluster at ``HOST:PORT`` (``"local"`` starts one
            here, with ``workers`` CPUs when given).
        endpoint: the Hub (default as in ``huggingface_hub``: ``HF_ENDPOINT``).
        token: default as in ``huggingface_hub`` (``HF_TOKEN`` or the stored login).
        timeout: seconds each Hub request may wait, in the listing and every verification.
        repo_timeout: seconds one model may take to download and rebuild before it is set
            apart as timed out (the others go on).
        progress: a bar of models verified on stderr.
        legacy: verify repos that hold only a course checkpoint (``model.pt``), read
            weights-only (:mod:`hubpg.legacy`); part of the store key.
        max_t: episode cap (default: the env's evaluation cap).
        deterministic: argmax actions instead of sampled ones.
        db: a SQLite verification store (:mod:`hubpg.store`): models whose listed commit
            already has a result for this protocol are not evaluated again. None: every
            model is evaluated.
        reverify: evaluate every model even when ``db`` has a result.
    """

    env_id: str
    author: str | None = None
    tag: str | None = None
    top: int | None = None
    verify: bool = False
    episodes: int = 100
    seed: int = 0
    workers: int | None = None
    ray: str | None = None
    endpoint: str | None = None
    token: str | None = None
    timeout: float | None = None
    repo_timeout: float | None = None
    progress: bool = False
    legacy: bool = False
    max_t: int | None = None
    deterministic: bool = False
    db: str | Path | None = None
    reverify: bool = False

    @classmethod
    def of(cls, env_id: str, **options: Any) -> LeaderboardOptions:
        """The options from keywords, an unknown one refused with the closest names.

        Args:
            env_id: the env.
            options: the options by name.
        """
        known = [f.name for f in fields(cls)]
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"leaderboard has no option {name!r}{hint}")
        return cls(env_id=env_id, **options)

    def check(self) -> None:
        """Raise :class:`ConfigError` for an option out of range."""
        from hubpg.envs import check_env_id

        check_env_id(self.env_id)
        for name in ("top", "episodes", "workers", "max_t"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ConfigError(f"{name} must be a positive integer (got {value!r})")
        if self.repo_timeout is not None and not self.repo_timeout > 0:
            raise ConfigError(f"repo_timeout must be positive (got {self.repo_timeout!r})")


@dataclass(frozen=True)
class MeasureProtocol:
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


class Board:
    """One leaderboard run: the listing, the protocol, the verifier and the store."""

    def __init__(self, options: LeaderboardOptions) -> None:
        from hubpg.config import evaluation_max_t

        self.options = o = options
        self.listing = Listing(
            o.env_id,
            endpoint=o.endpoint,
            token=o.token,
            author=o.author,
            tag=o.tag,
            timeout=o.timeout,
        )
        self.protocol = MeasureProtocol(
            o.env_id,
            episodes=o.episodes,
            seed=o.seed,
            max_t=o.max_t or evaluation_max_t(o.env_id),
            deterministic=o.deterministic,
            legacy=o.legacy,
        )

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        """The verification task of one row (picklable: it goes to a worker)."""
        return {
            "repo_id": row["repo_id"],
            "revision": row["revision"],
            "endpoint": self.listing.url,
            "token": self.listing.token,
            **asdict(self.protocol),  # env_id, episodes, seed, max_t, deterministic, legacy
            "timeout": self.options.timeout,
            "repo_limit": self.options.repo_timeout,
            # the listed commit's file names: the fetch asks no model_info
            "files": self.listing.files.get(row["repo_id"]),
        }

    def verified_rows(self, store: VerificationStore | None) -> list[dict[str, Any]]:
        """The listed rows, each verifiable one measured now or taken from the store."""
        o = self.options
        verifier = make_verifier(o.workers, o.ray)
        reverify = o.reverify or store is None
        if isinstance(verifier, PoolVerifier) and (reverify or store.count() == 0):
            # Start the workers (a second or two: torch's import) while a thread lists
            # the models. Not for Ray: it starts its processes with a fork that other
            # threads can hang. Not with a store that holds results either: the workers
            # may not be needed at all.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as lister:
                listed = lister.submit(self.listing.rows)
                with verifier:
                    rows = listed.result()
                    self.measure(_verifiable(rows), verifier, store)
            return rows
        rows = self.listing.rows()
        todo = _verifiable(rows)
        if not reverify and store is not None:
            todo = self.take_stored(todo, store)
        if todo:
            with verifier:
                self.measure(todo, verifier, store)
        return rows

    def take_stored(
        self, rows: list[dict[str, Any]], store: VerificationStore
    ) -> list[dict[str, Any]]:
        """Fill in the rows whose listed commit has a valid stored result; return the
        others (a stored result that cannot be true is measured again, with a warning)."""
        import sys

        left = []
        for row in rows:
            stored = (
                store.get(self.protocol.key(self.listing.url, row)) if row["revision"] else None
            )
            bad = None if stored is None else stored_problem(stored, self.protocol.env_id)
            if bad is not None:
                print(
                    f"warning: the stored result of {row['repo_id']} in {store.path} is "
                    f"invalid ({bad}); measuring it again",
                    file=sys.stderr,
                )
            if stored is None or bad is not None:
                left.append(row)
                continue
            apply_measurement(row, {**stored, "revision": row["revision"]}, self.protocol.env_id)
            if row["problem"] is None:
                row.update(verified="stored", verified_at=stored["verified_at"])
        return left

    def measure(
        self, rows: list[dict[str, Any]], verifier: Verifier, store: VerificationStore | None
    ) -> None:
        """Verify ``rows`` (in place), storing each measurement as soon as it arrives."""
        from hubpg.evaluation import utc_now_iso

        by_repo = {row["repo_id"]: row for row in rows}
        tasks = [self.task(row) for row in rows]
        kept = 0
        try:
            for outcome in verifier.run(tasks, self.options.progress):
                row = by_repo[outcome["repo_id"]]
                key = self.protocol.key(self.listing.url, row) if row["revision"] else None
                apply_measurement(row, outcome, self.protocol.env_id)
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


def _verifiable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows to verify; a model of another library is set apart as not verifiable."""
    for row in rows:
        if row["problem"] is None:
            row["problem"] = not_verifiable(row)
    return [row for row in rows if row["problem"] is None]


def run_leaderboard(options: LeaderboardOptions) -> list[dict[str, Any]]:
    """Rank the models as ``options`` say.

    Returns the ranked rows (best first, ``rank`` 1, 2, ...; only the ``top`` best when
    given), then the set-apart rows (``rank`` None, ``problem`` saying why). Without
    ``verify`` the ranking is by claimed score; with it, by measured score, and models
    hubpg cannot verify (another library's) are set apart as "not verifiable here:
    FORMAT", ranked among themselves by their claim. ``revision`` is the commit the
    row describes (the listed head, and exactly the commit that was verified).

    Args:
        options: the leaderboard's options.
    """
    options.check()
    board = Board(options)
    if not options.verify:
        return rank_rows(board.listing.rows(), by="claimed_score", top=options.top)
    if options.db is None:
        rows = board.verified_rows(None)
    else:
        with open_store(options.db) as store:
            rows = board.verified_rows(store)
    return rank_rows(rows, by="measured_score", top=options.top)


def leaderboard(env_id: str, **options: Any) -> list[dict[str, Any]]:
    """:func:`run_leaderboard` with the options as keywords (:class:`LeaderboardOptions`).

    Args:
        env_id: the env.
        options: :class:`LeaderboardOptions` fields by name.
    """
    return run_leaderboard(LeaderboardOptions.of(env_id, **options))


__all__ = ["Board", "LeaderboardOptions", "MeasureProtocol", "leaderboard", "run_leaderboard"]
