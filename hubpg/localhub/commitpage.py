"""The local Hub's commit page, ``/{namespace}/{name}/commit/{revision}``: one commit's
message, author, date and parents, and the files it added, changed or deleted against its
first parent. Like every page it follows the API's visibility rules and autoescapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubpg.localhub.cardhtml import resolve_url
from hubpg.localhub.pages import PageRoute, error_page, render_page
from hubpg.localhub.routes_repos import resolve_commit
from hubpg.localhub.storage import Commit, FileEntry
from hubpg.localhub.web import ApiError, hub, readable_repo

#: Most changed files listed on one page (a commit may touch 10,000).
MAX_CHANGES = 1000


@dataclass(frozen=True)
class ChangedFile:
    """One file a commit added, modified or deleted."""

    path: str
    change: str
    size: int | None
    old_size: int | None
    lfs: bool
    url: str


def changed_files(repo_id: str, commit: Commit, parent: Commit | None) -> list[ChangedFile]:
    """What ``commit`` changed against ``parent`` (everything added for a first commit),
    sorted by path; a deleted file links to its last version, at ``parent``.

    Args:
        repo_id: ``namespace/name``.
        commit: the commit shown.
        parent: its first parent, None for the repo's first commit.
    """
    before: dict[str, FileEntry] = parent.files if parent is not None else {}
    changes = []
    for path in sorted(set(before) | set(commit.files)):
        old, new = before.get(path), commit.files.get(path)
        if old == new:
            continue
        if new is None:  # deleted, so it was in the parent: link its last version there
            assert old is not None and parent is not None
            url = resolve_url(repo_id, parent.id, path)
            changes.append(ChangedFile(path, "deleted", None, old.size, old.lfs, url))
            continue
        kind = "added" if old is None else "modified"
        url = resolve_url(repo_id, commit.id, path)
        changes.append(ChangedFile(path, kind, new.size, old.size if old else None, new.lfs, url))
    return changes


def commit_page(request: Request) -> Response:
    """``GET /{ns}/{name}/commit/{rev}``: one commit (a full id, a unique prefix or a branch)."""
    try:
        meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
        commit = resolve_commit(request, meta, request.path_params["rev"])
        store = hub(request).store
        parent = store.get_commit(meta.id, commit.parents[0]) if commit.parents else None
    except ApiError as exc:
        return error_page(exc)
    changes = changed_files(meta.id, commit, parent)
    body = commit.message.strip()
    return render_page(
        "commit.html",
        title=f"{commit.title} · {meta.id}",
        repo_id=meta.id,
        private=meta.private,
        commit=commit,
        body=body if body != commit.title.strip() else "",
        changes=changes[:MAX_CHANGES],
        more_changes=max(len(changes) - MAX_CHANGES, 0),
        counts={k: sum(c.change == k for c in changes) for k in ("added", "modified", "deleted")},
        tree_url=f"/{meta.id}/tree/{commit.id}",
        commit_url=lambda rev: f"/{meta.id}/commit/{quote(rev, safe='')}",
    )


def commit_routes() -> list[Route]:
    """The commit page's route; register it with the other pages, after the API routes."""
    return [PageRoute("/{ns}/{name}/commit/{rev}", commit_page, methods=["GET"])]
