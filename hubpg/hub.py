"""The transport layer of hubpg's Hub side: the scoped client, download, upload, listing.

Everything above it calls these, and these only huggingface_hub's public API, inside
:func:`hub_client`: a timeout on every request, a floor on the speed of every answer, no
retries of a server that takes no connection. Exceptions become hubpg's one-line errors
(:mod:`hubpg.huberrors`).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubpg.endpoints import (
    DEFAULT_ENDPOINT,
    DEFAULT_TIMEOUT_S,
    HubTarget,
    is_loopback,
    require_token,
    resolve_endpoint,
    resolve_timeout,
    resolve_token,
)
from hubpg.errors import (
    HubTimeoutError,
    TokenError,
    UploadRefusedError,
    one_line,
)
from hubpg.huberrors import hub_errors, unreachable
from hubpg.repoid import validate_repo_id
from hubpg.sniff import is_pickle

__all__ = [
    "Commit",
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT_S",
    "MIN_BYTES_PER_S",
    "Downloaded",
    "HubTarget",
    "UnreadableListing",
    "check_write_access",
    "commit_files",
    "download",
    "ensure_repo",
    "hub_client",
    "hub_errors",
    "is_loopback",
    "list_models",
    "require_token",
    "resolve_endpoint",
    "resolve_timeout",
    "resolve_token",
    "upload_files",
    "validate_repo_id",
]

#: Slowest an answer may arrive (bytes per second on average) once the timeout has passed.
MIN_BYTES_PER_S = 10_000

#: Seconds of every open :func:`hub_client` block, of any thread; the hooks apply the
#: smallest. Empty: the hooks do nothing.
_OPEN: list[float] = []
_OPEN_LOCK = threading.Lock()
#: huggingface_hub's settings as the first open block found them (restored by the last).
_SAVED: dict[str, Any] = {}
_SETTINGS = ("HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_ETAG_TIMEOUT")
_SETTINGS += ("HF_HUB_DOWNLOAD_TIMEOUT",)


def _forget_open_blocks() -> None:
    """In a forked child: the parent's blocks (and a lock another thread may have held
    at the fork) are not the child's."""
    global _OPEN_LOCK
    _OPEN.clear()
    _SAVED.clear()
    _OPEN_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_open_blocks)


@contextmanager
def hub_client(endpoint: str, *, timeout: float | None = None) -> Iterator[float]:
    """Scope huggingface_hub's process-global client setup to a block, then restore it.

    Inside: every request is capped at the :func:`resolve_timeout` seconds (yielded),
    every answer must arrive at :data:`MIN_BYTES_PER_S` or more once that time has
    passed, a refused connection ends the call at once; no progress bars, no
    telemetry, and Xet off for loopback endpoints (hubpg's local Hub speaks plain Git
    LFS). The shared client of ``get_session()`` gets two event hooks while any block
    is open; blocks nest and may run in several threads: the first to open saves the
    settings and the last to close restores them.

    Args:
        endpoint: the Hub URL the block talks to.
        timeout: seconds per request (see :func:`resolve_timeout`).
    """
    import huggingface_hub.constants as constants
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
        get_session,
    )

    seconds = resolve_timeout(timeout)
    session = get_session()
    with _OPEN_LOCK:
        if not _OPEN:
            _SAVED.update({name: getattr(constants, name) for name in _SETTINGS})
            _SAVED["bars_off"] = are_progress_bars_disabled()
            _set_hooks(session, on=True)
            disable_progress_bars()
        _OPEN.append(seconds)
        if is_loopback(endpoint):
            constants.HF_HUB_DISABLE_XET = True
        constants.HF_HUB_DISABLE_TELEMETRY = True
        if timeout is not None:
            constants.HF_HUB_ETAG_TIMEOUT = constants.HF_HUB_DOWNLOAD_TIMEOUT = seconds
    try:
        yield seconds
    finally:
        with _OPEN_LOCK:
            _OPEN.remove(seconds)
            if not _OPEN:
                _set_hooks(session, on=False)
                for name in _SETTINGS:
                    setattr(constants, name, _SAVED[name])
                if not _SAVED.pop("bars_off"):
                    enable_progress_bars()
                _SAVED.clear()


def _set_hooks(session: Any, *, on: bool) -> None:
    """Add hubpg's two event hooks to an httpx client (once), or take them away."""
    ours = {"request": _on_request, "response": _on_response}
    session.event_hooks = {
        kind: [h for h in session.event_hooks.get(kind, []) if h != hook] + ([hook] if on else [])
        for kind, hook in ours.items()
    }


