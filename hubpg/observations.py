"""The observation pipeline: the frame history a policy sees.

A policy with ``frame_stack = F`` and ``frame_stride = S`` (see
:class:`~hubpg.config.PolicyConfig`) acts on the raw observations of frames
``t, t - S, ..., t - (F - 1) S`` side by side, newest first; at the start of an
episode the missing earlier frames repeat its first observation. With ``F = 1``
the input is the observation itself.

:class:`ObservationHistory` is the one implementation of that rule. Training,
evaluation, the replay video and :meth:`hubpg.policy.Policy.act` all feed
observations through it step by step (``reset`` at an episode's first
observation, ``push`` after every step); :meth:`ObservationHistory.stack_recorded`
applies the same rule to a stored rollout, for the gradient step.
"""

from __future__ import annotations

import numpy as np

from hubpg.errors import ConfigError

__all__ = ["ObservationHistory"]


class ObservationHistory:
    """The last ``(frames - 1) * stride + 1`` observations of ``num_envs`` episodes, in a
    ring buffer, and the stacked policy input built from them (no allocation per step).

    Args:
        frames: how many frames the policy sees (``frame_stack``).
        stride: steps between two of those frames (``frame_stride``).
        num_envs: episodes tracked side by side.
        obs_dim: size of one raw observation.
    """

    def __init__(self, frames: int, stride: int, num_envs: int, obs_dim: int) -> None:
        if frames < 1 or stride < 1 or num_envs < 1 or obs_dim < 1:
            raise ConfigError(
                f"frame history needs positive sizes (frames {frames}, stride {stride}, "
                f"envs {num_envs}, obs_dim {obs_dim})"
            )
        self.frames, self.stride = int(frames), int(stride)
        self.num_envs, self.obs_dim = int(num_envs), int(obs_dim)
        self.length = (self.frames - 1) * self.stride + 1
        self._ring = np.zeros((self.length, self.num_envs, self.obs_dim), dtype=np.float32)
        self._out = np.zeros((self.num_envs, self.frames * self.obs_dim), dtype=np.float32)
        self._head = 0  # ring slot of the newest observation
        self.started = False

    @property
    def input_dim(self) -> int:
        """Size of the stacked policy input."""
        return self.frames * self.obs_dim

    def reset(self, obs: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Start new episodes from ``obs`` (``[num_envs, obs_dim]``): every remembered
        frame becomes that first observation, for the envs marked in ``where`` (all if
        ``None``). Returns the stacked input (a buffer reused by the next call).

        Args:
            obs: the observations after the reset (one row per env).
            where: boolean mask of the envs that start a new episode.
        """
        obs = self._check(obs)
        if where is None:
            self._ring[:] = obs
            self._head = 0
            self.started = True
        elif where.any():
            self._ring[:, where] = obs[where]
        return self._stack()

    def push(self, obs: np.ndarray, new_episode: np.ndarray | None = None) -> np.ndarray:
        """Add the observations of the next step; rows marked in ``new_episode`` start a
        new episode there (as after a vector env's auto-reset). Returns the stacked input.

        Args:
            obs: the observations returned by the step (one row per env).
            new_episode: boolean mask of the envs whose ``obs`` is an episode's first.
        """
        obs = self._check(obs)
        if not self.started:
            return self.reset(obs)
        if self.length == 1:
            self._ring[0] = obs
        else:
            self._head = (self._head + 1) % self.length
            self._ring[self._head] = obs
            if new_episode is not None and new_episode.any():
                self._ring[:, new_episode] = obs[new_episode]
        return self._stack()

    def _check(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != (self.num_envs, self.obs_dim):
            raise ConfigError(
                f"expected observations of shape ({self.num_envs}, {self.obs_dim}), got {obs.shape}"
            )
        return obs

    def _stack(self) -> np.ndarray:
        d = self.obs_dim
        for k in range(self.frames):
            slot = (self._head - k * self.stride) % self.length
            self._out[:, k * d : (k + 1) * d] = self._ring[slot]
        return self._out

    def stack_recorded(
        self, raw: np.ndarray, step: np.ndarray, env: np.ndarray, time: np.ndarray
    ) -> np.ndarray:
        """The stacked inputs of stored steps: for step ``(step[j], env[j])``, ``time[j]``
        steps into its episode, frame ``k`` is ``raw[step[j] - k * stride, env[j]]``,
        or the episode's first observation where that lies before it. The same rule as
        :meth:`push`, applied to a whole rollout at once.

        Args:
            raw: raw observations, ``[T, num_envs, obs_dim]`` in step order.
            step: the step index of each wanted row.
            env: the env index of each wanted row.
            time: steps since the episode's first observation, for each wanted row.
        """
        d = self.obs_dim
        out = np.empty((step.shape[0], self.frames * d), dtype=np.float32)
        for k in range(self.frames):
            back = np.minimum(k * self.stride, time)
            out[:, k * d : (k + 1) * d] = raw[step - back, env]
        return out
