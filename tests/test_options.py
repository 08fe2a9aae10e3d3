"""CLI options generated from a dataclass's fields and their #: docs (hubpg/options.py)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import click
import pytest
from click.testing import CliRunner

from hubpg.config import TrainConfig
from hubpg.options import dataclass_options, field_docs, option_specs


def test_every_train_config_field_has_a_doc() -> None:
    docs = field_docs(TrainConfig)
    missing = [f.name for f in dataclasses.fields(TrainConfig) if not docs.get(f.name)]
    assert missing == [], "give these TrainConfig fields a #: comment (their --help)"


@dataclass
class Toy:
    #: How many.
    #: Over two lines.
    count: int = 3
    ratio: float | None = field(default=None, metadata={"help": "From metadata."})
    #: On or off.
    flag: bool = False
    #: Sizes.
    sizes: list[int] = field(default_factory=lambda: [4])
    baseline: str = "none"


def test_types_docs_and_defaults_come_from_the_fields() -> None:
    specs = {s.name: s for s in option_specs(Toy, env_defaults={"Env-v0": {"count": 7}})}
    assert specs["count"].kwargs["help"] == "How many. Over two lines.  [default: 3; Env-v0: 7]"
    assert specs["ratio"].kwargs["help"].startswith("From metadata.")
    assert specs["flag"].decls == ("--flag/--no-flag", "flag")
    assert isinstance(specs["baseline"].kwargs["type"], click.Choice)

    @click.command()
    @dataclass_options(Toy)
    def command(**values):
        click.echo(json.dumps(values))

    result = CliRunner().invoke(command, ["--count", "5", "--sizes", "8x16", "--flag"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "count": 5,
        "ratio": None,
        "flag": True,
        "sizes": [8, 16],
        "baseline": None,
    }
    bad = CliRunner().invoke(command, ["--sizes", "8,a"])
    assert bad.exit_code == 2 and "not a comma-separated list of ints" in bad.output
    wrong = CliRunner().invoke(command, ["--baseline", "critic"])
    assert wrong.exit_code == 2


@pytest.mark.parametrize("name", ["hidden", "obs_scale"])
def test_list_fields_take_comma_separated_numbers(name) -> None:
    (spec,) = [s for s in option_specs(TrainConfig, skip=("env_id",)) if s.name == name]
    assert spec.kwargs["type"].convert("1,2", None, None) in ([1, 2], [1.0, 2.0])
