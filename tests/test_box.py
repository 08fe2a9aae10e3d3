"""Box (continuous) action spaces: the Gaussian policy, observation normalisation, and
a Pendulum-v1 model through every stage (train, evaluate, package with replay and
agent.pt, push, load-and-eval, the verifying leaderboard), on tiny budgets."""

from __future__ import annotations

import json
import math
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch
from cli_runner import run_cli

from hubpg.config import PolicyConfig, TrainConfig
from hubpg.envs import make_vec_env, missing_dependency_hint, require_supported
from hubpg.errors import ConfigError, MissingEnvDependencyError, UnsupportedEnvError, WeightsError
from hubpg.evaluation import evaluate
from hubpg.observations import RunningObsStats
from hubpg.policy import Policy
from hubpg.reinforce import train

ENV = "Pendulum-v1"


def _box_config(**extra) -> PolicyConfig:
    return PolicyConfig(
        ENV, 3, 1, hidden=[8], action_space="box", action_low=[-2.0], action_high=[2.0], **extra
    )


def _tiny(**overrides) -> TrainConfig:
    values = {
        "total_steps": 6_400,
        "num_envs": 8,
        "hidden": [16],
        "eval_episodes": 0,
        "normalize_obs": True,
        "select_episodes": 5,  # the recipe's model selection, on few episodes
        **overrides,
    }
    return TrainConfig.for_env(ENV, seed=3, **values)


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory) -> object:
    run_dir = tmp_path_factory.mktemp("box") / "run"
    train(_tiny(), run_dir, progress=False)
    return run_dir


def test_the_log_probability_is_the_unclipped_samples_under_the_gaussian() -> None:
    torch.manual_seed(0)
    policy = Policy(_box_config())
    with torch.no_grad():
        policy.log_std.fill_(0.3)
    obs = torch.randn(5, 3)
    actions = torch.tensor([[-3.5], [0.0], [1.0], [2.5], [-0.2]])  # two outside the bounds
    log_probs, entropy = policy.log_prob_entropy(obs, actions)
    normal = torch.distributions.Normal(policy(obs), torch.exp(torch.tensor(0.3)))
    assert torch.allclose(log_probs, normal.log_prob(actions).sum(-1), atol=1e-6)
    assert torch.allclose(entropy, normal.entropy().sum(-1), atol=1e-6)


def test_samples_are_clipped_only_at_the_env_and_the_mean_is_played_deterministically() -> None:
    torch.manual_seed(0)
    policy = Policy(_box_config())
    with torch.no_grad():
        policy.log_std.fill_(1.5)  # wide: many samples fall outside [-2, 2]
    obs = np.random.default_rng(0).normal(size=(4000, 3)).astype(np.float32)
    out = policy.numpy_forward()(obs).copy()
    sampled = policy.choose(out, np.random.default_rng(1))
    assert sampled.shape == (4000, 1) and np.abs(sampled).max() > 2.0
    played = policy.to_env(sampled)
    assert played.min() >= -2.0 and played.max() <= 2.0
    assert np.array_equal(policy.choose(out, np.random.default_rng(1), deterministic=True), out)
    single = policy.act(obs[0], deterministic=True)
    assert single.shape == (1,) and np.allclose(single, np.clip(out[0], -2, 2))
    with torch.no_grad():  # the clamp of log_std holds
        policy.log_std.fill_(50.0)
    assert float(policy.clamped_log_std().detach()) == policy.config.log_std_max


def test_config_json_describes_a_box_policy_and_a_discrete_one_is_unchanged(tmp_path) -> None:
    config = _box_config()
    assert PolicyConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    discrete = PolicyConfig("CartPole-v1", 4, 2).to_dict()
    assert "action_space" not in discrete and "log_std_min" not in discrete
    for bad, message in (
        ({"action_low": [-2.0, -2.0]}, "action_low must list 1"),
        ({"action_low": [3.0]}, "below action_high"),
        ({"log_std_min": 3.0}, "log_std_min must be below"),
        ({"action_space": "tuple"}, "action_space must be one of"),
    ):
        with pytest.raises(ConfigError, match=message):
            PolicyConfig.from_dict({**config.to_dict(), **bad})


