"""Many models played together (hubpg.ranking.lanes) give exactly what each gives alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubpg.config import PolicyConfig
from hubpg.envs import env_dims
from hubpg.evaluation import evaluate
from hubpg.policy import Policy, small_model_threads
from hubpg.ranking.lanes import Lanes, batch_key, evaluate_many


def policies(env_id: str, count: int, *, activation: str = "relu", seed: int = 0) -> list:
    """``count`` distinct policies of three qualities (a strong, a middling and a nearly
    uniform gain on a balancing feature, plus noise of their own), some with obs_clip."""
    obs_dim, n_actions = env_dims(env_id)
    rng = np.random.default_rng(seed)
    made = []
    for m in range(count):
        config = PolicyConfig(
            env_id=env_id,
            obs_dim=obs_dim,
            n_actions=n_actions,
            hidden=[16],
            activation=activation,
            obs_clip=5.0 if m % 4 == 0 else None,
        )
        policy = Policy(config)
        with torch.no_grad():
            first = torch.zeros(16, obs_dim)
            first[0, : min(4, obs_dim)] = torch.tensor([0.0, 0.2, 1.0, 0.5][: min(4, obs_dim)])
            first[0] *= 20
            first[1] = -first[0]
            noise = rng.standard_normal((16, obs_dim)) * 0.3
            policy.net[0].weight.copy_(first + torch.tensor(noise, dtype=torch.float32))
            policy.net[0].bias.zero_()
            gain = [3.0, 0.3, 0.02][m % 3]
            last = torch.zeros(n_actions, 16)
            last[1, 0] = last[0, 1] = gain
            last[:, 2:] = torch.tensor(rng.standard_normal((n_actions, 14)) * 0.01)
            policy.net[2].weight.copy_(last)
            # every weight set here (the same models in any run); the weak ones lean to
            # one action, so that argmax play is weak too
            policy.net[2].bias.zero_()
            policy.net[2].bias[0] = 0.5 if m % 3 == 2 else 0.0
        made.append(policy.eval())
    return made


def alone(policy, env_id, **protocol):
    return evaluate(
        policy,
        env_id,
        protocol["episodes"],
        protocol["seed"],
        deterministic=protocol["deterministic"],
        max_t=protocol["max_t"],
    ).to_dict()


@pytest.mark.parametrize(
    ("activation", "deterministic", "episodes"),
    [("relu", False, 23), ("tanh", False, 7), ("relu", True, 11)],
)
def test_cartpole_models_together_equal_each_alone(activation, deterministic, episodes) -> None:
    env_id = "CartPole-v1"
    models = policies(env_id, 9, activation=activation)
    protocol = {"episodes": episodes, "seed": 3, "deterministic": deterministic, "max_t": 500}
    expected = [alone(p, env_id, **protocol) for p in models]
    lanes = Lanes(env_id, lanes=4, **protocol)  # 9 models in 4 lanes: lanes are refilled
    for i, policy in enumerate(models):
        lanes.add(i, policy)
    got: dict[int, dict] = {}
    try:
        with small_model_threads():  # as evaluate_many and the leaderboard run them
            while lanes.busy:
                got.update((i, result.to_dict()) for i, result in lanes.step())
    finally:
        lanes.close()
    assert [got[i] for i in range(len(models))] == expected
    means = [e["mean_reward"] for e in expected]
    assert max(means) == 500.0 and min(means) < 100  # three qualities, episodes of all lengths


def test_where_a_batched_product_would_round_differently_each_lane_multiplies_alone(
    monkeypatch,
) -> None:
    import hubpg.ranking.lanes as lanes_module

    env_id = "CartPole-v1"
    # torch picks its CPU kernel by size: for a few rows (or a narrow last layer) a
    # batched product may round differently, and each lane then multiplies alone
    monkeypatch.setattr(lanes_module, "batched_products_exact", lambda rows, shapes: False)
    models = policies(env_id, 5, seed=2)
    protocol = {"episodes": 8, "seed": 5, "deterministic": False, "max_t": 300}
    expected = [alone(p, env_id, **protocol) for p in models]
    got = evaluate_many(models, env_id, **protocol)
    assert [g.to_dict() for g in got] == expected


def test_pixelcopter_models_together_equal_each_alone() -> None:
    env_id = "Pixelcopter-PLE-v0"
    models = policies(env_id, 5, seed=1)
    protocol = {"episodes": 6, "seed": 11, "deterministic": False, "max_t": 400}
    expected = [alone(p, env_id, **protocol) for p in models]
    got = evaluate_many(models, env_id, **protocol)
    assert [g.to_dict() for g in got] == expected


def test_models_that_cannot_be_batched_are_evaluated_alone_with_the_same_numbers() -> None:
    env_id = "CartPole-v1"
    stacked = Policy(PolicyConfig(env_id=env_id, obs_dim=4, n_actions=2, frame_stack=2))
    gelu = Policy(PolicyConfig(env_id=env_id, obs_dim=4, n_actions=2, activation="gelu"))
    acrobot = policies("Acrobot-v1", 1)[0]  # 3 actions, no slot reset for its vector env
    assert batch_key(stacked, env_id, 10) is None and batch_key(gelu, env_id, 10) is None
    assert batch_key(acrobot, "Acrobot-v1", 10) is None
    assert batch_key(policies(env_id, 1)[0], env_id, 300) is None  # over 256 episodes
    protocol = {"episodes": 5, "seed": 0, "deterministic": False, "max_t": 200}
    models = [stacked, *policies(env_id, 2), gelu]
    got = evaluate_many(models, env_id, **protocol)
    assert [g.to_dict() for g in got] == [alone(p, env_id, **protocol) for p in models]
    got = evaluate_many([acrobot], "Acrobot-v1", **protocol)
    assert got[0].to_dict() == alone(acrobot, "Acrobot-v1", **protocol)
