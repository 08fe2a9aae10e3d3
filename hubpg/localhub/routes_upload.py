"""Routes that write content: preupload, the Git LFS batch/upload/verify API, and commits."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hubpg.localhub.cards import card_problem, read_card_head
from hubpg.localhub.lfs import Ticket, upload_mode
from hubpg.localhub.routes_repos import resolve_commit
from hubpg.localhub.storage import (
    AddFile,
    DeleteFile,
    DeleteFolder,
    EntryMissingError,
    FileEntry,
    InvalidOperationError,
    Operation,
    ParentMismatchError,
    RepoMissingError,
    RevisionMissingError,
)
from hubpg.localhub.validation import is_hex, path_problem
from hubpg.localhub.web import (
    ApiError,
    HubJSONResponse,
    HubState,
    bad_request,
    base_url,
    body_in_thread,
    entry_not_found,
    hub,
    json_body,
    json_object,
    parse_json,
    readable_repo,
    repo_not_found,
    revision_not_found,
    too_large,
    writable_repo,
)
from hubpg.runfolder import CARD_NAME

LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"


def checked_path(path: Any) -> str:
    """A repo file path from a request, or a 400 when it is unsafe."""
    if not isinstance(path, str):
        raise bad_request("'path' must be a string")
    problem = path_problem(path)
    if problem is not None:
        shown = path if len(path) <= 120 else path[:100] + "..."
        raise bad_request(f"Invalid path '{shown}': {problem}")
    return path


def preupload(request: Request) -> Response:
    """``POST /api/models/{ns}/{name}/preupload/{rev}``: regular or LFS per file, and known oids."""
    meta, _ = writable_repo(request, request.path_params["ns"], request.path_params["name"])
    if request.query_params.get("create_pr"):
        raise bad_request("Pull requests are not supported by this local Hub")
    payload = json_body(request)
    commit = resolve_commit(request, meta, request.path_params["rev"])
    files = payload.get("files")
    if not isinstance(files, list):
        raise bad_request("'files' must be a list")
    limit = hub(request).limits.max_paths
    if len(files) > limit:
        raise bad_request(f"Too many files in one request: the limit is {limit}")
    answers = []
    for item in files:
        item = json_object(item, "'files' item")
        path = checked_path(item.get("path"))
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request(f"Invalid size for '{path}'")
        try:
            sample = base64.b64decode(item.get("sample") or "", validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise bad_request(f"Invalid base64 sample for '{path}'") from exc
        mode = upload_mode(path, size, sample)
        answer: dict[str, Any] = {"path": path, "uploadMode": mode, "shouldIgnore": False}
        existing = commit.files.get(path)
        if existing is not None and existing.lfs == (mode == "lfs"):
            answer["oid"] = existing.sha256 if existing.lfs else existing.oid
        answers.append(answer)
    return HubJSONResponse({"files": answers, "commitOid": commit.id})


def _object_error(oid: Any, size: Any, code: int, message: str) -> dict[str, Any]:
    return {
        "oid": oid if isinstance(oid, str) else str(oid),
        "size": size if isinstance(size, int) else 0,
        "error": {"code": code, "message": message},
    }


def lfs_batch(request: Request) -> Response:
    """``POST /{ns}/{name}.git/info/lfs/objects/batch`` (Git LFS batch API, uploads only)."""
    meta, _ = writable_repo(request, request.path_params["ns"], request.path_params["name"])
    state = hub(request)
    payload = json_body(request)
    if payload.get("operation") != "upload":
        raise bad_request("Only the 'upload' operation is supported; download files with /resolve/")
    if payload.get("hash_algo", "sha256") != "sha256":
        raise bad_request("Only the sha256 hash algorithm is supported")
    objects, limits = payload.get("objects"), state.limits
    if not isinstance(objects, list):
        raise bad_request("'objects' must be a list")
    if len(objects) > limits.max_batch_objects:
        raise bad_request(
            f"Too many objects in one LFS batch: the limit is {limits.max_batch_objects}"
        )
    base = base_url(request)
    verify_href = f"{base}/{meta.id}.git/info/lfs/objects/verify"
    answers = []
    for obj in objects:
        obj = json_object(obj, "'objects' item")
        oid, size = obj.get("oid"), obj.get("size")
        if not is_hex(oid, 64) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            answers.append(_object_error(oid, size, 422, "Invalid oid or size"))
        elif size > limits.max_lfs_bytes:
            message = f"Object too large: the limit is {limits.max_lfs_bytes} bytes"
            answers.append(_object_error(oid, size, 413, message))
        elif state.store.has_lfs(meta.id, oid, size):
            answers.append({"oid": oid, "size": size, "authenticated": True})
        else:
            ticket = state.tickets.issue(meta.id, oid, size)
            answers.append(
                {
                    "oid": oid,
                    "size": size,
                    "authenticated": True,
                    "actions": {
                        "upload": {
                            "href": f"{base}/lfs-upload/{ticket}",
                            "expires_in": int(state.tickets.lifetime_s),
                        },
                        "verify": {"href": verify_href},
                    },
                }
            )
    return HubJSONResponse(
        {"transfer": "basic", "objects": answers, "hash_algo": "sha256"},
        media_type=LFS_CONTENT_TYPE,
    )


def _store_upload(state: HubState, ticket: Ticket, tmp_path: Path) -> bool:
    """Move a verified upload into the object store and mark it uploaded to the ticket's
    repo; True when the temp file was adopted (False: the blob was already stored)."""
    if state.store.get_repo(ticket.repo_id) is None:
        raise repo_not_found(ticket.repo_id)
    kept = not state.store.has_blob(ticket.oid, ticket.size)
    if kept:
        state.store.adopt_blob(tmp_path, ticket.oid)
    state.store.mark_lfs(ticket.repo_id, ticket.oid)
    return kept


async def lfs_upload(request: Request) -> Response:
    """``PUT /lfs-upload/{ticket}``: store the bytes only if their size and sha256 match the
    ticket; they stream to a temp file, moved into the object store only once verified."""
    state = hub(request)
    secret = request.path_params["ticket"]
    ticket = state.tickets.peek(secret)
    if ticket is None:
        raise ApiError(403, "Upload ticket is invalid, expired or already used")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise bad_request("Invalid Content-Length header")
        if int(declared) > state.limits.max_lfs_bytes:
            raise too_large(state.limits.max_lfs_bytes)
        if int(declared) != ticket.size:
            raise bad_request(f"Size mismatch: expected {ticket.size} bytes, got {declared}")
    fd, tmp_path = state.store.new_upload_file()
    digest = hashlib.sha256()
    total = 0
    kept = False
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in request.stream():
                total += len(chunk)
                if total > state.limits.max_lfs_bytes:
                    raise too_large(state.limits.max_lfs_bytes)
                if total > ticket.size:
                    raise bad_request(f"Size mismatch: more than the expected {ticket.size} bytes")
                digest.update(chunk)
                handle.write(chunk)
        if total != ticket.size:
            raise bad_request(f"Size mismatch: expected {ticket.size} bytes, got {total}")
        if digest.hexdigest() != ticket.oid:
            raise bad_request(f"sha256 mismatch: the content is not {ticket.oid}")
        # fsyncing up to max_lfs_bytes must not stall the event loop: a worker thread does it
        kept = await run_in_threadpool(_store_upload, state, ticket, tmp_path)
        state.tickets.redeem(secret)
    finally:
        if not kept:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
    return Response(status_code=200)


def lfs_verify(request: Request) -> Response:
    """``POST /{ns}/{name}.git/info/lfs/objects/verify`` with ``{oid, size}``."""
    meta, _ = writable_repo(request, request.path_params["ns"], request.path_params["name"])
    payload = json_body(request)
    oid, size = payload.get("oid"), payload.get("size")
    if not is_hex(oid, 64) or not isinstance(size, int):
        raise bad_request("Invalid oid or size")
    if not hub(request).store.has_lfs(meta.id, oid, size):
        raise ApiError(404, f"LFS object {oid} was not uploaded to {meta.id}")
    return HubJSONResponse({"oid": oid, "size": size}, media_type=LFS_CONTENT_TYPE)


def parse_ndjson(
    body: bytes, *, max_lines: int
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Split a commit payload into its header value and its ``(key, value)`` operations.

    Args:
        body: the NDJSON payload.
        max_lines: most operations accepted (400 beyond).
    """
    lines = []
    for number, raw in enumerate(body.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(lines) > max_lines:
            raise bad_request(
                f"Too many operations in one commit: the limit is {max_lines}; split the commit"
            )
        item = parse_json(raw, what=f"NDJSON on line {number}")
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise bad_request(f"Malformed NDJSON on line {number}: expected {{key, value}}")
        if not isinstance(item.get("value"), dict):
            raise bad_request(f"Malformed NDJSON on line {number}: 'value' must be an object")
        lines.append((item["key"], item["value"]))
    if not lines or lines[0][0] != "header":
        raise bad_request("The commit payload must start with a 'header' line")
    if any(key == "header" for key, _ in lines[1:]):
        raise bad_request("The commit payload must have exactly one 'header' line")
    return lines[0][1], lines[1:]


def build_operations(
    request: Request, repo_id: str, raw: list[tuple[str, dict[str, Any]]]
) -> list[Operation]:
    """Turn the payload's operations into storage operations, storing regular files' content."""
    store = hub(request).store
    operations: list[Operation] = []
    for key, value in raw:
        if key == "file":
            path = checked_path(value.get("path"))
            content, encoding = value.get("content"), value.get("encoding", "base64")
            if not isinstance(content, str):
                raise bad_request(f"'content' of '{path}' must be a string")
            if encoding == "base64":
                try:
                    data = base64.b64decode(content, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise bad_request(f"Invalid base64 content for '{path}'") from exc
            elif encoding in ("utf-8", "utf8"):
                data = content.encode()
            else:
                raise bad_request(f"Unsupported encoding '{encoding}' for '{path}'")
            store.put_blob(data)
            operations.append(AddFile(path, FileEntry.regular(data)))
        elif key == "lfsFile":
            path = checked_path(value.get("path"))
            oid, size = value.get("oid"), value.get("size")
            if value.get("algo", "sha256") != "sha256" or not is_hex(oid, 64):
                raise bad_request(f"Invalid LFS oid for '{path}'")
            if size is None:
                size = store.blob_size(oid)
            if not isinstance(size, int) or not store.has_lfs(repo_id, oid, size):
                raise bad_request(
                    f"LFS object {oid} for '{path}' was not uploaded to {repo_id} (or its size differs)"
                )
            operations.append(AddFile(path, FileEntry.lfs_object(oid, size)))
        elif key == "deletedFile":
            operations.append(DeleteFile(checked_path(value.get("path"))))
        elif key == "deletedFolder":
            raw_path = value.get("path")
            path = raw_path.rstrip("/") if isinstance(raw_path, str) else raw_path
            operations.append(DeleteFolder(checked_path(path)))
        else:
            raise bad_request(f"Unsupported commit operation '{key}'")
    return operations


def _commit_header(header: dict[str, Any]) -> tuple[str, str, str | None]:
    """``(summary, description, parentCommit)`` of a commit header, or a 400 saying which is wrong."""
    summary = header.get("summary")
    description = header.get("description")
    parent = header.get("parentCommit")
    if not isinstance(summary, str) or not summary.strip():
        raise bad_request("The commit 'summary' must be a non-empty string")
    if description is not None and not isinstance(description, str):
        raise bad_request("The commit 'description' must be a string")
    if parent is not None and not (
        isinstance(parent, str) and 5 <= len(parent) <= 40 and is_hex(parent.lower())
    ):
        shown = parent if isinstance(parent, str) else json.dumps(parent)[:80]
        raise bad_request(
            f"Invalid parentCommit {shown!r}: it must be a string of 5 to 40 hex digits (a commit id)"
        )
    return summary.strip(), description or "", parent


def _check_card(request: Request, operations: list[Operation]) -> None:
    """400 when the commit adds a README.md whose metadata :mod:`hubpg.cardsafe` refuses."""
    added = [op.entry for op in operations if isinstance(op, AddFile) and op.path == CARD_NAME]
    if not added:
        return
    try:
        text = read_card_head(hub(request).store.blob_path(added[-1].sha256))
    except OSError as exc:
        raise bad_request(f"Cannot read the README.md of this commit: {exc}") from exc
    problem = card_problem(text)
    if problem is not None:
        raise bad_request(f"Invalid metadata in README.md: {problem}")


def commit(request: Request) -> Response:
    """``POST /api/models/{ns}/{name}/commit/{rev}`` (NDJSON) -> ``{commitUrl, commitOid, ...}``."""
    meta, user = writable_repo(request, request.path_params["ns"], request.path_params["name"])
    state = hub(request)
    if request.query_params.get("create_pr") not in (None, "", "0", "false"):
        raise bad_request("Pull requests are not supported by this local Hub")
    branch = request.path_params["rev"]
    if branch not in meta.branches:
        try:
            state.store.resolve(meta, branch)
        except RevisionMissingError as exc:
            raise revision_not_found(branch) from exc
        raise bad_request(f"Commits can only be made to a branch, not to '{branch}'")
    body = body_in_thread(request, state.limits.max_commit_bytes)
    header, raw_operations = parse_ndjson(body, max_lines=state.limits.max_repo_files)
    summary, description, parent = _commit_header(header)
    operations = build_operations(request, meta.id, raw_operations)
    _check_card(request, operations)
    try:
        new = state.store.commit(
            meta.id,
            branch,
            operations,
            title=summary,
            message=description,
            author=user,
            parent_commit=parent,
            max_files=state.limits.max_repo_files,
            max_folders=state.limits.max_repo_folders,
        )
    except ParentMismatchError as exc:
        raise ApiError(412, "A commit has happened since. Please refresh and try again.") from exc
    except EntryMissingError as exc:
        raise entry_not_found(str(exc), meta.branches[branch]) from exc
    except InvalidOperationError as exc:
        raise bad_request(str(exc)) from exc
    except RevisionMissingError as exc:
        raise revision_not_found(branch) from exc
    except RepoMissingError as exc:
        raise repo_not_found(meta.id) from exc
    return HubJSONResponse(
        {
            "success": True,
            "commitUrl": f"{base_url(request)}/{meta.id}/commit/{new.id}",
            "commitOid": new.id,
            "commitMessage": new.title,
            "pullRequestUrl": None,
        }
    )


def xet_token(request: Request) -> Response:
    """``GET /api/models/{ns}/{name}/xet-*-token/...``: Xet is not offered; say how to turn it off."""
    readable_repo(request, request.path_params["ns"], request.path_params["name"])
    raise ApiError(
        501,
        "This local Hub does not support Xet storage: set HF_HUB_DISABLE_XET=1 before importing "
        "huggingface_hub (or huggingface_hub.constants.HF_HUB_DISABLE_XET = True) to upload with Git LFS",
    )
