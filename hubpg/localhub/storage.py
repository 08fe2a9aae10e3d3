"""On-disk storage of the local Hub: repos, their commit history, and content-addressed blobs.

Layout under the data folder::

    objects/ab/<sha256>              file contents (regular and LFS), named by their sha256
    repos/<ns>/<name>/repo.json      visibility, creation date, branches, ordered commit ids
    repos/<ns>/<name>/commits/<id>.json   one commit: parents, message, full path -> file map
    repos/<ns>/<name>/lfs/<sha256>   marks an LFS object as uploaded to this repo
    tmp/                             partial uploads and files being written

Every file is written whole, fsynced and renamed into place (its folder fsynced too). A
commit is visible only once ``repo.json`` names it, so a crash leaves the repo as it was.
Writers hold a thread lock and an ``fcntl`` lock on ``.lock``. A repo whose ``repo.json``
is empty or unreadable is moved, whole, to ``damaged/`` with a warning in the log.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hubpg.errors import (  # the storage layer's refusals (defined with every other error)
    BranchExistsError,
    DamagedDataError,
    EntryMissingError,
    InvalidOperationError,
    ParentMismatchError,
    RepoExistsError,
    RepoMissingError,
    RevisionMissingError,
)
from hubpg.runfolder import atomic_write_bytes, fsync_dir

try:  # POSIX only; elsewhere the thread lock alone guards one process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOG = logging.getLogger("hubpg.localhub")
DEFAULT_BRANCH = "main"
LFS_POINTER_TEMPLATE = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.lfs.* *.mlmodel *.model "
        "*.msgpack *.npy *.npz *.onnx *.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar "
        "*.safetensors saved_model/**/* *.tar.* *.tar *.tflite *.tgz *.wasm *.xz *.zip *.zst "
        "*tfevents* *.mp4 *.png"
    ).split()
)


def utc_now() -> str:
    """The current time in the Hub's format, ``2024-01-31T12:00:00.000Z``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob holding ``data`` (``git hash-object``)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file that stands for an LFS object in git."""
    return LFS_POINTER_TEMPLATE.format(oid=sha256, size=size).encode()


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit: its content's sha256 and size, git oid, and whether it is LFS."""

    sha256: str
    size: int
    oid: str
    lfs: bool = False

    @classmethod
    def regular(cls, data: bytes) -> FileEntry:
        """Entry of a regular (git) file holding ``data``."""
        return cls(hashlib.sha256(data).hexdigest(), len(data), git_blob_sha1(data), False)

    @classmethod
    def lfs_object(cls, sha256: str, size: int) -> FileEntry:
        """Entry of an LFS file; its git oid is the one of its pointer file."""
        return cls(sha256, size, git_blob_sha1(lfs_pointer(sha256, size)), True)

    @property
    def pointer_size(self) -> int:
        """Size of the LFS pointer file."""
        return len(lfs_pointer(self.sha256, self.size))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileEntry:
        return cls(data["sha256"], int(data["size"]), data["oid"], bool(data["lfs"]))


@dataclass(frozen=True)
class Commit:
    """A commit: a full snapshot of the repo's files plus its message and parents."""

    id: str
    parents: tuple[str, ...]
    title: str
    message: str
    author: str
    date: str
    files: dict[str, FileEntry]

    def to_json(self) -> dict[str, Any]:
        files = {path: entry.to_json() for path, entry in sorted(self.files.items())}
        return {**vars(self), "parents": list(self.parents), "files": files}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Commit:
        files = {path: FileEntry.from_json(e) for path, e in data["files"].items()}
        return cls(**{**data, "parents": tuple(data["parents"]), "files": files})


@dataclass
class RepoMeta:
    """A repo's metadata: owner, visibility, branches and ordered commit ids (oldest first)."""

    id: str
    owner: str
    private: bool
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.id.split("/", 1)[0]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["createdAt"] = data.pop("created_at")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RepoMeta:
        fields = (data["id"], data["owner"], bool(data["private"]), data["createdAt"])
        return cls(*fields, dict(data["branches"]), list(data["commits"]))


@dataclass(frozen=True)
class AddFile:
    """Commit operation: put ``entry`` at ``path`` (the blob must already be stored)."""

    path: str
    entry: FileEntry


@dataclass(frozen=True)
class DeleteFile:
    """Commit operation: remove the file at ``path``."""

    path: str


@dataclass(frozen=True)
class DeleteFolder:
    """Commit operation: remove every file under ``path``."""

    path: str


Operation = AddFile | DeleteFile | DeleteFolder


