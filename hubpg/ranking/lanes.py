"""Many models' evaluations played together, each exactly as :func:`hubpg.evaluation.evaluate`
plays it alone.

:class:`Lanes` keeps one vector env of ``lanes x n`` sub-envs: each lane of ``n`` sub-envs
plays one model's episodes from their seeds, and takes the next model when they have all
ended. What one model sees is unchanged, number for number:

- its sub-envs are reset one by one as a single env reset with each seed, and every env
  step is computed element by element;
- its forward pass is :class:`~hubpg.policy.NumpyForward`'s arithmetic: the element-wise
  steps over the whole batch, each layer's products as one ``torch.baddbmm`` whose lane
  slices equal the model's own ``torch.addmm`` (:func:`batched_products_exact` checks it
  once per layer shape; where they would differ, each lane runs its own ``addmm``);
- the uniforms of its step ``t`` are row ``t`` of ``default_rng(seed).random((max_t, n))``,
  what ``rng.random(n)`` returns at its ``t``-th call.

Models :func:`batch_key` refuses are evaluated one at a time by the caller.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any

import numpy as np
import torch

from hubpg.evaluation import MAX_PARALLEL_EPISODES
from hubpg.policy import activate_in_place, softmax_rows
from hubpg.results import Evaluated

#: Sub-envs of one :class:`Lanes` at most (lanes x episodes).
MAX_SLOTS = 4096
#: Rows of the uniform table drawn at a time.
_U_BLOCK = 256
#: Lanes of the probe :func:`batched_products_exact` compares.
_PROBE_LANES = 8
_CARTPOLE_VECTOR = "gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv"
_PIXELCOPTER_VECTOR = "hubpg.envs.pixelcopter:PixelcopterVectorEnv"


def batch_key(policy: Any, env_id: str, episodes: int) -> Hashable | None:
    """What models must share to be played together (the network's shape, the env,
    the episode count), or None when this policy is evaluated on its own.

    Args:
        policy: a :class:`~hubpg.policy.Policy`.
        env_id: the env it is evaluated on.
        episodes: episodes per model.
    """
    from hubpg.policy import Policy

    if not isinstance(policy, Policy) or episodes > MAX_PARALLEL_EPISODES:
        return None
    c = policy.config
    if c.frame_stack != 1 or c.env_id != env_id or _slot_kind(env_id) is None:
        return None
    forward = policy.numpy_forward()
    if not forward.native:
        return None
    shapes = tuple(tuple(w.shape) for w, _ in forward.layers)
    return (env_id, episodes, c.obs_dim, c.n_actions, forward.tanh, shapes)


def _slot_kind(env_id: str) -> str | None:
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    from hubpg.envs import check_env_id

    entry = check_env_id(env_id).vector_entry_point
    if entry is CartPoleVectorEnv or entry == _CARTPOLE_VECTOR:
        return "cartpole"
    if entry == _PIXELCOPTER_VECTOR:
        return "pixelcopter"
    return None


@functools.cache
def batched_products_exact(rows: int, shapes: tuple[tuple[int, int], ...]) -> bool:
    """Whether ``torch.baddbmm`` over stacked weights gives, slice by slice, exactly what
    ``torch.addmm`` gives each model alone (with the transposed view of its ``nn.Linear``
    weight, as :class:`~hubpg.policy.NumpyForward` passes it: the layout changes the
    rounding), for layers of these ``(out, in)`` weight shapes on ``rows`` rows (checked
    on random numbers once per process and shape).

    Args:
        rows: rows of each model's batch (its episodes).
        shapes: each layer's ``nn.Linear`` weight shape, ``(out, in)``.
    """
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for fan_out, fan_in in shapes:
            x = torch.randn(_PROBE_LANES, rows, fan_in, generator=generator) * 3
            w = torch.randn(_PROBE_LANES, fan_out, fan_in, generator=generator)
            b = torch.randn(_PROBE_LANES, 1, fan_out, generator=generator)
            alone = [torch.addmm(b[k, 0], x[k], w[k].T) for k in range(_PROBE_LANES)]
            if not torch.equal(torch.baddbmm(b, x, w.transpose(1, 2)), torch.stack(alone)):
                return False
    return True


class _SlotReset:
    """Resets some sub-envs of a vector env to a single env's reset with given seeds
    (as :func:`hubpg.envs.reset_with_seeds` resets all of them), without touching the
    others. Known for CartPole-v1's and Pixelcopter's vector envs."""

    def __init__(self, envs: Any, kind: str, seeds: list[int]) -> None:
        self.base = envs.unwrapped
        self.kind = kind
        if kind == "cartpole":
            # CartPoleEnv.reset(seed=s) draws its start state so (hubpg.envs.reset_with_seeds)
            starts = [np.random.default_rng(s).uniform(-0.05, 0.05, size=(4,)) for s in seeds]
            self.starts = np.stack(starts, axis=1)

    def __call__(self, slots: slice, seeds: list[int]) -> np.ndarray:
        """Reset the sub-envs ``slots`` with ``seeds``; returns their first observations."""
        base = self.base
        if self.kind == "cartpole":
            base.state[:, slots] = self.starts
            base.steps[slots] = 0
            base.prev_done[slots] = False  # no auto-reset on the next step
            return base.state[:, slots].T.astype(np.float32)
        idx = np.arange(slots.start, slots.stop, dtype=np.int64)
        # PixelcopterVectorEnv.reset(seed=[...]) for these rows only: seed, one game
        # drawn and thrown away (as the original's seed()), then the game played.
        base._mt.seed(idx, seeds)
        base._init_games(idx)
        base._init_games(idx)
        base._done[idx] = False
        base._elapsed[idx] = 0
        return base._observe()[slots]


class Lanes:
    """Plays the evaluations of models that share a :func:`batch_key`, ``lanes`` at a time.

    :meth:`add` queues a model; :meth:`step` plays one env step of every lane and
    returns the models whose evaluation ended, with their :class:`Evaluated`. Step it
    under :func:`~hubpg.policy.small_model_threads` (as :func:`evaluate_many` and the
    leaderboard do): torch's threads would split each small batched product.

    Args:
        env_id: the env.
        episodes: episodes per model (episode k seeded ``seed + k``).
        seed: the first seed, and the seed of the action sampling.
        deterministic: argmax actions instead of sampled ones.
        max_t: the episode cap.
        lanes: models played at once (default: as many as fit :data:`MAX_SLOTS`).
    """

    def __init__(
        self,
        env_id: str,
        *,
        episodes: int,
        seed: int,
        deterministic: bool,
        max_t: int,
        lanes: int | None = None,
    ) -> None:
        self.env_id, self.n, self.seed = env_id, int(episodes), int(seed)
        self.deterministic, self.max_t = deterministic, int(max_t)
        self.lanes = max(1, lanes or MAX_SLOTS // self.n)
        self.seeds = [self.seed + k for k in range(self.n)]
        self.queue: list[tuple[Any, Any]] = []
        self.models: list[Any] = [None] * self.lanes  # (tag, policy, forward) per lane
        self.envs: Any = None
        self._u = np.empty((0, self.n))
        self._rng = np.random.default_rng(self.seed)

    def add(self, tag: Any, policy: Any) -> None:
        """Queue ``policy``'s evaluation; ``tag`` comes back with its result."""
        self.queue.append((tag, policy))

    @property
    def busy(self) -> bool:
        """Whether a model is queued or being played."""
        return bool(self.queue) or any(m is not None for m in self.models)

    def close(self) -> None:
        """Close the vector env."""
        if self.envs is not None:
            self.envs.close()
            self.envs = None

    def _start(self, policy: Any) -> None:
        from hubpg.envs import make_vec_env, reset_with_seeds

        slots = self.n * self.lanes
        self.envs = make_vec_env(self.env_id, slots)
        self.obs = np.array(reset_with_seeds(self.envs, self.seeds * self.lanes), np.float32)
        self.reset_slots = _SlotReset(self.envs, _slot_kind(self.env_id) or "", self.seeds)
        # Pixelcopter's vector env (hubpg's own) steps chosen sub-envs alone: a lane
        # waits for its longest episode, and the finished ones are not stepped meanwhile
        self.base = self.envs.unwrapped
        self.by_rows = hasattr(self.base, "step_rows")
        forward = policy.numpy_forward()
        widths = [policy.config.obs_dim] + [b.shape[0] for _, b in forward.layers]
        self.bufs = [np.zeros((slots, w), dtype=np.float32) for w in widths]
        n, lanes = self.n, self.lanes
        # every buffer as [lane, episode, width] (views made once, not per step)
        self.stacked = [torch.from_numpy(b).view(lanes, n, -1) for b in self.bufs]
        # each lane's nn.Linear weights [out, in], used transposed as NumpyForward does
        self.weights = [torch.zeros(lanes, *w.T.shape) for w, _ in forward.layers]
        self.weights_t = [w.transpose(1, 2) for w in self.weights]  # [lane, in, out] views
        self.biases = [torch.zeros(lanes, 1, b.shape[0]) for _, b in forward.layers]
        shapes = tuple(tuple(int(d) for d in w.T.shape) for w, _ in forward.layers)
        self.batched = batched_products_exact(n, shapes)
        self.shift = np.zeros((slots, widths[0]), dtype=np.float32)
        self.scale = np.ones((slots, widths[0]), dtype=np.float32)
        self.clip = np.full((slots, 1), np.inf, dtype=np.float32)  # inf: no clip
        self.clipped = False
        self.tanh = forward.tanh
        self.returns = np.zeros(slots, dtype=np.float64)
        self.lengths = np.zeros(slots, dtype=np.int64)
        self.running = np.zeros(slots, dtype=bool)
        self.t = np.zeros(self.lanes, dtype=np.int64)
        self.fresh = np.ones(self.lanes, dtype=bool)  # lanes whose sub-envs are as reset

    def _load(self, lane: int, tag: Any, policy: Any) -> None:
        n = self.n
        rows = slice(lane * n, (lane + 1) * n)
        if not self.fresh[lane]:
            self.obs[rows] = self.reset_slots(rows, self.seeds)
        self.fresh[lane] = False
        forward = policy.numpy_forward()
        with torch.no_grad():
            for i, (w, b) in enumerate(forward.layers):
                self.weights[i][lane].copy_(w.T)
                self.biases[i][lane, 0].copy_(b)
        self.shift[rows] = forward.shift
        self.scale[rows] = forward.scale
        self.clip[rows] = np.inf if forward.clip is None else forward.clip
        self.clipped = bool(np.isfinite(self.clip).any())
        self.models[lane] = (tag, policy, forward)
        self.returns[rows] = 0.0
        self.lengths[rows] = 0
        self.running[rows] = True
        self.t[lane] = 0

    def _fill(self) -> None:
        for lane in range(self.lanes):
            if not self.queue:
                return
            if self.models[lane] is None:
                tag, policy = self.queue.pop(0)
                if self.envs is None:
                    self._start(policy)
                self._load(lane, tag, policy)

    def _uniforms(self, t: np.ndarray) -> np.ndarray:
        """Row ``t`` of the uniform table for each lane (drawn in blocks as needed)."""
        need = int(t.max()) + 1
        while self._u.shape[0] < need:
            self._u = np.concatenate([self._u, self._rng.random((_U_BLOCK, self.n))])
        return self._u[t].reshape(-1)

    def _forward(self, active: list[int]) -> np.ndarray:
        """Action probabilities of every sub-env (lanes not in ``active``: whatever)."""
        bufs, stacked = self.bufs, self.stacked
        h = bufs[0]
        np.subtract(self.obs, self.shift, out=h)
        h *= self.scale
        if self.clipped:
            np.clip(h, -self.clip, self.clip, out=h)
        last = len(bufs) - 2
        addmm = torch.addmm
        with torch.no_grad():
            for i in range(last + 1):
                weights = self.weights_t[i]
                if self.batched:  # idle lanes compute numbers nobody reads
                    torch.baddbmm(self.biases[i], stacked[i], weights, out=stacked[i + 1])
                else:
                    for lane in active:
                        addmm(
                            self.biases[i][lane, 0],
                            stacked[i][lane],
                            weights[lane],
                            out=stacked[i + 1][lane],
                        )
                if i < last:
                    activate_in_place(bufs[i + 1], tanh=self.tanh)
        return softmax_rows(bufs[-1])

    def _actions(self, probs: np.ndarray) -> np.ndarray:
        if self.deterministic:
            return probs.argmax(axis=-1)
        u = self._uniforms(self.t)
        if probs.shape[1] == 2:  # hubpg.policy.sample_categorical, row by row
            return (u * (probs[:, 0] + probs[:, 1]) >= probs[:, 0]).astype(np.int64)
        cdf = np.cumsum(probs, axis=-1)
        return np.minimum((u[:, None] * cdf[:, -1:] >= cdf).sum(axis=-1), probs.shape[-1] - 1)

    def step(self) -> list[tuple[Any, Evaluated]]:
        """Fill the free lanes from the queue, play one step of every lane, and return
        ``(tag, result)`` of each model whose evaluation ended."""
        self._fill()
        active = [lane for lane, m in enumerate(self.models) if m is not None]
        if not active:
            return []
        actions = self._actions(self._forward(active))
        running = self.running
        if self.by_rows:  # only the games still running are stepped
            rows = np.flatnonzero(running)
            obs, reward, terminated, truncated, _ = self.base.step_rows(actions[rows], rows)
            self.obs[rows] = obs
            self.returns[rows] += reward
            self.lengths[rows] += 1
            running[rows] = ~(terminated | truncated)
        else:
            obs, reward, terminated, truncated, _ = self.envs.step(actions)
            self.obs = np.asarray(obs, dtype=np.float32)
            self.returns += np.where(running, reward, 0.0)
            self.lengths += running
            running &= ~(terminated | truncated)
        self.t[active] += 1
        self.fresh[:] = False
        n, done = self.n, []
        lanes_running = running.reshape(self.lanes, n).any(axis=1)
        ended = ~lanes_running | (self.t >= self.max_t)
        for lane in active:
            if not ended[lane]:
                continue
            rows = slice(lane * n, (lane + 1) * n)
            done.append((self.models[lane][0], self._result(rows)))
            self.models[lane] = None
            running[rows] = False
            self.t[lane] = 0
        return done

    def _result(self, rows: slice) -> Evaluated:
        returns = [float(x) for x in self.returns[rows]]
        values = np.asarray(returns, dtype=np.float64)
        return Evaluated(
            env_id=self.env_id,
            mean_reward=float(values.mean()),
            std_reward=float(values.std()),
            n_episodes=self.n,
            episode_returns=returns,
            episode_lengths=[int(x) for x in self.lengths[rows]],
            seeds=list(self.seeds),
            deterministic=self.deterministic,
            max_t=self.max_t,
        )


