"""Benchmark: ``hubpg package``, ``hubpg push`` and ``hubpg load-and-eval`` of a CartPole-v1
run against the local Hub, each timed as a whole command (imports included), median of
``--repeats`` runs, plus the split that ``package`` reports (evaluation, video, curve, card).

Usage: python scripts/bench_hub.py [--repeats 3] [--episodes 100]  (tiny: --repeats 1 --episodes 2)
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

from hubpg.localhub.testing import running_hub

TOKEN = "hf_local_alice"


def timed(*args: str, env: dict[str, str]) -> tuple[float, str]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=100, help="Evaluation episodes.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "HF_HOME": str(tmp / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        run = tmp / "run"
        timed("train", "CartPole-v1", "--out", str(run), "--quiet", env=env)
        package_s, split, push_s, load_s = [], [], [], []
        with running_hub(tmp / "hubdata", subprocess=True) as hub:
            for i in range(args.repeats):
                out = tmp / f"pkg{i}"
                s, stdout = timed(
                    "package", str(run), "--out", str(out), "--episodes", str(args.episodes),
                    "--json", env=env,
                )  # fmt: skip
                package_s.append(s)
                split.append(json.loads(stdout)["timings"])
                s, _ = timed(
                    "push",
                    str(out),
                    "--repo",
                    f"alice/bench-{i}",
                    "--endpoint",
                    hub.url,
                    "--token",
                    TOKEN,
                    "--quiet",
                    env=env,
                )
                push_s.append(s)
                s, _ = timed(
                    "load-and-eval",
                    "--repo",
                    f"alice/bench-{i}",
                    "--endpoint",
                    hub.url,
                    "--episodes",
                    str(args.episodes),
                    "--quiet",
                    env=env,
                )
                load_s.append(s)
    med = statistics.median
    parts = {k: med(t[k] for t in split) for k in split[0]}
    print(
        f"hubpg package ({args.episodes} episodes + video + card): median {med(package_s):.2f} s "
        f"(target 10 s); inside it: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
    )
    print(f"hubpg push of a packaged run: median {med(push_s):.2f} s (target 3 s)")
    print(f"hubpg load-and-eval, {args.episodes} episodes: median {med(load_s):.2f} s (target 5 s)")


if __name__ == "__main__":
    main()