def test_strict_loading_checks_the_action_bounds_and_the_log_std(pendulum_run, tmp_path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.safetensors", "config.json"):
        shutil.copy(pendulum_run / name, folder / name)
    data = json.loads((folder / "config.json").read_text())
    assert data["action_space"] == "box" and data["action_high"] == [2.0]
    (folder / "config.json").write_text(json.dumps({**data, "action_high": [1.0]}))
    with pytest.raises(ConfigError, match="action bounds"):
        evaluate(folder, episodes=1)
    (folder / "config.json").write_text(json.dumps({**data, "action_space": "discrete"}))
    with pytest.raises(ConfigError):
        Policy.load(folder)
    from safetensors.torch import load_file, save_file

    tensors = load_file(pendulum_run / "model.safetensors")
    del tensors["log_std"]
    save_file(tensors, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="log_std"):
        Policy.load(folder)


def test_running_statistics_are_those_of_all_batches_and_frozen_into_the_model(
    pendulum_run,
) -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(loc=i, scale=1 + i, size=(50 + 7 * i, 3)) for i in range(4)]
    stats = RunningObsStats(3)
    for part in parts:
        stats.update(part)
    whole = np.concatenate(parts)
    assert np.allclose(stats.mean, whole.mean(0)) and np.allclose(stats.var, whole.var(0))
    again = RunningObsStats.from_dict(json.loads(json.dumps(stats.to_dict())), 3)
    assert np.array_equal(again.mean, stats.mean) and np.array_equal(again.var, stats.var)

    state = json.loads((pendulum_run / "trainer_state.json").read_text())
    saved = RunningObsStats.from_dict(state["obs_stats"], 3)
    config = PolicyConfig.load(pendulum_run / "config.json")
    shift, scale = saved.shift_scale()  # config.json keeps 12 digits: the same float32s
    assert np.array_equal(np.float32(config.obs_shift), np.float32(shift))
    assert np.array_equal(np.float32(config.obs_scale), np.float32(scale))
    assert config.obs_clip == 10.0
    policy = Policy.load(pendulum_run)
    raw = torch.tensor([[0.5, -0.5, 3.0]])
    want = ((raw - torch.tensor(config.obs_shift)) * torch.tensor(config.obs_scale)).clamp(-10, 10)
    assert torch.equal(policy.preprocess(raw), want)


def test_a_box_run_is_reproducible_and_the_async_env_trains_the_same_model(tmp_path) -> None:
    first = tmp_path / "sync"
    train(_tiny(total_steps=3_200, vector_mode="sync"), first, progress=False)
    again = tmp_path / "async"
    train(_tiny(total_steps=3_200, vector_mode="async"), again, progress=False)
    for name in ("model.safetensors", "config.json"):
        assert (first / name).read_bytes() == (again / name).read_bytes()


def test_resuming_a_normalised_run_continues_its_statistics(tmp_path) -> None:
    part = tmp_path / "part"
    train(_tiny(total_steps=1_600), part, progress=False)
    first = json.loads((part / "trainer_state.json").read_text())
    assert first["obs_stats"]["count"] == first["steps"]
    train(_tiny(total_steps=4_800), part, resume=True, progress=False)
    state = json.loads((part / "trainer_state.json").read_text())
    assert state["steps"] >= 4_800 and state["obs_stats"]["count"] == state["steps"]


def test_a_missing_env_package_names_hubpgs_extra() -> None:
    with (
        pytest.raises(MissingEnvDependencyError, match=r"pip install 'hubpg\[box2d\]'"),
        missing_dependency_hint("LunarLander-v3"),
    ):
        raise gym.error.DependencyNotInstalled("Box2D is not installed")
    with (
        pytest.raises(MissingEnvDependencyError, match=r"hubpg\[mujoco\]"),
        missing_dependency_hint("InvertedPendulum-v5"),
    ):
        raise ImportError("No module named 'mujoco'")


def test_unsupported_action_spaces_are_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedEnvError, match="MultiDiscrete"):
        require_supported(gym.spaces.MultiDiscrete([2, 3]), "X-v0")
    with pytest.raises(UnsupportedEnvError, match="finite bounds"):
        require_supported(gym.spaces.Box(-np.inf, np.inf, shape=(2,)), "X-v0")
    envs = make_vec_env(ENV, 2)
    try:
        assert isinstance(envs.single_action_space, gym.spaces.Box)
    finally:
        envs.close()


# --------------------------------------------------------------------------- every stage

ALICE = "hf_local_alice"
REPO = "alice/Reinforce-Pendulum-v1"

#: Plays agent.pt as the Open RL Leaderboard's evaluation does, in a process where
#: hubpg cannot be imported: torch.jit.load, a batch of float observations in, a batch
#: of actions out, over a vector of Gymnasium envs, 50 episodes.
LEADERBOARD_PLAYER = """
import json, sys
sys.modules["hubpg"] = None  # import hubpg now fails: the agent must stand alone
import gymnasium as gym, numpy as np, torch
path, env_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
agent = torch.jit.load(path)
envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(n)])
obs, _ = envs.reset(seed=list(range(n)))
returns, running = np.zeros(n), np.ones(n, dtype=bool)
while running.any():
    with torch.no_grad():
        actions = agent(torch.tensor(obs).float()).numpy()
    obs, reward, terminated, truncated, _ = envs.step(actions)
    returns += np.where(running, reward, 0.0)
    running &= ~(terminated | truncated)
print(json.dumps([float(x) for x in returns]))
"""


