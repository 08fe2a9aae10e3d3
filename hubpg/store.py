"""Verifications kept in SQLite, so a later ``hubpg leaderboard --verify`` evaluates only
the models whose listed commit has no stored result.

A result is keyed by everything that decides the measurement (:class:`VerificationKey`,
with :data:`PROTOCOL_VERSION`, raised whenever hubpg changes how it measures). Only
measurements are stored: a model that could not be verified is tried again next time.
The database runs in WAL mode and each result is its own ``BEGIN IMMEDIATE`` transaction
(with a busy timeout), so concurrent runs neither corrupt the file nor lose results. A
file that is not a readable hubpg store is an error naming it; it is never replaced.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from hubpg.errors import CorruptStoreError, StoreBusyError

#: Raise when the measurement protocol changes: older results then no longer match.
PROTOCOL_VERSION = 1
#: The database schema this module reads and writes (``PRAGMA user_version``).
SCHEMA_VERSION = 1
#: File name of the default store, under ``$XDG_CACHE_HOME/hubpg`` (or ``~/.cache/hubpg``).
DEFAULT_DB_NAME = "verifications.sqlite"
#: Seconds a writer waits for another one to finish its transaction.
BUSY_TIMEOUT_S = 30.0
_APP_ID = 0x68756270  # "hubp": tells a hubpg store from another SQLite file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verifications (
    endpoint TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    revision TEXT NOT NULL,
    env_id TEXT NOT NULL,
    episodes INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    max_t INTEGER NOT NULL,
    actions TEXT NOT NULL,
    legacy INTEGER NOT NULL,
    protocol INTEGER NOT NULL,
    mean REAL NOT NULL,
    std REAL NOT NULL,
    n_episodes INTEGER NOT NULL,
    claimed_n_episodes INTEGER,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (
        endpoint, repo_id, revision, env_id, episodes, seed, max_t, actions, legacy, protocol
    )
)
"""
_VALUE_COLUMNS = ("mean", "std", "n_episodes", "claimed_n_episodes", "verified_at")


@dataclass(frozen=True)
class VerificationKey:
    """Everything that decides a measurement; one stored result per key."""

    endpoint: str
    repo_id: str
    revision: str
    env_id: str
    episodes: int
    seed: int
    max_t: int
    #: ``"sampled"`` (as the course evaluates) or ``"argmax"``.
    actions: str
    #: Whether course checkpoints (pickles) were read weights-only (``--legacy``).
    legacy: bool = False
    protocol: int = PROTOCOL_VERSION


