"""Model card metadata as the Hub serves it: README.md's YAML front matter (accepted by the
rule of :mod:`hubpg.cardsafe`, remembered per blob), and tags."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hubpg.cardsafe import card_data_from_readme
from hubpg.errors import CardDataError

#: Bytes of a README read to find its front matter (the block must end within them).
CARD_HEAD_BYTES = 1024 * 1024


def read_card_head(blob: Path) -> str:
    """The first :data:`CARD_HEAD_BYTES` of a stored README, decoded leniently.

    Args:
        blob: the README's blob in the object store.
    """
    with open(blob, "rb") as handle:
        head = handle.read(CARD_HEAD_BYTES)
    return head.decode("utf-8", "replace")


def card_problem(text: str) -> str | None:
    """Why the README's metadata would be refused (one line), or None when it is fine.

    Args:
        text: the README's text.
    """
    try:
        card_data_from_readme(text)
    except CardDataError as exc:
        return str(exc)
    return None


class CardCache:
    """Card data per README blob (sha256 -> data, None for no or refused metadata),
    the most recent ``size`` kept. Thread-safe."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str, blob: Path) -> dict[str, Any] | None:
        """The card data of the README stored at ``blob``; None when it has none, cannot
        be read, or breaks :mod:`hubpg.cardsafe` (such a card is left out of listings
        rather than breaking them; new ones are refused at commit).

        Args:
            sha256: the README's content hash (the cache key).
            blob: where its bytes are.
        """
        with self._lock:
            if sha256 in self._items:
                self._items.move_to_end(sha256)
                return self._items[sha256]
        try:
            data = card_data_from_readme(read_card_head(blob))
        except (OSError, CardDataError):
            data = None
        with self._lock:
            self._items[sha256] = data
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


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
