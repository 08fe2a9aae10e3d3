"""Routes about users and repos: whoami, create/delete, settings, info, listings, history."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from hubpg.cardsafe import card_data_from_readme
from hubpg.errors import CardDataError
from hubpg.localhub.cards import tags_from_card
from hubpg.localhub.storage import (
    BranchExistsError,
    Commit,
    DamagedDataError,
    FileEntry,
    RepoExistsError,
    RepoMeta,
    RevisionMissingError,
)
from hubpg.localhub.validation import path_problem
from hubpg.localhub.web import (
    ApiError,
    HubJSONResponse,
    bad_request,
    base_url,
    body_in_thread,
    can_see,
    current_user,
    entry_not_found,
    hub,
    json_body,
    json_object,
    paginated,
    parse_json,
    readable_repo,
    repo_id_of,
    require_user,
    revision_not_found,
    writable_repo,
)
from hubpg.runfolder import CARD_NAME

_BRANCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


def _flag(request: Request, key: str) -> bool:
    return request.query_params.get(key, "").lower() in ("1", "true", "yes")


def resolve_commit(request: Request, meta: RepoMeta, revision: str) -> Commit:
    """The commit a revision names, or RevisionNotFound."""
    store = hub(request).store
    try:
        return store.get_commit(meta.id, store.resolve(meta, revision))
    except RevisionMissingError as exc:
        raise revision_not_found(revision) from exc


def card_of(request: Request, commit: Commit) -> dict[str, Any] | None:
    """The card data of the commit's README.md (see :mod:`hubpg.cardsafe`), None when it
    has none or its metadata is refused."""
    entry = commit.files.get(CARD_NAME)
    if entry is None:
        return None
    state = hub(request)
    return state.cards.get(entry.sha256, state.store.blob_path(entry.sha256))


def _sibling(path: str, entry: FileEntry, blobs: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"rfilename": path}
    if blobs:
        item["size"] = entry.size
        item["blobId"] = entry.oid
        if entry.lfs:
            item["lfs"] = {
                "size": entry.size,
                "sha256": entry.sha256,
                "pointerSize": entry.pointer_size,
            }
    return item


def repo_summary(
    request: Request,
    meta: RepoMeta,
    commit: Commit,
    *,
    card: bool,
    siblings: bool,
    blobs: bool = False,
) -> dict[str, Any]:
    """The JSON the Hub answers for a model, in ``model_info`` and ``list_models``."""
    card_data = card_of(request, commit)
    info: dict[str, Any] = {
        "_id": hashlib.sha1(meta.id.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": meta.id,
        "modelId": meta.id,
        "author": meta.namespace,
        "sha": commit.id,
        "lastModified": commit.date,
        "createdAt": meta.created_at,
        "private": meta.private,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": tags_from_card(card_data),
    }
    for key in ("library_name", "pipeline_tag"):
        if card_data and isinstance(card_data.get(key), str):
            info[key] = card_data[key]
    if card:
        info["cardData"] = card_data
        if card_data and "model-index" in card_data:
            info["model-index"] = card_data["model-index"]
    if siblings:
        info["siblings"] = [_sibling(p, e, blobs) for p, e in sorted(commit.files.items())]
        info["spaces"] = []
    return info


def whoami(request: Request) -> Response:
    """``GET /api/whoami-v2``."""
    user = require_user(request)
    return HubJSONResponse(
        {
            "type": "user",
            "id": hashlib.sha1(user.encode(), usedforsecurity=False).hexdigest()[:24],
            "name": user,
            "fullname": user,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "canPay": False,
            "avatarUrl": "",
            "orgs": [],
            "auth": {
                "type": "access_token",
                "accessToken": {"displayName": "local", "role": "write"},
            },
        }
    )


def _repo_request(request: Request) -> tuple[str, dict[str, Any], str, str]:
    """The caller and the ``{name, organization, type?}`` body of a create/delete call."""
    user = require_user(request)
    payload = json_body(request)
    if payload.get("type") not in (None, "model"):
        raise bad_request(f"This local Hub only hosts model repos, not '{payload['type']}' repos")
    name = payload.get("name")
    namespace = payload.get("organization") or user
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise bad_request("'name' and 'organization' must be strings")
    return user, payload, namespace, name


def create_repo(request: Request) -> Response:
    """``POST /api/repos/create`` with ``{name, organization, visibility?, type?}``."""
    user, payload, namespace, name = _repo_request(request)
    repo_id = repo_id_of(namespace, name)
    visibility = payload.get("visibility")
    if visibility not in (None, "public", "private", "protected"):
        raise bad_request(f"Invalid visibility '{visibility}'")
    private = visibility in ("private", "protected") or payload.get("private") is True
    url = f"{base_url(request)}/{repo_id}"
    if namespace != user:
        raise ApiError(
            403, f"You don't have the rights to create a model under the namespace '{namespace}'"
        )
    try:
        meta = hub(request).store.create_repo(repo_id, owner=user, private=private)
    except RepoExistsError:
        message = "You already created this model repo"
        return HubJSONResponse(
            {"error": message, "url": url}, status_code=409, headers={"X-Error-Message": message}
        )
    return HubJSONResponse({"url": url, "name": meta.id, "id": meta.id})


def delete_repo(request: Request) -> Response:
    """``DELETE /api/repos/delete`` with ``{name, organization, type?}``."""
    _, _, namespace, name = _repo_request(request)
    meta, _ = writable_repo(request, namespace, name)
    hub(request).store.delete_repo(meta.id)
    return Response(status_code=200)


def repo_settings(request: Request) -> Response:
    """``PUT /api/models/{ns}/{name}/settings`` with ``{visibility?, private?, gated?}``."""
    meta, _ = writable_repo(request, request.path_params["ns"], request.path_params["name"])
    payload = json_body(request)
    private = meta.private
    if "visibility" in payload:
        if payload["visibility"] not in ("public", "private", "protected"):
            raise bad_request(f"Invalid visibility '{payload['visibility']}'")
        private = payload["visibility"] != "public"
    if isinstance(payload.get("private"), bool):
        private = payload["private"]
    if payload.get("gated") not in (None, False):
        raise bad_request("Gated repos are not supported by this local Hub")
    hub(request).store.set_private(meta.id, private)
    return HubJSONResponse({"private": private})


def create_branch(request: Request) -> Response:
    """``POST /api/models/{ns}/{name}/branch/{branch}`` with ``{startingPoint?}`` (409 if it
    exists)."""
    meta, _ = writable_repo(request, request.path_params["ns"], request.path_params["name"])
    branch = request.path_params["branch"]
    payload = json_body(request, allow_empty=True)
    if not _BRANCH_NAME.fullmatch(branch) or _FULL_SHA.fullmatch(branch):
        raise bad_request(f"Invalid branch name '{branch}'")
    start = payload.get("startingPoint")
    if start is not None and not isinstance(start, str):
        raise bad_request("'startingPoint' must be a revision string")
    try:
        hub(request).store.create_branch(meta.id, branch, start)
    except BranchExistsError as exc:
        raise ApiError(409, f"Reference already exists: refs/heads/{branch}") from exc
    except RevisionMissingError as exc:
        raise revision_not_found(start or "main") from exc
    return HubJSONResponse({})


def model_info(request: Request) -> Response:
    """``GET /api/models/{ns}/{name}[/revision/{rev}]`` (``?blobs=true`` adds file metadata)."""
    meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
    commit = resolve_commit(request, meta, request.path_params.get("rev", "main"))
    return HubJSONResponse(
        repo_summary(request, meta, commit, card=True, siblings=True, blobs=_flag(request, "blobs"))
    )


def list_models(request: Request) -> Response:
    """``GET /api/models`` with ``filter`` (repeatable, all must match), ``search``, ``author``..."""
    user = current_user(request)
    store = hub(request).store
    params = request.query_params
    filters = [f for f in params.getlist("filter") if f]
    search = params.get("search", "").lower()
    author = params.get("author")
    want_card = _flag(request, "cardData") or _flag(request, "full")
    want_siblings = _flag(request, "full")
    try:
        limit = int(params["limit"]) if params.get("limit") else None
    except ValueError as exc:
        raise bad_request("'limit' must be an integer") from exc
    results = []
    for meta in store.list_repos():
        head = meta.branches.get("main")
        if not can_see(meta, user) or (author and meta.namespace != author) or head is None:
            continue
        if search not in meta.id.lower():
            continue
        try:
            commit = store.get_commit(meta.id, head)
        except (DamagedDataError, RevisionMissingError):  # logged; one repo never breaks all
            continue
        item = repo_summary(request, meta, commit, card=want_card, siblings=want_siblings)
        if filters and not all(f in item["tags"] for f in filters):
            continue
        results.append(item)
    sort = params.get("sort")
    if sort in ("lastModified", "createdAt"):
        results.sort(key=lambda item: item[sort], reverse=params.get("direction") != "1")
    if limit is not None:
        results = results[: max(limit, 0)]
    limits = hub(request).limits
    page = min(limits.page_items, limits.card_page_items) if want_card else None
    return paginated(request, results, page_items=page)


def folder_oids(files: dict[str, FileEntry]) -> dict[str, str]:
    """The oid of every folder of a commit ("" is the root), computed bottom-up like git
    trees: a folder's oid hashes its direct children's names and oids.

    Args:
        files: the commit's path -> entry map.
    """
    children: dict[str, list[tuple[str, str, str]]] = {"": []}
    for path, entry in files.items():
        parent, _, name = path.rpartition("/")
        if parent not in children:
            folder = parent
            while folder not in children:
                children[folder] = []
                folder = folder.rpartition("/")[0]
        children[parent].append((name, "file", entry.oid))
    oids: dict[str, str] = {}
    for folder in sorted(children, key=lambda f: f.count("/") + bool(f), reverse=True):
        listing = json.dumps(sorted(children[folder]), separators=(",", ":"))
        oids[folder] = hashlib.sha1(listing.encode(), usedforsecurity=False).hexdigest()
        if folder:
            parent, _, name = folder.rpartition("/")
            children[parent].append((name, "directory", oids[folder]))
    return oids


def _file_item(path: str, entry: FileEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
    if entry.lfs:
        item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    return item


def _folder_item(path: str, oid: str) -> dict[str, Any]:
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def tree_items(
    files: dict[str, FileEntry], folder: str, recursive: bool
) -> list[dict[str, Any]] | None:
    """Tree entries under ``folder`` ("" for the root), None when the folder does not exist.

    Args:
        files: the commit's path -> entry map.
        folder: the folder to list.
        recursive: list everything below it, not only its direct children.
    """
    oids = folder_oids(files)
    if folder not in oids:
        return None
    prefix = f"{folder}/" if folder else ""

    def listed(path: str) -> bool:
        return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

    items = [_file_item(p, e) for p, e in files.items() if listed(p)]
    items += [_folder_item(p, oid) for p, oid in oids.items() if p and listed(p)]
    items.sort(key=lambda item: item["path"])
    return items


def list_tree(request: Request) -> Response:
    """``GET /api/models/{ns}/{name}/tree/{rev}[/{path}]?recursive=...``."""
    meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
    commit = resolve_commit(request, meta, request.path_params["rev"])
    folder = request.path_params.get("path", "").strip("/")
    if folder:
        problem = path_problem(folder)
        if problem is not None:
            raise bad_request(f"Invalid path '{folder}': {problem}")
    items = tree_items(commit.files, folder, _flag(request, "recursive"))
    if items is None:
        raise entry_not_found(f"Entry not found: {folder}", commit.id)
    return paginated(request, items, headers={"X-Repo-Commit": commit.id})


def paths_info(request: Request) -> Response:
    """``POST /api/models/{ns}/{name}/paths-info/{rev}`` (form or JSON ``paths``)."""
    meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
    commit = resolve_commit(request, meta, request.path_params["rev"])
    body = body_in_thread(request, hub(request).limits.max_json_bytes)
    if request.headers.get("content-type", "").startswith("application/json"):
        paths = json_object(parse_json(body)).get("paths", [])
    else:
        paths = parse_qs(body.decode("utf-8", "replace")).get("paths", [])
    if not isinstance(paths, list):
        raise bad_request("'paths' must be a list")
    limit = hub(request).limits.max_paths
    if len(paths) > limit:
        raise bad_request(f"Too many paths in one request: the limit is {limit}")
    oids: dict[str, str] | None = None  # computed once, only if a folder is asked for
    results = []
    for path in paths:
        if not isinstance(path, str):
            raise bad_request("'paths' must be a list of strings")
        path = path.strip("/")
        if path in commit.files:
            results.append(_file_item(path, commit.files[path]))
            continue
        if oids is None:
            oids = folder_oids(commit.files)
        if path and path in oids:
            results.append(_folder_item(path, oids[path]))
    return HubJSONResponse(results)


def list_commits(request: Request) -> Response:
    """``GET /api/models/{ns}/{name}/commits/{rev}``: the history, newest first."""
    meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
    commit = resolve_commit(request, meta, request.path_params["rev"])
    items = [
        {
            "id": c.id,
            "title": c.title,
            "message": c.title + (f"\n\n{c.message}" if c.message else ""),
            "authors": [{"user": c.author}],
            "date": c.date,
            "parents": list(c.parents),
        }
        for c in hub(request).store.history(meta, commit.id)
    ]
    return paginated(request, items)


def list_refs(request: Request) -> Response:
    """``GET /api/models/{ns}/{name}/refs``."""
    meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
    branches = [
        {"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha}
        for name, sha in sorted(meta.branches.items())
    ]
    return HubJSONResponse({"branches": branches, "converts": [], "tags": [], "pullRequests": []})


def validate_yaml(request: Request) -> Response:
    """``POST /api/validate-yaml`` with ``{content, repoType}``: errors and warnings as JSON."""
    payload = json_body(request)
    content = payload.get("content")
    if not isinstance(content, str):
        raise bad_request("'content' must be a string")
    try:
        card = card_data_from_readme(content)
    except CardDataError as exc:
        return HubJSONResponse(
            {"errors": [{"message": str(exc)}], "warnings": []},
            status_code=400,
            headers={"X-Error-Message": "Invalid metadata in README.md"},
        )
    warnings = [{"message": "empty or missing yaml metadata in repo card"}] if card is None else []
    return HubJSONResponse({"errors": [], "warnings": warnings})
