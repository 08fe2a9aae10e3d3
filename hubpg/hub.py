"""Push a package to the Hub in one commit; load a policy back without unpickling.

Any endpoint works (``--endpoint``, else ``HF_ENDPOINT``, else huggingface.co).
Every call runs inside :func:`hub_client`, which scopes huggingface_hub's global
state and restores it afterwards: Xet off only for loopback endpoints (hubpg's own
local Hub, which speaks plain Git LFS), never for the real Hub; no progress bars;
and a timeout on every request (``timeout``, else ``HF_HUB_DOWNLOAD_TIMEOUT`` /
``HF_HUB_ETAG_TIMEOUT``, else :data:`DEFAULT_TIMEOUT_S`), so that a stalled
server ends the command with :class:`~hubpg.errors.HubTimeoutError` ("timed out").
"""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from hubpg.claims import Claim, finite_or_none, judge_claim, read_claim
from hubpg.config import PolicyConfig
from hubpg.errors import (
    ConfigError,
    HubError,
    HubpgError,
    HubTimeoutError,
    MissingFileError,
    PickleRefusedError,
    RepoNotFoundError,
    TokenError,
    UploadRefusedError,
)
from hubpg.repoid import validate_repo_id
from hubpg.runfolder import (
    CARD_NAME,
    CONFIG_NAME,
    HYPERPARAMETERS_NAME,
    PICKLE_SUFFIXES,
    RESULTS_NAME,
    WEIGHTS_NAME,
    latest_run,
    read_json,
)
from hubpg.sniff import is_pickle

if TYPE_CHECKING:  # torch is imported only when a policy is built
    from hubpg.policy import Policy

DEFAULT_ENDPOINT = "https://huggingface.co"
LOAD_FILES = (CONFIG_NAME, WEIGHTS_NAME, RESULTS_NAME, CARD_NAME)
#: With ``legacy=True`` the course's hyperparameters.json is read too (for the env id),
#: besides the checkpoint itself.
LEGACY_LOAD_FILES = (*LOAD_FILES, HYPERPARAMETERS_NAME)
#: Seconds a request may wait for the server when neither ``timeout`` nor
#: huggingface_hub's ``HF_HUB_DOWNLOAD_TIMEOUT`` / ``HF_HUB_ETAG_TIMEOUT`` say otherwise.
DEFAULT_TIMEOUT_S = 30.0


@dataclass
class PushResult:
    """Where a push went."""

    repo_id: str
    url: str
    commit_sha: str
    commit_url: str
    package_dir: Path
    revision: str
    made_private: bool = False
    #: False when the Hub already held exactly these files (no commit was made).
    changed: bool = True


# --------------------------------------------------------------------------- arguments


def resolve_endpoint(endpoint: str | None) -> str:
    """``endpoint``, else ``HF_ENDPOINT``, else huggingface.co; without a trailing slash."""
    value = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"endpoint {value!r} is not an http(s) URL; use e.g. {DEFAULT_ENDPOINT}")
    return value.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the token stored by ``hf auth login``."""
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    return get_token()


def is_loopback(endpoint: str) -> bool:
    """True for http(s)://127.x, localhost or [::1] endpoints."""
    host = (urlparse(endpoint).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def resolve_timeout(timeout: float | None = None) -> float:
    """Seconds every Hub request may wait: ``timeout``, else the larger of
    huggingface_hub's ``HF_HUB_DOWNLOAD_TIMEOUT`` and ``HF_HUB_ETAG_TIMEOUT`` when set,
    else :data:`DEFAULT_TIMEOUT_S`.

    Args:
        timeout: seconds (> 0), or None for the default.
    """
    if timeout is None:
        found = [_env_seconds(name) for name in ("HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT")]
        found = [value for value in found if value is not None]
        return max(found) if found else DEFAULT_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigError(f"timeout must be a number of seconds (got {timeout!r})")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"timeout must be a positive number of seconds (got {timeout!r})")
    return float(timeout)


