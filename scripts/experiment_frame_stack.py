"""Experiment (not part of hubpg's recipe yet): Pixelcopter with the observations of
frames t, t-2, t-4 and t-6 side by side, trained with the default recipe.

Why: about three quarters of the default policy's block deaths happen after the
observation has switched to the next gate (the block just passed still overlaps the
copter for about 5 frames at 0.64 px per frame), so the policy cannot see what it
hits. Earlier frames still show that block. This script registers a temporary env
id for the stacked observation, trains on it for ``--seconds`` and evaluates as
issue 6 does (100 episodes, seeds 0..99, sampled actions, max_t 10000) on the same
games as Pixelcopter-PLE-v0's seeds. Making it the default needs a ``frame_stack``
in PolicyConfig kept by every consumer (evaluate, replay video, leaderboard,
load-and-eval); see the closing note of the second session.

Usage: python scripts/experiment_frame_stack.py --seed 1 --seconds 840 [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from hubpg.config import ENV_DEFAULTS, TrainConfig
from hubpg.envs.pixelcopter import PixelcopterVectorEnv
from hubpg.evaluation import evaluate
from hubpg.reinforce import train
from hubpg.runfolder import read_log

ENV_ID = "PixelcopterFrameStack-v0"
HISTORY, PICK = 7, [0, 2, 4, 6]  # frames kept, and which of them the policy sees
OBS_DIM = 7 * len(PICK)


class FrameStackVectorEnv(VectorEnv):
    """Pixelcopter's vector env whose observation is frames t, t-2, t-4, t-6; a new game
    starts with its first frame repeated."""

    metadata = PixelcopterVectorEnv.metadata

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None) -> None:
        self.inner = PixelcopterVectorEnv(num_envs=num_envs, max_episode_steps=max_episode_steps)
        self.num_envs = num_envs
        self.single_action_space = spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.history = np.zeros((num_envs, HISTORY, 7), np.float32)
        self.restarting = np.zeros(num_envs, bool)

    def _stacked(self) -> np.ndarray:
        return self.history[:, PICK, :].reshape(self.num_envs, -1).copy()

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict]:
        obs, info = self.inner.reset(seed=seed)
        self.history[:] = obs[:, None, :]
        self.restarting[:] = False
        return self._stacked(), info

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, terminated, truncated, info = self.inner.step(actions)
        self.history = np.roll(self.history, 1, axis=1)
        self.history[:, 0] = obs
        if self.restarting.any():  # next-step autoreset: this obs starts a new game
            self.history[self.restarting] = obs[self.restarting][:, None, :]
        self.restarting = terminated | truncated
        return self._stacked(), reward, terminated, truncated, info


class FrameStackEnv(gym.Env):
    """One game of :class:`FrameStackVectorEnv` (for env_dims and single-env use)."""

    observation_space = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self) -> None:
        self.envs = FrameStackVectorEnv(1)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        obs, info = self.envs.reset(seed=None if seed is None else [seed])
        return obs[0], info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.envs.step(np.array([action]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=840)
    parser.add_argument("--out", type=Path, default=None, help="Keep the run folder here.")
    args = parser.parse_args()
    gym.register(ENV_ID, entry_point=FrameStackEnv, vector_entry_point=FrameStackVectorEnv)
    options = dict(ENV_DEFAULTS["Pixelcopter-PLE-v0"])
    options["obs_shift"] = options["obs_shift"] * len(PICK)
    options["obs_scale"] = options["obs_scale"] * len(PICK)
    options.update(seed=args.seed, time_limit=args.seconds, total_steps=10**12)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "run"
        result = train(TrainConfig.for_env(ENV_ID, **options), out, overwrite=True, progress=False)
        ev = evaluate(out, episodes=100, seed=0, max_t=10_000)
        curve = [(int(r["steps"]), round(r["mean_return"], 1)) for r in read_log(out)]
    print(
        f"seed {args.seed}: {result.wall_time:.0f} s, {result.steps:,} steps, "
        f"evaluate {ev.summary()}, mean - std {ev.score:.1f}"
    )
    print(json.dumps({"curve": curve[:: max(1, len(curve) // 10)] + curve[-1:]}))


if __name__ == "__main__":
    main()
