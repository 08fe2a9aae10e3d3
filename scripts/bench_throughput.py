"""Benchmark: training env steps/s against the raw PixelcopterVectorEnv, in one run.

Measures, alternately so that a busy machine affects both alike:

* raw: ``PixelcopterVectorEnv`` with ``--raw-envs`` sub-envs (1,024) and random
  actions (pre-drawn), next-step auto-reset, nothing else;
* train: ``hubpg.reinforce.train`` with the Pixelcopter defaults for ``--steps``
  env steps (no model selection, so only rollout and gradient steps are timed).
  ``--from RUN`` continues a copy of that run folder instead of starting fresh,
  which measures the late phase of training, when episodes are long.

Prints both rates and their ratio (issue 15's target: at least 40%).

Usage: python scripts/bench_throughput.py [--steps 3000000] [--from RUN] [--rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hubpg.config import TrainConfig
from hubpg.envs.pixelcopter import PixelcopterVectorEnv
from hubpg.reinforce import resume_config, train
from hubpg.runfolder import HYPERPARAMETERS_NAME, read_json, write_json


def raw_rate(num_envs: int, seconds: float) -> float:
    """Env steps/s of the raw vector env with random actions."""
    envs = PixelcopterVectorEnv(num_envs=num_envs)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, (128, num_envs))
    for a in actions[:8]:
        envs.step(a)
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for a in actions:
            envs.step(a)
        steps += actions.size
    return steps / elapsed


def train_rate(steps: int, source: Path | None, tmp: Path, index: int) -> float:
    """Env steps/s of training (recorded steps over training wall time)."""
    out = tmp / f"run{index}"
    if source is None:
        config = TrainConfig.for_env("Pixelcopter-PLE-v0", total_steps=steps)
        resume = False
    else:
        shutil.copytree(source, out)
        record = read_json(out / HYPERPARAMETERS_NAME)  # a resumed run keeps its settings:
        record["select_every_steps"] = None  # no model selection in the copy
        write_json(out / HYPERPARAMETERS_NAME, record)
        done = int(read_json(out / "trainer_state.json")["steps"])
        config = resume_config(out, total_steps=done + steps)
        resume = True
    config = dataclasses.replace(config, select_every_steps=None, time_limit=None)
    before = read_json(out / "trainer_state.json") if resume else {"steps": 0, "wall_time": 0}
    result = train(config, out, overwrite=not resume, resume=resume, progress=False)
    return (result.steps - before["steps"]) / (result.wall_time - before["wall_time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000_000, help="training steps per round")
    parser.add_argument("--raw-envs", type=int, default=1024)
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--from", dest="source", type=Path, default=None)
    args = parser.parse_args()
    raws, trains = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            raws.append(raw_rate(args.raw_envs, args.raw_seconds))
            trains.append(train_rate(args.steps, args.source, Path(tmp), i))
            print(f"round {i + 1}: raw {raws[-1]:,.0f} steps/s, train {trains[-1]:,.0f} steps/s")
    raw, trained = statistics.median(raws), statistics.median(trains)
    print(
        f"raw PixelcopterVectorEnv x{args.raw_envs} (random actions): {raw:,.0f} steps/s; "
        f"training ({'from ' + str(args.source) if args.source else 'fresh'}): "
        f"{trained:,.0f} steps/s; ratio {trained / raw:.0%}"
    )


if __name__ == "__main__":
    main()