def _folder_count(paths: list[str]) -> int:
    """How many distinct folders hold the (sorted) ``paths``, in one pass."""
    count = 0
    previous: list[str] = []
    for path in paths:
        folders = path.split("/")[:-1]
        count += len(folders) - len(os.path.commonprefix([folders, previous]))
        previous = folders
    return count


def _file_folder_clash(paths: list[str]) -> str | None:
    """A path of the (sorted) ``paths`` that is also a folder of another one, if any."""
    for path in paths:
        below = bisect.bisect_left(paths, path + "/")
        if below < len(paths) and paths[below].startswith(path + "/"):
            return path
    return None


def _delete_folder(result: dict[str, FileEntry], keys: list[str], folder: str) -> None:
    """Remove every file under ``folder`` from ``result`` and from its sorted ``keys``."""
    prefix = folder.rstrip("/") + "/"
    start = bisect.bisect_left(keys, prefix)
    end = bisect.bisect_left(keys, prefix[:-1] + "0")  # '0' sorts right after '/'
    if start == end:
        raise EntryMissingError(f"A folder with this name doesn't exist: {folder}")
    for path in keys[start:end]:
        del result[path]
    del keys[start:end]


def apply_operations(
    files: dict[str, FileEntry],
    operations: list[Operation],
    *,
    max_files: int | None = None,
    max_folders: int | None = None,
) -> dict[str, FileEntry]:
    """Return a new path -> entry map with ``operations`` applied in order, in O(n log n).

    Raises :class:`EntryMissingError` when a deleted file or folder does not exist and
    :class:`InvalidOperationError` when a path would be both a file and a folder, or the
    result has more than ``max_files`` files or ``max_folders`` folders.

    Args:
        files: the parent commit's files.
        operations: what to apply.
        max_files: most files the result may hold (None: no limit).
        max_folders: most distinct folders the result may hold (None: no limit).
    """
    result = dict(files)
    keys: list[str] | None = None  # sorted paths, built on the first folder delete
    for op in operations:
        if isinstance(op, AddFile):
            if keys is not None and op.path not in result:
                bisect.insort(keys, op.path)
            result[op.path] = op.entry
        elif isinstance(op, DeleteFile):
            if op.path not in result:
                raise EntryMissingError(f"A file with this name doesn't exist: {op.path}")
            del result[op.path]
            if keys is not None:
                del keys[bisect.bisect_left(keys, op.path)]
        else:
            if keys is None:
                keys = sorted(result)
            _delete_folder(result, keys, op.path)
    if max_files is not None and len(result) > max_files:
        raise InvalidOperationError(
            f"the commit would leave {len(result)} files in the repo; the limit is {max_files}"
        )
    paths = sorted(result)
    if max_folders is not None and _folder_count(paths) > max_folders:
        raise InvalidOperationError(
            f"the commit would leave more than {max_folders} folders in the repo"
        )
    clash = _file_folder_clash(paths)
    if clash is not None:
        raise InvalidOperationError(f"'{clash}' would be both a file and a folder")
    return result


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably (its folder made and fsynced after the rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, sync_dir=True)


def _write_json(path: Path, data: Any) -> None:
    _write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode())


