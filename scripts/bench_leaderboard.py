"""Benchmark: ``hubpg leaderboard CartPole-v1 --verify`` over N models on the local Hub,
first with an empty verification store and then again with it, and the static page of
many rows loaded and sorted in headless Chromium.

It trains one CartPole-v1 run (or reuses ``--run DIR``), starts a local Hub (thread
mode, loopback), pushes that run under N repo names, then times whole commands from
outside (a subprocess each: imports, listing, worker start-up, downloads,
evaluations), each with a cold download cache (a fresh ``HF_HOME``):

- ``hubpg leaderboard CartPole-v1`` (listing only: the fixed cost);
- ``--verify --db FRESH`` (every model evaluated) and the same command again (every
  model unchanged, so nothing is evaluated); target: the second at least 10x faster;
- with ``--workers 1 2 ...``: ``--verify --reverify --workers W`` for each W (scaling).

Then it writes the page of ``--rows`` synthetic rows and opens it from ``file://`` in
headless Chromium (Debian's, through Playwright): load time (navigation start to the
load event) and one click-sort of the score column (the handler plus the layout it
causes); target: both together under 1 s for 1,000 rows.

With ``--distinct N`` (and ``--distinct-env``), N distinct repos instead: three policies
of different quality (a strong, a middling and a nearly uniform one), each repo's weights
a little different, written straight to the local Hub (no training); one cold
``--verify`` is timed, and the env steps its episodes played are compared with the raw
batched env's steps/s measured in the same run (random actions, 4,096 sub-envs): the
ratio is the share of the env's own speed the whole command reaches (issue 30's target:
25%). ``--distinct-only`` skips everything else.

Usage: python scripts/bench_leaderboard.py [--models 50] [--episodes 100] [--rows 1000]
       [--workers 1 2] [--repeat 1] [--ray] [--run DIR]
       [--distinct 300] [--distinct-env CartPole-v1] [--distinct-only]
Tiny:  python scripts/bench_leaderboard.py --models 3 --episodes 5 --rows 50
       python scripts/bench_leaderboard.py --distinct 6 --episodes 5 --distinct-only
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
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ENV_ID = "CartPole-v1"
TOKEN = "hf_local_alice"
SPEEDUP_TARGET = 10.0
PAGE_TARGET_MS = 1000.0


def prepare_run(run: Path | None, tmp: Path) -> Path:
    """A trained CartPole-v1 run folder (trained now unless given)."""
    if run is not None:
        copy = tmp / "run"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("hub"))
        return copy
    from hubpg.config import TrainConfig
    from hubpg.reinforce import train

    start = time.perf_counter()
    train(TrainConfig.for_env(ENV_ID, seed=1), tmp / "run", progress=False)
    print(f"trained {ENV_ID} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return tmp / "run"


def push_models(url: str, run: Path, n: int, episodes: int) -> None:
    from hubpg.api import push

    start = time.perf_counter()
    for i in range(n):
        push(
            run,
            repo=f"alice/Reinforce-{ENV_ID}-{i:03d}",
            endpoint=url,
            token=TOKEN,
            episodes=episodes,
            video=False,
        )
    print(f"pushed {n} models in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def time_command(
    url: str, args: list[str], tmp: Path, env_id: str = ENV_ID
) -> tuple[float, list[dict]]:
    """Wall time of one whole ``hubpg leaderboard`` command, cold download cache; its
    process tree's CPU seconds go to :data:`LAST_CPU`."""
    env = {**os.environ, "HF_HOME": tempfile.mkdtemp(prefix="hf-", dir=tmp)}
    env.pop("HF_TOKEN", None)
    command = [sys.executable, "-m", "hubpg.cli", "leaderboard", env_id, "--endpoint", url]
    command += [*args, "--json"]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        LAST_CPU[0] = _tree_cpu_until_exit(proc)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{stderr}")
    return elapsed, json.loads(stdout)


#: CPU seconds (user + system) of the last timed command's process tree: the command,
#: the pool's forkserver and workers (sampled every 20 ms from /proc).
LAST_CPU = [0.0]