def _open_seconds() -> float | None:
    with _OPEN_LOCK:
        return min(_OPEN) if _OPEN else None


def _on_request(request: Any) -> None:
    """Cap the request's timeouts and watch its connection (httpx request hook)."""
    seconds = _open_seconds()
    if seconds is None:
        return
    given = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        key: seconds if given.get(key) is None else min(given[key], seconds)
        for key in ("connect", "read", "write", "pool")
    }
    trace = request.extensions.get("trace")
    if isinstance(trace, _Watch):
        trace = trace.inner
    request.extensions["trace"] = _Watch(trace, request, seconds)


def _origin(url: Any) -> str:
    return f"{url.scheme}://{url.netloc.decode() if isinstance(url.netloc, bytes) else url.netloc}"


class _Watch:
    """httpx's ``trace`` request extension: turns a timeout or a refused connection
    into hubpg's error where it happens, so huggingface_hub does not retry it (a
    stalled server stays stalled, a stopped one stays stopped)."""

    def __init__(
        self, inner: Callable[[str, dict[str, Any]], Any] | None, request: Any, seconds: float
    ):
        self.inner = inner
        self.origin = _origin(request.url)
        self.what = f"{request.method} {request.url.path}"
        self.seconds = seconds

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if self.inner is not None:
            self.inner(event, info)
        exc = info.get("exception")
        if not event.endswith(".failed") or exc is None:
            return
        if "timeout" in type(exc).__name__.lower():
            raise HubTimeoutError(
                f"{self.origin} timed out: no answer within {self.seconds:g} s ({self.what}); "
                "check that the server is up, or allow more time with --timeout"
            ) from exc
        if event.endswith(".connect_tcp.failed"):
            raise unreachable(self.origin, exc) from exc


def _on_response(response: Any) -> None:
    """Hold the answer's body to :data:`MIN_BYTES_PER_S` (httpx response hook)."""
    seconds = _open_seconds()
    if seconds is not None:
        library = importlib.import_module(type(response).__module__.partition(".")[0])
        response.stream = _floor_stream(library.SyncByteStream)(
            response.stream, _origin(response.request.url) + response.request.url.path, seconds
        )


@functools.cache
def _floor_stream(base: type) -> type:
    """A byte stream of the HTTP library huggingface_hub uses (``base``: its
    ``SyncByteStream``) that ends with "timed out" when the body comes too slowly."""

    class FloorStream(base):  # type: ignore[misc, valid-type]
        def __init__(self, inner: Any, url: str, grace: float) -> None:
            self.inner, self.url, self.grace = inner, url, grace
            self.start = time.monotonic()

        def __iter__(self) -> Iterator[bytes]:
            received = 0
            for chunk in self.inner:
                received += len(chunk)
                elapsed = time.monotonic() - self.start
                if elapsed > self.grace and received < MIN_BYTES_PER_S * elapsed:
                    raise HubTimeoutError(
                        f"{self.url} timed out: {received:,} bytes in {elapsed:.0f} s, slower "
                        f"than {MIN_BYTES_PER_S:,} bytes/s; check the server or your "
                        "connection, or allow more time with --timeout"
                    )
                yield chunk

        def close(self) -> None:
            self.inner.close()

    return FloorStream


@dataclass
class Commit:
    """What one upload made: the commit (the head's when nothing changed), and whether
    the repo was made private or the commit was skipped as empty."""

    repo_id: str
    url: str
    commit_sha: str
    commit_url: str
    revision: str
    #: True when an existing public repo was made private first.
    made_private: bool = False
    #: False when the Hub already held exactly these files (no commit was made).
    changed: bool = True