class Store:
    """The local Hub's data folder (see the module docstring for the layout)."""

    STALE_TMP_SECONDS = 3600

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.objects = self.root / "objects"
        self.repos = self.root / "repos"
        self.tmp = self.root / "tmp"
        for folder in (self.objects, self.repos, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self.damaged = self.root / "damaged"
        self._lock = threading.RLock()
        self._held = False  # this process holds the file lock (re-entered calls skip it)
        self._clean_stale_tmp()

    # -- locking -----------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's write lock (threads of this process and other processes)."""
        with self._lock:
            if self._held:  # re-entered by the thread that holds it
                yield
                return
            with open(self.root / ".lock", "a+b") as handle:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                self._held = True
                try:
                    yield
                finally:
                    self._held = False
                    if fcntl is not None:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _clean_stale_tmp(self) -> None:
        cutoff = time.time() - self.STALE_TMP_SECONDS
        for item in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                if item.stat().st_mtime < cutoff:
                    if item.is_dir():
                        shutil.rmtree(item, ignore_errors=True)
                    else:
                        item.unlink()

    # -- blobs -------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        """Where the content with this sha256 is (or would be) stored."""
        return self.objects / sha256[:2] / sha256

    def has_blob(self, sha256: str, size: int) -> bool:
        """True when the content is stored with ``size`` bytes."""
        return self.blob_size(sha256) == size

    def blob_size(self, sha256: str) -> int | None:
        """Size of a stored blob, or None when it is not stored."""
        try:
            return self.blob_path(sha256).stat().st_size
        except OSError:
            return None

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` content-addressed and return its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.has_blob(sha256, len(data)):
            _write_atomic(self.blob_path(sha256), data)
        return sha256

    def new_upload_file(self) -> tuple[int, Path]:
        """Open a fresh temp file for an upload; returns ``(fd, path)``."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        return fd, Path(tmp)

    def adopt_blob(self, tmp_path: Path, sha256: str) -> None:
        """Move a fully written and verified temp file into the object store, durably."""
        target = self.blob_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        fsync_dir(target.parent)

    # -- repos -------------------------------------------------------------------
    def _repo_dir(self, repo_id: str) -> Path:
        namespace, name = repo_id.split("/", 1)
        return self.repos / namespace / name

    def _save(self, meta: RepoMeta, commit: Commit | None = None) -> None:
        """Write ``commit`` (if any), then the ``repo.json`` that makes it visible."""
        repo_dir = self._repo_dir(meta.id)
        if commit is not None:
            _write_json(repo_dir / "commits" / f"{commit.id}.json", commit.to_json())
        _write_json(repo_dir / "repo.json", meta.to_json())

    def _read_meta(self, repo_dir: Path) -> tuple[RepoMeta | None, str | None]:
        """``(meta, None)``, ``(None, None)`` when there is no ``repo.json``, or
        ``(None, why)`` when it is there but empty or unreadable."""
        try:
            raw = (repo_dir / "repo.json").read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror or exc})"
        if not raw.strip():
            return None, "is empty"
        try:
            return RepoMeta.from_json(json.loads(raw)), None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return None, f"is not valid ({type(exc).__name__}: {exc})"

    def _set_aside(self, repo_dir: Path, why: str) -> None:
        """Move a damaged repo folder, whole, to ``damaged/`` and say so in the log."""
        repo_id = f"{repo_dir.parent.name}/{repo_dir.name}"
        stamp = utc_now().replace(":", "").replace(".", "")
        target = self.damaged / f"{repo_dir.parent.name}+{repo_dir.name}-{stamp}"
        self.damaged.mkdir(parents=True, exist_ok=True)
        os.replace(repo_dir, target)
        fsync_dir(repo_dir.parent)
        fsync_dir(self.damaged)
        LOG.warning(
            "local Hub: repo %s: its repo.json %s; moved the repo folder, commits and all, to "
            "%s (nothing deleted); the repo is missing until restored or created again",
            repo_id,
            why,
            target,
        )

    def _load_repo(self, repo_dir: Path) -> RepoMeta | None:
        meta, why = self._read_meta(repo_dir)
        if why is None:
            return meta
        with self.locked():  # check again: another thread may have set it aside already
            meta, why = self._read_meta(repo_dir)
            if why is not None:
                self._set_aside(repo_dir, why)
        return meta

    def get_repo(self, repo_id: str) -> RepoMeta | None:
        """The repo's metadata, or None when it does not exist (a damaged one is set aside)."""
        return self._load_repo(self._repo_dir(repo_id))

    def require_repo(self, repo_id: str) -> RepoMeta:
        """The repo's metadata; raises :class:`RepoMissingError` when it does not exist."""
        meta = self.get_repo(repo_id)
        if meta is None:
            raise RepoMissingError(repo_id)
        return meta

    def list_repos(self) -> list[RepoMeta]:
        """Every repo, sorted by id."""
        metas = (self._load_repo(path.parent) for path in sorted(self.repos.glob("*/*/repo.json")))
        return [meta for meta in metas if meta is not None]

    def create_repo(self, repo_id: str, owner: str, private: bool) -> RepoMeta:
        """Create a repo with an initial commit holding ``.gitattributes``, like the Hub."""
        with self.locked():
            if self.get_repo(repo_id) is not None:
                raise RepoExistsError(repo_id)
            repo_dir = self._repo_dir(repo_id)
            if repo_dir.is_dir() and not any(repo_dir.iterdir()):
                repo_dir.rmdir()
            elif repo_dir.exists():  # leftovers of a crash mid-create: keep them, aside
                self._set_aside(repo_dir, "is missing but the folder has content")
            now = utc_now()
            data = DEFAULT_GITATTRIBUTES.encode()
            self.put_blob(data)
            files = {".gitattributes": FileEntry.regular(data)}
            commit = self._new_commit((), "initial commit", "", owner, now, files)
            meta = RepoMeta(repo_id, owner, private, now, {DEFAULT_BRANCH: commit.id}, [commit.id])
            self._save(meta, commit)
            fsync_dir(repo_dir.parent)
            fsync_dir(self.repos)
            return meta

    def delete_repo(self, repo_id: str) -> None:
        """Delete a repo (its blobs stay in the shared object store)."""
        with self.locked():
            self.require_repo(repo_id)
            graveyard = self.tmp / f"deleted-{secrets.token_hex(8)}"
            os.replace(self._repo_dir(repo_id), graveyard)
        shutil.rmtree(graveyard, ignore_errors=True)

    def set_private(self, repo_id: str, private: bool) -> RepoMeta:
        """Change a repo's visibility."""
        with self.locked():
            meta = self.require_repo(repo_id)
            meta.private = private
            self._save(meta)
            return meta

    # -- LFS objects per repo ----------------------------------------------------
    def mark_lfs(self, repo_id: str, sha256: str) -> None:
        """Record that the LFS object was uploaded to this repo."""
        marker = self._repo_dir(repo_id) / "lfs" / sha256
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def has_lfs(self, repo_id: str, sha256: str, size: int) -> bool:
        """True when the LFS object was uploaded to this repo and is stored with ``size`` bytes."""
        marker = self._repo_dir(repo_id) / "lfs" / sha256
        return marker.exists() and self.has_blob(sha256, size)

    # -- commits -----------------------------------------------------------------
    def resolve(self, meta: RepoMeta, revision: str) -> str:
        """The commit id a branch name, full commit id or unique 7+ hex prefix points to."""
        if revision in meta.branches:
            return meta.branches[revision]
        if 7 <= len(revision) <= 40 and all(c in "0123456789abcdef" for c in revision):
            matches = [c for c in meta.commits if c.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        raise RevisionMissingError(revision)

    def get_commit(self, repo_id: str, commit_id: str) -> Commit:
        """Read one commit of the repo."""
        path = self._repo_dir(repo_id) / "commits" / f"{commit_id}.json"
        try:
            return Commit.from_json(json.loads(path.read_bytes()))
        except OSError as exc:
            raise RevisionMissingError(commit_id) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            LOG.warning("local Hub: repo %s: commit file %s is unreadable (%s)", repo_id, path, exc)
            raise DamagedDataError(
                f"the stored data of {repo_id} is damaged: commit {commit_id} cannot be read"
            ) from exc

    def history(self, meta: RepoMeta, commit_id: str) -> list[Commit]:
        """The commit and its ancestors, newest first."""
        found: dict[str, Commit] = {}  # in the order first reached, breadth first
        todo = [commit_id]
        while todo:
            current = todo.pop(0)
            if current not in found:
                found[current] = self.get_commit(meta.id, current)
                todo.extend(found[current].parents)
        return list(found.values())

    def _new_commit(
        self,
        parents: tuple[str, ...],
        title: str,
        message: str,
        author: str,
        date: str,
        files: dict[str, FileEntry],
    ) -> Commit:
        seed = json.dumps(
            [list(parents), title, message, author, date, secrets.token_hex(16)], sort_keys=True
        )
        commit_id = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()
        return Commit(commit_id, parents, title, message, author, date, files)

    def create_branch(self, repo_id: str, branch: str, starting_point: str | None = None) -> str:
        """Point a new ``branch`` at ``starting_point`` (a revision; ``main``'s head by
        default) and return the commit id. Raises :class:`BranchExistsError`."""
        with self.locked():
            meta = self.require_repo(repo_id)
            if branch in meta.branches:
                raise BranchExistsError(branch)
            commit_id = self.resolve(meta, starting_point or "main")
            meta.branches[branch] = commit_id
            self._save(meta)
            return commit_id

    def commit(
        self,
        repo_id: str,
        branch: str,
        operations: list[Operation],
        *,
        title: str,
        message: str,
        author: str,
        parent_commit: str | None = None,
        max_files: int | None = None,
        max_folders: int | None = None,
    ) -> Commit:
        """Apply ``operations`` (whose blobs must be stored) on top of ``branch`` as one new
        commit, atomically. ``parent_commit`` (a full id or a prefix) must be the branch's
        head, or :class:`ParentMismatchError` is raised; ``max_files`` and ``max_folders``
        bound the result (see :func:`apply_operations`)."""
        with self.locked():
            meta = self.require_repo(repo_id)
            if branch not in meta.branches:
                raise RevisionMissingError(branch)
            head = meta.branches[branch]
            if parent_commit is not None and not head.startswith(parent_commit.lower()):
                raise ParentMismatchError(parent_commit)
            files = apply_operations(
                self.get_commit(repo_id, head).files,
                operations,
                max_files=max_files,
                max_folders=max_folders,
            )
            for path, entry in files.items():
                if not self.has_blob(entry.sha256, entry.size):
                    raise InvalidOperationError(f"the content of '{path}' is not stored")
            commit = self._new_commit((head,), title, message, author, utc_now(), files)
            meta.branches[branch] = commit.id
            meta.commits.append(commit.id)
            self._save(meta, commit)
            return commit