def evaluate_many(
    policies: list[Any],
    env_id: str,
    *,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
) -> list[Evaluated]:
    """The evaluation of each policy, equal to :func:`hubpg.evaluation.evaluate` of it
    alone; policies that share a :func:`batch_key` are played together.

    Args:
        policies: :class:`~hubpg.policy.Policy` objects.
        env_id: the env.
        episodes: episodes per policy (episode k seeded ``seed + k``).
        seed: the first seed, and the sampling seed.
        deterministic: argmax actions instead of sampled ones.
        max_t: the episode cap (default: the env's evaluation cap).
    """
    from hubpg.config import evaluation_max_t
    from hubpg.evaluation import evaluate
    from hubpg.policy import small_model_threads

    max_t = evaluation_max_t(env_id) if max_t is None else int(max_t)
    results: list[Evaluated | None] = [None] * len(policies)
    groups: dict[Hashable, Lanes] = {}
    with small_model_threads():
        for i, policy in enumerate(policies):
            key = batch_key(policy, env_id, episodes)
            if key is None:
                results[i] = evaluate(
                    policy, env_id, episodes, seed, deterministic=deterministic, max_t=max_t
                )
                continue
            if key not in groups:
                groups[key] = Lanes(
                    env_id, episodes=episodes, seed=seed, deterministic=deterministic, max_t=max_t
                )
            groups[key].add(i, policy)
        for lanes in groups.values():
            try:
                while lanes.busy:
                    for i, result in lanes.step():
                        results[i] = result
            finally:
                lanes.close()
    return [r for r in results if r is not None]


__all__ = ["MAX_SLOTS", "Lanes", "batch_key", "evaluate_many"]