def commit_files(
    repo_id: str,
    files: dict[str, Path],
    *,
    target: HubTarget,
    commit_message: str,
    private: bool = False,
    revision: str | None = None,
) -> Commit:
    """Upload ``files`` to ``repo_id`` in one commit, after checking the token's user may
    write to the namespace and creating the repo (or making it private) and the branch.
    An unchanged re-push makes no commit.

    Args:
        repo_id: ``NAMESPACE/NAME``.
        files: path in the repo -> local file (as :func:`upload_files` lists them).
        target: the Hub, the write token (:meth:`HubTarget.for_writing`) and the timeout.
        commit_message: the commit's title.
        private: create the repo private, or make it private.
        revision: the branch to commit to (default main).
    """
    validate_repo_id(repo_id)
    target = target.for_writing()
    endpoint, token = target.endpoint or DEFAULT_ENDPOINT, target.token
    from huggingface_hub import CommitOperationAdd, HfApi

    with hub_client(endpoint, timeout=target.timeout), hub_errors("push", repo_id, endpoint, True):
        api = HfApi(endpoint=endpoint, token=token)
        check_write_access(api, repo_id)
        made_private = ensure_repo(api, repo_id, private=private)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        with _no_empty_commit_warning() as skipped:
            info = api.create_commit(
                repo_id,
                operations=[
                    CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                    for name, path in files.items()
                ],
                commit_message=commit_message,
                revision=revision,
            )
    return Commit(
        repo_id=repo_id,
        url=f"{endpoint}/{repo_id}",
        commit_sha=info.oid,
        commit_url=info.commit_url,
        revision=revision or "main",
        made_private=made_private,
        changed=not skipped,
    )


@contextmanager
def _no_empty_commit_warning():
    """Silence huggingface_hub's "No files have been modified" warning on an unchanged
    re-push; yields a list that holds one item when the commit was skipped."""
    import logging

    skipped: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("No files have been modified"):
            skipped.append(record.getMessage())
            return False
        return True

    logger = logging.getLogger("huggingface_hub.hf_api")
    logger.addFilter(keep)
    try:
        yield skipped
    finally:
        logger.removeFilter(keep)


def upload_files(package_dir: Path) -> dict[str, Path]:
    """The files ``push`` uploads from ``package_dir``: path in the repo -> file.

    Hidden ones are skipped; :class:`~hubpg.errors.UploadRefusedError` for a symbolic
    link, a pickle, or anything that is not a regular file or folder.

    Args:
        package_dir: the package folder.
    """
    package_dir = Path(package_dir)
    files: dict[str, Path] = {}
    for root, dirs, names in os.walk(package_dir, followlinks=False):
        here = Path(root)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                _refuse_link(here / name, package_dir)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = here / name
            if path.is_symlink():
                _refuse_link(path, package_dir)
            rel = path.relative_to(package_dir).as_posix()
            if not path.is_file():
                raise UploadRefusedError(
                    f"{path} is not a regular file; remove it from {package_dir} and push again"
                )
            if is_pickle(path):  # by suffix or by content (hubpg.sniff)
                raise UploadRefusedError(
                    f"{rel} in {package_dir} is a pickle, which hubpg never uploads (loading one "
                    "can run arbitrary code); remove it and push again"
                )
            files[rel] = path
    return files


def _refuse_link(path: Path, package_dir: Path) -> None:
    raise UploadRefusedError(
        f"{path.relative_to(package_dir).as_posix()} in {package_dir} is a symbolic link; push "
        "uploads only regular files inside the folder. Replace the link with a copy of the file"
    )


def ensure_repo(api: Any, repo_id: str, *, private: bool) -> bool:
    """Create ``repo_id`` (private when asked) or, when it exists public and ``private``
    is asked, make it private. Returns True when an existing repo was made private.

    Args:
        api: an ``HfApi`` with a write token.
        repo_id: the repo.
        private: whether the repo must be private.
    """
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.model_info(repo_id)
    except RepositoryNotFoundError:
        api.create_repo(repo_id, private=private, exist_ok=True)
        return False
    if private and not info.private:
        api.update_repo_settings(repo_id, private=True)
        return True
    return False


def check_write_access(api: Any, repo_id: str) -> None:
    """Refuse early when the token's user (or its orgs) does not own the namespace (which
    also sidesteps ``create_repo(exist_ok=True)``'s ``HfUriError`` off huggingface.co).

    Args:
        api: an ``HfApi`` with the token.
        repo_id: the repo to write to.
    """
    who = api.whoami()
    owners = {who.get("name")} | {org.get("name") for org in who.get("orgs") or []}
    namespace = repo_id.split("/", 1)[0]
    if namespace not in owners:
        raise TokenError(
            f"the token belongs to {who.get('name')}, who may not write to {repo_id}; use a "
            f"token of {namespace} (or of a member of that organisation) with write access"
        )


@dataclass
class Downloaded:
    """Files of one model repo at one commit."""

    repo_id: str
    revision: str
    files: dict[str, Path]


