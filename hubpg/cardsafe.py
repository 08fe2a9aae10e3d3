"""The one rule for model-card metadata hubpg accepts, on the server and in the client.

Card YAML is user input that ends up in every listing and leaderboard.
:func:`parse_card_yaml` makes it card data any ``huggingface_hub`` client can read, or
raises :class:`~hubpg.errors.CardDataError` with one clear line: no anchors or aliases
(the "billion laughs" bomb), at most :data:`MAX_CARD_BYTES` of YAML and of JSON, at most
:data:`MAX_CARD_DEPTH` levels of nesting (checked on the event stream first), string keys
only, JSON values only (dates become ISO strings; binary, sets and non-finite floats are
refused), and nothing ``ModelCardData(**data, ignore_metadata_errors=True)`` refuses.
:func:`check_card_data` applies the rule to parsed data (a Hub listing's JSON).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any

import yaml

from hubpg.errors import CardDataError, one_line

#: Largest YAML front matter, and largest serialised card data (bytes).
MAX_CARD_BYTES = 64 * 1024
#: Deepest nesting of mappings and sequences in card data.
MAX_CARD_DEPTH = 20
#: Keys that make ``ModelCardData(**data)`` raise or shadow one of its methods.
RESERVED_KEYS = frozenset(
    {"self", "ignore_metadata_errors", "get", "pop", "to_dict", "to_yaml", "_to_dict"}
)

# Same pattern as huggingface_hub.repocard.REGEX_YAML_BLOCK
_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
_OPEN_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _first_line(exc: BaseException) -> str:
    return one_line(exc, limit=None, whole=True)


def _too_deep() -> CardDataError:
    return CardDataError(f"card metadata is nested deeper than {MAX_CARD_DEPTH} levels. Flatten it")


def _not_yaml(exc: BaseException) -> CardDataError:
    return CardDataError(f"card metadata is not valid YAML ({_first_line(exc)}). Fix it")


def _scan_events(text: str) -> None:
    """Refuse anchors, aliases and deep nesting by walking the YAML event stream
    (iterative, linear in the text; nothing is built yet)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise CardDataError(
                    "card metadata uses a YAML anchor or alias (&name / *name), which hubpg "
                    "refuses. Write the values out in full"
                )
            if isinstance(event, _OPEN_EVENTS):
                depth += 1
                if depth > MAX_CARD_DEPTH:
                    raise _too_deep()
            elif isinstance(event, _CLOSE_EVENTS):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _not_yaml(exc) from exc


def _clean(value: Any, where: str, depth: int) -> Any:
    """A JSON-ready copy of ``value`` (iterative over siblings, depth-bounded)."""
    if depth > MAX_CARD_DEPTH:
        raise _too_deep()
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CardDataError(
                    f"card metadata key {key!r} in {where or 'the top level'} is a "
                    f"{type(key).__name__}, not a string. Quote the key"
                )
            out[key] = _clean(item, f"{where}.{key}" if where else key, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise CardDataError(
            f"card metadata value at {where} is {value}, not a finite number. Use a finite "
            "number or a quoted string"
        )
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    raise CardDataError(
        f"card metadata value at {where} is a {type(value).__name__}, which JSON cannot hold. "
        "Use a string, number, boolean, list or mapping"
    )


def _check_client_readable(data: dict[str, Any]) -> None:
    """Refuse what ``huggingface_hub``'s ``ModelInfo`` cannot turn into ``ModelCardData``."""
    for key in data:
        if key in RESERVED_KEYS:
            raise CardDataError(
                f"card metadata key {key!r} is reserved (huggingface_hub cannot read a card "
                "that has it). Rename the key"
            )
    tags = data.get("tags")
    if tags is not None and not isinstance(tags, (str, list)):
        raise CardDataError(
            f"card metadata 'tags' is a {type(tags).__name__}; it must be a string or a list. "
            "Fix the tags"
        )
    from huggingface_hub import ModelCardData

    try:
        ModelCardData(**data, ignore_metadata_errors=True)
    except Exception as exc:  # any error here would crash list_models / model_info
        raise CardDataError(
            f"huggingface_hub cannot read this card metadata ({type(exc).__name__}: "
            f"{_first_line(exc)}). Fix the model-index or the offending key"
        ) from exc


def check_card_data(data: Any) -> dict[str, Any]:
    """Card data already parsed (a dict from YAML or a Hub's JSON), checked and made
    JSON-ready by the same rule as :func:`parse_card_yaml`.

    Args:
        data: the card metadata mapping.

    Raises:
        CardDataError: when it breaks a rule; the message names the rule.
    """
    if not isinstance(data, dict):
        raise CardDataError(
            f"card metadata must be a mapping (key: value), not a {type(data).__name__}. "
            "Fix the YAML block"
        )
    clean = _clean(data, "", 1)
    try:
        size = len(json.dumps(clean, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except (ValueError, TypeError) as exc:  # e.g. an integer too long to print
        raise CardDataError(
            f"card metadata cannot be written as JSON ({_first_line(exc)})"
        ) from exc
    if size > MAX_CARD_BYTES:
        raise CardDataError(
            f"card metadata is {size} bytes as JSON, more than {MAX_CARD_BYTES}. Shorten it"
        )
    _check_client_readable(clean)
    return clean


def parse_card_yaml(text: str) -> dict[str, Any]:
    """Card data from the YAML text of a README's front matter (between the ``---``).

    Empty YAML gives ``{}``.

    Args:
        text: the YAML text.

    Raises:
        CardDataError: bad YAML, or anything :func:`check_card_data` refuses.
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CARD_BYTES:
        raise CardDataError(
            f"card metadata is {size} bytes of YAML, more than {MAX_CARD_BYTES}. Shorten it"
        )
    _scan_events(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _not_yaml(exc) from exc
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a 5000-digit integer
        raise CardDataError(
            f"card metadata has a value YAML cannot load ({_first_line(exc)})"
        ) from exc
    if data is None:
        return {}
    return check_card_data(data)


def card_data_from_readme(text: str) -> dict[str, Any] | None:
    """The card data of a README, None when it has no YAML front matter.

    Args:
        text: the README's text.

    Raises:
        CardDataError: the front matter breaks the rule of :func:`parse_card_yaml`.
    """
    match = _YAML_BLOCK.search(text)
    if match is None:
        return None
    return parse_card_yaml(match.group(2)) or None


def readme_body(text: str) -> str:
    """A README's Markdown after its YAML front matter (the whole text when it has none).

    Args:
        text: the README's text.
    """
    match = _YAML_BLOCK.search(text)
    return text if match is None else text[match.end() :]
