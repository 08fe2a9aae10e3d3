"""Segment rollouts (hubpg.rollout.SegmentRollout): episodes carry on from one round to
the next, the frame history crosses the segment boundary, returns stop at its end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubpg.config import PolicyConfig, TrainConfig
from hubpg.envs import make_vec_env
from hubpg.errors import ConfigError
from hubpg.policy import Policy
from hubpg.reinforce import train
from hubpg.rollout import SegmentRollout, collect_segment
from hubpg.runfolder import read_json, read_log


def stacked_pixelcopter_policy() -> Policy:
    torch.manual_seed(0)
    return Policy(
        PolicyConfig(
            "Pixelcopter-PLE-v0",
            7,
            2,
            hidden=[8],
            frame_stack=4,
            frame_stride=2,
            obs_shift=[24.0, 0.0, 12.0, 12.0, 0.0, 24.0, 24.0],
            obs_scale=0.125,
            obs_clip=8.0,
        )
    )


def play_in_segments(policy: Policy, segment_steps: int, rounds: int):
    envs = make_vec_env("Pixelcopter-PLE-v0", 3, max_t=40)
    rollout = SegmentRollout(policy, envs, segment_steps=segment_steps, seed=5)
    rng = np.random.default_rng(0)
    played = []
    for _ in range(rounds):  # a round's inputs are built from buffers the next one reuses
        round_ = rollout.play(policy, 0.99, rng)
        played.append((round_, round_.obs))
    return played


@pytest.mark.parametrize("segment_steps", [4, 7, 12])
def test_short_segments_play_what_one_long_segment_plays(segment_steps: int) -> None:
    """The same games, actions and stacked inputs, whatever the segment length: shorter
    than the frame history (6 earlier frames) too."""
    policy = stacked_pixelcopter_policy()
    ((whole, whole_obs),) = play_in_segments(policy, 84, 1)
    played = play_in_segments(policy, segment_steps, 84 // segment_steps)
    parts = [p for p, _ in played]
    np.testing.assert_array_equal(np.concatenate([p.actions for p in parts]), whole.actions)
    np.testing.assert_array_equal(np.concatenate([p.times for p in parts]), whole.times)
    np.testing.assert_array_equal(np.concatenate([obs for _, obs in played]), whole_obs)
    got = np.concatenate([p.episode_returns for p in parts])
    np.testing.assert_array_equal(got, whole.episode_returns)
    assert len(whole.episode_returns) >= 6  # random play dies often
    assert any(p.times[0] > 0 for p in parts[1:])  # and some episodes cross a segment's end


def test_a_segments_returns_stop_at_its_end_and_the_baseline_counts_segment_steps() -> None:
    torch.manual_seed(0)
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[8]))
    envs = make_vec_env("CartPole-v1", 4, max_t=500)
    rollout = SegmentRollout(policy, envs, segment_steps=10, seed=0)
    rng = np.random.default_rng(0)
    first = rollout.play(policy, 1.0, rng)
    # a random CartPole episode lasts more than 10 steps: reward 1 per step to the cut
    np.testing.assert_array_equal(first.returns, np.repeat(np.arange(10, 0, -1.0), 4))
    np.testing.assert_array_equal(first.baseline_times, np.repeat(np.arange(10), 4))
    assert first.n_rollouts == 4 and first.episode_returns.size == 0
    second = rollout.play(policy, 1.0, rng)
    assert second.times[:4].tolist() == [10] * 4  # the episodes carried on
    assert second.baseline_times.max() <= 9


def test_a_segment_batch_keeps_its_step_count_and_averages_over_sub_envs() -> None:
    config = TrainConfig.for_env(
        "Pixelcopter-PLE-v0", num_envs=8, segment_steps=32, grad_step_fraction=0.5
    )
    policy = Policy(config.policy_config(7, 2))
    envs = make_vec_env(config.env_id, config.num_envs, max_t=config.max_t)
    rollout = SegmentRollout(policy, envs, segment_steps=32, seed=1)
    batch = collect_segment(
        policy, rollout, config, np.random.default_rng(0), np.random.default_rng(1)
    )
    resets = 8 * 32 - batch.steps  # one auto-reset step per episode that ended before the last
    assert 0 < resets <= len(batch.episode_returns)
    assert batch.n_rollouts == 8
    assert 0.3 * batch.steps < len(batch.actions) < 0.7 * batch.steps


def test_training_in_segments_counts_every_played_step(tmp_path) -> None:
    config = TrainConfig.for_env(
        "Pixelcopter-PLE-v0",
        total_steps=3_000,
        num_envs=8,
        segment_steps=64,
        select_every_steps=None,
        eval_episodes=0,
    )
    result = train(config, tmp_path / "run", progress=False)
    state = read_json(tmp_path / "run" / "trainer_state.json")
    rows = read_log(tmp_path / "run")
    assert state["updates"] == len(rows) == result.updates
    assert state["steps"] == result.steps >= 3_000
    assert 0.8 * 8 * 64 * result.updates < result.steps <= 8 * 64 * result.updates
    assert [r["steps"] for r in rows] == sorted(r["steps"] for r in rows)


def test_segment_steps_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="segment_steps must be a positive"):
        TrainConfig.for_env("Pixelcopter-PLE-v0", segment_steps=0)


def test_whole_episodes_asked_for_replace_the_default_segments() -> None:
    assert TrainConfig.for_env("Pixelcopter-PLE-v0").episodes_per_update is None
    whole = TrainConfig.for_env("Pixelcopter-PLE-v0", episodes_per_update=256)
    assert whole.segment_steps is None and whole.episodes_per_update == 256
    with pytest.raises(ConfigError, match="exclude each other"):
        TrainConfig.for_env("Pixelcopter-PLE-v0", episodes_per_update=256, segment_steps=64)
    cartpole = TrainConfig.for_env("CartPole-v1")
    assert cartpole.episodes_per_update == cartpole.num_envs and cartpole.segment_steps is None