def _env_seconds(name: str) -> float | None:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _timeout_transport(seconds: float) -> Any:
    """An httpx transport that caps every request's timeouts at ``seconds`` and turns a
    timeout into :class:`HubTimeoutError` (not retried: a stalled server stays stalled)."""
    import httpx2

    class TimeoutTransport(httpx2.HTTPTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            given = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {
                key: seconds if given.get(key) is None else min(given[key], seconds)
                for key in ("connect", "read", "write", "pool")
            }
            try:
                return super().handle_request(request)
            except httpx2.TimeoutException as exc:
                raise HubTimeoutError(
                    f"{request.url.scheme}://{request.url.netloc.decode()} timed out: no answer "
                    f"within {seconds:g} s ({request.method} {request.url.path}); check that the "
                    "server is up, or allow more time with --timeout"
                ) from exc

    return TimeoutTransport()


@contextmanager
def hub_client(endpoint: str, *, timeout: float | None = None) -> Iterator[float]:
    """Scope huggingface_hub's process-global client setup to a block, then restore it.

    Inside: every request is capped at the :func:`resolve_timeout` seconds (yielded),
    no progress bars, no telemetry, and Xet off for loopback endpoints. On exit the
    previous HTTP client factory, progress-bar state and constants are back, so a
    notebook's own downloads behave as before. Nests.

    Args:
        endpoint: the Hub URL the block talks to.
        timeout: seconds per request (see :func:`resolve_timeout`).
    """
    import httpx2
    import huggingface_hub.constants as constants
    from huggingface_hub.utils import _http as hf_http
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
        set_client_factory,
    )

    seconds = resolve_timeout(timeout)
    saved = {
        name: getattr(constants, name)
        for name in ("HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY")
        + (("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT") if timeout is not None else ())
    }
    factory = getattr(hf_http, "_GLOBAL_CLIENT_FACTORY", hf_http.default_client_factory)
    bars_off = are_progress_bars_disabled()

    def make_client() -> httpx2.Client:
        return httpx2.Client(
            transport=_timeout_transport(seconds),
            event_hooks={"request": [hf_http.hf_request_event_hook]},
            follow_redirects=True,
            timeout=seconds,
        )

    if is_loopback(endpoint):
        constants.HF_HUB_DISABLE_XET = True
    constants.HF_HUB_DISABLE_TELEMETRY = True
    if timeout is not None:
        constants.HF_HUB_ETAG_TIMEOUT = constants.HF_HUB_DOWNLOAD_TIMEOUT = seconds
    disable_progress_bars()
    set_client_factory(make_client)
    try:
        yield seconds
    finally:
        set_client_factory(factory)
        for name, value in saved.items():
            setattr(constants, name, value)
        if not bars_off:
            enable_progress_bars()


