"""What a new user trips over (issue 29, items 3, 4 and 10; issue 26 item 3): a push
without RUN_DIR names its run or refuses, messages name what was typed, ``--env-id``
on load-and-eval, compact ``--json``, a ``--help`` that cuts nothing."""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections import OrderedDict
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from cli_runner import run_cli
from huggingface_hub import HfApi

import hubpg
from hubpg.errors import ConfigError
from hubpg.localhub.testing import running_hub

ALICE = "hf_local_alice"
huggingface_hub.constants.HF_HUB_DISABLE_XET = True


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


def _run_copy(cartpole_run: Path, dest: Path) -> Path:
    shutil.copytree(cartpole_run, dest, ignore=shutil.ignore_patterns("hub"))
    return dest


def _one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- 29.3


def test_push_without_run_dir_and_no_run_says_no_run_folder(tmp_path) -> None:
    proc = run_cli("push", "--repo", "alice/x", "--token", ALICE, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no run folder given and no finished run in runs/" in _one_error_line(proc)


def test_push_without_run_dir_refuses_to_pick_one_of_several(cartpole_run, tmp_path) -> None:
    """Before: the newest run went up silently (a student's 1,000-step test run)."""
    for name in ("a-first", "b-second"):
        _run_copy(cartpole_run, tmp_path / "runs" / name)
    proc = run_cli("push", "--repo", "alice/x", "--token", ALICE, cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "2 runs in runs/" in line and "runs/a-first" in line and "runs/b-second" in line
    assert "RUN_DIR" in line
    assert not (tmp_path / "runs" / "a-first" / "hub").exists()  # nothing packaged


def test_push_without_run_dir_names_the_only_run_before_packaging(
    hub, cartpole_run, tmp_path
) -> None:
    _run_copy(cartpole_run, tmp_path / "runs" / "only")
    proc = run_cli(
        "push",
        "--repo",
        "alice/only",
        "--endpoint",
        hub.url,
        "--token",
        ALICE,
        "--episodes",
        "5",
        "--no-video",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert "pushing runs/only" in first and "the only finished run" in first
    assert (tmp_path / "runs" / "only" / "hub" / "README.md").is_file()
    # 29.10: --json of a 100-episode load-and-eval is a few lines, not one number per line
    proc = run_cli(
        "load-and-eval", "--repo", "alice/only", "--endpoint", hub.url, "--json", "--quiet"
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) < 40
    report = json.loads(proc.stdout)
    assert len(report["episode_returns"]) == 100 and report["claim_supported"] is True


# --------------------------------------------------------------------------- 29.4


def test_evaluate_names_the_folder_that_is_not_there(tmp_path) -> None:
    proc = run_cli("evaluate", "runs/nope", cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "no run folder runs/nope" in line and "config.json" not in line


def test_evaluate_names_a_file_given_for_a_folder(cartpole_run, tmp_path) -> None:
    weights = cartpole_run / "model.safetensors"
    proc = run_cli("evaluate", str(weights), cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert f"{weights} is a file, not a run folder" in line and str(cartpole_run) in line


def test_hidden_zero_names_the_option(tmp_path) -> None:
    proc = run_cli("train", "CartPole-v1", "--hidden", "0", cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "'--hidden'" in line and "positive" in line


def test_a_mistyped_command_gets_the_close_match_and_the_groups_help(tmp_path) -> None:
    proc = run_cli("trian", cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "Did you mean 'train'?" in line and "See 'hubpg --help'." in line
    assert "hubpg trian --help" not in line


def test_a_config_file_typo_names_the_file_and_the_close_match(tmp_path) -> None:
    config = tmp_path / "h.yaml"
    config.write_text("learning_rate: 0.01\n")
    proc = run_cli("train", "CartPole-v1", "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert str(config) in line and "'learning_rate'" in line and "did you mean lr?" in line
    config.write_text("gama: 0.99\n")
    line = _one_error_line(run_cli("train", "CartPole-v1", "--config", str(config)))
    assert "did you mean gamma?" in line
    with pytest.raises(ConfigError, match="did you mean gamma"):
        hubpg.train("CartPole-v1", config=config)


# --------------------------------------------------------------------------- 26.3


def test_a_course_checkpoint_whose_files_do_not_name_the_env_plays_with_env_id(
    hub, tmp_path
) -> None:
    """Before: load-and-eval --legacy said "pass --env-id", and --env-id did not exist."""
    torch.manual_seed(0)
    state = OrderedDict(
        [
            ("fc1.weight", torch.randn(8, 4)),
            ("fc1.bias", torch.zeros(8)),
            ("fc2.weight", torch.randn(2, 8)),
            ("fc2.bias", torch.zeros(2)),
        ]
    )
    folder = tmp_path / "repo"
    folder.mkdir()
    torch.save(state, folder / "model.pt")
    api = HfApi(endpoint=hub.url, token=ALICE)
    api.create_repo("alice/no-env")
    api.upload_folder(repo_id="alice/no-env", folder_path=str(folder))
    common = ["load-and-eval", "--repo", "alice/no-env", "--endpoint", hub.url, "--legacy"]
    proc = run_cli(*common, "--episodes", "3")
    assert proc.returncode == 2
    assert "pass --env-id" in _one_error_line(proc)
    proc = run_cli(*common, "--episodes", "3", "--env-id", "CartPole-v1", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["env_id"] == "CartPole-v1" and report["n_episodes"] == 3
    assert report["legacy"]["env_id"] == "CartPole-v1"


def _options_of(command: str) -> set[str]:
    proc = run_cli(*command.split(), "--help")
    assert proc.returncode == 0, proc.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", proc.stdout))


def test_every_option_a_message_names_exists() -> None:
    """No message tells the user to pass an option no hubpg command has (every
    ``--name`` in a string of hubpg's modules is an option of some command), and the
    options load-and-eval's own errors name are load-and-eval's."""
    package = Path(hubpg.__file__).parent
    named: dict[str, str] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.lstrip().startswith(('"""', "``")) or "\n\n" in node.value:
                    continue  # docstrings
                for name in re.findall(r"(?<![\w-])--[a-z][a-z-]*", node.value):
                    named.setdefault(name, path.name)
    commands = [
        "train",
        "evaluate",
        "package",
        "push",
        "load-and-eval",
        "leaderboard",
        "convert",
        "hub serve",
    ]
    options: set[str] = {"--help", "--version", "--debug"}
    for command in commands:
        options |= _options_of(command)
    unknown = {name: where for name, where in named.items() if name not in options}
    # Other programs' options (ray start --head, pip install --force-reinstall) and the
    # ``--no-`` prefix options.py builds flags with are not hubpg's to have.
    for foreign in ("--head", "--force-reinstall", "--no-"):
        unknown.pop(foreign, None)
    assert unknown == {}, unknown
    assert {"--env-id", "--legacy", "--token", "--max-t", "--episodes"} <= _options_of(
        "load-and-eval"
    )
    assert "--no-video" in _options_of("push")


# --------------------------------------------------------------------------- 29.10


def test_help_lists_each_commands_whole_first_sentence() -> None:
    proc = run_cli("--help", env={"COLUMNS": "80"})
    assert proc.returncode == 0
    commands = proc.stdout.split("Commands:")[1]
    assert "..." not in commands
    flat = " ".join(commands.split())
    assert "Rank the models tagged ENV_ID by claimed (or, with --verify, measured) mean" in flat
    assert "Upload RUN_DIR's package (built if needed) to the Hub in one commit." in flat


def test_gitignore_covers_the_walk_throughs_leftovers() -> None:
    root = Path(hubpg.__file__).parent.parent
    ignored = (root / ".gitignore").read_text().splitlines()
    for entry in ("hubdata/", "notebooks/hubdata/", "notebooks/*.mp4"):
        assert entry in ignored
