"""The observation pipeline: the frame history a policy sees.

A policy with ``frame_stack = F`` and ``frame_stride = S`` acts on the raw observations
of frames ``t, t - S, ..., t - (F - 1) S`` side by side, newest first; at the start of
an episode the missing earlier frames repeat its first observation.
:class:`ObservationHistory` is the one implementation of that rule.
"""

from __future__ import annotations

import numpy as np

from hubpg.errors import ConfigError

__all__ = ["ObservationHistory", "RunningObsStats"]


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


class RunningObsStats:
    """Running mean and variance of raw observations (per entry, in float64; the
    parallel update of Chan et al.), for ``normalize_obs``: the saved model keeps them
    frozen as its ``obs_shift`` (the mean) and ``obs_scale`` (``1 / sqrt(var + eps)``).

    Args:
        obs_dim: size of one raw observation.
        eps: added to the variance before its square root.
    """

    def __init__(self, obs_dim: int, eps: float = 1e-8) -> None:
        self.obs_dim = int(obs_dim)
        self.eps = float(eps)
        self.count = 0
        self.mean = np.zeros(self.obs_dim, dtype=np.float64)
        self.var = np.ones(self.obs_dim, dtype=np.float64)

    def update(self, obs: np.ndarray) -> None:
        """Fold a batch of raw observations (``[N, obs_dim]``) into the statistics.

        Args:
            obs: the observations.
        """
        obs = np.asarray(obs, dtype=np.float64).reshape(-1, self.obs_dim)
        n = obs.shape[0]
        if n == 0:
            return
        mean, var = obs.mean(axis=0), obs.var(axis=0)
        if self.count == 0:
            self.mean, self.var, self.count = mean, var, n
            return
        total = self.count + n
        delta = mean - self.mean
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.var = m2 / total
        self.count = total

    def shift_scale(self) -> tuple[list[float], list[float]]:
        """The frozen transform: ``obs_shift`` and ``obs_scale`` as float32 values (what
        the policy computes with), as plain lists for ``config.json``."""
        shift = self.mean.astype(np.float32)
        scale = (1.0 / np.sqrt(self.var + self.eps)).astype(np.float32)
        return [float(x) for x in shift], [float(x) for x in scale]

    def to_dict(self) -> dict[str, object]:
        """The statistics as JSON, for ``--resume`` (as hexadecimal floats: exact)."""
        return {
            "count": self.count,
            "mean": [float(x).hex() for x in self.mean],
            "var": [float(x).hex() for x in self.var],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object], obs_dim: int) -> RunningObsStats:
        """Statistics saved by :meth:`to_dict`.

        Args:
            data: the saved statistics.
            obs_dim: size of one raw observation.
        """
        stats = cls(obs_dim)
        stats.count = int(data["count"])  # type: ignore[arg-type]
        try:
            stats.mean = np.asarray([float.fromhex(x) for x in data["mean"]], dtype=np.float64)  # type: ignore[union-attr]
            stats.var = np.asarray([float.fromhex(x) for x in data["var"]], dtype=np.float64)  # type: ignore[union-attr]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"saved observation statistics are damaged ({exc})") from exc
        if stats.mean.shape != (obs_dim,) or stats.var.shape != (obs_dim,):
            raise ConfigError(f"saved observation statistics do not have {obs_dim} entries")
        return stats