@contextmanager
def hub_errors(action: str, repo_id: str, endpoint: str, token_given: bool) -> Iterator[None]:
    """Turn huggingface_hub / network / disk exceptions into hubpg's one-line errors.

    The whole chain of an exception is read (huggingface_hub wraps upload failures in
    ``RuntimeError``), so the message says what really went wrong.

    Args:
        action: what was being done ("push", "download", ...), for the message.
        repo_id: the repo (or listing) concerned.
        endpoint: the Hub URL.
        token_given: whether a token was used (for the not-found hint).
    """
    try:
        yield
    except HubpgError:
        raise
    except Exception as exc:
        for cause in _chain(exc):
            mapped = _translate(cause, action, repo_id, endpoint, token_given)
            if mapped is not None:
                raise mapped from exc
        raise


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then its causes (``__cause__``, else ``__context__``), at most 8."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _translate(
    exc: BaseException, action: str, repo_id: str, endpoint: str, token_given: bool
) -> HubpgError | None:
    """The hubpg error for one exception of the chain, or None when it says nothing."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, HubpgError):
        return exc
    if isinstance(exc, RevisionNotFoundError):
        return RepoNotFoundError(
            f"{repo_id} has no revision like that on {endpoint}; list its commits on the Hub "
            "or omit --revision"
        )
    if isinstance(exc, RepositoryNotFoundError):
        hint = "check the name" + ("" if token_given else ", or pass --token for a private repo")
        return RepoNotFoundError(f"repo {repo_id} not found on {endpoint}; {hint}")
    if isinstance(exc, EntryNotFoundError):
        return MissingFileError(f"{repo_id} has no file {_missing_name(exc)}")
    if isinstance(exc, HfHubHTTPError):
        return _http_error(exc, action, repo_id, endpoint)
    if isinstance(exc, ValueError) and str(exc).startswith("LFS batch API returned errors"):
        server = " ".join(str(exc).replace("`", "").split())[:300]
        return HubError(
            f"{action} failed: {endpoint} refused a file ({server}); make the file smaller or "
            "leave it out of the folder"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return _disk_error(exc, action)
    if isinstance(exc, LocalEntryNotFoundError):
        return HubError(
            f"{action} failed: could not download from {endpoint} ({_first_line(exc)}); check the "
            "endpoint and your connection and retry"
        )
    mapped = _transport_error(exc, action, endpoint)
    if mapped is None and isinstance(exc, OSError):
        mapped = HubError(
            f"{action} failed: {exc.strerror or _first_line(exc)}"
            f"{f' ({exc.filename})' if exc.filename else ''}; check that the path is writable "
            "and retry"
        )
    return mapped


def _http_error(exc: Any, action: str, repo_id: str, endpoint: str) -> HubpgError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    server = _server_message(exc)
    if status == 401:
        return TokenError(
            f"{endpoint} refused the token (401: {server}); pass a valid --token or run "
            "`hf auth login`"
        )
    if status == 403:
        return TokenError(
            f"the token may not write to {repo_id} (403: {server}); use a token of the "
            "repo's owner with write access"
        )
    if status == 413:
        hint = "the server takes no file or request that large; make it smaller"
    elif status is not None and 400 <= status < 500:
        hint = "fix what the server names and retry"
    else:
        hint = "retry later"
    return HubError(f"{action} failed: {endpoint} answered {status} ({server}); {hint}")


def _server_message(exc: Any) -> str:
    """What the server said: its ``X-Error-Message``/JSON error, else the exception's
    text, on one line and without huggingface_hub's generic first line."""
    message = getattr(exc, "server_message", None)
    if not message:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        generic = ("bad request", "client error", "server error")
        lines = [line for line in lines if line.rstrip(":").lower() not in generic]
        message = " ".join(lines) or type(exc).__name__
    return " ".join(str(message).split())[:300]


def _disk_error(exc: OSError, action: str) -> HubpgError:
    from huggingface_hub import constants

    where = exc.filename or constants.HF_HUB_CACHE
    what = (
        "a file larger than this process may write"
        if exc.errno == errno.EFBIG
        else "no space left on the device"
    )
    return HubError(
        f"{action} failed: {what} for {where} ({exc.strerror}); free space or raise the "
        f"limit, or point HF_HUB_CACHE at a disk with room (now {constants.HF_HUB_CACHE})"
    )