def _tree_cpu_until_exit(proc: subprocess.Popen) -> float:
    """Wait for ``proc``, summing the CPU time of it and every process below it."""
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, float] = {}
    while proc.poll() is None:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / tick
                stats[int(entry.name)] = (int(fields[1]), cpu)
        family = {proc.pid}
        grew = True
        while grew:
            below = {pid for pid, (ppid, _) in stats.items() if ppid in family} - family
            family |= below
            grew = bool(below)
        seen.update({pid: stats[pid][1] for pid in family if pid in stats})
        time.sleep(0.02)
    return sum(seen.values())


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


def check_rows(rows: list[dict], n: int, episodes: int, verified: str) -> None:
    ranked = [r for r in rows if r["rank"] is not None]
    problems = [f"{r['repo_id']}: {r['problem']}" for r in rows if r["problem"]]
    if len(rows) != n or len(ranked) != n or problems:
        raise SystemExit(f"expected {n} verified models, got {len(ranked)}; {problems[:5]}")
    if any(r["measured_n_episodes"] != episodes for r in ranked):
        raise SystemExit("a model was not evaluated over the requested episodes")
    if {r["verified"] for r in ranked} != {verified}:
        raise SystemExit(f"expected every row verified {verified!r}")


def bench_store(url: str, args: argparse.Namespace, tmp: Path) -> tuple[float, float]:
    """First and second ``--verify`` (median of ``--repeat``), each with a fresh store."""
    firsts, seconds = [], []
    for i in range(args.repeat):
        db = tmp / f"store-{i}.sqlite"
        verify = ["--verify", "--episodes", str(args.episodes), "--db", str(db)]
        elapsed, rows = time_command(url, verify, tmp)
        check_rows(rows, args.models, args.episodes, "now")
        firsts.append(elapsed)
        elapsed, rows = time_command(url, verify, tmp)
        check_rows(rows, args.models, args.episodes, "stored")
        seconds.append(elapsed)
        print(f"store run {i}: first {firsts[-1]:.2f} s, second {elapsed:.2f} s", file=sys.stderr)
    return statistics.median(firsts), statistics.median(seconds)


def bench_scaling(url: str, args: argparse.Namespace, tmp: Path) -> list[tuple[str, float]]:
    settings = [(f"--workers {w}", ["--workers", str(w)]) for w in args.workers]
    if args.ray:
        settings.append(("--ray local", ["--ray", "local", "--workers", "2"]))
    results: list[tuple[str, float]] = []
    for label, extra in settings:
        times = []
        for _ in range(args.repeat):
            verify = ["--verify", "--reverify", "--episodes", str(args.episodes), *extra]
            verify += ["--db", str(tmp / "scaling.sqlite")]
            elapsed, rows = time_command(url, verify, tmp)
            check_rows(rows, args.models, args.episodes, "now")
            times.append(elapsed)
        results.append((label, statistics.median(times)))
        print(f"{label}: {', '.join(f'{t:.2f}' for t in times)} s", file=sys.stderr)
    return results


