"""Route that serves file contents: ``HEAD``/``GET /{ns}/{name}/resolve/{rev}/{path}``."""

from __future__ import annotations

import mimetypes

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from hubpg.localhub.routes_repos import resolve_commit
from hubpg.localhub.validation import path_problem
from hubpg.localhub.web import bad_request, entry_not_found, hub, readable_repo


def resolve_file(request: Request) -> Response:
    """Serve one file of a revision, with the headers ``hf_hub_download`` reads.

    ``X-Repo-Commit`` is the commit, ``ETag`` the git blob id (regular files) or
    the sha256 (LFS files, which also get ``X-Linked-Etag`` and ``X-Linked-Size``).
    HEAD answers the real ``Content-Length``; ``Range`` requests are honoured.
    """
    meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
    commit = resolve_commit(request, meta, request.path_params["rev"])
    path = request.path_params["path"]
    problem = path_problem(path)
    if problem is not None:
        raise bad_request(f"Invalid path '{path}': {problem}")
    entry = commit.files.get(path)
    if entry is None:
        raise entry_not_found(f"Entry not found: {path}", commit.id)
    cache = "private, max-age=0, must-revalidate" if meta.private else "public, max-age=0"
    headers = {
        "X-Repo-Commit": commit.id,
        "ETag": f'"{entry.sha256 if entry.lfs else entry.oid}"',
        "Cache-Control": cache,
    }
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    blob = hub(request).store.blob_path(entry.sha256)
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return FileResponse(blob, headers=headers, media_type=media_type)