def play_agent_without_hubpg(agent: object, env_id: str, episodes: int = 50) -> list[float]:
    """The returns of ``episodes`` episodes of ``agent.pt``, played by a process that
    cannot import hubpg."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", LEADERBOARD_PLAYER, str(agent), env_id, str(episodes)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def within_standard_error(returns: list[float], results: dict) -> bool:
    """Whether the mean of ``returns`` is within three standard errors of the package's
    score (both samples' standard errors combined)."""
    mine = np.asarray(returns)
    se = math.sqrt(
        mine.var() / len(mine) + results["std_reward"] ** 2 / results["n_evaluation_episodes"]
    )
    return abs(mine.mean() - results["mean_reward"]) <= 3 * se + 1e-9


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from hubpg.localhub.testing import running_hub

    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


@pytest.mark.slow
def test_a_box_model_goes_through_every_stage(pendulum_run, hub, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(pendulum_run, run)
    proc = run_cli("evaluate", str(run), "--episodes", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_episodes"] == 10

    proc = run_cli("package", str(run), "--json")
    assert proc.returncode == 0, proc.stderr
    package = run / "hub"
    assert {"agent.pt", "replay.mp4", "model.safetensors", "README.md"} <= {
        p.name for p in package.iterdir()
    }
    import imageio.v2 as iio

    reader = iio.get_reader(package / "replay.mp4", format="FFMPEG")
    try:
        frames = [frame for frame in reader]
    finally:
        reader.close()
    assert len(frames) > 100 and frames[0].std() > 0  # Pendulum's 200 steps, rendered
    results = json.loads((package / "results.json").read_text())
    assert within_standard_error(play_agent_without_hubpg(package / "agent.pt", ENV), results)

    push = ["push", str(run), "--repo", REPO, "--endpoint", hub.url, "--token", ALICE]
    proc = run_cli(*push, "--json")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("load-and-eval", "--repo", REPO, "--endpoint", hub.url, "--strict")
    assert proc.returncode == 0, proc.stderr
    assert "claim supported" in proc.stdout
    proc = run_cli("leaderboard", ENV, "--endpoint", hub.url, "--verify", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [row["repo_id"] for row in rows] == [REPO]


@pytest.mark.slow
def test_agent_pt_plays_cartpole_without_hubpg_to_the_packages_score(tmp_path) -> None:
    run = tmp_path / "run"
    config = TrainConfig.for_env("CartPole-v1", total_steps=30_000, num_envs=16, eval_episodes=0)
    train(config, run, progress=False)
    proc = run_cli("package", str(run), "--no-video")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((run / "hub" / "results.json").read_text())
    returns = play_agent_without_hubpg(run / "hub" / "agent.pt", "CartPole-v1")
    assert len(returns) == 50 and within_standard_error(returns, results)


HEADLESS_REPLAY = """
import sys
import numpy as np, torch
from hubpg.config import TrainConfig
from hubpg.envs import env_action_space, env_dims
from hubpg.packaging import record_replay
from hubpg.policy import Policy
env_id, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
config = TrainConfig.for_env(env_id).policy_config(*env_dims(env_id), env_action_space(env_id))
record_replay(Policy(config), env_id, out, seed=0, deterministic=False, max_t=60)
"""


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["InvertedPendulum-v5", "LunarLanderContinuous-v3"])
def test_mujoco_and_box2d_envs_record_a_replay_without_a_display(env_id, tmp_path) -> None:
    import os
    import subprocess
    import sys

    import imageio.v2 as iio

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MUJOCO_GL")}
    env.pop("PYOPENGL_PLATFORM", None)
    out = tmp_path / "replay.mp4"
    proc = subprocess.run(
        [sys.executable, "-c", HEADLESS_REPLAY, env_id, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reader = iio.get_reader(out, format="FFMPEG")
    try:
        frames = [frame for frame in reader]
    finally:
        reader.close()
    assert len(frames) >= 2 and max(float(f.std()) for f in frames) > 1.0


def test_reward_scale_changes_the_returns_to_go_only() -> None:
    from hubpg.rollout import play_round

    torch.manual_seed(0)
    policy = Policy(_box_config())
    played = []
    for scale in (1.0, 0.25):
        envs = make_vec_env(ENV, 4, max_t=50)
        try:
            obs, _ = envs.reset(seed=0)
            played.append(
                play_round(
                    policy, envs, obs, 4, 50, 0.9, np.random.default_rng(0), reward_scale=scale
                )
            )
        finally:
            envs.close()
    one, quarter = played
    assert np.allclose(quarter.returns, 0.25 * one.returns)
    assert np.array_equal(quarter.episode_returns, one.episode_returns)  # logged raw
    assert one.actions.shape == (4 * 50, 1) and one.actions.dtype == np.float32


# --------------------------------------------------------------------------- GAE(lambda)


def _gae_by_episode(rewards, values, ends, recorded, gamma, lam, last):
    """GAE per sub-env, episode by episode, as the paper writes it (the reference)."""
    out = np.zeros_like(rewards)
    for env in range(rewards.shape[1]):
        rows = [t for t in range(rewards.shape[0]) if recorded[t, env]]
        episodes, current = [], []
        for t in rows:
            current.append(t)
            if ends[t, env]:
                episodes.append((current, 0.0))
                current = []
        if current:
            episodes.append((current, last[env]))
        for steps, bootstrap in episodes:
            vals = [values[t, env] for t in steps] + [bootstrap]
            for i, t in enumerate(steps):
                out[t, env] = sum(
                    (gamma * lam) ** k * (rewards[u, env] + gamma * vals[i + k + 1] - vals[i + k])
                    for k, u in enumerate(steps[i:])
                )
    return out


def test_gae_advantages_match_the_papers_sum_episode_by_episode() -> None:
    from hubpg.rollout import gae_advantages

    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    ends = np.zeros((12, 3), dtype=bool)
    recorded = np.ones((12, 3), dtype=bool)
    ends[3, 0] = ends[7, 1] = ends[11, 2] = True
    recorded[4, 0] = recorded[8, 1] = False  # the auto-reset steps after those ends
    rewards[~recorded] = 0.0
    last = rng.normal(size=3)
    got = gae_advantages(rewards, values, ends, recorded, 0.9, 0.8, last)
    want = _gae_by_episode(rewards, values, ends, recorded, 0.9, 0.8, last)
    assert np.allclose(got, want)
    # lambda 1 without values is the discounted returns-to-go
    from hubpg.rollout import discounted_returns

    zero = np.zeros_like(values)
    got = gae_advantages(rewards, zero, ends, recorded, 0.9, 1.0)
    assert np.allclose(got[recorded], discounted_returns(rewards, 0.9, ends)[recorded])


def test_gae_lambda_needs_the_value_baseline_and_a_number_from_0_to_1() -> None:
    with pytest.raises(ConfigError, match="--baseline value"):
        _tiny(baseline="time", gae_lambda=0.9)
    for bad in (-0.1, 1.5, "0.9"):
        with pytest.raises(ConfigError, match="gae_lambda must be in"):
            _tiny(baseline="value", gae_lambda=bad)
    # off by default: the recipes that do not ask for it are unchanged
    assert TrainConfig.for_env("CartPole-v1").gae_lambda is None


def test_a_segment_is_bootstrapped_with_the_value_of_the_next_observation() -> None:
    from hubpg.rollout import SegmentRollout, collect_segment

    class Constant:
        """V = 5 everywhere, for checking the bootstrap by hand."""

        def predict(self, obs, times):
            return np.full(len(obs), 5.0)

    config = _tiny(baseline="value", gae_lambda=1.0, segment_steps=16, normalize_returns=False)
    torch.manual_seed(0)
    policy = Policy(_box_config())
    envs = make_vec_env(ENV, 4, max_t=200)
    try:
        rollout = SegmentRollout(policy, envs, segment_steps=16, seed=0)
        batch = collect_segment(policy, rollout, config, np.random.default_rng(0), value=Constant())
        rewards = rollout.buffers.rewards[:16] * config.reward_scale
    finally:
        envs.close()
    # no episode ends in the first 16 of Pendulum's 200 steps: A_t = G_t + gamma^(16-t) V - V
    from hubpg.rollout import discounted_returns

    g = discounted_returns(rewards, config.gamma)
    bootstrap = config.gamma ** (16 - np.arange(16))[:, None] * 5.0
    assert np.allclose(batch.weights, (g + bootstrap - 5.0).reshape(-1), atol=1e-4)
    assert np.allclose(batch.returns, (g + bootstrap).reshape(-1))  # the value net's targets


def test_a_gae_run_is_reproducible_and_records_its_lambda(tmp_path) -> None:
    config = _tiny(baseline="value", gae_lambda=0.9, segment_steps=16, total_steps=3_200)
    for name in ("a", "b"):
        train(config, tmp_path / name, progress=False)
    for name in ("model.safetensors", "value.safetensors", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    record = json.loads((tmp_path / "a" / "hyperparameters.json").read_text())
    assert record["gae_lambda"] == 0.9 and record["baseline"] == "value"
