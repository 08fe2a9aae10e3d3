"""HTTP plumbing shared by the routes: Hub-style errors, bounded bodies, tokens and access."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from hubpg.errors import ApiError
from hubpg.localhub.cards import CardCache
from hubpg.localhub.lfs import TicketBook
from hubpg.localhub.storage import RepoMeta, Store
from hubpg.localhub.validation import name_problem

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server: bodies over their limit (bytes) get a 413;
    the counts bound one request's work (400 beyond, or a next page for listings)."""

    max_lfs_bytes: int = 100 * MB
    max_commit_bytes: int = 64 * MB
    max_json_bytes: int = 10 * MB
    #: Files one commit may leave in the repo, and operations one commit payload may hold.
    max_repo_files: int = 10_000
    #: Distinct folders one commit may leave in the repo.
    max_repo_folders: int = 10_000
    #: Objects in one LFS batch request (huggingface_hub sends at most 256).
    max_batch_objects: int = 1_000
    #: Paths in one paths-info or preupload request.
    max_paths: int = 10_000
    #: Items in one page of a listing (tree, models); the rest follow a ``Link: rel="next"``.
    page_items: int = 1_000
    #: Models in one page of a listing that carries card data (each card up to 64 KiB).
    card_page_items: int = 100


@dataclass
class HubState:
    """What every route needs: the store, the users (TOKEN -> NAME), limits and tickets."""

    store: Store
    users: dict[str, str]
    limits: Limits = field(default_factory=Limits)
    tickets: TicketBook = field(default_factory=TicketBook)
    cards: CardCache = field(default_factory=CardCache)