def download(
    repo_id: str,
    files: tuple[str, ...],
    *,
    revision: str | None = None,
    target: HubTarget | None = None,
    choose: Callable[[list[Any]], tuple[str, ...]] | None = None,
    files_metadata: bool = False,
    listed: list[str] | None = None,
    into: Path | None = None,
) -> Downloaded:
    """Download ``files`` (those the repo has) of ``repo_id``, all at one commit: one
    ``model_info`` (none with ``listed``), then one download of each name.

    Args:
        repo_id: ``NAMESPACE/NAME``.
        files: the file names wanted.
        revision: branch, tag or commit (default: main).
        target: the Hub, token and timeout (default: :class:`HubTarget`'s defaults).
        choose: given the repo's file entries (``RepoSibling``), the names to download
            instead of ``files``; it may raise to refuse the repo before any download.
        files_metadata: ask for each file's size too (for ``choose``).
        listed: the repo's file names at ``revision``, a full commit sha, as a listing
            gave them (``list_models(full=True)``): no ``model_info`` is asked then.
        into: a folder to fetch each file into with one GET, bypassing the cache.
    """
    validate_repo_id(repo_id)
    target = (target or HubTarget()).resolved()
    endpoint, token = target.endpoint or DEFAULT_ENDPOINT, target.token
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoSibling

    with (
        hub_client(endpoint, timeout=target.timeout),
        hub_errors("download", repo_id, endpoint, token_given=bool(token)),
    ):
        if listed is not None and revision is not None and _COMMIT_SHA.fullmatch(revision):
            sha, siblings = revision, [RepoSibling(rfilename=name) for name in listed]
        else:
            api = HfApi(endpoint=endpoint, token=token or False)
            info = api.model_info(repo_id, revision=revision, files_metadata=files_metadata)
            sha, siblings = info.sha, list(info.siblings or [])
        present = {s.rfilename for s in siblings}
        wanted = [name for name in (choose(siblings) if choose else files) if name in present]
        get = _cached if into is None else functools.partial(_fetched, folder=into)
        paths = {name: get(repo_id, name, sha, endpoint, token) for name in wanted}
    return Downloaded(repo_id, sha, paths)


#: A full commit sha: what a listing names, and what a file URL may pin.
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def _cached(repo_id: str, name: str, sha: str, endpoint: str, token: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(
        hf_hub_download(repo_id, name, revision=sha, endpoint=endpoint, token=token or False)
    )


def _fetched(
    repo_id: str, name: str, sha: str, endpoint: str, token: str | None, *, folder: Path
) -> Path:
    """One GET of a file at a commit into ``folder`` (hub_client's limits apply)."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(repo_id, name, revision=sha, endpoint=endpoint)
    headers = build_hf_headers(token=token or False, library_name="hubpg")
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with get_session().stream("GET", url, headers=headers, follow_redirects=True) as response:
        hf_raise_for_status(response)
        with path.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
    return path


@dataclass
class UnreadableListing:
    """One item of a model listing that huggingface_hub cannot read (its card data
    breaks ``ModelInfo``, or it is not an object): set apart, never fatal."""

    id: str
    problem: str


def list_models(
    endpoint: str,
    token: str | None,
    *,
    tags: list[str],
    author: str | None = None,
) -> Iterator[Any]:
    """The models tagged with every one of ``tags`` (card data and file names included),
    page by page, each a ``ModelInfo`` or an :class:`UnreadableListing` in its place.
    Call inside :func:`hub_client` and :func:`hub_errors`.

    Args:
        endpoint: the Hub URL.
        token: a token (private repos of its user are listed too), or None.
        tags: the tags every model must carry.
        author: only this user's or organisation's models.
    """
    from huggingface_hub import ModelInfo
    from huggingface_hub.utils import build_hf_headers, paginate

    params: dict[str, Any] = {"filter": list(tags), "cardData": True, "full": True}
    if author:
        params["author"] = author
    headers = build_hf_headers(token=token or False, library_name="hubpg")
    for item in paginate(f"{endpoint}/api/models", params=params, headers=headers):
        if not isinstance(item, dict):
            yield UnreadableListing("?", f"a listing item is a {type(item).__name__}")
            continue
        shown = item.get("id") if isinstance(item.get("id"), str) else repr(item.get("id"))[:80]
        try:
            item.setdefault("siblings", None)
            yield ModelInfo(**item)
        except Exception as exc:  # noqa: BLE001 - one hostile card must not stop the listing
            yield UnreadableListing(
                shown, f"unreadable listing item ({type(exc).__name__}: {one_line(exc, limit=200)})"
            )
