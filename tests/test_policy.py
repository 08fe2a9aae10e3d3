from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from hubpg.config import PolicyConfig
from hubpg.errors import ConfigError, MissingFileError, WeightsError
from hubpg.policy import Policy, check_policy_matches_env, sample_categorical


@pytest.fixture
def policy() -> Policy:
    torch.manual_seed(0)
    return Policy(PolicyConfig("CartPole-v1", obs_dim=4, n_actions=2, hidden=[16]))


def test_act_handles_single_and_batched_observations(policy: Policy) -> None:
    rng = np.random.default_rng(0)
    single = policy.act(np.zeros(4, dtype=np.float32), rng=rng)
    assert isinstance(single, int) and single in (0, 1)
    batch = policy.act(np.zeros((5, 4), dtype=np.float32), rng=rng)
    assert batch.shape == (5,) and set(batch.tolist()) <= {0, 1}
    probs = policy.probs_numpy(np.ones((3, 4)))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert policy.act(np.ones(4), deterministic=True) == int(probs[0].argmax())


def test_sampling_follows_the_probabilities() -> None:
    probs = np.tile([0.2, 0.5, 0.3], (200_000, 1))
    samples = sample_categorical(probs, np.random.default_rng(1))
    freq = np.bincount(samples, minlength=3) / len(samples)
    assert np.allclose(freq, [0.2, 0.5, 0.3], atol=0.005)
    two = sample_categorical(np.tile([0.7, 0.3], (200_000, 1)), np.random.default_rng(2))
    assert two.dtype == np.int64 and np.isclose(two.mean(), 0.3, atol=0.005)
    certain = sample_categorical(np.array([[1.0, 0.0], [0.0, 1.0]]), np.random.default_rng(3))
    assert certain.tolist() == [0, 1]


def test_save_and_load_round_trip_is_exact(policy: Policy, tmp_path) -> None:
    policy.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = Policy.load(tmp_path)
    obs = torch.randn(10, 4)
    assert torch.equal(loaded(obs), policy(obs))
    assert loaded.config == policy.config


def test_observation_scaling_is_part_of_the_model(tmp_path) -> None:
    config = PolicyConfig("CartPole-v1", 4, 2, hidden=[4], obs_scale=[2, 2, 2, 2], obs_clip=1.0)
    scaled = Policy(config)
    obs = torch.tensor([[0.1, 5.0, -5.0, 0.2]])
    assert torch.equal(scaled.preprocess(obs), torch.tensor([[0.2, 1.0, -1.0, 0.4]]))
    scaled.save(tmp_path)
    assert torch.equal(Policy.load(tmp_path)(obs), scaled(obs))


def _write(tmp_path, policy: Policy, tensors: dict) -> None:
    policy.config.save(tmp_path / "config.json")
    save_file(tensors, str(tmp_path / "model.safetensors"))


def test_load_refuses_missing_keys(policy: Policy, tmp_path) -> None:
    tensors = dict(policy.state_dict())
    tensors.pop("net.2.bias")
    _write(tmp_path, policy, tensors)
    with pytest.raises(WeightsError, match="missing net.2.bias"):
        Policy.load(tmp_path)


def test_load_refuses_extra_keys(policy: Policy, tmp_path) -> None:
    tensors = {**policy.state_dict(), "value_head.weight": torch.zeros(1, 16)}
    _write(tmp_path, policy, tensors)
    with pytest.raises(WeightsError, match="unexpected value_head.weight"):
        Policy.load(tmp_path)


def test_load_refuses_shape_mismatches(tmp_path) -> None:
    big = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[32]))
    small = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[16]))
    _write(tmp_path, small, dict(big.state_dict()))
    with pytest.raises(WeightsError, match=r"net.0.weight has shape \(32, 4\)"):
        Policy.load(tmp_path)


def test_load_refuses_corrupt_and_missing_files(policy: Policy, tmp_path) -> None:
    policy.save(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04garbage that is not safetensors")
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        Policy.load(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(MissingFileError):
        Policy.load(tmp_path)


def test_load_refuses_non_finite_weights(policy: Policy, tmp_path) -> None:
    tensors = {k: v.clone() for k, v in policy.state_dict().items()}
    tensors["net.0.bias"][0] = float("nan")
    _write(tmp_path, policy, tensors)
    with pytest.raises(WeightsError, match="NaN"):
        Policy.load(tmp_path)


def test_saved_files_contain_no_pickle(policy: Policy, tmp_path) -> None:
    policy.save(tmp_path)
    from hubpg.sniff import is_pickle, is_safetensors

    assert is_safetensors(tmp_path / "model.safetensors")
    for path in tmp_path.iterdir():
        assert not is_pickle(path), f"{path} looks like a pickle"


def test_env_mismatch_is_reported() -> None:
    with pytest.raises(ConfigError, match="expects 4 observations"):
        check_policy_matches_env(PolicyConfig("CartPole-v1", 4, 2), 7, 2)
