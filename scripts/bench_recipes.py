"""Benchmark: hubpg's tuned recipes (``ENV_DEFAULTS``) for the given envs and seeds.

For each env and seed it runs ``hubpg train ENV --seed S`` as a whole command (the
env's defaults, budgets in steps: the same seed gives the same model) and prints the
env steps, the training wall time, the final evaluation (100 episodes, seeds 0..99,
sampled actions) and its mean - std, against the recipe's target. Run folders (with
their ``log.csv`` learning curves) are kept under ``--out``.

On a shared machine run it on one core: ``taskset -c 1 python scripts/bench_recipes.py``.

Usage: python scripts/bench_recipes.py [--envs Acrobot-v1 ...] [--seeds 1 2 3]
       [--out runs/recipes] [--total-steps N (a shorter budget, for a smoke run)]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

#: The recipes and their targets for mean - std over 100 sampled episodes (issue 27).
TARGETS = {
    "InvertedPendulum-v5": 950.0,
    "Pendulum-v1": -260.0,
    "LunarLander-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "Acrobot-v1": -100.0,
}


def run_recipe(env_id: str, seed: int, out: Path, total_steps: int | None) -> dict:
    """``hubpg train ENV --seed S`` with the env's defaults; returns its figures."""
    run_dir = out / f"{env_id}-s{seed}"
    command = [
        sys.executable,
        "-m",
        "hubpg.cli",
        "train",
        env_id,
        "--seed",
        str(seed),
        "--out",
        str(run_dir),
        "--overwrite",
        "--json",
        "--quiet",
    ]
    if total_steps is not None:
        command += ["--total-steps", str(total_steps)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"hubpg train {env_id} --seed {seed} failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    ev = report["evaluation"]
    return {
        "env_id": env_id,
        "seed": seed,
        "steps": report["steps"],
        "train_s": report["train_seconds"],
        "command_s": wall,
        "mean": ev["mean_reward"],
        "std": ev["std_reward"],
        "score": ev["mean_reward"] - ev["std_reward"],
        "run_dir": str(run_dir),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(TARGETS), help="env ids")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=Path("runs/recipes"))
    parser.add_argument("--total-steps", type=int, default=None, help="override the budget")
    args = parser.parse_args(argv)
    for env_id in args.envs:
        target = TARGETS.get(env_id)
        for seed in args.seeds:
            row = run_recipe(env_id, seed, args.out, args.total_steps)
            verdict = (
                "" if target is None else (" (meets" if row["score"] >= target else " (misses")
            )
            verdict += "" if target is None else f" the target {target:g})"
            print(
                f"{env_id} seed {seed}: {row['steps']:,} steps, {row['train_s']:.0f} s training "
                f"({row['command_s']:.0f} s command), {row['mean']:.2f} +/- {row['std']:.2f}, "
                f"mean - std {row['score']:.2f}{verdict}; curve {row['run_dir']}/log.csv",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
