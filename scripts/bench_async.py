"""Steps per second of hubpg's training vector env, sync (one process) against async
(Gymnasium's AsyncVectorEnv: one worker process per copy), for envs without a batched
twin. Random actions, drawn beforehand; the observations and rewards are the same in
both modes (the async env steps the same copies with the same seeds).

Usage: python scripts/bench_async.py [--envs Acrobot-v1 ...] [--num-envs 16] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

from hubpg.envs import make_vec_env

ENV_IDS = ("Acrobot-v1", "Pendulum-v1", "LunarLander-v3", "InvertedPendulum-v5")


def steps_per_second(env_id: str, num_envs: int, steps: int, mode: str) -> float:
    """Env steps per second of ``steps`` vector steps in ``mode`` (sync or async)."""
    envs = make_vec_env(env_id, num_envs, mode=mode)
    try:
        envs.action_space.seed(0)
        actions = [envs.action_space.sample() for _ in range(steps)]
        envs.reset(seed=0)
        for action in actions[:5]:  # warm-up (the async workers start)
            envs.step(action)
        start = time.perf_counter()
        for action in actions:
            envs.step(action)
        return steps * num_envs / (time.perf_counter() - start)
    finally:
        envs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(ENV_IDS))
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200, help="vector steps per measurement")
    args = parser.parse_args(argv)
    print(f"{'env (steps/s)':<24}{'sync':>12}{'async':>12}{'ratio':>8}  (x{args.num_envs})")
    for env_id in args.envs:
        sync = steps_per_second(env_id, args.num_envs, args.steps, "sync")
        spread = steps_per_second(env_id, args.num_envs, args.steps, "async")
        print(f"{env_id:<24}{sync:>12,.0f}{spread:>12,.0f}{spread / sync:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