class HubJSONResponse(JSONResponse):
    """JSON response that also serialises dates and other YAML scalars (as strings)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def paginated(
    request: Request,
    items: list[Any],
    *,
    headers: dict[str, str] | None = None,
    page_items: int | None = None,
) -> HubJSONResponse:
    """One page of ``items`` from the ``cursor`` query parameter on, with a ``Link: <...>;
    rel="next"`` header when more follow, as the Hub paginates. A bad cursor is a 400.

    Args:
        request: the request (its URL is the base of the next page's).
        items: every item of the listing, in order.
        headers: more response headers.
        page_items: the page size, when not ``limits.page_items``.
    """
    size = page_items or hub(request).limits.page_items
    raw = request.query_params.get("cursor", "0")
    if not raw.isdigit() or len(raw) > 12:
        raise bad_request(f"Invalid cursor '{raw[:40]}': it must be a non-negative integer")
    start = int(raw)
    extra = dict(headers or {})
    if start + size < len(items):
        extra["Link"] = f'<{request.url.include_query_params(cursor=start + size)}>; rel="next"'
    return HubJSONResponse(items[start : start + size], headers=extra)


def header_safe(text: str, limit: int = 500) -> str:
    """``text`` as one printable ASCII header value: whitespace runs become one space, other
    control characters ``\\xNN`` (the HTTP layer drops a connection over them), non-ASCII ``?``.

    Args:
        text: the message.
        limit: most characters kept.
    """
    flat = " ".join(str(text).split())
    printable = "".join(ch if 32 <= ord(ch) != 127 else f"\\x{ord(ch):02x}" for ch in flat)
    return printable.encode("ascii", "replace").decode("ascii")[:limit]


def error_response(exc: ApiError) -> HubJSONResponse:
    """The response for an :class:`ApiError`: JSON ``{"error": ...}`` plus the Hub's headers."""
    headers = {"X-Error-Message": header_safe(exc.message), **exc.headers}
    if exc.code:
        headers["X-Error-Code"] = exc.code
    return HubJSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


def base_url(request: Request) -> str:
    """The server's URL as the client reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def repo_not_found(repo_id: str) -> ApiError:
    return ApiError(404, f"Repository not found: {repo_id}", "RepoNotFound")


def revision_not_found(revision: str) -> ApiError:
    return ApiError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def entry_not_found(message: str, commit_id: str) -> ApiError:
    return ApiError(404, message, "EntryNotFound", {"X-Repo-Commit": commit_id})


def hub(request: Request) -> HubState:
    """The server's shared state."""
    return request.app.state.hub


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 (before reading, for a declared
    ``Content-Length``) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError as exc:
            raise bad_request("Invalid Content-Length header") from exc
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def body_in_thread(request: Request, limit: int) -> bytes:
    """:func:`read_body` for a sync route (run in a worker thread): read on the event loop.

    Args:
        request: the request.
        limit: the largest body accepted (413 beyond).
    """
    return anyio.from_thread.run(read_body, request, limit)


def json_body(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object, for a sync route (see :func:`body_in_thread`): 413 beyond
    ``limits.max_json_bytes``, 400 when it is not a JSON object.

    Args:
        request: the request.
        allow_empty: a blank body reads as ``{}``.
    """
    body = body_in_thread(request, hub(request).limits.max_json_bytes)
    return json_object(parse_json(body, allow_empty=allow_empty))


def parse_json(body: bytes | str, *, allow_empty: bool = False, what: str = "JSON body") -> Any:
    """``body`` parsed as JSON; a 400 saying why when it is not JSON or is nested too deep.

    Args:
        body: the bytes or text.
        allow_empty: a blank body reads as ``{}``.
        what: how the message names the body.
    """
    if allow_empty and not body.strip():
        return {}
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise bad_request(f"Malformed {what}: nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"Malformed {what}: {exc}") from exc


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body too large: the limit is {limit} bytes")


def json_object(data: Any, what: str = "body") -> dict[str, Any]:
    """``data`` when it is a JSON object, else a 400."""
    if not isinstance(data, dict):
        raise bad_request(f"The {what} must be a JSON object")
    return data


def current_user(request: Request) -> str | None:
    """The user whose token the request's ``Authorization: Bearer TOKEN`` header carries;
    None without the header; 401 for a malformed header or an unknown token."""
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    user = hub(request).users.get(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise ApiError(401, "Invalid credentials in Authorization header")
    return user


def require_user(request: Request) -> str:
    """The authenticated user, or a 401 when the request has no token."""
    user = current_user(request)
    if user is None:
        raise ApiError(401, "You must be authenticated (send Authorization: Bearer TOKEN)")
    return user


def repo_id_of(namespace: str, name: str) -> str:
    """``namespace/name`` after checking both parts (400 when invalid)."""
    for part in (namespace, name):
        problem = name_problem(part)
        if problem is not None:
            raise bad_request(f"Invalid repo id '{namespace}/{name}': {problem}")
    return f"{namespace}/{name}"


def can_see(meta: RepoMeta, user: str | None) -> bool:
    """Public repos are visible to all, private ones to their owner only."""
    return not meta.private or user == meta.owner


def _visible_repo(request: Request, repo_id: str, user: str | None) -> RepoMeta:
    meta = hub(request).store.get_repo(repo_id)
    if meta is None or not can_see(meta, user):
        raise repo_not_found(repo_id)
    return meta


def readable_repo(request: Request, namespace: str, name: str) -> tuple[RepoMeta, str | None]:
    """The repo and the user, when the user may read it; else RepoNotFound like the Hub."""
    repo_id = repo_id_of(namespace, name)
    user = current_user(request)
    return _visible_repo(request, repo_id, user), user


def writable_repo(request: Request, namespace: str, name: str) -> tuple[RepoMeta, str]:
    """The repo and the user, when the user may write to it (401, 404 or 403 otherwise)."""
    repo_id = repo_id_of(namespace, name)
    user = require_user(request)
    meta = _visible_repo(request, repo_id, user)
    if user != meta.owner:
        raise ApiError(403, f"You don't have the rights to write to {repo_id}")
    return meta, user
