from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical

from hubpg.config import PolicyConfig, TrainConfig
from hubpg.errors import RunDirError, TrainingDivergedError
from hubpg.evaluation import evaluate
from hubpg.policy import Policy
from hubpg.reinforce import (
    Batch,
    batch_loss,
    step_weights,
    train,
)
from hubpg.rollout import discounted_returns, normalize_returns, time_baseline
from hubpg.runfolder import read_log


def course_loss(policy: Policy, states, actions, rewards, gamma: float) -> torch.Tensor:
    """The Deep RL course's REINFORCE loss for one episode, written as its notebook does."""
    saved_log_probs = []
    for state, action in zip(states, actions, strict=True):
        probs = torch.softmax(policy(torch.from_numpy(state).float().unsqueeze(0)), dim=1)
        m = Categorical(probs)
        saved_log_probs.append(m.log_prob(torch.tensor([action])))
    returns: deque[float] = deque(maxlen=len(rewards))
    for t in range(len(rewards))[::-1]:
        disc_return_t = returns[0] if len(returns) > 0 else 0
        returns.appendleft(gamma * disc_return_t + rewards[t])
    eps = np.finfo(np.float32).eps.item()
    returns_t = torch.tensor(returns)
    returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + eps)
    policy_loss = [-lp * r for lp, r in zip(saved_log_probs, returns_t, strict=True)]
    return torch.cat(policy_loss).sum()


def one_episode(seed: int, length: int = 37):
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(length, 4)).astype(np.float32)
    actions = rng.integers(0, 2, size=length)
    rewards = rng.choice([0.0, 1.0, -1.0, 2.5], size=length)
    return states, actions, rewards


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_episode_per_update_is_the_course_loss_and_gradient(seed: int) -> None:
    torch.manual_seed(seed)
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[16]))
    states, actions, rewards = one_episode(seed)
    config = TrainConfig.for_env("CartPole-v1", num_envs=1, episodes_per_update=1, gamma=0.99)
    assert config.baseline == "time"  # the CartPole default; ignored with one episode per update
    returns = discounted_returns(rewards[:, None], config.gamma)[:, 0]
    times = np.arange(len(rewards))
    batch = Batch(states, actions, step_weights(returns, times, config), rewards[None].sum(1), [37])
    ours, _ = batch_loss(policy, batch, entropy_coef=0.0)
    ours.backward()
    our_grads = [p.grad.clone() for p in policy.parameters()]
    policy.zero_grad()
    theirs = course_loss(policy, states, actions, rewards.tolist(), 0.99)
    theirs.backward()
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for mine, course in zip(our_grads, [p.grad for p in policy.parameters()], strict=True):
        assert torch.allclose(mine, course, rtol=1e-4, atol=1e-6)


def test_discounted_returns_match_a_plain_loop_per_column() -> None:
    rewards = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]])
    expected = np.array([[1 + 0.5 * 0 + 0.25 * 3, 2 + 0.5], [0 + 0.5 * 3, 1.0], [3.0, 0.0]])
    assert np.allclose(discounted_returns(rewards, 0.5), expected)


def test_returns_restart_after_each_episode_end() -> None:
    rewards = np.array([[1.0], [1.0], [1.0], [1.0]])
    ends = np.array([[False], [True], [False], [True]])
    assert discounted_returns(rewards, 0.5, ends)[:, 0].tolist() == [1.5, 1.0, 1.5, 1.0]


def test_a_round_plays_exactly_the_episodes_asked_with_refills() -> None:
    from hubpg.envs import make_vec_env
    from hubpg.rollout import play_round

    torch.manual_seed(0)
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[8]))
    envs = make_vec_env("CartPole-v1", 4)
    obs, _ = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    r = play_round(policy, envs, obs, 10, 500, 1.0, rng)
    o, a, g, t, returns, lengths = (
        r.obs,
        r.actions,
        r.returns,
        r.times,
        r.episode_returns,
        r.episode_lengths,
    )
    assert len(returns) == len(lengths) == 10
    assert len(o) == len(a) == len(g) == len(t) == lengths.sum()
    assert np.count_nonzero(t == 0) == 10  # ten episode starts
    # with gamma 1 and reward 1 per step, the return-to-go at time 0 is the episode's return
    assert sorted(g[t == 0].tolist()) == sorted(returns.tolist())
    r = play_round(policy, envs, envs.reset(seed=1)[0], 3, 7, 1.0, rng)
    returns, lengths = r.episode_returns, r.episode_lengths
    assert len(returns) == 3 and lengths.max() <= 7