def _transport_error(exc: BaseException, action: str, endpoint: str) -> HubpgError | None:
    module = type(exc).__module__
    if "timeout" in type(exc).__name__.lower() and module.startswith(("httpx", "httpcore")):
        return HubTimeoutError(
            f"{action} failed: {endpoint} timed out ({_first_line(exc)}); check that the "
            "server is up, or allow more time with --timeout"
        )
    after = (
        "the repo is unchanged unless the commit completed; retry"
        if action == "push"
        else "check the endpoint and retry"
    )
    if module.startswith(("httpx", "httpcore", "requests", "urllib3")) or isinstance(
        exc, ConnectionError
    ):
        return HubError(
            f"{action} failed: talking to {endpoint} broke off ({type(exc).__name__}: "
            f"{_first_line(exc)}); {after}"
        )
    if module.startswith("json") or isinstance(exc, RecursionError):
        return HubError(
            f"{action} failed: {endpoint} sent an answer that is not valid JSON "
            f"({type(exc).__name__}); {after}"
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _missing_name(exc: BaseException) -> str:
    match = re.search(r"resolve/[^/]+/(\S+?)[\s.]", str(exc))
    return match.group(1) if match else "that was asked for"


# --------------------------------------------------------------------------- push


def push(
    repo_id: str,
    run_dir: Path | str | None = None,
    private: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    *,
    timeout: float | None = None,
    **package_options: Any,
) -> PushResult:
    """Package ``run_dir`` if needed and upload the package to ``repo_id`` in one commit.

    Only the package's regular files are uploaded (hidden files skipped); a symbolic
    link or a pickle in it is refused. ``private`` makes an existing public repo
    private before the upload (``PushResult.made_private`` says so).

    Args:
        repo_id: ``NAMESPACE/NAME``.
        run_dir: a run folder (its ``hub/`` package is built when missing) or a package
            folder itself; the latest run under ``runs/`` when omitted.
        private: create the repo private, or make it private.
        endpoint: the Hub URL (default ``HF_ENDPOINT`` or huggingface.co).
        token: a write token (default ``HF_TOKEN`` or the stored login).
        commit_message: the commit's title.
        revision: the branch to commit to (created when missing).
        timeout: seconds per request (see :func:`resolve_timeout`).
        package_options: passed to :func:`hubpg.packaging.package` when packaging.
    """
    from hubpg.packaging import default_package_dir, is_packaged, package, write_card

    validate_repo_id(repo_id)
    endpoint = resolve_endpoint(endpoint)
    resolve_timeout(timeout)
    token = resolve_token(token)
    if not token:
        raise TokenError(
            "no Hugging Face token: pass --token, set HF_TOKEN, or run `hf auth login` "
            "(create a write token at https://huggingface.co/settings/tokens)"
        )
    run_dir = Path(run_dir) if run_dir is not None else latest_run()
    if is_packaged(run_dir):
        package_dir = run_dir
    elif is_packaged(default_package_dir(run_dir)):
        package_dir = default_package_dir(run_dir)
    else:
        if not (run_dir / WEIGHTS_NAME).is_file() and not (run_dir / CONFIG_NAME).is_file():
            raise MissingFileError(f"{run_dir} is neither a hubpg run folder nor a package folder")
        package_dir = package(run_dir, repo_id=repo_id, **package_options).package_dir
    from hubpg.policy import Policy

    Policy.load(package_dir)  # never push weights that don't load
    write_card(package_dir, repo_id)
    files = upload_files(package_dir)
    env_id = read_json(package_dir / CONFIG_NAME)["env_id"]
    from huggingface_hub import CommitOperationAdd, HfApi

    with hub_client(endpoint, timeout=timeout), hub_errors("push", repo_id, endpoint, True):
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
                commit_message=commit_message or f"Upload REINFORCE agent for {env_id} (hubpg)",
                revision=revision,
            )
    return PushResult(
        repo_id=repo_id,
        url=f"{endpoint}/{repo_id}",
        commit_sha=info.oid,
        commit_url=info.commit_url,
        package_dir=package_dir,
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

    Regular files only, hidden ones (``.name``, anything under ``.dir/``) skipped;
    raises :class:`~hubpg.errors.UploadRefusedError` for a symbolic link (it could
    point at any file of this machine) or a pickle (``.pkl``, ``.pt``, ...: loading one
    runs code), and for anything that is not a regular file or folder.

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
    """Refuse early when the token's user (or its orgs) does not own the namespace.

    Also sidesteps a client bug: ``create_repo(exist_ok=True)`` on another user's
    repo raises ``HfUriError`` on any non-huggingface.co endpoint.

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


# --------------------------------------------------------------------------- load


@dataclass
class Downloaded:
    """Files of one model repo at one commit."""

    repo_id: str
    revision: str
    files: dict[str, Path]


def download(
    repo_id: str,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    files: tuple[str, ...] = LOAD_FILES,
    *,
    legacy: bool = False,
    max_bytes: int | None = None,
    timeout: float | None = None,
) -> Downloaded:
    """Download only ``files`` (those that exist) of ``repo_id`` at one commit.

    A repo with pickled weights and no ``model.safetensors`` raises
    :class:`~hubpg.errors.PickleRefusedError`; nothing from it is loaded or executed.

    Args:
        repo_id: ``NAMESPACE/NAME``.
        revision: branch, tag or commit (default: main).
        endpoint: the Hub URL.
        token: a token for private repos.
        files: the file names wanted.
        legacy: such a repo's course checkpoint (``model.pt``, at most ``max_bytes``)
            is downloaded too, for :mod:`hubpg.legacy` to read without running it.
        max_bytes: the largest course checkpoint downloaded with ``legacy``.
        timeout: seconds per request (see :func:`resolve_timeout`).
    """
    validate_repo_id(repo_id)
    endpoint = resolve_endpoint(endpoint)
    token = resolve_token(token)
    from huggingface_hub import HfApi, hf_hub_download

    with (
        hub_client(endpoint, timeout=timeout),
        hub_errors("download", repo_id, endpoint, token_given=bool(token)),
    ):
        api = HfApi(endpoint=endpoint, token=token or False)
        info = api.model_info(repo_id, revision=revision, files_metadata=legacy)
        present = {s.rfilename for s in info.siblings or []}
        if legacy and not {WEIGHTS_NAME, CONFIG_NAME} <= present:
            from hubpg.legacy import checkpoint_to_download

            files = (*files, checkpoint_to_download(repo_id, info.siblings or [], max_bytes))
        else:
            check_loadable(repo_id, present)
        paths = {
            name: Path(
                hf_hub_download(
                    repo_id, name, revision=info.sha, endpoint=endpoint, token=token or False
                )
            )
            for name in files
            if name in present
        }
    return Downloaded(repo_id, info.sha, paths)


def check_loadable(repo_id: str, files: set[str]) -> None:
    """Refuse repos without safetensors weights: pickle-only ones with an explanation.

    Args:
        repo_id: the repo, for the message.
        files: the names of its files.
    """
    if WEIGHTS_NAME in files and CONFIG_NAME in files:
        return
    pickles = sorted(f for f in files if f.lower().endswith(PICKLE_SUFFIXES))
    if WEIGHTS_NAME not in files and pickles:
        raise PickleRefusedError(
            f"{repo_id} holds its weights only as a pickle ({', '.join(pickles)}); loading a "
            "pickle can run arbitrary code, so hubpg never does. Pass --legacy (library: "
            "legacy=True) to read a course checkpoint with torch's weights-only loader, no code "
            "run, or ask the author to re-share it with hubpg (model.safetensors + config.json)"
        )
    missing = [n for n in (WEIGHTS_NAME, CONFIG_NAME) if n not in files]
    raise MissingFileError(f"{repo_id} has no {' or '.join(missing)}; it was not shared with hubpg")


def load(
    repo_id: str,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    *,
    legacy: bool = False,
    timeout: float | None = None,
) -> tuple[Policy, PolicyConfig]:
    """Download a model and rebuild its policy strictly from ``config.json``
    (no pickle, no code from the repo). Returns ``(policy, config)``.

    Args:
        repo_id: ``NAMESPACE/NAME``.
        revision: branch, tag or commit (default: main).
        endpoint: the Hub URL.
        token: a token for private repos.
        legacy: a repo with only a course checkpoint (``model.pt``) is read with
            torch's weights-only unpickler instead of being refused (:mod:`hubpg.legacy`).
        timeout: seconds per request (see :func:`resolve_timeout`).
    """
    if legacy:
        got = download(
            repo_id,
            revision,
            endpoint,
            token,
            files=LEGACY_LOAD_FILES,
            legacy=True,
            timeout=timeout,
        )
        policy = policy_from_download(got, legacy=True)[0]
        return policy, policy.config
    files = download(
        repo_id, revision, endpoint, token, files=(CONFIG_NAME, WEIGHTS_NAME), timeout=timeout
    ).files
    policy = policy_from_files(files, repo_id)
    return policy, policy.config


def policy_from_download(
    got: Downloaded, *, legacy: bool = False
) -> tuple[Policy, dict[str, Any] | None]:
    """The policy of a downloaded repo and, when it came from a course checkpoint
    (``legacy``), what :meth:`hubpg.legacy.LegacyModel.report` says about it.

    Args:
        got: what :func:`download` fetched.
        legacy: read a course checkpoint when the repo has no safetensors weights.
    """
    if legacy and not (CONFIG_NAME in got.files and WEIGHTS_NAME in got.files):
        from hubpg.legacy import read_files

        model = read_files(got.files, repo_id=got.repo_id, revision=got.revision)
        return model.policy, model.report()
    return policy_from_files(got.files, got.repo_id), None


def policy_from_files(files: dict[str, Path], repo_id: str) -> Policy:
    """The policy of downloaded files (``config.json`` and ``model.safetensors``),
    checked before anything is built: the config's types, its env's observation and
    action sizes, and the safetensors header's tensor shapes.

    Args:
        files: file name -> downloaded path (as :attr:`Downloaded.files`).
        repo_id: the repo, for messages.
    """
    from hubpg.envs import env_action_space, env_dims
    from hubpg.policy import Policy, check_policy_matches_env

    try:
        config = PolicyConfig.from_dict(
            read_json(files[CONFIG_NAME]), source=f"{repo_id}/config.json"
        )
        space = env_action_space(config.env_id)  # a box policy's bounds are checked too
        check_policy_matches_env(config, *env_dims(config.env_id), space)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; the repo's config.json is not a hubpg policy config") from exc
    return Policy.from_files(config, files[WEIGHTS_NAME])


# --------------------------------------------------------------------------- listing


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
    """The models tagged with every one of ``tags`` (``cardData`` included), page by page
    as ``huggingface_hub`` reads them, each a ``ModelInfo`` or, when one item cannot be
    read, an :class:`UnreadableListing` in its place. Call inside :func:`hub_client`
    and :func:`hub_errors`.

    Args:
        endpoint: the Hub URL.
        token: a token (private repos of its user are listed too), or None.
        tags: the tags every model must carry.
        author: only this user's or organisation's models.
    """
    from huggingface_hub import ModelInfo
    from huggingface_hub.utils import build_hf_headers, paginate

    params: dict[str, Any] = {"filter": list(tags), "cardData": True}
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
                shown, f"unreadable listing item ({type(exc).__name__}: {_first_line(exc)})"
            )


# --------------------------------------------------------------------------- load and evaluate


def claim_of(files: dict[str, Path]) -> Claim | None:
    """The claim of downloaded files: the card's ``model-index`` value, with the episode
    count of ``results.json`` when there is one; None when there is no parsable claim.

    Args:
        files: file name -> downloaded path.
    """
    if CARD_NAME not in files:
        return None
    return read_claim(files[CARD_NAME], results=files.get(RESULTS_NAME))


def load_and_eval(
    repo_id: str,
    revision: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: Path | str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    *,
    legacy: bool = False,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Download ``repo_id``, evaluate it, and judge its card's claim
    (:func:`hubpg.claims.judge_claim`: ``claim_supported`` and, when it does not hold,
    ``claim_problem``). Every number in the report is finite or None.

    Args:
        repo_id: ``NAMESPACE/NAME``.
        revision: branch, tag or commit (default: main).
        episodes: evaluation episodes.
        seed: seed of episode 0 (episode k: ``seed + k``).
        deterministic: argmax actions instead of sampling.
        max_t: cap on an episode's steps.
        video: also record a replay to this mp4.
        endpoint: the Hub URL.
        token: a token for private repos.
        legacy: read a course checkpoint (``model.pt``) weights-only when the repo has
            no safetensors; the report's ``legacy`` says what was read and assumed.
        timeout: seconds per request (see :func:`resolve_timeout`).
    """
    from hubpg.evaluation import evaluate

    got = download(
        repo_id,
        revision,
        endpoint,
        token,
        files=LEGACY_LOAD_FILES if legacy else LOAD_FILES,
        legacy=legacy,
        timeout=timeout,
    )
    policy, legacy_report = policy_from_download(got, legacy=legacy)
    result = evaluate(
        policy, episodes=episodes, seed=seed, deterministic=deterministic, max_t=max_t
    )
    claimed = claim_of(got.files)
    verdict = (
        None
        if claimed is None
        else judge_claim(
            claimed,
            env_id=result.env_id,
            mean=result.mean_reward,
            std=result.std_reward,
            n=result.n_episodes,
        )
    )
    report = {
        "repo_id": repo_id,
        "revision": got.revision,
        "env_id": result.env_id,
        **result.to_dict(),
        "score": result.score,
        "claimed": None if claimed is None else claimed.to_dict(),
        "claim_supported": None if verdict is None else verdict.supported,
        "claim_problem": None if verdict is None else verdict.reason,
    }
    if legacy:
        report["legacy"] = legacy_report
    if video is not None:
        from hubpg.packaging import VIDEO_MAX_T, record_replay

        record_replay(
            policy, result.env_id, Path(video), seed, deterministic, min(result.max_t, VIDEO_MAX_T)
        )
        report["video"] = str(video)
    return finite_or_none(report)
