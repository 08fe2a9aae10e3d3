"""``hubpg hub serve`` and ``python -m hubpg.localhub`` share one set of defaults (issue 18)
and every option has a help text (issue 19.11)."""

from __future__ import annotations

import inspect
from pathlib import Path

from hubpg.cli import cli
from hubpg.localhub import defaults
from hubpg.localhub.__main__ import build_parser
from hubpg.localhub.server import serve


def _command():  # type: ignore[no-untyped-def]
    return cli.commands["hub"].commands["serve"]  # type: ignore[attr-defined]


def _click_options() -> dict[str, object]:
    return {param.name: param for param in _command().params}


def test_both_entry_points_and_serve_have_the_same_defaults() -> None:
    args = build_parser().parse_args([])
    parsed = _command().make_context("serve", []).params
    signature = inspect.signature(serve).parameters
    expected = {
        "host": defaults.DEFAULT_HOST,
        "port": defaults.DEFAULT_PORT,
        "data_dir": Path(defaults.DEFAULT_DATA_DIR),
    }
    assert {"host": args.host, "port": args.port, "data_dir": Path(args.data)} == expected
    assert {name: parsed[name] for name in expected} == expected
    assert {name: signature[name].default for name in expected} == expected
    assert args.access_log is False and parsed["access_log"] is False
    assert signature["access_log"].default is False


def test_every_hub_serve_option_has_help() -> None:
    for name, option in _click_options().items():
        if name == "help":
            continue
        assert option.help, f"--{name} has no help"  # type: ignore[attr-defined]
    assert "127.0.0.1" in _click_options()["host"].help  # type: ignore[attr-defined]
    for action in build_parser()._actions:
        assert action.help, f"{action.option_strings} has no help"
