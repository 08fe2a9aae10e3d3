"""The observation pipeline: frame history, and that every consumer sees the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hubpg.config import PolicyConfig
from hubpg.envs import make_env, make_vec_env
from hubpg.errors import ConfigError
from hubpg.observations import ObservationHistory
from hubpg.policy import NumpyForward, Policy
from hubpg.rollout import RolloutBuffers, play_round


def obs_rows(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)[:, None]


def test_history_shows_frames_stride_apart_newest_first_and_repeats_the_first() -> None:
    history = ObservationHistory(frames=3, stride=2, num_envs=2, obs_dim=1)
    assert history.reset(obs_rows([0, 100])).tolist() == [[0, 0, 0], [100, 100, 100]]
    seen = [history.push(obs_rows([t, 100 + t])).copy() for t in range(1, 6)]
    assert seen[0].tolist() == [[1, 0, 0], [101, 100, 100]]
    assert seen[1].tolist() == [[2, 0, 0], [102, 100, 100]]
    assert seen[3].tolist() == [[4, 2, 0], [104, 102, 100]]
    assert seen[4].tolist() == [[5, 3, 1], [105, 103, 101]]
    # env 1 starts a new episode at this step: its history is that observation only
    restarted = history.push(obs_rows([6, 500]), new_episode=np.array([False, True]))
    assert restarted.tolist() == [[6, 4, 2], [500, 500, 500]]


def test_one_frame_is_the_observation_itself() -> None:
    history = ObservationHistory(1, 1, 3, 2)
    obs = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert np.array_equal(history.reset(obs), obs)
    assert np.array_equal(history.push(obs + 1), obs + 1)


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ObservationHistory(0, 1, 1, 1)
    with pytest.raises(ConfigError, match="shape"):
        ObservationHistory(2, 1, 2, 3).reset(np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="frame_stack"):
        PolicyConfig("CartPole-v1", 4, 2, frame_stack=0)


class RecordingPolicy(Policy):
    """A real policy that also keeps every input its numpy forward pass was given."""

    def numpy_forward(self):  # type: ignore[no-untyped-def]
        forward = super().numpy_forward()
        seen = self.seen

        def record(x: np.ndarray) -> np.ndarray:
            seen.append(x.copy())
            return forward(x)

        return record


def stacked_config(env_id: str = "CartPole-v1", obs_dim: int = 4) -> PolicyConfig:
    return PolicyConfig(env_id, obs_dim, 2, hidden=[8], frame_stack=3, frame_stride=2)


def test_the_gradient_step_sees_exactly_what_the_policy_acted_on() -> None:
    torch.manual_seed(0)
    policy = RecordingPolicy(stacked_config())
    policy.seen = []
    envs = make_vec_env("CartPole-v1", 3, max_t=40)
    obs, _ = envs.reset(seed=0)
    buffers = RolloutBuffers(3, 4)
    played = play_round(policy, envs, obs, 7, 40, 0.99, np.random.default_rng(0), buffers=buffers)
    acted = np.stack(policy.seen)  # [T, envs, input_dim]: what each step acted on
    recorded = buffers.recorded[: acted.shape[0]]
    assert np.array_equal(played.obs, acted[recorded])
    assert np.count_nonzero(played.times == 0) == 7
    first = played.obs[played.times == 0]  # an episode's first input repeats its first frame
    assert np.array_equal(first[:, :4], first[:, 4:8]) and np.array_equal(
        first[:, :4], first[:, 8:]
    )


def test_act_on_single_observations_matches_the_batched_pipeline() -> None:
    torch.manual_seed(1)
    policy = Policy(stacked_config())
    env = make_env("CartPole-v1")
    obs, _ = env.reset(seed=3)
    history = policy.new_history(1)
    stacked = history.reset(obs[None])
    policy.reset()
    for _ in range(30):
        want = int(policy.numpy_forward()(stacked).argmax())
        assert policy.act(obs, deterministic=True) == want
        obs, _, terminated, truncated, _ = env.step(want)
        if terminated or truncated:
            break
        stacked = history.push(obs[None])
    env.close()


def test_numpy_forward_matches_torch() -> None:
    torch.manual_seed(2)
    config = PolicyConfig(
        "Pixelcopter-PLE-v0", 7, 2, hidden=[16, 16], frame_stack=2, obs_scale=[0.1] * 7,
        obs_shift=[3.0] * 7, obs_clip=2.0,
    )  # fmt: skip
    policy = Policy(config)
    x = np.random.default_rng(0).normal(0, 20, size=(9, 14)).astype(np.float32)
    with torch.no_grad():
        want = torch.softmax(policy(torch.from_numpy(x)), dim=-1).numpy()
    assert np.allclose(NumpyForward(policy)(x), want, atol=1e-6)
    assert np.allclose(policy.probs_numpy(x), want, atol=1e-6)


def test_an_old_config_json_without_frames_loads_with_no_stacking(tmp_path) -> None:
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[8]))
    policy.save(tmp_path)
    record = json.loads((tmp_path / "config.json").read_text())
    for key in ("frame_stack", "frame_stride"):
        record.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(record))
    loaded = Policy.load(tmp_path)
    assert (loaded.config.frame_stack, loaded.config.frame_stride) == (1, 1)


def test_frame_stack_round_trips_through_config_json(tmp_path) -> None:
    Policy(stacked_config()).save(tmp_path)
    record = json.loads((tmp_path / "config.json").read_text())
    assert (record["frame_stack"], record["frame_stride"]) == (3, 2)
    assert Policy.load(tmp_path).net[0].in_features == 12


def test_the_replay_plays_the_same_game_as_evaluate_with_a_frame_stack() -> None:
    from hubpg.evaluation import evaluate
    from hubpg.video import record_episode

    torch.manual_seed(4)
    config = PolicyConfig("Pixelcopter-PLE-v0", 7, 2, hidden=[16], frame_stack=4, frame_stride=2)
    policy = Policy(config)
    for seed in (5, 6):
        env = make_env("Pixelcopter-PLE-v0", render_mode="rgb_array")
        policy.reset()
        _, total, length = record_episode(
            env, lambda obs: policy.act(obs, deterministic=True), seed, 300
        )
        env.close()
        result = evaluate(policy, episodes=1, seed=seed, deterministic=True, max_t=300)
        assert (result.episode_returns[0], result.episode_lengths[0]) == (total, length)


def test_a_hostile_frame_history_is_refused_before_anything_is_allocated() -> None:
    with pytest.raises(ConfigError, match="keep"):
        PolicyConfig("CartPole-v1", 4, 2, frame_stack=10**6, frame_stride=10**6)
    with pytest.raises(ConfigError, match="frame_stack"):
        PolicyConfig("CartPole-v1", 4, 2, frame_stack=True)
