"""Command-line options generated from a dataclass's fields and their docs: every
:class:`~hubpg.config.TrainConfig` field is an option of ``hubpg train`` (``total_steps`` ->
``--total-steps``), typed by its annotation, with the ``#:`` comment above the field as its
help, followed by the dataclass default and the per-env tuned defaults.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from hubpg.config import ACTIVATIONS, BASELINES, ENV_DEFAULTS

#: Fields whose values come from a fixed set.
CHOICES: dict[str, tuple[str, ...]] = {"activation": ACTIVATIONS, "baseline": BASELINES}
_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:")


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field of ``cls`` (joined into one line), else the
    field's ``metadata["help"]``, else empty.

    Args:
        cls: a dataclass.
    """
    docs: dict[str, str] = {}
    pending: list[str] = []
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source (frozen app): metadata only
        source = ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD_LINE.match(line)
        if match and pending:
            docs[match.group(1)] = " ".join(pending)
        pending = []
    for f in dataclasses.fields(cls):
        if f.name not in docs and f.metadata.get("help"):
            docs[f.name] = str(f.metadata["help"])
    return docs


class NumberList(click.ParamType):
    """``"64,128"`` (or ``"64x128"``) -> ``[64, 128]``."""

    def __init__(self, item: type) -> None:
        self.item = item
        self.name = f"{item.__name__}[,{item.__name__}...]"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[Any]:
        if isinstance(value, list):
            return value
        text = str(value)
        if self.item is int:  # layer sizes: the one rule, hubpg.api.parse_sizes
            from hubpg.api import parse_sizes
            from hubpg.errors import ConfigError

            try:
                return parse_sizes(text)
            except ConfigError as exc:
                self.fail(str(exc), param, ctx)
        parts = [p for p in text.split(",") if p.strip()]
        try:
            values = [self.item(p) for p in parts]
        except ValueError:
            self.fail(
                f"{text!r} is not a comma-separated list of {self.item.__name__}s", param, ctx
            )
        if not values:
            self.fail(f"{text!r} is an empty list", param, ctx)
        return values


def _base_type(hint: Any) -> Any:
    """``int | None`` -> ``int``; anything else as it is."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return hint


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def default_text(name: str, default: Any, env_defaults: dict[str, dict[str, Any]]) -> str:
    """``[default: X; CartPole-v1: Y, ...]``: the dataclass default, then the envs that
    tune it to another value.

    Args:
        name: the field name.
        default: the dataclass default.
        env_defaults: per-env tuned values, as :data:`hubpg.config.ENV_DEFAULTS`.
    """
    tuned = [
        f"{env}: {_show(values[name])}"
        for env, values in env_defaults.items()
        if name in values and values[name] != default
    ]
    return f"[default: {_show(default)}{'; ' if tuned else ''}{', '.join(tuned)}]"


@dataclass
class OptionSpec:
    """One generated option: its declarations and ``click.option`` keywords."""

    name: str
    decls: tuple[str, ...]
    kwargs: dict[str, Any]


def option_specs(
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    env_defaults: dict[str, dict[str, Any]] | None = None,
) -> list[OptionSpec]:
    """The options of every field of ``cls`` not in ``skip``, in field order.

    Args:
        cls: a dataclass with ``#:`` field docs.
        skip: fields that are not options (e.g. a positional argument).
        env_defaults: per-env tuned values shown in the help.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        base = _base_type(hints[f.name])
        help_text = (
            f"{docs.get(f.name, '')}  {default_text(f.name, _default_of(f), env_defaults or {})}"
        )
        kwargs: dict[str, Any] = {"default": None, "help": help_text.strip()}
        decls: tuple[str, ...] = (flag, f.name)
        if base is bool:
            decls = (f"{flag}/--no-{flag[2:]}", f.name)
        elif f.name in CHOICES:
            kwargs["type"] = click.Choice(CHOICES[f.name])
        elif typing.get_origin(base) is list:
            (item,) = typing.get_args(base)
            kwargs["type"] = NumberList(item)
        elif base in (int, float, str):
            kwargs["type"] = base
        specs.append(OptionSpec(f.name, decls, kwargs))
    return specs


def dataclass_options(
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    env_defaults: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding :func:`option_specs`'s options to a click command.

    Args:
        cls: a dataclass with ``#:`` field docs.
        skip: fields that are not options.
        env_defaults: per-env tuned values shown in the help.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for spec in reversed(option_specs(cls, skip=skip, env_defaults=env_defaults)):
            func = click.option(*spec.decls, **spec.kwargs)(func)
        return func

    return decorate


def train_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every :class:`~hubpg.config.TrainConfig` field but ``env_id`` as an option of
    ``hubpg train``."""
    from hubpg.config import TrainConfig

    return dataclass_options(TrainConfig, skip=("env_id",), env_defaults=ENV_DEFAULTS)(func)


__all__ = [
    "CHOICES",
    "NumberList",
    "OptionSpec",
    "dataclass_options",
    "default_text",
    "field_docs",
    "option_specs",
    "train_options",
]