def synthetic_rows(n: int) -> list[dict]:
    """``n`` ranked rows as ``leaderboard(verify=True)`` returns them (deterministic)."""
    from hubpg.ranking import ROW_KEYS

    rows = []
    for i in range(n):
        mean = 100.0 + (i * 7919) % 400
        std = float((i * 31) % 50)
        rows.append(
            dict.fromkeys(ROW_KEYS)
            | {
                "repo_id": f"user{i % 97:02d}/Reinforce-{ENV_ID}-{i:04d}",
                "claimed_mean": min(mean + 20, 500.0),
                "claimed_std": std,
                "claimed_score": min(mean + 20, 500.0) - std,
                "claimed_n_episodes": 10,
                "measured_mean": mean,
                "measured_std": std,
                "measured_score": mean - std,
                "measured_n_episodes": 100,
                "claim_supported": i % 5 != 0,
                "date": "2026-12-01T10:00:00+00:00",
                "revision": f"{i:040x}",
                "verified": "stored",
                "verified_at": "2026-12-01T10:00:00+00:00",
            }
        )
    rows.sort(key=lambda r: -r["measured_score"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def bench_page(n: int, tmp: Path, repeat: int) -> tuple[float, float] | None:
    """Median load and click-sort times (ms) of the page of ``n`` rows in Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from browser import CHROMIUM_ARGS, chromium_path

    from hubpg.page import leaderboard_page

    executable = chromium_path()
    if executable is None:
        print("no chromium: page timing skipped (apt-get install chromium)", file=sys.stderr)
        return None
    from playwright.sync_api import sync_playwright

    site = leaderboard_page(synthetic_rows(n), tmp / "site", env_id=ENV_ID)
    print(f"page of {n} rows: {(site / 'index.html').stat().st_size} bytes", file=sys.stderr)
    loads, sorts = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for _ in range(repeat):
                page = browser.new_page()
                page.goto((site / "index.html").as_uri(), wait_until="load")
                loads.append(
                    page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                )
                sorts.append(
                    page.evaluate(
                        """() => {
                          const button = document.querySelector('#ranked th:nth-child(6) button');
                          const start = performance.now();
                          button.click();
                          document.body.offsetHeight;  // the layout the new order causes
                          return performance.now() - start;
                        }"""
                    )
                )
                page.close()
        finally:
            browser.close()
    return statistics.median(loads), statistics.median(sorts)


# --------------------------------------------------------------------------- distinct models

RATIO_TARGET = 0.25


#: Each env's balancing feature (a weight per observation) and the three qualities'
#: gains on it. CartPole: push towards the falling side. Pixelcopter: thrust when
#: below the middle of the cave (distance to ceiling minus distance to floor) or
#: falling; it ignores the blocks, so even the strong one crashes after ~160 steps.
BALANCING = {
    "CartPole-v1": ([0.0, 0.2, 1.0, 0.5], 20.0, (3.0, 0.3, 0.02)),
    "Pixelcopter-PLE-v0": ([0.0, 10.0, 1.0, -1.0, 0.0, 0.0, 0.0], 1.0, (10.0, 1.0, 0.3)),
}


def distinct_policy(env_id: str, index: int, rng: Any) -> Any:
    """Repo ``index``'s policy: quality ``index % 3`` (a strong, a middling or a nearly
    uniform gain on a balancing feature, :data:`BALANCING`), plus noise of its own on
    every weight."""
    import torch

    from hubpg.config import PolicyConfig
    from hubpg.envs import env_dims
    from hubpg.policy import Policy

    obs_dim, n_actions = env_dims(env_id)
    feature, scale, gains = BALANCING[env_id]
    policy = Policy(PolicyConfig(env_id=env_id, obs_dim=obs_dim, n_actions=n_actions))
    with torch.no_grad():
        first = torch.zeros(16, obs_dim)
        first[0] = torch.tensor(feature) * scale
        first[1] = -first[0]
        noise = torch.tensor(rng.standard_normal((16, obs_dim)) * 0.3, dtype=torch.float32)
        policy.net[0].weight.copy_(first + noise)
        policy.net[0].bias.copy_(torch.tensor(rng.standard_normal(16) * 0.01))
        last = torch.tensor(rng.standard_normal((n_actions, 16)) * 0.01, dtype=torch.float32)
        gain = gains[index % 3]
        last[1, 0] += gain  # CartPole: 1 pushes right; Pixelcopter: 0 thrusts
        last[0, 1] += gain
        if env_id == "Pixelcopter-PLE-v0":
            last = last.flip(0)
        policy.net[2].weight.copy_(last)
        policy.net[2].bias.zero_()  # every weight from rng: the same repos on every run
    return policy.eval()


def upload_distinct(url: str, env_id: str, n: int, tmp: Path) -> list[Any]:
    """N repos ``alice/distinct-ENV-I`` (config, weights, a card claiming 100 +/- 10),
    one commit each; returns their policies."""
    import huggingface_hub.constants
    import numpy as np
    from huggingface_hub import CommitOperationAdd, HfApi

    from hubpg.card import card_metadata

    huggingface_hub.constants.HF_HUB_DISABLE_XET = True  # the local Hub has no Xet
    api = HfApi(endpoint=url, token=TOKEN)
    rng = np.random.default_rng(0)
    policies = []
    start = time.perf_counter()
    for i in range(n):
        policy = distinct_policy(env_id, i, rng)
        folder = tmp / "distinct" / f"{i:04d}"
        policy.save(folder)
        repo = f"alice/distinct-{env_id}-{i:04d}"
        meta = card_metadata(env_id, 100.0, 10.0, repo).to_yaml()
        api.create_repo(repo, exist_ok=True)
        api.create_commit(
            repo,
            operations=[
                CommitOperationAdd("README.md", f"---\n{meta}\n---\n# {repo}\n".encode()),
                CommitOperationAdd("config.json", str(folder / "config.json")),
                CommitOperationAdd("model.safetensors", str(folder / "model.safetensors")),
            ],
            commit_message="a distinct model",
        )
        policies.append(policy)
    print(f"uploaded {n} distinct models in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return policies


def raw_env_steps(env_id: str, seconds: float = 2.0, num_envs: int = 4096) -> float:
    """Steps/s of the env's own batched implementation with random actions."""
    import numpy as np

    from hubpg.envs import make_vec_env

    envs = make_vec_env(env_id, num_envs)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, (64, num_envs))
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for a in actions:
            envs.step(a)
        steps += actions.size
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    envs.close()
    RAW_CPU.append(steps / cpu)
    return steps / elapsed


