"""--config mistakes and missing env dependencies are one-line user errors that leave
no run folder behind; a scalar obs_scale broadcasts to every observation."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from cli_runner import run_cli

from hubpg.config import PolicyConfig, TrainConfig
from hubpg.errors import ConfigError, MissingEnvDependencyError

TINY = ["--total-steps", "600", "--num-envs", "4", "--eval-episodes", "0", "-q"]


def test_a_scalar_obs_scale_broadcasts(tmp_path) -> None:
    (tmp_path / "cfg.yaml").write_text("obs_scale: 0.5\nobs_shift: 1\n")
    out = tmp_path / "run"
    proc = run_cli(
        "train", "CartPole-v1", "--config", str(tmp_path / "cfg.yaml"), "--out", str(out), *TINY
    )
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["obs_scale"] == [0.5] * 4 and config["obs_shift"] == [1.0] * 4
    assert PolicyConfig("CartPole-v1", 4, 2, obs_scale=2).obs_scale == [2.0] * 4


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("obs_scale: abc", "obs_scale must be a number or a list of numbers"),
        ("obs_scale: [1, 2]", "obs_scale has 2 entries for 4 observations"),
        ("obs_shift: [.nan, 0, 0, 0]", "obs_shift must be finite"),
        ("obs_clip: -1", "obs_clip must be a positive number"),
    ],
)
def test_config_errors_leave_no_run_folder(tmp_path, line, match) -> None:
    (tmp_path / "cfg.yaml").write_text(line + "\n")
    out = tmp_path / "run"
    proc = run_cli(
        "train", "CartPole-v1", "--config", str(tmp_path / "cfg.yaml"), "--out", str(out), *TINY
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and match in proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_bad_obs_vectors_are_config_errors_in_the_library() -> None:
    with pytest.raises(ConfigError, match="obs_scale"):
        TrainConfig.for_env("CartPole-v1", obs_scale="abc")
    with pytest.raises(ConfigError, match="obs_scale"):
        PolicyConfig("CartPole-v1", 4, 2, obs_scale=[True, 1, 1, 1])


def _box2d_missing() -> bool:
    try:
        gym.make("LunarLander-v3").close()
    except gym.error.DependencyNotInstalled:
        return True
    return False


@pytest.mark.skipif(not _box2d_missing(), reason="Box2D is installed here")
def test_a_missing_env_dependency_is_a_user_error_with_the_install_hint(tmp_path) -> None:
    from hubpg.envs import make_env

    with pytest.raises(MissingEnvDependencyError, match="gymnasium\\[box2d\\]"):
        make_env("LunarLander-v3")
    out = tmp_path / "run"
    proc = run_cli("train", "LunarLander-v3", "--out", str(out), *TINY)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: LunarLander-v3 needs a package that is not installed")
    assert 'pip install "gymnasium[box2d]"' in proc.stderr and "hubpg bug" not in proc.stderr
    assert "unexpected" not in proc.stderr and not out.exists()