def default_db_path() -> Path:
    """``$XDG_CACHE_HOME/hubpg/verifications.sqlite``, else ``~/.cache/hubpg/...``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "hubpg" / DEFAULT_DB_NAME


class VerificationStore:
    """A connection to one store file. Use :func:`open_store` to get one."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    def get(self, key: VerificationKey) -> dict[str, Any] | None:
        """The stored result for ``key`` (``mean``, ``std``, ``n_episodes``,
        ``claimed_n_episodes``, ``verified_at``), or None.

        Args:
            key: the verification's key.
        """
        where = " AND ".join(f"{f.name} = ?" for f in fields(key))
        with self._errors():
            found = self._db.execute(
                f"SELECT {', '.join(_VALUE_COLUMNS)} FROM verifications WHERE {where}",
                astuple(key),
            ).fetchone()
        return None if found is None else dict(zip(_VALUE_COLUMNS, found, strict=True))

    def count(self) -> int:
        """How many results the store holds."""
        with self._errors():
            return int(self._db.execute("SELECT COUNT(*) FROM verifications").fetchone()[0])

    def put(self, key: VerificationKey, result: dict[str, Any]) -> None:
        """Store one result in its own transaction (replacing an older one for ``key``).

        Args:
            key: the verification's key.
            result: ``mean``, ``std``, ``n_episodes``, ``verified_at`` and optionally
                ``claimed_n_episodes``; non-finite numbers are refused.
        """
        values = [result.get(name) for name in _VALUE_COLUMNS]
        if not all(math.isfinite(v) for v in values[:2]):
            raise ValueError(f"refusing to store a non-finite measurement for {key.repo_id}")
        columns = [f.name for f in fields(key)] + list(_VALUE_COLUMNS)
        marks = ", ".join("?" * len(columns))
        with self._errors(), _transaction(self._db):
            self._db.execute(
                f"INSERT OR REPLACE INTO verifications ({', '.join(columns)}) VALUES ({marks})",
                (*astuple(key), *values),
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"the verification store {self.path} stayed locked by another run for "
                    f"{BUSY_TIMEOUT_S:.0f} s ({exc}). Wait for that run to finish, or pass "
                    "--db OTHER_FILE"
                ) from exc
            raise _corrupt(self.path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from exc


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _corrupt(path: Path, exc: BaseException) -> CorruptStoreError:
    if not _is_plain_file_path(path):
        return CorruptStoreError(
            f"the verification store {path} is not a regular file ({exc}); pass --db with a "
            "path to a file, such as ./verifications.sqlite"
        )
    return CorruptStoreError(
        f"the verification store {path} is not a readable hubpg store ({exc}). Move it away "
        f"or delete it to start a new one (rm {path}), or pass --db OTHER_FILE"
    )


def _is_plain_file_path(path: Path) -> bool:
    """Whether ``path`` is a regular file or does not exist yet (not a device, a pipe,
    a folder...)."""
    try:
        return path.resolve().is_file() or not path.exists()
    except OSError:
        return False


def stored_problem(stored: dict[str, Any], env_id: str) -> str | None:
    """Why a stored result cannot be a measurement of ``env_id`` (a value of the wrong
    type, a negative or non-finite number, a mean outside the env's returns, a std no
    returns can have), or None when it can.

    Args:
        stored: what :meth:`VerificationStore.get` returned.
        env_id: the env it claims to measure.
    """
    from hubpg.envs import max_return

    mean, std, n = stored.get("mean"), stored.get("std"), stored.get("n_episodes")
    numbers = (mean, std)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        return f"mean {mean!r} and std {std!r} must be numbers"
    if not all(math.isfinite(v) for v in numbers):
        return f"{mean} +/- {std} is not finite"
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return f"n_episodes {n!r} must be a positive integer"
    if std < 0:
        return f"std {std} is negative"
    if not isinstance(stored.get("verified_at"), str):
        return "verified_at is not a time"
    high = max_return(env_id)
    if high is not None and mean > high:
        return f"mean {mean} is above {env_id}'s maximum return {high:g}"
    if high is not None and high > 0:  # returns in [0, high]: Bhatia-Davis bounds the std
        if mean < 0:
            return f"mean {mean} is below {env_id}'s minimum return 0"
        if std * std > (high - mean) * mean + 1e-6 * high * high:
            return f"std {std} is impossible for {env_id}'s returns (0 to {high:g})"
    return None


@contextmanager
def open_store(path: Path | str | None = None) -> Iterator[VerificationStore]:
    """Open (creating when missing) the store at ``path`` and close it afterwards.

    Args:
        path: the SQLite file (default :func:`default_db_path`); its folder is created.
    """
    path = Path(path) if path is not None else default_db_path()
    if not _is_plain_file_path(path):
        raise _corrupt(path, OSError("a device, a folder or another special file"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorruptStoreError(
            f"cannot create the folder of the verification store {path} ({exc}). "
            "Pass --db with a writable file"
        ) from exc
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise _corrupt(path, exc) from exc
    store = VerificationStore(path, connection)
    try:
        with store._errors():
            _prepare(path, connection)
        yield store
    finally:
        store.close()


def _prepare(path: Path, db: sqlite3.Connection) -> None:
    """WAL mode, the schema on a new file, and a check that an old file is ours."""
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id == 0 and version == 0 and not tables:  # a new, empty file
        db.execute("PRAGMA journal_mode = WAL")
        with _transaction(db):
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA application_id = {_APP_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return
    if app_id != _APP_ID or version != SCHEMA_VERSION or "verifications" not in tables:
        raise _corrupt(
            path,
            sqlite3.DatabaseError(
                f"application_id {app_id:#x}, schema version {version}, tables "
                f"{json.dumps(sorted(tables))}; hubpg writes schema {SCHEMA_VERSION}"
            ),
        )
    db.execute("PRAGMA journal_mode = WAL")


__all__ = [
    "DEFAULT_DB_NAME",
    "PROTOCOL_VERSION",
    "VerificationKey",
    "VerificationStore",
    "default_db_path",
    "open_store",
    "stored_problem",
]
