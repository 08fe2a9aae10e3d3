from __future__ import annotations

import gymnasium as gym
import pytest

from hubpg.errors import ConfigError
from hubpg.evaluation import evaluate
from hubpg.policy import Policy


def test_evaluation_is_reproducible(cartpole_run) -> None:
    a = evaluate(cartpole_run, episodes=20, seed=7)
    b = evaluate(cartpole_run, episodes=20, seed=7)
    assert a == b
    assert a.seeds == list(range(7, 27))
    assert len(a.episode_returns) == len(a.episode_lengths) == 20


def test_episode_k_is_played_from_seed_s_plus_k() -> None:
    """Deterministic actions: episode k of a batch equals a single env reset with S + k."""
    import torch

    from hubpg.config import PolicyConfig

    torch.manual_seed(0)
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[8]))
    batch = evaluate(policy, episodes=5, seed=10, deterministic=True)
    for k in range(5):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=10 + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs, deterministic=True))
            total += reward
            done = terminated or truncated
        assert batch.episode_returns[k] == total


def test_max_t_caps_episodes(cartpole_run) -> None:
    result = evaluate(cartpole_run, episodes=10, max_t=50)
    assert result.episode_lengths == [50] * 10 and result.mean_reward == 50.0


def test_bad_episode_count_and_env_mismatch(cartpole_run) -> None:
    with pytest.raises(ConfigError, match="episodes must be at least 1"):
        evaluate(cartpole_run, episodes=0)
    with pytest.raises(ConfigError, match="expects 4 observations"):
        evaluate(cartpole_run, env_id="Acrobot-v1", episodes=1)
