"""HTML pages of the local Hub for a browser: ``/`` (the models, newest first, with a search
box) and ``/{namespace}/{name}[/tree/{revision}]`` (a model: its card's metadata and rendered
card, its files and history). They follow the API's visibility rules, are autoescaped Jinja2,
and run no script (a strict Content-Security-Policy allows only the inline CSS, by hash).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from hubpg.cardsafe import readme_body
from hubpg.localhub.cardhtml import render_card_html, resolve_url
from hubpg.localhub.cards import read_card_head, tags_from_card
from hubpg.localhub.routes_repos import card_of, resolve_commit
from hubpg.localhub.storage import DEFAULT_BRANCH, Commit, RepoMeta
from hubpg.localhub.web import ApiError, can_see, current_user, hub, readable_repo
from hubpg.runfolder import CARD_NAME, format_score

TEMPLATES = Path(__file__).with_name("templates")
#: First path segments that belong to the API, never to a repo page.
RESERVED_NAMESPACES = frozenset({"api", "lfs-upload"})
MAX_LISTED = 1000
MAX_HISTORY = 100
MAX_SEARCH_CHARS = 200
#: Cards whose Markdown is longer are not rendered (a download link is shown instead): hubpg's
#: cards are ~3 kB, and a hostile 64 kB card already costs a few seconds to render.
MAX_RENDERED_CARD_BYTES = 64 * 1024


class PageRoute(Route):
    """A GET route whose ``{ns}`` is never an API prefix, so ``/api/...`` keeps the API's
    answers (a 405 for a wrong method, a JSON 404) instead of an HTML page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and child["path_params"].get("ns") in RESERVED_NAMESPACES:
            return Match.NONE, {}
        return match, child


# --------------------------------------------------------------------------- rendering


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["size"] = human_size
    env.filters["date"] = short_date
    env.globals["css"] = Markup(_stylesheet())
    return env