#: Steps per CPU second of each raw env measurement.
RAW_CPU: list[float] = []


def bench_distinct(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """One cold ``--verify`` of the distinct repos, and the env's raw speed around it."""
    from hubpg.ranking.lanes import evaluate_many

    env_id, n = args.distinct_env, args.distinct
    policies = upload_distinct(url, env_id, n, tmp)
    raw_before = raw_env_steps(env_id)
    extra = ["--workers", str(args.distinct_workers)] if args.distinct_workers else []
    verify = ["--verify", "--episodes", str(args.episodes), "--db", str(tmp / "distinct.sqlite")]
    elapsed, rows = time_command(url, [*verify, *extra, "--author", "alice"], tmp, env_id)
    raw_after = raw_env_steps(env_id)
    ranked = [r for r in rows if r["rank"] is not None]
    if len(ranked) != n:
        problems = [f"{r['repo_id']}: {r['problem']}" for r in rows if r["problem"]]
        raise SystemExit(f"expected {n} verified models, got {len(ranked)}; {problems[:5]}")
    # the env steps the episodes played: each model's episode lengths, as evaluate()
    # gives them (the same numbers the command measured: checked on the means)
    results = evaluate_many(policies, env_id, episodes=args.episodes, seed=0)
    by_repo = {r["repo_id"]: r for r in rows}
    for i, result in enumerate(results):
        row = by_repo[f"alice/distinct-{env_id}-{i:04d}"]
        if abs(row["measured_mean"] - result.mean_reward) > 1e-6 * max(1, result.mean_reward):
            raise SystemExit(f"model {i}: the command measured {row['measured_mean']}")
    steps = sum(sum(r.episode_lengths) for r in results)
    raw = (raw_before + raw_after) / 2
    cpu = LAST_CPU[0]
    raw_cpu = sum(RAW_CPU[-2:]) / 2
    return {
        "seconds": elapsed,
        "steps": steps,
        "raw": raw,
        "models": n,
        "cpu": cpu,
        "raw_cpu": raw_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000, help="rows of the timed page")
    parser.add_argument(
        "--workers", type=int, nargs="*", default=[], help="also time --workers W (scaling)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (median shown)")
    parser.add_argument("--ray", action="store_true", help="also time --ray local")
    parser.add_argument("--run", type=Path, default=None, help="reuse this trained run folder")
    parser.add_argument("--distinct", type=int, default=0, help="distinct repos (0: skip)")
    parser.add_argument("--distinct-env", default=ENV_ID, help="their env")
    parser.add_argument(
        "--distinct-workers", type=int, default=None, help="--workers of that run (default: cores)"
    )
    parser.add_argument(
        "--distinct-only", action="store_true", help="only the distinct-models case"
    )
    args = parser.parse_args()
    if args.distinct_only:
        main_distinct(args)
        return

    from hubpg.localhub.testing import running_hub

    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as name:
        tmp = Path(name)
        run = prepare_run(args.run, tmp)
        with running_hub(tmp / "hubdata") as hub:
            push_models(hub.url, run, args.models, min(args.episodes, 20))
            listing, rows = time_command(hub.url, [], tmp)
            assert len(rows) == args.models, len(rows)
            first, second = bench_store(hub.url, args, tmp)
            capacity = [parallel_capacity()] if args.workers or args.ray else []
            scaling = bench_scaling(hub.url, args, tmp)
            if capacity:
                capacity.append(parallel_capacity())
            distinct = bench_distinct(hub.url, args, tmp) if args.distinct else None
        page = bench_page(args.rows, tmp, max(args.repeat, 3))

    print(
        f"hubpg leaderboard {ENV_ID} --verify: {args.models} models, {args.episodes} episodes "
        f"each, {os.cpu_count()} cores, local Hub on loopback, cold download cache"
    )
    print(f"  listing only (no --verify):        {listing:7.2f} s")
    speedup = first / second
    verdict = "ok" if speedup >= SPEEDUP_TARGET else f"UNDER the x{SPEEDUP_TARGET:.0f} target"
    print(f"  first --verify (empty store):      {first:7.2f} s")
    print(
        f"  second --verify (all unchanged):   {second:7.2f} s  x{speedup:.1f} faster ({verdict})"
    )
    if scaling:
        print(
            "  control: two CPU-bound processes got "
            f"{' and '.join(f'x{c:.2f}' for c in capacity)} the throughput of one "
            "(before and after; 2.00 = two idle cores)"
        )
        base = scaling[0][1]
        for label, seconds in scaling:
            print(
                f"  --reverify {label:<12} {seconds:6.2f} s  {args.models / seconds:6.1f} "
                f"models/s  speed-up x{base / seconds:.2f} over {scaling[0][0]}"
            )
    if page is not None:
        load, sort = page
        total = load + sort
        verdict = "ok" if total < PAGE_TARGET_MS else f"OVER the {PAGE_TARGET_MS:.0f} ms target"
        print(
            f"  page of {args.rows} rows in headless Chromium: load {load:.0f} ms, "
            f"click-sort {sort:.0f} ms, together {total:.0f} ms ({verdict})"
        )
    if distinct is not None:
        print_distinct(args, distinct)


def main_distinct(args: argparse.Namespace) -> None:
    """Only the distinct-models case (``--distinct-only``)."""
    from hubpg.localhub.testing import running_hub

    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as name:
        tmp = Path(name)
        # the Hub in a process of its own: its work is not the command's
        with running_hub(tmp / "hubdata", subprocess=True) as hub:
            figures = bench_distinct(hub.url, args, tmp)
    print_distinct(args, figures)


def print_distinct(args: argparse.Namespace, figures: dict[str, float]) -> None:
    seconds, steps, raw = figures["seconds"], figures["steps"], figures["raw"]
    ratio = steps / seconds / raw
    verdict = "ok" if ratio >= RATIO_TARGET else f"UNDER the {RATIO_TARGET:.0%} target"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"distinct models: hubpg leaderboard {args.distinct_env} --verify, {args.distinct} "
        f"distinct repos, {args.episodes} episodes each, {cores} usable cores, cold cache"
    )
    print(
        f"  whole command {seconds:.2f} s: {args.distinct / seconds:.1f} models/s, "
        f"{steps / seconds:,.0f} env steps/s of play ({steps:,} steps)"
    )
    print(
        f"  raw batched {args.distinct_env} env: {raw:,.0f} steps/s; ratio {ratio:.1%} ({verdict})"
    )
    cpu, raw_cpu = figures["cpu"], figures["raw_cpu"]
    print(
        f"  per CPU second: the command {steps / cpu:,.0f} steps ({cpu:.1f} CPU s: its "
        f"process tree, pool workers included), the raw env {raw_cpu:,.0f}; "
        f"ratio {steps / cpu / raw_cpu:.1%}"
    )


if __name__ == "__main__":
    main()