def test_a_sub_env_cut_at_max_t_starts_the_next_episode() -> None:
    from hubpg.envs import make_vec_env
    from hubpg.rollout import play_round

    torch.manual_seed(0)
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[8]))
    envs = make_vec_env("CartPole-v1", 4, max_t=7)  # random CartPole play lasts > 7 steps
    obs, _ = envs.reset(seed=0)
    r = play_round(policy, envs, obs, 12, 7, 1.0, np.random.default_rng(0))
    returns, lengths = r.episode_returns, r.episode_lengths
    assert len(returns) == 12 and lengths.max() == 7
    assert np.count_nonzero(lengths == 7) > 4  # sub-envs cut at max_t played again


def test_normalisation_matches_torch_unbiased_std() -> None:
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    t = torch.tensor(values, dtype=torch.float32)
    expected = (t - t.mean()) / (t.std() + np.finfo(np.float32).eps)
    assert np.allclose(normalize_returns(values), expected.numpy(), atol=1e-6)
    assert normalize_returns(np.array([7.0])).tolist() == [0.0]


def test_time_baseline_removes_what_all_episodes_share() -> None:
    returns = np.array([5.0, 5.0, 3.0, 3.0, 1.0])  # two identical episodes of 2 steps, one of 1
    times = np.array([0, 0, 1, 1, 0])
    assert np.allclose(returns - time_baseline(returns, times), [4 / 3, 4 / 3, 0, 0, -8 / 3])


def test_default_cartpole_recipe_solves_and_writes_a_complete_run(cartpole_run) -> None:
    names = {p.name for p in cartpole_run.iterdir()}
    assert {"model.safetensors", "config.json", "hyperparameters.json", "log.csv"} <= names
    hyper = json.loads((cartpole_run / "hyperparameters.json").read_text())
    for key in (
        "env_id",
        "h_size",
        "n_training_episodes",
        "n_evaluation_episodes",
        "max_t",
        "gamma",
        "lr",
        "state_space",
        "action_space",
        "num_envs",
        "baseline",
    ):
        assert key in hyper
    assert hyper["state_space"] == 4 and hyper["action_space"] == 2
    state = json.loads((cartpole_run / "trainer_state.json").read_text())
    assert state["status"] == "completed"
    log = read_log(cartpole_run)
    assert log[-1]["steps"] == state["steps"] and log[-1]["mean_return"] == 500.0
    result = evaluate(cartpole_run, episodes=100, seed=0)
    assert result.mean_reward - result.std_reward >= 495


def test_training_is_deterministic_for_a_seed(tmp_path) -> None:
    config = TrainConfig.for_env("CartPole-v1", seed=3, total_steps=20_000, target_return=1e9)
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    a, b = Policy.load(tmp_path / "a").state_dict(), Policy.load(tmp_path / "b").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_folder_is_refused_unless_overwrite(tmp_path) -> None:
    config = TrainConfig.for_env("CartPole-v1", total_steps=1000, target_return=1e9, num_envs=4)
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(RunDirError, match="already exists"):
        train(config, tmp_path / "run", progress=False)
    train(config, tmp_path / "run", overwrite=True, progress=False)


def test_resume_continues_the_counters(tmp_path) -> None:
    config = TrainConfig.for_env("CartPole-v1", total_steps=2000, target_return=1e9, num_envs=4)
    first = train(config, tmp_path / "run", progress=False)
    more = TrainConfig.for_env("CartPole-v1", total_steps=4000, target_return=1e9, num_envs=4)
    second = train(more, tmp_path / "run", resume=True, progress=False)
    assert second.steps >= 4000 > first.steps
    assert second.updates > first.updates
    rows = read_log(tmp_path / "run")
    assert [r["update"] for r in rows] == list(range(1, second.updates + 1))


class NaNRewardEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), float("nan"), self.t >= 5, False, {}


def test_a_nan_loss_stops_with_a_clear_error_and_keeps_the_weights(tmp_path) -> None:
    if "NaNReward-v0" not in gym.registry:
        gym.register("NaNReward-v0", entry_point=NaNRewardEnv)
    config = TrainConfig.for_env("NaNReward-v0", total_steps=1000, num_envs=2)
    with pytest.raises(TrainingDivergedError, match="loss became nan at update 1"):
        train(config, tmp_path / "run", progress=False)
    assert Policy.load(tmp_path / "run").config.env_id == "NaNReward-v0"
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["status"] == "diverged"


