"""The rollout of REINFORCE: playing a batch over a vector env with the current policy
(whole episodes, :func:`play_round`, or segments of every sub-env,
:class:`SegmentRollout`), and the per-step returns and weights of the policy gradient:
returns-to-go as the Deep RL course computes them, or GAE advantages
(:func:`gae_advantages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hubpg.config import TrainConfig
from hubpg.policy import Policy

_EPS = float(np.finfo(np.float32).eps)

# --------------------------------------------------------------------------- math


def discounted_returns(
    rewards: np.ndarray, gamma: float, ends: np.ndarray | None = None
) -> np.ndarray:
    """Returns-to-go ``G_t = r_t + gamma * G_{t+1}`` along axis 0 (time), restarting
    after every step marked in ``ends`` (the last step of an episode).

    ``rewards`` is ``[T, N]`` (zeros where no episode of the batch is played)."""
    returns = np.empty_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in range(rewards.shape[0] - 1, -1, -1):
        if ends is not None:
            running = np.where(ends[t], 0.0, running)
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def normalize_returns(returns: np.ndarray) -> np.ndarray:
    """``(G - mean) / (std + eps)`` with the unbiased std and float32 epsilon, as the course
    does; a single return normalises to 0 (the course's formula would give NaN)."""
    values = returns.astype(np.float32)
    if values.size < 2:
        return np.zeros_like(values)
    return (values - values.mean()) / (values.std(ddof=1) + _EPS)


def time_baseline(returns: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each step, the mean return-to-go of the batch's episodes at the same time step.

    Subtracting it keeps the gradient unbiased (it does not depend on the action)
    and removes the bias of returns-to-go that fall with t in truncated episodes."""
    sums = np.bincount(times, weights=returns)
    counts = np.bincount(times)
    return (sums / np.maximum(counts, 1))[times]


def step_weights(
    returns: np.ndarray, times: np.ndarray, config: TrainConfig, values: np.ndarray | None = None
) -> np.ndarray:
    """The per-step weights of the policy gradient: returns-to-go, minus the baseline
    (``time``: if the batch has more than one episode; ``value``: ``values``, the
    value estimate of each step), normalised if asked."""
    n_episodes = int(np.count_nonzero(times == 0))
    if config.baseline == "time" and n_episodes > 1:
        returns = returns - time_baseline(returns, times)
    elif config.baseline == "value" and values is not None:
        returns = returns - values
    if config.normalize_returns:
        return normalize_returns(returns)
    return returns.astype(np.float32)


def gae_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    ends: np.ndarray,
    recorded: np.ndarray,
    gamma: float,
    lam: float,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """GAE(lambda) advantages on a ``[T, N]`` grid of steps (Schulman et al. 2016):
    ``A_t = delta_t + gamma lam A_t+1`` with ``delta_t = r_t + gamma V_t+1 - V_t``, both
    restarting after a step marked in ``ends``. Rows not ``recorded`` (an auto-reset
    step, or idling) are skipped; a sub-env whose last recorded step is not an end is
    bootstrapped with ``last_values``.

    Args:
        rewards: ``[T, N]`` rewards.
        values: ``[T, N]`` value estimates of the steps' observations.
        ends: ``[T, N]`` marks of episodes' last steps.
        recorded: ``[T, N]`` marks of the steps that belong to the batch.
        gamma: discount factor.
        lam: the GAE lambda.
        last_values: ``[N]`` values of the observations after the last row.
    """
    advantages = np.zeros(rewards.shape, dtype=np.float64)
    n = rewards.shape[1]
    next_value = np.zeros(n) if last_values is None else np.asarray(last_values, np.float64)
    next_adv = np.zeros(n)
    for t in range(rewards.shape[0] - 1, -1, -1):
        going = ~ends[t]
        delta = rewards[t] + gamma * next_value * going - values[t]
        adv = delta + gamma * lam * next_adv * going
        row = recorded[t]
        advantages[t] = np.where(row, adv, 0.0)
        next_value = np.where(row, values[t], next_value)
        next_adv = np.where(row, adv, next_adv)
    return advantages


# --------------------------------------------------------------------------- rollout


@dataclass
class Batch:
    """The steps of a batch (whole episodes, or one segment of every sub-env), flattened
    in (time, env) order.

    ``obs`` holds the policy's inputs (stacked frames, :mod:`hubpg.observations`)."""

    obs: np.ndarray
    actions: np.ndarray
    weights: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    returns: np.ndarray | None = None
    times: np.ndarray | None = None
    #: env steps the batch played (recorded steps, before ``grad_step_fraction``)
    steps: int = 0
    #: what the loss is averaged over: the whole episodes, or the sub-envs' segments
    n_rollouts: int = 1


@dataclass
class Round:
    """What :func:`play_round` returns: every recorded step, flattened in (time, env)
    order, and the per-episode totals."""

    #: action taken at each step
    actions: np.ndarray
    #: discounted return-to-go of each step
    returns: np.ndarray
    #: steps since its episode's start, for each step
    times: np.ndarray
    #: return of each episode, in the order they ended
    episode_returns: np.ndarray
    #: length of each episode, in the same order
    episode_lengths: np.ndarray
    #: builds the policy inputs (stacked frames) of the given rows (all if None)
    inputs: Any = None
    #: the time index of the time baseline, for each step (None: ``times``)
    baseline_times: np.ndarray | None = None
    #: what the loss is averaged over (None: the number of episodes)
    n_rollouts: int | None = None
    #: the ``[T, N]`` step grid: (rewards as scaled for the gradient, episode ends,
    #: recorded marks, step row and sub-env of each recorded step), for GAE
    grid: tuple[np.ndarray, ...] | None = None
    #: a segment's next policy inputs and their times in their episodes (bootstrap)
    next_inputs: np.ndarray | None = None
    next_times: np.ndarray | None = None

    @property
    def obs(self) -> np.ndarray:
        """The policy inputs of every step."""
        return self.inputs(None)


class RolloutBuffers:
    """Per-step storage of a round, ``[T, num_envs]`` arrays reused from round to round
    (grown by doubling), so a step allocates nothing of its own.

    Args:
        num_envs: sub-envs stepped together.
        obs_dim: size of one raw observation.
        action_dim: the dimensions of a box action (None: discrete actions, one index
            per step).
    """

    def __init__(self, num_envs: int, obs_dim: int, action_dim: int | None = None) -> None:
        self.num_envs, self.obs_dim = num_envs, obs_dim
        self.action_dim = action_dim
        self.capacity = 0
        self._grow(256)

    @classmethod
    def for_policy(cls, policy: Policy, num_envs: int) -> RolloutBuffers:
        """Buffers for ``num_envs`` sub-envs played by ``policy`` (its observation size
        and action kind).

        Args:
            policy: the policy that plays.
            num_envs: sub-envs stepped together.
        """
        c = policy.config
        return cls(num_envs, c.obs_dim, c.n_actions if c.is_box else None)

    def _grow(self, capacity: int) -> None:
        n, old = self.num_envs, self.capacity
        actions = (
            ((capacity, n), np.int64)
            if self.action_dim is None
            else ((capacity, n, self.action_dim), np.float32)
        )
        shapes = {
            "raw": ((capacity, n, self.obs_dim), np.float32),
            "actions": actions,
            "rewards": ((capacity, n), np.float64),
            "recorded": ((capacity, n), bool),
            "ends": ((capacity, n), bool),
            "times": ((capacity, n), np.int64),
        }
        for name, (shape, dtype) in shapes.items():
            fresh = np.zeros(shape, dtype=dtype)
            if old:
                fresh[:old] = getattr(self, name)
            setattr(self, name, fresh)
        self.capacity = capacity

    def ensure(self, t: int) -> None:
        """Make room for step index ``t``."""
        if t >= self.capacity:
            self._grow(max(2 * self.capacity, t + 1))

    def play_step(
        self,
        t: int,
        envs: Any,
        obs: np.ndarray,
        actions: np.ndarray,
        recording: np.ndarray,
        ep_step: np.ndarray,
        ep_return: np.ndarray,
        env_actions: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step ``envs`` with ``actions`` taken on ``obs`` and store it as row ``t``; the
        sub-envs in ``recording`` count the step (reward, ``ep_step``, ``ep_return``,
        updated in place). Returns the new observations and the recorded steps whose
        episode the env ended (terminated or truncated).

        Args:
            t: the row.
            envs: the vector env.
            obs: the observations the actions were taken on.
            actions: one action per sub-env.
            recording: boolean mask of the sub-envs whose step belongs to the batch.
            ep_step: steps so far of each sub-env's episode.
            ep_return: return so far of each sub-env's episode.
            env_actions: what the env is given (a box policy's clipped actions; None:
                ``actions`` themselves).
        """
        self.raw[t] = obs
        self.actions[t] = actions
        obs, reward, terminated, truncated, _ = envs.step(
            actions if env_actions is None else env_actions
        )
        recorded = self.recorded[t]
        recorded[:] = recording
        np.multiply(reward, recorded, out=self.rewards[t])
        ep_return += self.rewards[t]
        ep_step += recorded
        np.subtract(ep_step, 1, out=self.times[t])
        return obs, recorded & (terminated | truncated)


def play_round(
    policy: Policy,
    envs: Any,
    obs: np.ndarray,
    n_episodes: int,
    max_t: int,
    gamma: float,
    rng: np.random.Generator,
    *,
    buffers: RolloutBuffers | None = None,
    reward_scale: float = 1.0,
) -> Round:
    """Play ``n_episodes`` whole episodes with the current policy over the sub-envs.

    Every sub-env starts an episode from ``obs``; a sub-env whose episode ends starts
    another (after the next-step auto-reset) until ``n_episodes`` have started, and
    the round ends when all started episodes have ended (or reached ``max_t`` steps).

    Args:
        policy: acts with its current weights (numpy forward pass).
        envs: a vector env in next-step auto-reset mode.
        obs: the observations of its last reset.
        n_episodes: episodes to play.
        max_t: cap on an episode's steps.
        gamma: discount factor of the returns-to-go.
        rng: generator of the action samples.
        buffers: storage to reuse (one is made if ``None``).
        reward_scale: factor of the rewards in the returns-to-go (not in the episode
            returns reported).
    """
    n_envs = obs.shape[0]
    buf = buffers or RolloutBuffers.for_policy(policy, n_envs)
    history = policy.new_history(n_envs)
    forward = policy.numpy_forward()
    stacked = history.reset(obs)
    uniforms = np.empty(n_envs)
    active = np.arange(n_envs) < n_episodes  # playing an episode of this batch
    started = int(active.sum())
    resetting = np.zeros(n_envs, dtype=bool)  # the next step is the env's auto-reset
    ep_step = np.zeros(n_envs, dtype=np.int64)
    ep_return = np.zeros(n_envs, dtype=np.float64)
    returns: list[float] = []
    lengths: list[int] = []
    t = 0
    while active.any() or (resetting.any() and started < n_episodes):
        buf.ensure(t)
        actions = policy.choose(forward(stacked), rng, uniforms=uniforms)
        obs, natural = buf.play_step(
            t, envs, obs, actions, active, ep_step, ep_return, policy.to_env(actions)
        )
        ends = buf.ends[t]
        np.logical_and(buf.recorded[t], natural | (ep_step >= max_t), out=ends)
        returns += ep_return[ends].tolist()
        lengths += ep_step[ends].tolist()
        # a sub-env cut at max_t restarts if the vector env truncates there too
        # (make_vec_env(..., max_t=...)); otherwise it idles until the next round
        new = resetting & (started < n_episodes)
        if new.any():
            new &= np.cumsum(new) <= n_episodes - started
            started += int(new.sum())
            ep_step[new] = 0
            ep_return[new] = 0.0
        active = (active & ~ends) | new
        stacked = history.push(obs, new_episode=resetting)  # their obs starts a new game
        resetting = natural
        t += 1
    return _round_from(buf, t, history, gamma, returns, lengths, reward_scale=reward_scale)


def _round_from(
    buf: RolloutBuffers,
    t: int,
    history: Any,
    gamma: float,
    returns: list[float],
    lengths: list[int],
    start: int = 0,
    segment: bool = False,
    reward_scale: float = 1.0,
) -> Round:
    """Flatten the recorded steps of rows ``start`` to ``t`` of ``buf`` into a
    :class:`Round` (rows before ``start`` only lend earlier frames to the history).
    With ``segment``, each step's time for the baseline is its step in the segment;
    ``reward_scale`` multiplies the rewards of the returns-to-go."""
    recorded = buf.recorded[start:t]
    rewards = buf.rewards[start:t]
    if reward_scale != 1.0:
        rewards = rewards * reward_scale
    returns_to_go = discounted_returns(rewards, gamma, buf.ends[start:t])
    step_idx, env_idx = np.nonzero(recorded)
    times = buf.times[start:t][recorded]
    baseline_times = step_idx.copy() if segment else None
    step_idx += start
    raw = buf.raw[:t]

    def inputs(rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            return history.stack_recorded(raw, step_idx, env_idx, times)
        return history.stack_recorded(raw, step_idx[rows], env_idx[rows], times[rows])

    return Round(
        actions=buf.actions[start:t][recorded],
        returns=returns_to_go[recorded],
        times=times,
        episode_returns=np.asarray(returns),
        episode_lengths=np.asarray(lengths),
        inputs=inputs,
        baseline_times=baseline_times,
        grid=(rewards, buf.ends[start:t], recorded, step_idx - start, env_idx),
    )


class SegmentRollout:
    """Plays ``segment_steps`` steps on every sub-env per round, episodes carrying on
    from one round to the next (no sub-env idles while others finish).

    A round's returns-to-go stop at its last step (a truncation, like ``max_t``), and
    the ``time`` baseline compares steps at the same step of the segment. The envs are
    reset once, with ``seed``, when this is made.

    Args:
        policy: the policy being trained (its observation history is kept here).
        envs: a vector env in next-step auto-reset mode that truncates at ``max_t``.
        segment_steps: steps per sub-env per round.
        seed: seed of the envs' reset (``None``: continue their streams).
    """

    def __init__(self, policy: Policy, envs: Any, *, segment_steps: int, seed: int | None):
        self.envs = envs
        self.segment_steps = int(segment_steps)
        self.obs, _ = envs.reset(seed=seed)
        n = self.obs.shape[0]
        self.history = policy.new_history(n)
        self.stacked = self.history.reset(self.obs)
        self.carry = self.history.length - 1  # earlier frames a segment's first steps see
        self.buffers = RolloutBuffers.for_policy(policy, n)
        self.buffers.ensure(self.carry + self.segment_steps - 1)
        self.uniforms = np.empty(n)
        self.ep_step = np.zeros(n, dtype=np.int64)
        self.ep_return = np.zeros(n, dtype=np.float64)
        self.resetting = np.zeros(n, dtype=bool)  # the next step is the env's auto-reset
        self.rounds = 0

    def play(
        self, policy: Policy, gamma: float, rng: np.random.Generator, reward_scale: float = 1.0
    ) -> Round:
        """Play one segment with the current policy and return its steps.

        Args:
            policy: acts with its current weights (numpy forward pass).
            gamma: discount factor of the returns-to-go.
            rng: generator of the action samples.
            reward_scale: factor of the rewards in the returns-to-go.
        """
        buf, p, n_steps = self.buffers, self.carry, self.segment_steps
        if p and self.rounds:  # the previous segment's last frames, for the history
            buf.raw[:p] = buf.raw[n_steps : n_steps + p].copy()
        forward = policy.numpy_forward()
        envs, obs, stacked = self.envs, self.obs, self.stacked
        ep_step, ep_return, resetting = self.ep_step, self.ep_return, self.resetting
        returns: list[float] = []
        lengths: list[int] = []
        for t in range(p, p + n_steps):
            actions = policy.choose(forward(stacked), rng, uniforms=self.uniforms)
            # every sub-env plays, except on its auto-reset step
            obs, ended = buf.play_step(
                t, envs, obs, actions, ~resetting, ep_step, ep_return, policy.to_env(actions)
            )
            buf.ends[t] = ended
            if ended.any():
                done = np.flatnonzero(ended)
                returns.extend(ep_return[done].tolist())
                lengths.extend(ep_step[done].tolist())
                ep_step[done] = 0
                ep_return[done] = 0.0
            stacked = self.history.push(obs, new_episode=resetting)  # their obs starts a game
            resetting = ended
        self.obs, self.stacked, self.resetting = obs, stacked, resetting
        self.rounds += 1
        played = _round_from(
            buf,
            p + n_steps,
            self.history,
            gamma,
            returns,
            lengths,
            start=p,
            segment=True,
            reward_scale=reward_scale,
        )
        played.n_rollouts = self.envs.num_envs
        played.next_inputs = stacked.copy()
        played.next_times = ep_step.copy()
        return played


def collect_segment(
    policy: Policy,
    rollout: SegmentRollout,
    config: TrainConfig,
    rng: np.random.Generator,
    grad_rng: np.random.Generator | None = None,
    *,
    value: Any = None,
) -> Batch:
    """Play one segment of ``config.segment_steps`` steps per sub-env (see
    :class:`SegmentRollout`) and make it a batch, as :func:`collect_batch` does.

    Args:
        policy: the current policy.
        rollout: the segment player, which keeps the envs' episodes between rounds.
        config: the run's hyperparameters.
        rng: generator of the action samples.
        grad_rng: generator of the kept steps (needed with ``grad_step_fraction < 1``).
        value: the value baseline, for ``gae_lambda`` (its ``predict(obs, times)``).
    """
    played = rollout.play(policy, config.gamma, rng, config.reward_scale)
    return _batch_from(played, config, grad_rng, value)


def collect_batch(
    policy: Policy,
    envs: Any,
    config: TrainConfig,
    rng: np.random.Generator,
    first_seed: int | None,
    buffers: RolloutBuffers | None = None,
    grad_rng: np.random.Generator | None = None,
    *,
    value: Any = None,
) -> Batch:
    """Play ``episodes_per_update`` episodes over the ``num_envs`` sub-envs.

    With ``grad_step_fraction < 1`` the batch keeps that share of the steps (drawn
    with ``grad_rng`` after the weights were computed on all of them), their weights
    divided by the share: an unbiased estimate of the full batch's gradient.

    Args:
        policy: the current policy.
        envs: the training vector env (reset here, with ``first_seed``).
        config: the run's hyperparameters.
        rng: generator of the action samples.
        first_seed: seed of the reset (``None``: continue the envs' streams).
        buffers: rollout storage to reuse.
        grad_rng: generator of the kept steps (needed with ``grad_step_fraction < 1``).
        value: the value baseline, for ``gae_lambda`` (its ``predict(obs, times)``).
    """
    obs, _ = envs.reset(seed=first_seed)
    played = play_round(
        policy,
        envs,
        obs,
        config.episodes_per_update,
        config.max_t,
        config.gamma,
        rng,
        buffers=buffers,
        reward_scale=config.reward_scale,
    )
    return _batch_from(played, config, grad_rng, value)


def _batch_from(
    played: Round, config: TrainConfig, grad_rng: np.random.Generator | None, value: Any = None
) -> Batch:
    """The gradient's batch of a round: per-step weights (with ``value`` and
    ``gae_lambda``, GAE advantages, and the lambda-returns as the value net's targets),
    and with ``grad_step_fraction < 1`` the kept share of the steps."""
    baseline_times = played.times if played.baseline_times is None else played.baseline_times
    weights = (
        step_weights(played.returns, baseline_times, config) if config.baseline != "value" else None
    )
    if value is not None and config.gae_lambda is not None:
        weights, played.returns = _gae_weights(played, config, value)
    rows = None
    fraction = config.grad_step_fraction
    if fraction < 1.0 and grad_rng is not None and played.actions.size > 1:
        rows = np.flatnonzero(grad_rng.random(played.actions.size) < fraction)
        if weights is not None:
            weights = weights[rows] / np.float32(fraction)
    pick = (lambda x: x) if rows is None else (lambda x: x[rows])
    return Batch(
        played.inputs(rows),
        pick(played.actions),
        weights,
        played.episode_returns,
        played.episode_lengths,
        pick(played.returns),
        pick(played.times),
        steps=int(played.actions.size),
        n_rollouts=(
            played.n_rollouts if played.n_rollouts is not None else len(played.episode_returns)
        ),
    )


def _gae_weights(played: Round, config: TrainConfig, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """The GAE(``config.gae_lambda``) weights of a round's steps (normalised if asked)
    and their lambda-returns (advantage plus value: the value net's targets)."""
    rewards, ends, recorded, rows, envs = played.grid
    values = value.predict(played.obs, played.times)
    grid = np.zeros(rewards.shape, dtype=np.float64)
    grid[rows, envs] = values
    last = None
    if played.next_inputs is not None:
        last = value.predict(played.next_inputs, played.next_times)
    advantages = gae_advantages(
        rewards, grid, ends, recorded, config.gamma, config.gae_lambda, last
    )[rows, envs]
    weights = (
        normalize_returns(advantages) if config.normalize_returns else advantages.astype(np.float32)
    )
    return weights, advantages + values
