"""The ``hubpg`` command as a user runs it (subprocesses)."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli


def test_train_writes_a_run_and_prints_the_final_score(tmp_path) -> None:
    out = tmp_path / "run"
    proc = run_cli("train", "CartPole-v1", "--seed", "2", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "500.00 +/- 0.00"
    assert proc.stderr == ""
    assert (out / "model.safetensors").is_file()


def test_train_json_and_evaluate_json(tmp_path, cartpole_run) -> None:
    proc = run_cli(
        "train",
        "CartPole-v1",
        "--total-steps",
        "3000",
        "--num-envs",
        "8",
        "--hidden",
        "8,8",
        "--eval-episodes",
        "5",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["steps"] >= 3000 and report["evaluation"]["n_episodes"] == 5
    proc = run_cli("evaluate", str(cartpole_run), "--episodes", "10", "--seed", "3", "--json")
    result = json.loads(proc.stdout)
    for key in (
        "mean_reward",
        "std_reward",
        "n_episodes",
        "episode_returns",
        "episode_lengths",
        "seeds",
        "deterministic",
    ):
        assert key in result
    assert result["seeds"] == list(range(3, 13))


def test_evaluate_prints_mean_plus_minus_std_and_writes_nothing(cartpole_run) -> None:
    before = sorted(p.name for p in cartpole_run.iterdir())
    proc = run_cli("evaluate", str(cartpole_run), "--episodes", "10", "--deterministic")
    assert proc.returncode == 0
    assert proc.stdout.strip() == "500.00 +/- 0.00"
    assert sorted(p.name for p in cartpole_run.iterdir()) == before


def test_train_accepts_a_yaml_config_file(tmp_path) -> None:
    (tmp_path / "h.yaml").write_text("h_size: 8\nn_training_episodes: 40\nlr: 0.01\nnum_envs: 4\n")
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "CartPole-v1",
        "--config",
        str(tmp_path / "h.yaml"),
        "--out",
        str(out),
        "--eval-episodes",
        "0",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    hyper = json.loads((out / "hyperparameters.json").read_text())
    assert hyper["h_size"] == 8 and hyper["lr"] == 0.01 and hyper["n_training_episodes"] == 40


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "NoSuchEnv-v9"], "unknown env id 'NoSuchEnv-v9'"),
        (["train", "Blackjack-v1"], "needs flat vector observations"),
        (["train", "CartPole-v1", "--total-steps", "0"], "total_steps must be positive"),
        (["train", "CartPole-v1", "--total-episodes", "-5"], "total_episodes must be positive"),
        (["train", "CartPole-v1", "--lr", "-1"], "lr must be positive"),
        (["train", "CartPole-v1", "--out", "/proc/hubpg-no"], "cannot write the run folder"),
        (["train", "CartPole-v1", "--hidden", "a,b"], "not a comma-separated list"),
        (["train", "CartPole-v1", "--no-such-option"], "No such option"),
        (["evaluate", "/nonexistent/run"], "no run folder /nonexistent/run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_existing_run_folder_needs_overwrite_or_resume(tmp_path) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "CartPole-v1",
        "--num-envs",
        "4",
        "--out",
        str(out),
        "--eval-episodes",
        "0",
        "-q",
    ]
    assert run_cli(*args, "--total-steps", "500").returncode == 0
    proc = run_cli(*args, "--total-steps", "500")
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert run_cli(*args, "--total-steps", "500", "--overwrite").returncode == 0
    proc = run_cli(*args, "--total-steps", "1000", "--resume")
    assert proc.returncode == 0, proc.stderr


def test_debug_shows_the_traceback(tmp_path) -> None:
    proc = run_cli("--debug", "evaluate", "/nonexistent/run", cwd=tmp_path)
    assert proc.returncode == 2  # bad input, as without --debug
    assert "Traceback" in proc.stderr and "MissingFileError" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_train_episodes_is_a_deprecated_alias_of_total_episodes(tmp_path) -> None:
    out = tmp_path / "run"
    args = ["train", "CartPole-v1", "--episodes", "16", "--num-envs", "8", "--eval-episodes", "0"]
    proc = run_cli(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "--episodes is deprecated for training; use --total-episodes" in proc.stderr
    hyper = json.loads((out / "hyperparameters.json").read_text())
    assert hyper["total_episodes"] == 16 and hyper["total_steps"] is None
    assert hyper["n_training_episodes"] == 16 and "episodes" not in hyper


def test_train_help_is_generated_from_the_train_config_fields() -> None:
    import dataclasses

    from hubpg.config import TrainConfig

    proc = run_cli("train", "--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for f in dataclasses.fields(TrainConfig):
        if f.name != "env_id":
            assert "--" + f.name.replace("_", "-") in text, f.name
    assert "[none|time|value]" in text  # --baseline lacked value when written by hand
    assert "Budget in training episodes" in text  # the #: comment of total_episodes
    assert "CartPole-v1: 0.03" in text  # the tuned default next to the dataclass's
    assert "--episodes " not in text  # the deprecated alias is hidden