def _signal_and_wait(proc: subprocess.Popen, signum: int, timeout: float = 120) -> str:
    """Send ``signum`` and return the process's stderr once it exits; if it has not exited
    after ``timeout`` seconds, fail with the stacks of its threads (PYTHONFAULTHANDLER)."""
    proc.send_signal(signum)
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"still running {timeout:.0f} s after signal {signum}:\n{err[-8000:]}")


def _child_env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONFAULTHANDLER": "1"}


def _as_in_a_terminal() -> None:
    """In the child: Ctrl-C's default handling. A suite started in the background (``&``,
    nohup) passes SIGINT on as ignored, and Python then never raises KeyboardInterrupt,
    rightly: a background job is not interrupted by Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_updates(run_dir, updates: int = 1, timeout: float = 120) -> None:
    """Until the run's log has ``updates`` rows (training is in its update loop)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "log.csv").is_file() and len(read_log(run_dir)) >= updates:
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_keeps_a_loadable_checkpoint(tmp_path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubpg.cli",
            "train",
            "CartPole-v1",
            "--total-steps",
            "500000000",
            "--target-return",
            "1e9",
            "--out",
            str(run_dir),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
        preexec_fn=_as_in_a_terminal,
    )
    _wait_for_updates(run_dir, 3)
    err = _signal_and_wait(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "checkpoint kept in" in err and str(run_dir) in err
    assert f"Continue it with: hubpg train CartPole-v1 --out {run_dir} --resume" in err
    assert "Traceback" not in err
    state = json.loads((run_dir / "trainer_state.json").read_text())
    assert state["status"] == "interrupted" and state["updates"] > 0
    Policy.load(run_dir)
    assert len(read_log(run_dir)) >= state["updates"]


def test_value_baseline_trains_and_is_kept_out_of_the_model(tmp_path) -> None:
    config = TrainConfig.for_env(
        "CartPole-v1", baseline="value", total_steps=20_000, target_return=1e9, num_envs=16
    )
    result = train(config, tmp_path / "run", progress=False)
    assert result.steps >= 20_000
    assert (tmp_path / "run" / "value.safetensors").is_file()
    assert set(Policy.load(tmp_path / "run").state_dict()) == {
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
    }
    resumed = train(
        TrainConfig.for_env(
            "CartPole-v1", baseline="value", total_steps=30_000, target_return=1e9, num_envs=16
        ),
        tmp_path / "run",
        resume=True,
        progress=False,
    )
    assert resumed.steps >= 30_000


def test_value_weights_subtract_the_estimates() -> None:
    config = TrainConfig.for_env("CartPole-v1", baseline="value", normalize_returns=False)
    returns, times = np.array([3.0, 2.0, 1.0]), np.array([0, 1, 2])
    weights = step_weights(returns, times, config, values=np.array([1.0, 1.0, 1.0]))
    assert weights.tolist() == [2.0, 1.0, 0.0]


def test_a_time_limit_ends_training(tmp_path) -> None:
    config = TrainConfig.for_env(
        "CartPole-v1", total_steps=10**9, target_return=1e9, time_limit=1.0, num_envs=8
    )
    result = train(config, tmp_path / "run", progress=False)
    assert result.stopped_on == "time_limit" and result.steps < 10**9
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["stopped_on"] == "time_limit" and state["status"] == "completed"


def test_anneal_lr_lowers_the_rate_linearly_over_the_budget(tmp_path) -> None:
    config = TrainConfig.for_env(
        "CartPole-v1", total_steps=20_000, target_return=1e9, num_envs=8, lr=0.01, anneal_lr=True
    )
    train(config, tmp_path / "run", progress=False)
    rows = read_log(tmp_path / "run")
    assert rows[0]["lr"] == pytest.approx(0.01)
    previous_steps = [0.0] + [r["steps"] for r in rows[:-1]]
    for row, steps in zip(rows, previous_steps, strict=True):  # set before each update
        assert row["lr"] == pytest.approx(0.01 * (1 - steps / 20_000))
    assert rows[-1]["lr"] < 0.01 * 0.2
    assert TrainConfig.for_env("CartPole-v1").anneal_lr is False


def test_pixelcopter_defaults_centre_and_scale_the_pixels() -> None:
    config = TrainConfig.for_env("Pixelcopter-PLE-v0")
    policy = Policy(config.policy_config(7, 2))
    assert (config.frame_stack, config.frame_stride) == (4, 2)
    obs = torch.tensor([[24.0, 0.5, 12.0, 12.0, 8.0, 32.0, 41.0]] * 4).reshape(1, 28)
    want = torch.tensor([[0, 0.5, 0, 0, 1, 1, 2.125]] * 4).reshape(1, 28)
    assert torch.allclose(policy.preprocess(obs), want)  # each stacked frame the same way
    assert config.eval_max_t == 10_000 and config.max_t == 2000
    assert config.segment_steps == 128 and config.anneal_lr  # the recipe's update rule


def test_selection_keeps_the_best_validated_checkpoint(tmp_path) -> None:
    config = TrainConfig.for_env(
        "CartPole-v1",
        total_steps=60_000,
        target_return=1e9,
        num_envs=16,
        select_every_steps=1,
        select_episodes=10,
    )
    train(config, tmp_path / "run", progress=False)
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    chosen = state["selected_checkpoint"]
    scores = [row["val_score"] for row in read_log(tmp_path / "run") if "val_score" in row]
    assert len(scores) == state["updates"] and chosen["validation_score"] == round(max(scores), 4)
    again = evaluate(tmp_path / "run", episodes=10, seed=1_000_000, max_t=500)
    assert round(again.score, 4) == chosen["validation_score"]


class BrokenAfterAWhileEnv(NaNRewardEnv):
    """Plays 4-step episodes with reward 1, then crashes on its 61st step overall."""

    calls = 0

    def step(self, action):
        BrokenAfterAWhileEnv.calls += 1
        if BrokenAfterAWhileEnv.calls > 60:
            raise RuntimeError("the simulator crashed")
        self.t += 1
        return np.zeros(2, np.float32), 1.0, False, self.t >= 4, {}


def test_an_unexpected_error_keeps_the_last_update_and_says_where(tmp_path) -> None:
    from hubpg.errors import TrainingFailedError

    if "BrokenSim-v0" not in gym.registry:
        gym.register("BrokenSim-v0", entry_point=BrokenAfterAWhileEnv)
    config = TrainConfig.for_env("BrokenSim-v0", total_steps=10_000, num_envs=2)
    with pytest.raises(TrainingFailedError, match="the simulator crashed.*saved in"):
        train(config, tmp_path / "run", progress=False)
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["status"] == "failed" and state["updates"] >= 1
    Policy.load(tmp_path / "run")


def tiny_pixelcopter(**overrides) -> TrainConfig:
    """The Pixelcopter defaults (frame stack, segments, step-based selection, gradient on
    a share of the steps) on a budget of a few seconds."""
    values = dict(
        total_steps=12_000,
        num_envs=16,
        max_t=200,
        select_every_steps=5_000,
        select_episodes=4,
        eval_max_t=200,
    )
    values.update(overrides)
    return TrainConfig.for_env("Pixelcopter-PLE-v0", **values)


def test_the_same_seed_gives_the_same_model_bytes(tmp_path) -> None:
    config = tiny_pixelcopter()
    assert config.time_limit is None and config.frame_stack == 4
    assert config.grad_step_fraction < 1
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()
    state = json.loads((tmp_path / "a" / "trainer_state.json").read_text())
    assert state["stopped_on"] == "total_steps"
    assert state == json.loads((tmp_path / "b" / "trainer_state.json").read_text()) | {
        "wall_time": state["wall_time"]
    }


def test_selection_also_validates_the_final_policy(tmp_path) -> None:
    config = tiny_pixelcopter(select_every_steps=10**9)  # never due before the end
    train(config, tmp_path / "run", progress=False)
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["selected_checkpoint"]["update"] == state["updates"]
    rows = read_log(tmp_path / "run")
    assert [r["update"] for r in rows if "val_score" in r] == [state["updates"]]


def test_resume_keeps_the_runs_own_budget(tmp_path) -> None:
    from hubpg.reinforce import resume_config

    config = TrainConfig.for_env("CartPole-v1", total_steps=3000, target_return=1e9, num_envs=4)
    train(config, tmp_path / "run", progress=False)
    assert resume_config(tmp_path / "run").total_steps == 3000
    course = TrainConfig.for_env("CartPole-v1", total_episodes=12, target_return=1e9, num_envs=4)
    train(course, tmp_path / "course", progress=False)
    resumed = resume_config(tmp_path / "course")
    assert (resumed.total_steps, resumed.total_episodes) == (None, 12)
    assert resume_config(tmp_path / "course", total_episodes=20).total_episodes == 20


def test_cli_resume_without_options_continues_the_same_budget(tmp_path) -> None:
    from cli_runner import run_cli

    out = str(tmp_path / "run")
    args = ("train", "CartPole-v1", "--out", out, "--target-return", "1e9", "--num-envs", "4")
    first = run_cli(*args, "--total-steps", "3000", "--eval-episodes", "0", "--quiet")
    assert first.returncode == 0, first.stderr
    again = run_cli("train", "CartPole-v1", "--out", out, "--resume", "--quiet")
    assert again.returncode == 0, again.stderr
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    hyper = json.loads((tmp_path / "run" / "hyperparameters.json").read_text())
    assert hyper["total_steps"] == 3000 and hyper["num_envs"] == 4
    assert 3000 <= state["steps"] < 3000 + 4 * 500  # no new budget: at most one more update


def test_resume_with_a_time_limit_keeps_the_selected_checkpoint(tmp_path) -> None:
    from hubpg.reinforce import resume_config

    train(tiny_pixelcopter(), tmp_path / "run", progress=False)
    before = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    model = (tmp_path / "run" / "model.safetensors").read_bytes()
    config = resume_config(tmp_path / "run", total_steps=10**9, time_limit=1e-6)
    result = train(config, tmp_path / "run", resume=True, progress=False)
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert result.stopped_on == state["stopped_on"] == "time_limit"
    assert state["selected_checkpoint"] == before["selected_checkpoint"]
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == model


def test_truncate_log_drops_rows_after_the_checkpoint(tmp_path) -> None:
    from hubpg.reinforce import truncate_log

    config = TrainConfig.for_env("CartPole-v1", total_steps=4000, target_return=1e9, num_envs=4)
    result = train(config, tmp_path / "run", progress=False)
    assert result.updates > 3
    truncate_log(tmp_path / "run", 3)
    assert [r["update"] for r in read_log(tmp_path / "run")] == [1, 2, 3]


@pytest.mark.slow
def test_sigterm_saves_the_selected_model_and_a_resume_repeats_no_log_row(tmp_path) -> None:
    run_dir = tmp_path / "run"
    script = (
        "from hubpg.config import TrainConfig; from hubpg.reinforce import train; "
        "train(TrainConfig.for_env('CartPole-v1', total_steps=10**9, target_return=1e9, "
        "num_envs=8, select_every_steps=2000, select_episodes=5, checkpoint_every_s=0.0), "
        f"{str(run_dir)!r}, progress=False)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=_child_env()
    )
    state_path = run_dir / "trainer_state.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state_path.is_file() and "selected_checkpoint" in state_path.read_text():
            break
        time.sleep(0.1)
    err = _signal_and_wait(proc, signal.SIGTERM)
    assert "TrainingInterrupted" in err
    state = json.loads(state_path.read_text())
    assert state["status"] == "interrupted" and state["stopped_on"] == "interrupted"
    chosen = state["selected_checkpoint"]
    again = evaluate(run_dir, episodes=5, seed=1_000_000, max_t=500)  # model = the selected one
    assert round(again.score, 4) == chosen["validation_score"]
    assert (run_dir / "last.safetensors").is_file()
    config = TrainConfig.for_env(
        "CartPole-v1", total_steps=state["steps"] + 2000, target_return=1e9, num_envs=8,
        select_every_steps=2000, select_episodes=5,
    )  # fmt: skip
    result = train(config, run_dir, resume=True, progress=False)
    updates = [int(r["update"]) for r in read_log(run_dir)]
    assert updates == list(range(1, result.updates + 1))


def test_the_progress_bar_follows_the_time_limit_when_it_comes_first(tmp_path) -> None:
    from hubpg.reinforce import _bar_position, _Run

    config = TrainConfig.for_env("CartPole-v1", total_steps=1000, time_limit=10.0)
    run = _Run(config, tmp_path, resume=False)
    run.steps, run.wall_time = 100, 5.0
    assert _bar_position(1000, run) == 500  # half the time spent, a tenth of the steps
    run.wall_time = 0.5
    assert _bar_position(1000, run) == 100


def test_the_log_has_no_float_noise_in_the_learning_rate(tmp_path) -> None:
    config = TrainConfig.for_env(
        "CartPole-v1", total_steps=6000, target_return=1e9, num_envs=8, lr=0.01, anneal_lr=True
    )
    train(config, tmp_path / "run", progress=False)
    import csv

    with (tmp_path / "run" / "log.csv").open() as handle:
        rates = [row["lr"] for row in csv.DictReader(handle)]
    assert len(rates) > 3 and all(len(r) <= 14 for r in rates)  # 8 significant digits at most


def test_equal_weights_always_give_equal_safetensors_bytes(tmp_path) -> None:
    from hubpg.policy import save_weights

    tensors = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[8])).state_dict()
    files = set()
    for i in range(8):  # safetensors orders its metadata map at random on each call
        save_weights(tensors, tmp_path / f"m{i}.safetensors")
        files.add((tmp_path / f"m{i}.safetensors").read_bytes())
    assert len(files) == 1
