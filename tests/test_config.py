from __future__ import annotations

import json

import pytest

from hubpg.config import ENV_DEFAULTS, PolicyConfig, TrainConfig, load_hyperparameter_file
from hubpg.errors import ConfigError, MissingFileError


def test_for_env_uses_the_tuned_defaults_and_overrides_win() -> None:
    config = TrainConfig.for_env("CartPole-v1", lr=0.5, seed=None)
    assert config.lr == 0.5
    assert config.num_envs == ENV_DEFAULTS["CartPole-v1"]["num_envs"]
    assert config.seed == 1  # None means "not given"
    assert config.episodes_per_update == config.num_envs


def test_an_episode_budget_replaces_the_default_step_budget() -> None:
    config = TrainConfig.for_env("CartPole-v1", total_episodes=1000)
    assert config.total_episodes == 1000
    assert config.total_steps is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"total_steps": 0}, "total_steps must be positive"),
        ({"total_episodes": -3}, "total_episodes must be positive"),
        ({"num_envs": 0}, "num_envs must be positive"),
        ({"lr": -1.0}, "lr must be positive"),
        ({"gamma": 1.5}, "gamma must be in"),
        ({"episodes_per_update": 0}, "episodes_per_update must be positive"),
        ({"activation": "sigmoidish"}, "unknown activation"),
        ({"baseline": "critic"}, "unknown baseline"),
        ({"hidden": [0]}, "hidden sizes must be positive"),
    ],
)
def test_invalid_hyperparameters_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.for_env("CartPole-v1", **overrides)


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown key.*learning_rate"):
        TrainConfig.from_dict({"env_id": "CartPole-v1", "learning_rate": 1})


def test_policy_config_round_trips_through_json(tmp_path) -> None:
    config = PolicyConfig("CartPole-v1", 4, 2, hidden=[8, 8], obs_scale=[1, 2, 3, 4], obs_clip=5)
    config.save(tmp_path / "config.json")
    assert PolicyConfig.load(tmp_path / "config.json") == config


def test_policy_config_rejects_a_wrong_obs_scale_length() -> None:
    with pytest.raises(ConfigError, match="obs_scale has 2 entries"):
        PolicyConfig("CartPole-v1", 4, 2, obs_scale=[1, 2])


def test_hyperparameter_files_accept_json_yaml_and_course_keys(tmp_path) -> None:
    (tmp_path / "h.yaml").write_text("lr: 0.001\nh_size: 32\nn_training_episodes: 50\n")
    data = load_hyperparameter_file(tmp_path / "h.yaml")
    assert data == {"lr": 0.001, "hidden": [32], "total_episodes": 50}
    (tmp_path / "h.json").write_text(json.dumps({"gamma": 0.9, "state_space": 4}))
    assert load_hyperparameter_file(tmp_path / "h.json") == {"gamma": 0.9}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_hyperparameter_file(tmp_path / "bad.json")
    with pytest.raises(MissingFileError):
        load_hyperparameter_file(tmp_path / "missing.json")


def test_runs_written_before_the_rename_still_load() -> None:
    from hubpg.reinforce import config_from_record

    old = {
        "env_id": "CartPole-v1",
        "total_steps": None,
        "episodes": 300,
        "n_training_episodes": 300,
    }
    config = config_from_record(old)
    assert config.total_episodes == 300 and config.total_steps is None
    assert TrainConfig.from_dict({"env_id": "CartPole-v1", "episodes": 7}).total_episodes == 7


def test_the_evaluation_cap_ignores_the_training_cap() -> None:
    from hubpg.config import evaluation_max_t

    assert evaluation_max_t("CartPole-v1") == 500
    assert evaluation_max_t("Pixelcopter-PLE-v0") == 10_000
    assert evaluation_max_t("CartPole-v1", 50) == 50
    assert evaluation_max_t("Acrobot-v1") == 1000
