"""The local Hub's ASGI app: routes, error handling and shared state (see ``docs/hub-api.md``)."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubpg.localhub import commitpage, pages, routes_files, routes_repos, routes_upload
from hubpg.localhub.storage import DamagedDataError, Store
from hubpg.localhub.validation import name_problem
from hubpg.localhub.web import ApiError, HubState, Limits, error_response

REPO = "/api/models/{ns}/{name}"


def _routes() -> list[Route]:
    r, u, f = routes_repos, routes_upload, routes_files
    return [
        Route("/api/whoami-v2", r.whoami, methods=["GET"]),
        Route("/api/repos/create", r.create_repo, methods=["POST"]),
        Route("/api/repos/delete", r.delete_repo, methods=["DELETE"]),
        Route("/api/validate-yaml", r.validate_yaml, methods=["POST"]),
        Route("/api/models", r.list_models, methods=["GET"]),
        Route(REPO, r.model_info, methods=["GET"]),
        Route(REPO + "/revision/{rev}", r.model_info, methods=["GET"]),
        Route(REPO + "/settings", r.repo_settings, methods=["PUT"]),
        Route(REPO + "/tree/{rev}", r.list_tree, methods=["GET"]),
        Route(REPO + "/tree/{rev}/{path:path}", r.list_tree, methods=["GET"]),
        Route(REPO + "/paths-info/{rev}", r.paths_info, methods=["POST"]),
        Route(REPO + "/commits/{rev}", r.list_commits, methods=["GET"]),
        Route(REPO + "/refs", r.list_refs, methods=["GET"]),
        Route(REPO + "/branch/{branch}", r.create_branch, methods=["POST"]),
        Route(REPO + "/preupload/{rev}", u.preupload, methods=["POST"]),
        Route(REPO + "/commit/{rev}", u.commit, methods=["POST"]),
        Route(REPO + "/xet-write-token/{rev:path}", u.xet_token, methods=["GET"]),
        Route(REPO + "/xet-read-token/{rev:path}", u.xet_token, methods=["GET"]),
        Route("/{ns}/{name}.git/info/lfs/objects/batch", u.lfs_batch, methods=["POST"]),
        Route("/{ns}/{name}.git/info/lfs/objects/verify", u.lfs_verify, methods=["POST"]),
        Route("/lfs-upload/{ticket}", u.lfs_upload, methods=["PUT"]),
        Route("/{ns}/{name}/resolve/{rev}/{path:path}", f.resolve_file, methods=["GET", "HEAD"]),
        *pages.page_routes(),  # HTML for browsers, after every API route
        *commitpage.commit_routes(),
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = (
        exc.detail if exc.status_code != 404 else f"Not found: {request.method} {request.url.path}"
    )
    return error_response(ApiError(exc.status_code, str(message), headers=dict(exc.headers or {})))


async def _damaged(request: Request, exc: Exception) -> Response:
    return error_response(ApiError(500, f"{exc}; ask the server's operator to restore it"))


async def _client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=400, headers={"X-Error-Message": "Client disconnected"})


async def _server_error(request: Request, exc: Exception) -> Response:
    # starlette re-raises the exception after this response, so uvicorn logs the traceback
    return error_response(ApiError(500, f"Internal error: {type(exc).__name__}"))


class ErrorMessageHeader:
    """ASGI middleware: every 4xx/5xx answer carries ``X-Error-Message`` (e.g. a 416 from a Range)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            status = message.get("status", 0)
            if message["type"] == "http.response.start" and status >= 400:
                headers = list(message.get("headers", []))
                if not any(key.lower() == b"x-error-message" for key, _ in headers):
                    reason = HTTPStatus(status).phrase if status in _STATUSES else "Error"
                    headers.append((b"x-error-message", reason.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


_STATUSES = {status.value for status in HTTPStatus}


def create_app(data_dir: Path, users: dict[str, str], *, limits: Limits | None = None) -> Starlette:
    """Build the Hub-compatible ASGI app storing its data under ``data_dir``.

    ``users`` maps TOKEN -> NAME (the name ``whoami`` answers and the namespace the token
    may write to); ``limits`` bounds what one request may ask."""
    for token, name in users.items():
        problem = name_problem(name)
        if problem is not None or not token:
            raise ValueError(f"invalid user {name!r}: {problem or 'empty token'}")
    state = HubState(store=Store(Path(data_dir)), users=dict(users), limits=limits or Limits())
    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(ErrorMessageHeader)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            DamagedDataError: _damaged,
            Exception: _server_error,
        },
    )
    app.state.hub = state
    return app
