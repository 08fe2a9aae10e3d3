"""huggingface_hub, network and disk exceptions as hubpg's one-line errors
(:func:`hub_errors` wraps every Hub call of :mod:`hubpg.hub`), with the advice of the Hub
they happened on: a local Hub's own token, or ``hf auth login`` on huggingface.co."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hubpg.endpoints import LOCAL_TOKEN_ADVICE, is_loopback
from hubpg.errors import (
    HubError,
    HubpgError,
    HubTimeoutError,
    HubUnreachableError,
    MissingFileError,
    RepoNotFoundError,
    TokenError,
    one_line,
)


@contextmanager
def hub_errors(action: str, repo_id: str, endpoint: str, token_given: bool) -> Iterator[None]:
    """Turn huggingface_hub / network / disk exceptions into hubpg's one-line errors,
    reading the exception's whole chain (huggingface_hub wraps upload failures).

    Args:
        action: what was being done ("push", "download", ...), for the message.
        repo_id: the repo (or listing) concerned.
        endpoint: the Hub URL.
        token_given: whether a token was used (for the not-found hint).
    """
    try:
        yield
    except HubUnreachableError as exc:  # raised by the client, which knows no action
        if str(exc).startswith(f"{action} failed"):
            raise
        raise HubUnreachableError(f"{action} failed: {exc}") from exc
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
            f"{action} failed: could not download from {endpoint} ({one_line(exc, limit=200)}); check the "
            "endpoint and your connection and retry"
        )
    mapped = _transport_error(exc, action, endpoint)
    if mapped is None and isinstance(exc, OSError):
        mapped = HubError(
            f"{action} failed: {exc.strerror or one_line(exc, limit=200)}"
            f"{f' ({exc.filename})' if exc.filename else ''}; check that the path is writable "
            "and retry"
        )
    return mapped


def _http_error(exc: Any, action: str, repo_id: str, endpoint: str) -> HubpgError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    server = _server_message(exc)
    if status in (401, 403):
        return _token_error(status, server, repo_id, endpoint)
    if status == 413:
        hint = "the server takes no file or request that large; make it smaller"
    elif status is not None and 400 <= status < 500:
        hint = "fix what the server names and retry"
    else:
        hint = "retry later"
    return HubError(f"{action} failed: {endpoint} answered {status} ({server}); {hint}")


def _token_error(status: int, server: str, repo_id: str, endpoint: str) -> TokenError:
    """A refused token (401) or a token without the right (403), with the advice of
    the Hub it happened on."""
    local = is_loopback(endpoint)
    if status == 401:
        fix = LOCAL_TOKEN_ADVICE if local else "pass a valid --token or run `hf auth login`"
        return TokenError(f"{endpoint} refused the token (401: {server}); {fix}")
    owner = repo_id.split("/", 1)[0]
    fix = (
        f"use the token of {owner} on that server (`hubpg hub serve` prints it, or start it "
        f"with --user {owner}:TOKEN)"
        if local
        else "use a token of the repo's owner with write access"
    )
    return TokenError(f"the token may not write to {repo_id} (403: {server}); {fix}")


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
            f"{action} failed: {endpoint} timed out ({one_line(exc, limit=200)}); check that the "
            "server is up, or allow more time with --timeout"
        )
    if type(exc).__name__ == "ConnectError" and module.startswith(("httpx", "httpcore")):
        return unreachable(endpoint, exc, action=action)
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
            f"{one_line(exc, limit=200)}); {after}"
        )
    if module.startswith("json") or isinstance(exc, RecursionError):
        return HubError(
            f"{action} failed: {endpoint} sent an answer that is not valid JSON "
            f"({type(exc).__name__}); {after}"
        )
    return None


def unreachable(
    origin: str, exc: BaseException, *, action: str | None = None
) -> HubUnreachableError:
    """The error for a server that takes no connection (refused, unknown host...).

    Args:
        origin: the server's URL.
        exc: what the connection attempt raised.
        action: what was being done, when known.
    """
    failed = f"{action} failed: " if action else ""
    return HubUnreachableError(
        f"{failed}cannot connect to {origin} ({one_line(exc, limit=200)}); is the server at {origin} "
        "running?"
    )


def _missing_name(exc: BaseException) -> str:
    match = re.search(r"resolve/[^/]+/(\S+?)[\s.]", str(exc))
    return match.group(1) if match else "that was asked for"
