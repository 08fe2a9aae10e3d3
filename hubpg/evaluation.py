"""Seeded evaluation: mean and std of episode returns over N episodes.

Episode k is played from the env reset with ``seed + k``, all side by side in a vector
env; actions are sampled (the Deep RL course's protocol) unless ``deterministic``, with
a numpy generator seeded with ``seed``, so the same call gives the same numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from hubpg.config import ConfigError, evaluation_max_t
from hubpg.envs import env_action_space, env_dims, make_vec_env, reset_with_seeds
from hubpg.results import Evaluated

#: Episodes played side by side at most; more episodes run in several rounds.
MAX_PARALLEL_EPISODES = 256


def evaluate(
    policy: Any,
    env_id: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
) -> Evaluated:
    """Evaluate ``policy`` (a :class:`~hubpg.policy.Policy` or a run/package folder)
    over ``episodes`` seeded episodes and return an :class:`~hubpg.results.Evaluated`."""
    from hubpg.policy import Policy, check_policy_matches_env, small_model_threads

    if isinstance(policy, str | Path):
        policy = Policy.load(Path(policy))
    env_id = env_id or policy.config.env_id
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1 (got {episodes})")
    max_t = evaluation_max_t(env_id) if max_t is None else int(max_t)
    if max_t < 1:
        raise ConfigError(f"max_t must be at least 1 (got {max_t})")
    check_policy_matches_env(policy.config, *env_dims(env_id), env_action_space(env_id))

    rng = np.random.default_rng(seed)
    seeds = [seed + k for k in range(episodes)]
    returns: list[float] = []
    lengths: list[int] = []
    with small_model_threads():
        for start in range(0, episodes, MAX_PARALLEL_EPISODES):
            chunk = seeds[start : start + MAX_PARALLEL_EPISODES]
            r, n = _play(policy, env_id, chunk, deterministic, max_t, rng)
            returns += r.tolist()
            lengths += n.tolist()
    values = np.asarray(returns, dtype=np.float64)
    return Evaluated(
        env_id=env_id,
        mean_reward=float(values.mean()),
        std_reward=float(values.std()),
        n_episodes=episodes,
        episode_returns=returns,
        episode_lengths=lengths,
        seeds=seeds,
        deterministic=deterministic,
        max_t=max_t,
    )


def _play(
    policy: Any,
    env_id: str,
    seeds: list[int],
    deterministic: bool,
    max_t: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Play one episode per seed side by side; returns (returns, lengths). Sub-envs
    that ended keep stepping (their auto-reset games are not counted)."""
    envs = make_vec_env(env_id, len(seeds))
    try:
        obs = reset_with_seeds(envs, seeds)
        n = len(seeds)
        history = policy.new_history(n)  # the policy's observation pipeline
        forward = policy.numpy_forward()
        stacked = history.reset(obs)
        returns = np.zeros(n, dtype=np.float64)
        lengths = np.zeros(n, dtype=np.int64)
        running = np.ones(n, dtype=bool)
        for _ in range(max_t):
            actions = policy.choose(forward(stacked), rng, deterministic)
            obs, reward, terminated, truncated, _ = envs.step(policy.to_env(actions))
            stacked = history.push(obs)
            returns += np.where(running, reward, 0.0)
            lengths += running
            running &= ~(terminated | truncated)
            if not running.any():
                break
        return returns, lengths
    finally:
        envs.close()


def utc_now_iso() -> str:
    """The current UTC time in ISO 8601 (seconds)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
