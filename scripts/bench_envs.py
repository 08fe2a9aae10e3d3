"""Steps per second of Pixelcopter-PLE-v0 and CartPole-v1, single and vectorised.

Random actions, pre-generated so that the random number generator is not what is
measured. The single env is made with ``gymnasium.make`` (with its default wrappers)
and reset whenever an episode ends; vector envs are made with
``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` and reset
themselves (next-step autoreset).

Usage: python scripts/bench_envs.py [--seconds 2] [--envs 1,64,1024]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import hubpg  # noqa: F401  (registers Pixelcopter-PLE-v0)
import hubpg.envs  # noqa: F401

ENV_IDS = ("Pixelcopter-PLE-v0", "CartPole-v1")


def bench_single(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, 100_000).tolist()
    steps, start = 0, time.perf_counter()
    while True:
        for a in actions[:10_000]:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        steps += 10_000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            env.close()
            return steps / elapsed


def bench_vector(env_id: str, num_envs: int, seconds: float) -> float:
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, (256, num_envs))
    for a in actions[:8]:  # warm-up
        envs.step(a)
    steps, start = 0, time.perf_counter()
    while True:
        for a in actions:
            envs.step(a)
        steps += len(actions) * num_envs
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            envs.close()
            return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--envs", default="1,64,1024", help="vector sizes, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.envs.split(",")]
    columns = ["single"] + [f"vec x{n}" for n in sizes]
    print(f"{'env (steps/s)':<22}" + "".join(f"{c:>14}" for c in columns))
    for env_id in ENV_IDS:
        row = [bench_single(env_id, args.seconds)]
        row += [bench_vector(env_id, n, args.seconds) for n in sizes]
        print(f"{env_id:<22}" + "".join(f"{v:>14,.0f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
