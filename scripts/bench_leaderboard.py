"""Benchmark: ``hubpg leaderboard CartPole-v1 --verify`` over N models on the local Hub.

It trains one CartPole-v1 run (or reuses ``--run DIR``), starts a local Hub
(thread mode, loopback), pushes that run under N repo names, then times the
whole command ``hubpg leaderboard CartPole-v1 --verify --endpoint URL
--episodes E --workers W --json`` from outside (a subprocess: imports, listing,
worker start-up, N downloads and N evaluations), for each W, with a cold
download cache (a fresh ``HF_HOME``) every time. It prints wall time, models per
second and the speed-up of each W over the first; the listing alone (the same
command without ``--verify``) shows the fixed cost.

Usage: python scripts/bench_leaderboard.py [--models 50] [--episodes 100]
       [--workers 1 2] [--repeat 1] [--ray] [--run DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ENV_ID = "CartPole-v1"
TOKEN = "hf_local_alice"
TARGET_S = 60.0


def prepare_run(run: Path | None, tmp: Path) -> Path:
    """A trained CartPole-v1 run folder (trained now unless given)."""
    if run is not None:
        copy = tmp / "run"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("hub"))
        return copy
    from hubpg.config import TrainConfig
    from hubpg.reinforce import configure_torch_threads, train

    configure_torch_threads()  # as `hubpg train` does; torch's default crawls on busy cores
    start = time.perf_counter()
    train(TrainConfig.for_env(ENV_ID, seed=1), tmp / "run", progress=False)
    print(f"trained {ENV_ID} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return tmp / "run"


def push_models(url: str, run: Path, n: int) -> None:
    from hubpg.hub import push

    start = time.perf_counter()
    for i in range(n):
        push(f"alice/Reinforce-{ENV_ID}-{i:03d}", run, endpoint=url, token=TOKEN)
    print(f"pushed {n} models in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def time_command(url: str, args: list[str], tmp: Path) -> tuple[float, list[dict]]:
    """Wall time of one whole ``hubpg leaderboard`` command, cold download cache."""
    env = {**os.environ, "HF_HOME": tempfile.mkdtemp(prefix="hf-", dir=tmp)}
    env.pop("HF_TOKEN", None)
    command = [sys.executable, "-m", "hubpg.cli", "leaderboard", ENV_ID, "--endpoint", url]
    command += [*args, "--json"]
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, json.loads(proc.stdout)


BURN = "s = 0\nfor i in range(15_000_000):\n    s += i * i"


def parallel_capacity() -> float:
    """How many cores two CPU-bound processes really get right now (2.0 on two idle
    cores; less when other jobs share them): the control for the scaling numbers."""

    def burn(copies: int) -> float:
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(copies)]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - start

    one = burn(1)
    return 2 * one / burn(2)


def check_rows(rows: list[dict], n: int, episodes: int) -> None:
    ranked = [r for r in rows if r["rank"] is not None]
    problems = [f"{r['repo_id']}: {r['problem']}" for r in rows if r["problem"]]
    if len(rows) != n or len(ranked) != n or problems:
        raise SystemExit(f"expected {n} verified models, got {len(ranked)}; {problems[:5]}")
    if any(r["measured_n_episodes"] != episodes for r in ranked):
        raise SystemExit("a model was not evaluated over the requested episodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (median shown)")
    parser.add_argument("--ray", action="store_true", help="also time --ray local")
    parser.add_argument("--run", type=Path, default=None, help="reuse this trained run folder")
    args = parser.parse_args()

    from hubpg.localhub.testing import running_hub

    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as name:
        tmp = Path(name)
        run = prepare_run(args.run, tmp)
        with running_hub(tmp / "hubdata") as hub:
            push_models(hub.url, run, args.models)
            listing, rows = time_command(hub.url, [], tmp)
            assert len(rows) == args.models, len(rows)
            settings = [(f"--workers {w}", ["--workers", str(w)]) for w in args.workers]
            if args.ray:
                settings.append(("--ray local", ["--ray", "local", "--workers", "2"]))
            results: list[tuple[str, float]] = []
            capacity = [parallel_capacity()]
            for label, extra in settings:
                times = []
                for _ in range(args.repeat):
                    verify = ["--verify", "--episodes", str(args.episodes), *extra]
                    elapsed, rows = time_command(hub.url, verify, tmp)
                    check_rows(rows, args.models, args.episodes)
                    times.append(elapsed)
                results.append((label, statistics.median(times)))
                print(f"{label}: {', '.join(f'{t:.2f}' for t in times)} s", file=sys.stderr)
            capacity.append(parallel_capacity())

    print(
        f"hubpg leaderboard {ENV_ID} --verify: {args.models} models, {args.episodes} episodes "
        f"each, {os.cpu_count()} cores, local Hub on loopback, cold download cache"
    )
    print(f"  listing only (no --verify): {listing:6.2f} s")
    print(
        "  control: two CPU-bound processes got "
        f"{' and '.join(f'x{c:.2f}' for c in capacity)} the throughput of one "
        "(before and after; 2.00 = two idle cores)"
    )
    base = results[0][1]
    for label, seconds in results:
        verdict = "ok" if seconds <= TARGET_S else f"OVER the {TARGET_S:.0f} s target"
        print(
            f"  {label:<12} {seconds:6.2f} s  {args.models / seconds:6.1f} models/s  "
            f"speed-up x{base / seconds:.2f} over {results[0][0]}  ({verdict})"
        )


if __name__ == "__main__":
    main()
