"""Reading a model card's metadata back: the one reader that :mod:`hubpg.card` (which
writes cards) and :mod:`hubpg.claims` (which judges their claims) share. Every form of a
card goes through the card-data rule of :mod:`hubpg.cardsafe`; ``huggingface_hub`` is
imported only when a function needs it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubpg.cardsafe import card_data_from_readme, check_card_data
from hubpg.errors import CardDataError, CardMetadataError, one_line

if TYPE_CHECKING:
    from huggingface_hub import ModelCardData

__all__ = ["card_data", "card_env_ids", "card_tags"]


def _text_of(card: Any) -> Any:
    """A RepoCard, a path or bytes as the card's text; anything else unchanged."""
    from huggingface_hub.repocard import RepoCard

    if isinstance(card, RepoCard):
        return card.content
    if isinstance(card, os.PathLike):
        return Path(card).read_text(encoding="utf-8-sig")
    if isinstance(card, bytes):
        return card.decode("utf-8-sig")
    return card


def _checked_data(card: Any) -> dict[str, Any]:
    """The card's metadata as a dict that passed :mod:`hubpg.cardsafe`'s rule."""
    card = _text_of(card)
    if isinstance(card, Mapping):
        return check_card_data(dict(card))
    if isinstance(card, str):
        data = card_data_from_readme(card)
        if data is None:
            raise CardMetadataError(
                "the model card has no YAML metadata block (--- ... --- at the top), so it "
                "claims no score; the card must carry a model-index with mean_reward"
            )
        return data
    raise CardMetadataError(f"cannot read a model card from a {type(card).__name__}")


@functools.cache
def _checked_type() -> type:
    """ModelCardData that passed the card-data rule: :func:`card_data` returns it as
    it is (a leaderboard row reads one listing item's env ids and its claim)."""
    from huggingface_hub import ModelCardData

    class CheckedCardData(ModelCardData):
        """Card data that passed :mod:`hubpg.cardsafe`'s rule."""

    return CheckedCardData


def card_data(card: Any) -> ModelCardData:
    """ModelCardData from a ModelCard, its text, a README path, a ModelCardData or a
    metadata dict, read through the one card-data rule (:mod:`hubpg.cardsafe`: no YAML
    aliases, string keys, bounded depth and size).

    Args:
        card: the card, in any of those forms.

    Raises:
        CardMetadataError: the card cannot be read, or its metadata breaks the rule.
    """
    from huggingface_hub import ModelCardData

    checked = _checked_type()
    try:
        if isinstance(card, checked):  # read before: not checked twice
            return card
        if isinstance(card, ModelCardData):  # e.g. a listing's ModelInfo.card_data
            return checked(**check_card_data(card.to_dict()), ignore_metadata_errors=True)
        return checked(**_checked_data(card))
    except CardMetadataError:
        raise
    except CardDataError as exc:
        raise CardMetadataError(f"the model card's metadata cannot be parsed ({exc})") from exc
    except OSError as exc:
        raise CardMetadataError(f"cannot read the model card {card} ({exc})") from exc
    except Exception as exc:  # invalid model-index, keys ModelCardData refuses
        first = one_line(exc, limit=None)
        raise CardMetadataError(f"the model card's metadata cannot be parsed ({first})") from exc


def card_tags(card: Any) -> list[str]:
    """The tags a card declares (strings only, in order).

    Args:
        card: anything :func:`card_data` reads.
    """
    tags = card_data(card).tags or []
    if isinstance(tags, str):
        tags = [tags]
    return [t for t in tags if isinstance(t, str)]


def card_env_ids(card: Any) -> set[str]:
    """The env ids a card's model-index claims results on (dataset names and types).

    Args:
        card: anything :func:`card_data` reads.
    """
    return {
        value
        for result in card_data(card).eval_results or []
        for value in (result.dataset_type, result.dataset_name)
        if isinstance(value, str) and value
    }
