"""Benchmark: ``hubpg load-and-eval --legacy`` of a course CartPole-v1 repo (``model.pt``
written by ``torch.save(model)`` as the course's push_to_hub does) vs the same command
on that model converted to safetensors (``hubpg convert`` + ``hubpg push``), both
against one local Hub in one run, each timed as a whole command (imports included),
median and minimum of ``--repeats`` runs after one warm-up each. Target: legacy <= 1.5x.
The legacy command reads ``model.pt`` in a process of its own (hubpg.legacy.isolate),
which imports torch once more: about as long as the command's own torch import, hidden
by it on two or more cores, added to it on one.

The course model is a hubpg-trained CartPole policy copied into the course's
``Policy`` class (fc1, fc2), defined here in ``__main__`` as in the notebook, so
its pickle names ``__main__.Policy`` like shared course models do.

Usage: python scripts/bench_legacy.py [--episodes 100] [--repeats 5]
(tiny: --episodes 2 --repeats 1)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

TOKEN = "hf_local_alice"
ENV_ID = "CartPole-v1"


class Policy(nn.Module):
    """The course's CartPole policy."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)


def timed(*args: str, env: dict[str, str]) -> tuple[float, str]:
    """Run ``hubpg ARGS`` and return (seconds, stdout); exit on failure."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "hubpg.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"hubpg {args[0]} failed: {proc.stderr}")
    return elapsed, proc.stdout


def course_folder(run: Path, folder: Path, mean: float) -> Path:
    """What the course's push_to_hub uploads, from a hubpg run's weights."""
    from huggingface_hub.repocard import metadata_eval_result, metadata_save

    from hubpg.policy import Policy as HubpgPolicy

    trained = HubpgPolicy.load(run)
    model = Policy(trained.config.obs_dim, trained.config.n_actions, trained.config.hidden[0])
    with torch.no_grad():
        model.fc1.weight.copy_(trained.net[0].weight)
        model.fc1.bias.copy_(trained.net[0].bias)
        model.fc2.weight.copy_(trained.net[2].weight)
        model.fc2.bias.copy_(trained.net[2].bias)
    folder.mkdir(parents=True)
    torch.save(model, folder / "model.pt")
    hyper = {
        "h_size": trained.config.hidden[0],
        "n_training_episodes": 1000,
        "n_evaluation_episodes": 10,
        "max_t": 1000,
        "gamma": 1.0,
        "lr": 1e-2,
        "env_id": ENV_ID,
        "state_space": trained.config.obs_dim,
        "action_space": trained.config.n_actions,
    }
    (folder / "hyperparameters.json").write_text(json.dumps(hyper))
    (folder / "results.json").write_text(
        json.dumps({"env_id": ENV_ID, "mean_reward": mean, "n_evaluation_episodes": 10})
    )
    tags = [ENV_ID, "reinforce", "reinforcement-learning", "custom-implementation"]
    metadata = {"tags": [*tags, "deep-rl-class"]}
    metadata |= metadata_eval_result(
        model_pretty_name=f"Reinforce-{ENV_ID}",
        task_pretty_name="reinforcement-learning",
        task_id="reinforcement-learning",
        metrics_pretty_name="mean_reward",
        metrics_id="mean_reward",
        metrics_value=f"{mean:.2f} +/- 0.00",
        dataset_pretty_name=ENV_ID,
        dataset_id=ENV_ID,
    )
    (folder / "README.md").write_text(f"# **Reinforce** Agent playing **{ENV_ID}**\n")
    metadata_save(folder / "README.md", metadata)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="load-and-eval episodes")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command")
    args = parser.parse_args()

    import huggingface_hub.constants
    from huggingface_hub.utils import disable_progress_bars

    from hubpg.api import convert, push
    from hubpg.config import TrainConfig
    from hubpg.localhub.testing import running_hub
    from hubpg.reinforce import train

    huggingface_hub.constants.HF_HUB_DISABLE_XET = True
    disable_progress_bars()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "HF_HOME": str(tmp / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        run = tmp / "run"
        train(TrainConfig.for_env(ENV_ID, seed=1, eval_episodes=0), run, progress=False)
        folder = course_folder(run, tmp / "course", 500.0)
        with running_hub(tmp / "hubdata") as hub:
            from huggingface_hub import HfApi

            api = HfApi(endpoint=hub.url, token=TOKEN)
            legacy_repo, converted_repo = "alice/Reinforce-CartPole-v1", "alice/converted"
            api.create_repo(legacy_repo)
            api.upload_folder(repo_id=legacy_repo, folder_path=str(folder))
            converted = convert(
                repo=legacy_repo, out=tmp / "converted", endpoint=hub.url, progress=False
            )
            push(
                converted.out,
                repo=converted_repo,
                endpoint=hub.url,
                token=TOKEN,
                episodes=10,
                video=False,
            )
            common = ["--endpoint", hub.url, "--episodes", str(args.episodes), "--json", "-q"]
            commands = {
                "legacy": ["load-and-eval", "--repo", legacy_repo, "--legacy", *common],
                "safetensors": ["load-and-eval", "--repo", converted_repo, *common],
            }
            seconds: dict[str, list[float]] = {name: [] for name in commands}
            scores: dict[str, str] = {}
            for name, command in commands.items():  # warm-up: downloads into the cache
                _, out = timed(*command, env=env)
                report = json.loads(out)
                scores[name] = f"{report['mean_reward']:.2f} +/- {report['std_reward']:.2f}"
            for _ in range(args.repeats):
                for name, command in commands.items():
                    seconds[name].append(timed(*command, env=env)[0])
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(
        f"load-and-eval of {ENV_ID}, {args.episodes} episodes, {args.repeats} runs each "
        "(whole commands, warm download cache)"
    )
    for name in commands:
        runs = ", ".join(f"{s:.2f}" for s in seconds[name])
        print(
            f"  {name:<12} median {median[name]:6.2f} s  min {min(seconds[name]):6.2f} s  "
            f"({runs})  measured {scores[name]}"
        )
    ratio = median["legacy"] / median["safetensors"]
    best = min(seconds["legacy"]) / min(seconds["safetensors"])
    print(f"legacy / safetensors: {ratio:.2f}x median, {best:.2f}x min (target <= 1.5x)")


if __name__ == "__main__":
    main()
