"""Model card metadata as the Hub reads it: the YAML front matter of README.md, and tags."""

from __future__ import annotations

import re
from typing import Any

import yaml

# Same pattern as huggingface_hub.repocard.REGEX_YAML_BLOCK
_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")


class CardError(ValueError):
    """The README's YAML front matter does not parse into a mapping."""


def parse_front_matter(text: str) -> dict[str, Any] | None:
    """The README's YAML metadata as a dict, None when there is none.

    Raises :class:`CardError` when the block exists but is not valid YAML or not a mapping.
    """
    match = _YAML_BLOCK.search(text)
    if match is None:
        return None
    try:
        data = yaml.safe_load(match.group(2))
    except yaml.YAMLError as exc:
        raise CardError(f"Invalid YAML in README.md metadata: {exc}") from exc
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CardError("README.md metadata must be a YAML mapping (key: value)")
    return data


def card_data_or_none(text: str) -> dict[str, Any] | None:
    """Like :func:`parse_front_matter` but None instead of raising on bad YAML."""
    try:
        return parse_front_matter(text)
    except CardError:
        return None


def tags_from_card(card: dict[str, Any] | None) -> list[str]:
    """The repo's tags: ``library_name`` first, then the card's ``tags``, without duplicates."""
    if not card:
        return []
    tags: list[str] = []
    library = card.get("library_name")
    if isinstance(library, str) and library:
        tags.append(library)
    raw = card.get("tags")
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, list):
        tags.extend(str(t) for t in raw if isinstance(t, (str, int, float)) and str(t))
    return list(dict.fromkeys(tags))


def card_body(text: str) -> str:
    """The README's Markdown after its YAML front matter (the whole text when there is none)."""
    match = _YAML_BLOCK.search(text)
    return text if match is None else text[match.end() :]
