"""A model card's Markdown as safe HTML: the one place cards are rendered and sanitised.

markdown-it-py renders (raw HTML allowed, so the card's ``<video src="replay.mp4">``
survives), then nh3 sanitises: ``<script>``, ``<style>``, event handlers, ``style``
attributes and URL schemes other than http(s)/mailto never reach a page. Relative URLs
are rewritten to the repo's ``resolve`` URLs at the page's commit.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from urllib.parse import quote

import nh3
from markdown_it import MarkdownIt

URL_SCHEMES = frozenset({"http", "https", "mailto"})
TAGS = (frozenset(nh3.ALLOWED_TAGS) - {"area", "map"}) | {"video", "source"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "video": {"src", "controls", "autoplay", "loop", "muted", "playsinline", "width", "height"},
    "source": {"src", "type"},
}
# Whole elements (with their text) that are dropped, not unwrapped.
DROPPED = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript"})

_MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(
    ["table", "strikethrough"]
)


def resolve_url(repo_id: str, commit_id: str, path: str) -> str:
    """The URL path that serves ``path`` of ``repo_id`` at ``commit_id`` (``/resolve/``).

    Args:
        repo_id: ``namespace/name``.
        commit_id: the full commit id the page shows.
        path: the file's path in the repo (quoted here).
    """
    return f"/{repo_id}/resolve/{commit_id}/{quote(path, safe='/')}"


def relative_url_rewriter(repo_id: str, commit_id: str) -> Callable[[str], str | None]:
    """A function that maps a card's relative URL to the repo's file at ``commit_id``.

    Fragments (``#x``), queries and absolute paths (``/x``, ``//host/x``) are kept;
    a path that climbs out of the repo (``../x``) is dropped (None).

    Args:
        repo_id: ``namespace/name``.
        commit_id: the full commit id the page shows.
    """
    base = f"/{repo_id}/resolve/{commit_id}/"

    def rewrite(url: str) -> str | None:
        if not url or url.startswith(("#", "?", "/")):
            return url
        cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
        path = posixpath.normpath(url[:cut])
        if path in (".", "..") or path.startswith("../"):
            return None
        return base + path + url[cut:]  # already percent-encoded by markdown-it or the author

    return rewrite


def render_card_html(markdown: str, *, repo_id: str, commit_id: str) -> str:
    """The card's Markdown body as sanitised HTML, its relative URLs resolved.

    Args:
        markdown: the README's text after its YAML front matter.
        repo_id: ``namespace/name`` of the repo the card belongs to.
        commit_id: the full commit id whose files relative URLs point to.
    """
    return nh3.clean(
        _MARKDOWN.render(markdown),
        tags=set(TAGS),
        clean_content_tags=set(DROPPED),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        url_relative=relative_url_rewriter(repo_id, commit_id),
    )
