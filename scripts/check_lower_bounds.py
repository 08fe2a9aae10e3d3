"""Check that the lowest declared versions work: a fresh venv with exactly the lower
bounds of huggingface-hub, gymnasium and torch from pyproject.toml, hubpg installed into
it without upgrading them, then the Hub round trip through ``hubpg hub serve`` (train a
tiny run, push it, load-and-eval it back, find it on the leaderboard).

    python scripts/check_lower_bounds.py [WORKDIR] [--pin NAME==VERSION ...]

WORKDIR (default: a temporary folder, removed afterwards) holds the venv, the server's
data and the run; given again, its venv is reused (pip then only checks the pins and
reinstalls hubpg), the rest made anew. ``--pin`` tries another version of one of the
three (to find a bound that works before raising it in pyproject.toml). Prints "round
trip ok" and exits 0 when everything worked; otherwise the failing step's output and a
non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("huggingface-hub", "gymnasium", "torch")
TOKEN = "hf_lower_bounds_alice"


def lower_bounds() -> dict[str, str]:
    """``name -> exact requirement`` at the lower bound pyproject.toml declares, for
    :data:`CHECKED` (extras kept: ``gymnasium[classic-control]==1.0``)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for spec in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([0-9][0-9A-Za-z.+]*)", spec)
        if match and match.group(1).lower() in CHECKED:
            name, extras, low = match.groups()
            pins[name.lower()] = f"{name}{extras or ''}=={low}"
    missing = set(CHECKED) - set(pins)
    if missing:
        raise SystemExit(f"pyproject.toml gives no '>=' lower bound for {sorted(missing)}")
    return pins


def run(cmd: list[str], *, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run one step; on failure print its output and exit non-zero."""
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return proc


def make_venv(venv: Path, pins: dict[str, str]) -> Path:
    """A fresh venv with ``pins`` exactly and hubpg (from this checkout) around them;
    returns its ``bin`` folder."""
    if not (venv / "bin" / "python").exists():  # a WORKDIR given twice reuses its venv
        run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    constraints = venv / "lower-bounds.txt"
    constraints.write_text("".join(re.sub(r"\[[^\]]*\]", "", p) + "\n" for p in pins.values()))
    run([python, "-m", "pip", "install", "-q", *pins.values()])
    # hubpg without upgrading the pins: the constraints hold them where they are. Built
    # from a copy of the sources: pip would leave a build/ folder in the checkout.
    source = venv / "hubpg-source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    for name in ("hubpg", "model_cards"):
        shutil.copytree(
            REPO_ROOT / name,
            source / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    run([python, "-m", "pip", "install", "-q", "-c", str(constraints), str(source)])
    versions = run([python, "-m", "pip", "list", "--format=json"]).stdout
    installed = {_key(p["name"]): p["version"] for p in json.loads(versions)}
    for pin in pins.values():
        name, _, wanted = re.sub(r"\[[^\]]*\]", "", pin).partition("==")
        got = installed.get(_key(name), "absent")
        if _release(got) != _release(wanted):
            raise SystemExit(f"{name} is {got} in the venv, not {wanted}")
        print(f"{name}=={got}", flush=True)
    return venv / "bin"


def _key(name: str) -> str:
    """A distribution's name as pip compares them (``huggingface_hub`` = ``huggingface-hub``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _release(version: str) -> tuple[int, ...]:
    """``2.13.0+cpu`` -> ``(2, 13)``: the release numbers, trailing zeros dropped."""
    numbers = [int(n) for n in re.match(r"[0-9.]*", version).group(0).split(".") if n]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def round_trip(bin_dir: Path, work: Path) -> None:
    """Train a tiny CartPole run, push it to ``hubpg hub serve``, load-and-eval it and
    find it on the leaderboard (the listing)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_TOKEN")}
    env.update(HF_HOME=str(work / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
    hubpg = str(bin_dir / "hubpg")
    ready = work / "ready.txt"
    for old in ("run", "hubdata", "hf-home"):  # of an earlier check in this WORKDIR
        shutil.rmtree(work / old, ignore_errors=True)
    ready.unlink(missing_ok=True)
    server = subprocess.Popen(
        [hubpg, "hub", "serve", "--data", str(work / "hubdata"), "--port", "0"]
        + ["--user", f"alice:{TOKEN}", "--ready-file", str(ready)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (ready.is_file() and ready.read_text().strip()):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"hubpg hub serve did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.2)
        url = ready.read_text().strip()
        run_dir = work / "run"
        steps = ["--total-steps", "20000", "--seed", "1", "--out", str(run_dir)]
        run([hubpg, "train", "CartPole-v1", *steps, "--quiet"], env=env)
        push = ["push", str(run_dir), "--repo", "alice/lower-bounds", "--episodes", "5"]
        run([hubpg, *push, "--endpoint", url, "--token", TOKEN, "--json"], env=env)
        load = ["load-and-eval", "--repo", "alice/lower-bounds", "--episodes", "5", "--json"]
        report = json.loads(run([hubpg, *load, "--endpoint", url], env=env).stdout)
        if report.get("n_episodes") != 5 or report.get("env_id") != "CartPole-v1":
            raise SystemExit(f"unexpected load-and-eval report: {report}")
        print(f"load-and-eval: mean {report['mean_reward']:.2f} over 5 episodes", flush=True)
        board = ["leaderboard", "CartPole-v1", "--endpoint", url, "--json"]
        rows = json.loads(run([hubpg, *board], env=env).stdout)
        listed = [row for row in rows if row.get("repo_id") == "alice/lower-bounds"]
        if not listed or listed[0].get("rank") != 1:
            raise SystemExit(f"the leaderboard does not rank the pushed model first: {rows}")
        print("leaderboard: alice/lower-bounds listed, rank 1", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", nargs="?", type=Path, help="folder for the venv and data")
    parser.add_argument("--pin", action="append", default=[], help="NAME==VERSION to try")
    args = parser.parse_args(argv)
    pins = lower_bounds()
    for pin in args.pin:
        name = re.split(r"[=\[]", pin, maxsplit=1)[0].lower()
        if name not in CHECKED:
            raise SystemExit(f"--pin {pin}: only {', '.join(CHECKED)} are checked here")
        extras = re.search(r"\[[^\]]*\]", pins[name])
        pins[name] = pin if "[" in pin or not extras else pin.replace("==", f"{extras[0]}==", 1)
    temporary = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="hubpg-lower-")) if temporary else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        print("pins:", ", ".join(pins.values()), flush=True)
        bin_dir = make_venv(work / "venv", pins)
        round_trip(bin_dir, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    print("round trip ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
