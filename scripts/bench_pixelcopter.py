"""Benchmark: the default Pixelcopter-PLE-v0 recipe as a user runs it, scored as issue 15 asks.

For each seed: ``hubpg train Pixelcopter-PLE-v0 --seed S`` (the defaults: a budget in env
steps, so the same seed gives the same model on any machine), then ``hubpg evaluate RUN --episodes 100 --max-t 10000`` (sampled actions,
seeds 0..99). Prints each seed's training time, steps, evaluation and mean - std, and how
many seeds reach the target. ``--jobs 2`` trains two seeds at a time (one core each).

Usage: python scripts/bench_pixelcopter.py [--seeds 1 2 3] [--jobs 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TARGET = 150.0


def hubpg(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "hubpg.cli", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"hubpg {args[0]} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def one_seed(seed: int, root: Path, total_steps: int | None = None, episodes: int = 100) -> dict:
    run = root / f"Pixelcopter-s{seed}"
    budget = ["--total-steps", str(total_steps)] if total_steps else []  # tiny mode
    start = time.perf_counter()
    trained = hubpg(
        "train", "Pixelcopter-PLE-v0", "--seed", str(seed), "--out", str(run), "--overwrite",
        "--eval-episodes", "0", "--quiet", *budget,
    )  # fmt: skip
    wall = time.perf_counter() - start
    evaluation = hubpg(
        "evaluate", str(run), "--episodes", str(episodes), "--max-t", "10000", "--quiet"
    )
    state = json.loads((run / "trainer_state.json").read_text())
    return {
        "seed": seed,
        "train_seconds": trained["train_seconds"],
        "command_seconds": round(wall, 1),
        "steps": trained["steps"],
        "mean": evaluation["mean_reward"],
        "std": evaluation["std_reward"],
        "score": evaluation["mean_reward"] - evaluation["std_reward"],
        "selected": state.get("selected_checkpoint"),
        "stopped_on": state.get("stopped_on"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="Keep the runs here.")
    parser.add_argument(
        "--total-steps", type=int, default=None, help="Training budget (default: the recipe's)."
    )
    parser.add_argument("--episodes", type=int, default=100, help="Evaluation episodes.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(
                pool.map(lambda s: one_seed(s, root, args.total_steps, args.episodes), args.seeds)
            )
    for row in rows:
        print(
            f"seed {row['seed']}: trained {row['train_seconds']:.0f} s ({row['steps']:,} steps), "
            f"evaluate: {row['mean']:.2f} +/- {row['std']:.2f}, mean - std {row['score']:.1f}",
            flush=True,
        )
    passed = sum(row["score"] >= TARGET for row in rows)
    print(f"mean - std >= {TARGET:g}: {passed}/{len(rows)} seeds")


if __name__ == "__main__":
    main()
