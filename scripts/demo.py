"""The whole hubpg mission, offline, as a user runs it: start a local Hub, train
CartPole-v1, package and push it, load it back, re-evaluate it, stop the Hub.

Everything goes under ``demo/`` (recreated on each run; ``HUBPG_DEMO_DIR`` moves it). It
ends by printing the URL of the pushed model's page; with ``--keep-serving`` the local Hub
stays up (until Ctrl-C) so a person can open that page in a browser.

Usage: python scripts/demo.py [--keep-serving]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("HUBPG_DEMO_DIR") or ROOT / "demo")  # the tests use a temp folder
USER = "demo"
REPO = f"{USER}/Reinforce-CartPole-v1"


def hubpg(*args: str, env: dict[str, str]) -> str:
    """Run one hubpg command, echo it, stream its stderr, return its stdout."""
    print(f"\n$ hubpg {' '.join(args)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "hubpg.cli", *args],
        env=env,
        cwd=DEMO,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    print(proc.stdout, end="", flush=True)
    print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo: 'hubpg {args[0]}' failed with exit status {proc.returncode}")
    return proc.stdout


def start_hub(token: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    ready = DEMO / "hub.url"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubpg.cli",
            "hub",
            "serve",
            "--port",
            "0",
            "--data",
            str(DEMO / "hubdata"),
            "--user",
            f"{USER}:{token}",
            "--ready-file",
            str(ready),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while not ready.is_file():
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit(f"demo: the local Hub did not start: {server.stderr.read()}")
        time.sleep(0.05)
    return server, ready.read_text().strip()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep-serving",
        action="store_true",
        help="leave the local Hub up at the end, to browse the model page (Ctrl-C stops it)",
    )
    return parser.parse_args(argv)


def keep_serving(server: subprocess.Popen, page: str) -> None:
    """Wait until Ctrl-C (or the server ends) while a person browses ``page``."""
    print(f"\nThe local Hub is still serving: open {page}\n(press Ctrl-C to stop it)", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        print("\nstopping the local Hub", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if DEMO.exists():
        shutil.rmtree(DEMO)
    DEMO.mkdir()
    token = f"hf_demo_{secrets.token_hex(12)}"
    env = {
        **os.environ,
        "HF_HOME": str(DEMO / "hf-home"),  # a cache of its own, no stored login involved
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_TOKEN": token,  # read by hubpg push; never printed
    }
    env.pop("HF_ENDPOINT", None)
    started = time.perf_counter()
    server, url = start_hub(token, env)
    print(f"local Hub on {url} (data in {DEMO / 'hubdata'})")
    try:
        run = "runs/CartPole-v1-reinforce-s1"
        hubpg("train", "CartPole-v1", "--seed", "1", "--out", run, env=env)
        hubpg("package", run, "--repo-name", REPO, env=env)
        hubpg("push", run, "--repo", REPO, "--endpoint", url, env=env)
        hubpg(
            "load-and-eval",
            "--repo",
            REPO,
            "--endpoint",
            url,
            "--episodes",
            "100",
            "--video",
            "reloaded-replay.mp4",
            env=env,
        )
        page = f"{url}/{REPO}"
        print(
            f"\nThe whole mission took {time.perf_counter() - started:.1f} s. "
            f"Everything is in {DEMO}:"
        )
        print(f"  run folder       {DEMO / run}")
        print(f"  Hub package      {DEMO / run / 'hub'} (model card: README.md, replay.mp4)")
        print(f"  local Hub data   {DEMO / 'hubdata'} (repo {REPO})")
        print(f"  reloaded replay  {DEMO / 'reloaded-replay.mp4'}")
        print(f"  model page       {page}")
        if args.keep_serving:
            keep_serving(server, page)
        else:
            print(
                "  (the server stops now: rerun with --keep-serving to browse the page, or run "
                f"hubpg hub serve --data {DEMO / 'hubdata'} and open /{REPO})"
            )
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