@lru_cache(maxsize=1)
def _stylesheet() -> str:
    return (TEMPLATES / "pages.css").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    """No scripts at all, media and images from this server only, the inline CSS by hash."""
    digest = base64.b64encode(hashlib.sha256(_stylesheet().encode()).digest()).decode()
    return (
        "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        f"style-src 'sha256-{digest}'; img-src 'self' data:; media-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def render_page(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered as an HTML response with the pages' security headers.

    Args:
        template: file name under ``templates/``.
        status: HTTP status.
        context: the template's variables.
    """
    html = _environment().get_template(template).render(**context)
    headers = {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def human_size(size: int) -> str:
    """``1234567`` -> ``"1.23 MB"`` (decimal units, as the Hub shows sizes).

    Args:
        size: a size in bytes.
    """
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def short_date(date: str) -> str:
    """``2024-01-31T12:00:00.000Z`` -> ``2024-01-31 12:00 UTC`` (anything else unchanged).

    Args:
        date: a date in the Hub's format.
    """
    if len(date) >= 16 and date[10] == "T":
        return f"{date[:10]} {date[11:16]} UTC"
    return date


# --------------------------------------------------------------------------- what a page shows


@dataclass(frozen=True)
class Summary:
    """What the listing and a model page show about one revision of a repo."""

    repo_id: str
    commit_id: str
    last_modified: str
    private: bool
    env_ids: tuple[str, ...]
    tags: tuple[str, ...]
    library: str | None
    claim: str | None

    @property
    def url(self) -> str:
        return "/" + self.repo_id


def read_card_text(request: Request, commit: Commit) -> str | None:
    """The commit's README.md as text (its first MiB); None when it has none or is unreadable.

    Args:
        request: the request (for the store).
        commit: the commit to read the card from.
    """
    entry = commit.files.get(CARD_NAME)
    if entry is None:
        return None
    try:
        return read_card_head(hub(request).store.blob_path(entry.sha256))
    except OSError:
        return None


def summarise(request: Request, meta: RepoMeta, commit: Commit) -> Summary:
    """The :class:`Summary` of ``meta`` at ``commit`` from its README.md's metadata: the env
    ids its model-index claims results on (sorted) and its claimed ``mean_reward`` as
    ``MEAN +/- STD`` are empty when the model-index is missing or unreadable.

    Args:
        request: the request (for the store and its card cache).
        meta: the repo.
        commit: the revision shown.
    """
    from hubpg.cardmeta import card_env_ids
    from hubpg.claims import parse_claim

    card = card_of(request, commit) or {}
    env_ids, claim = (), None
    if "model-index" in card:
        with contextlib.suppress(ValueError, TypeError):  # CardMetadataError is a ValueError
            env_ids = tuple(sorted(card_env_ids(card)))
        with contextlib.suppress(ValueError, TypeError):
            claim = format_score(*parse_claim(card))
    library = card.get("library_name")
    return Summary(
        repo_id=meta.id,
        commit_id=commit.id,
        last_modified=commit.date,
        private=meta.private,
        env_ids=env_ids,
        tags=tuple(tags_from_card(card)),
        library=library if isinstance(library, str) and library else None,
        claim=claim,
    )


def _matches(summary: Summary, search: str) -> bool:
    words = search.lower().split()
    haystack = " ".join((summary.repo_id, *summary.tags, *summary.env_ids)).lower()
    return all(word in haystack for word in words)


def listing(request: Request, search: str) -> list[Summary]:
    """The models the caller may see whose id or tags contain every word of ``search``,
    newest first.

    Args:
        request: the request (for the store and the caller).
        search: words to look for ("" lists everything).
    """
    user = current_user(request)
    store = hub(request).store
    rows = []
    for meta in store.list_repos():
        head = meta.branches.get(DEFAULT_BRANCH)
        if head is None or not can_see(meta, user):
            continue
        try:
            commit = store.get_commit(meta.id, head)
        except Exception:  # one broken repo must not take the listing down
            continue
        summary = summarise(request, meta, commit)
        if _matches(summary, search):
            rows.append(summary)
    rows.sort(key=lambda row: row.last_modified, reverse=True)
    return rows


@dataclass(frozen=True)
class FileRow:
    """One file of the model page's file list."""

    path: str
    size: int
    lfs: bool
    url: str


def file_rows(repo_id: str, commit: Commit) -> list[FileRow]:
    """The commit's files, sorted by path, with their download URLs.

    Args:
        repo_id: ``namespace/name``.
        commit: the revision shown.
    """
    return [
        FileRow(path, entry.size, entry.lfs, resolve_url(repo_id, commit.id, path))
        for path, entry in sorted(commit.files.items())
    ]


# --------------------------------------------------------------------------- routes


@lru_cache(maxsize=32)
def _rendered_card(body: str, repo_id: str, commit_id: str) -> Markup:
    return Markup(render_card_html(body, repo_id=repo_id, commit_id=commit_id))


def card_view(repo_id: str, commit: Commit, text: str | None) -> tuple[Markup | None, bool]:
    """The card's HTML (None when there is none to show) and whether it is too large to show.

    Args:
        repo_id: ``namespace/name``.
        commit: the revision shown.
        text: the card's text (None when missing or unreadable).
    """
    if text is None:
        return None, CARD_NAME in commit.files
    body = readme_body(text)
    if len(body.encode("utf-8", "replace")) > MAX_RENDERED_CARD_BYTES:
        return None, True
    return _rendered_card(body, repo_id, commit.id), False


def error_page(exc: ApiError) -> HTMLResponse:
    """The HTML page of an API error (its status, its one-line message).

    Args:
        exc: the error.
    """
    status = exc.status if 400 <= exc.status < 600 else 500
    return render_page(
        "error.html", status=status, title=str(status), status_code=status, message=exc.message
    )


def index(request: Request) -> Response:
    """``GET /``: the models, newest first; ``?search=WORDS`` filters them."""
    search = request.query_params.get("search", "")[:MAX_SEARCH_CHARS]
    try:
        rows = listing(request, search)
    except ApiError as exc:
        return error_page(exc)
    return render_page(
        "index.html", title="Models", rows=rows[:MAX_LISTED], total=len(rows), search=search
    )


def model_page(request: Request) -> Response:
    """``GET /{ns}/{name}`` and ``GET /{ns}/{name}/tree/{rev}``: one model at a revision."""
    try:
        meta, _ = readable_repo(request, request.path_params["ns"], request.path_params["name"])
        revision = request.path_params.get("rev", DEFAULT_BRANCH)
        commit = resolve_commit(request, meta, revision)
        history = hub(request).store.history(meta, commit.id)
    except ApiError as exc:
        return error_page(exc)
    card_html, card_too_large = card_view(meta.id, commit, read_card_text(request, commit))
    return render_page(
        "model.html",
        title=meta.id,
        summary=summarise(request, meta, commit),
        revision=revision,
        branches=sorted(meta.branches.items()),
        card_html=card_html,
        card_too_large=card_too_large,
        files=file_rows(meta.id, commit),
        history=history[:MAX_HISTORY],
        more_history=max(len(history) - MAX_HISTORY, 0),
        tree_url=lambda rev: f"/{meta.id}/tree/{quote(rev, safe='')}",
        commit_url=lambda rev: f"/{meta.id}/commit/{quote(rev, safe='')}",
    )


def page_routes() -> list[Route]:
    """The HTML routes; register them after the API routes."""
    return [
        Route("/", index, methods=["GET"]),
        PageRoute("/{ns}/{name}", model_page, methods=["GET"]),
        PageRoute("/{ns}/{name}/tree/{rev}", model_page, methods=["GET"]),
    ]
