"""How the Pixelcopter-PLE-v0 defaults were chosen: train a few recipes for a fixed
budget of env steps each (the same result on any machine) and evaluate every result
as the issue measures it (100 episodes, sampled actions, max_t 10000).

Each variant is a set of overrides on ``hubpg.config.ENV_DEFAULTS["Pixelcopter-PLE-v0"]``.
Usage:
    python scripts/sweep_pixelcopter.py                      # the built-in variants, 30M steps each
    python scripts/sweep_pixelcopter.py --steps 5000000 --only no-frame-stack default
    python scripts/sweep_pixelcopter.py --seeds 1 2 3 --only default --steps 120000000

Rows measured so far (mean - std over 100 episodes, seeds 0-99, sampled, max_t 10000;
machine speed as the CartPole course-loop steps/s of ``scripts/bench_train.py``):

* earlier sessions, 14 min of wall time each, on a machine at ~2,070 CartPole steps/s
  and 260k Pixelcopter training steps/s (about 200M steps): the old default (128 envs,
  no frame stack) scored 77.7 / 84.4 / 73.8 / 87.0 (seeds 1-4) and, in a second
  run, 120.2 / 84.4 / 128.7; frames t, t-2, t-4, t-6 stacked (then
  ``scripts/experiment_frame_stack.py``, now the ``frame_stack``/``frame_stride``
  default) scored 218 / 178 on seeds 1 / 2 against 174 / 99 for the default in the
  same harness;
* lr 5e-3 vs 3e-3: seed 2 scored 64.6 after 8 min vs 33.9 after 14 min (one seed);
* the third session's default (frame stack 4/2, 512 envs x 512 whole episodes,
  grad_step_fraction 0.25, 120M steps), on a machine
  loaded to 9-12 runnable threads per 2 cores (CartPole hubpg median 36,767 steps/s),
  stopped at 53 min: seed 1 selected at 30.2M steps 88.25 +/- 85.30 (score 2.95),
  validations 3.65 (15M), 8.53 (30M); seed 2 selected at 45.3M 251.08 +/- 242.02
  (score 9.06), validations 3.47 (15M), -12.24 (30M), 7.45 (45M); the 120M budget
  was not reached then; seed 2 resumed to 120.5M steps (the last 60M at ~250k
  steps/s once the machine was quiet): selected at 105.1M (validation 107.5),
  575.31 +/- 442.91, score 132.4; its last update at 60.5M: 426.68 +/- 348.31 (78.4).
  Seed 1 resumed from 38.5M to 120.2M: final update selected (validation 89.1),
  630.21 +/- 539.96, score 90.2; its last update at 38.5M: 164.63 +/- 160.09 (4.5).
  Seed 3 uninterrupted, 120.2M steps in 908 s: selected at 90.6M (validation 100.2),
  590.75 +/- 475.36, score 115.4.
* fourth session, segments (``segment_steps``: every update plays that many steps on
  every game, episodes carry on, so no game waits for the longest episode), on a
  machine at ~2,010 CartPole course-loop steps/s, two runs side by side; the whole-
  episode recipe played only ~20% of its env steps early in a run (the rest waited),
  and numpy's BLAS threads made two runs side by side 5x slower each (now fixed).
  80M steps, seed 1, no selection, final update scored: 512 envs x 128 steps 15.8
  (496k steps/s); 512 x 256 7.6 (494k/s); 512 x 128 with max_t 10000 -8.3 (619k/s);
  1,024 x 128 15.9 (746k/s). 400M steps, 1,024 x 128, selection every 25M, seed 1:
  constant lr 3e-3 574.43 +/- 505.21, score 69.2 (validations noisy, -27 to 95);
  ``anneal_lr`` (3e-3 linearly to 0) 830.96 +/- 575.55, score **255.4** (final update
  selected, validation 330.1; validations climbed from 125 at 225M to 330 at 400M),
  750 s each. Annealing became the default, with 1,024 x 128 segments and a 350M budget
  (``whole-episodes`` below is the previous default's update rule on this budget).
  That default with lr 3e-3, ``scripts/bench_pixelcopter.py --seeds 1 2 3 --jobs 2``
  (seeds 1 and 2 side by side): 829.20 +/- 587.99 (241.2), 977.61 +/- 612.86 (364.8),
  840.40 +/- 602.89 (237.5), 623-641 s of training each. lr 5e-3 (annealed the same
  way), seeds 1 and 3 side by side: 875.90 +/- 567.35 (**308.6**, selected at 315M,
  validation 299.5) and 991.90 +/- 610.38 (**381.5**, the last update, validation 295.5),
  687 and 705 s; seed 2 alone: 939.41 +/-
  579.82 (**359.6**, the last update, validation 262.4), 581 s. lr 5e-3 became the default.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from hubpg.config import TrainConfig
from hubpg.evaluation import evaluate
from hubpg.reinforce import train
from hubpg.runfolder import read_log

WHOLE_EPISODES = {"segment_steps": None, "anneal_lr": False}  # the earlier update rule
RAW_SCALE = {  # the first recipe: pixels / 48, no centring
    **WHOLE_EPISODES,
    "obs_shift": None,
    "obs_scale": [1 / 48, 1.0, 1 / 48, 1 / 48, 1 / 48, 1 / 48, 1 / 48],
    "obs_clip": 5.0,
}
VARIANTS: dict[str, dict] = {
    "course-like": {
        **RAW_SCALE,
        "baseline": "none",
        "entropy_coef": 0.0,
        "num_envs": 64,
        "episodes_per_update": 64,
        "lr": 3e-3,
    },
    "raw-1/48": {
        **RAW_SCALE,
        "num_envs": 64,
        "episodes_per_update": 256,
        "lr": 1e-3,
        "entropy_coef": 0.01,
    },
    "value-baseline": {
        **WHOLE_EPISODES,
        "baseline": "value",
        "num_envs": 64,
        "episodes_per_update": 256,
        "lr": 1e-3,
        "entropy_coef": 0.01,
    },
    "time-baseline-lr1e-3": {
        **WHOLE_EPISODES,
        "num_envs": 64,
        "episodes_per_update": 256,
        "lr": 1e-3,
        "entropy_coef": 0.01,
    },
    "entropy-0.003": {"lr": 2e-3, "entropy_coef": 0.003, "episodes_per_update": 256},
    "lr-3e-3": {"lr": 3e-3},
    "gamma-0.98": {"gamma": 0.98},
    "no-frame-stack": {"frame_stack": 1, "frame_stride": 1},
    "frames-3-stride-3": {"frame_stack": 3, "frame_stride": 3},
    "128-envs": {"num_envs": 128},
    "gradient-on-all-steps": {"grad_step_fraction": 1.0},
    "whole-episodes": {**WHOLE_EPISODES, "num_envs": 512, "episodes_per_update": 512},
    "segments-256": {"segment_steps": 256},
    "constant-lr": {"anneal_lr": False},
    "default": {},
}


def run(name: str, overrides: dict, seed: int, steps: int, out: Path) -> dict:
    config = TrainConfig.for_env("Pixelcopter-PLE-v0", seed=seed, total_steps=steps, **overrides)
    for key, value in overrides.items():  # None means "unset" in for_env; apply it here
        if value is None:
            setattr(config, key, None)
    result = train(config, out, overwrite=True, progress=False)
    log = read_log(out)
    curve = [(int(r["steps"]), round(r["mean_return"], 1)) for r in log]
    validations = [(int(r["update"]), round(r["val_score"], 1)) for r in log if "val_score" in r]
    selected = json.loads((out / "trainer_state.json").read_text()).get("selected_checkpoint")
    ev = evaluate(out, episodes=100, seed=0, max_t=10_000)
    lengths = np.asarray(ev.episode_lengths)
    return {
        "variant": name,
        "seed": seed,
        "train_s": round(result.wall_time, 1),
        "steps": result.steps,
        "score": round(ev.score, 2),
        "eval": ev.summary(),
        "full_episodes": int((lengths >= 10_000).sum()),
        "median_length": float(np.median(lengths)),
        "curve": curve[:: max(1, len(curve) // 10)] + curve[-1:],
        "validations": validations,
        "selected_update": selected["update"] if selected else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), default=None)
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows here.")
    parser.add_argument(
        "--keep", type=Path, default=None, help="Keep the run folders here (default: discard)."
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for name in args.only or list(VARIANTS):
            for seed in args.seeds:
                row = run(name, VARIANTS[name], seed, args.steps, root / f"{name}-{seed}")
                rows.append(row)
                print(
                    f"{name:22s} seed {seed}: {row['train_s']:6.1f} s, {row['steps']:>11,} steps, "
                    f"eval {row['eval']:>20s}, score {row['score']:8.2f}, "
                    f"{row['full_episodes']:3d}/100 reach 10000, median length "
                    f"{row['median_length']:.0f}",
                    flush=True,
                )
                print(f"    curve (steps, mean return): {row['curve']}", flush=True)
                print(
                    f"    validations (update, mean - std): {row['validations']}, "
                    f"kept update {row['selected_update']}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
