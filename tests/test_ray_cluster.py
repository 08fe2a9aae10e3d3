"""A real two-node Ray cluster on loopback: a head and a second node, each started with
``ray start ... --block`` in a process of its own; ``hubpg leaderboard --verify --ray
HOST:PORT`` joins it as a driver and gives the rows the process pool gives."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli

from hubpg.api import push
from hubpg.localhub.testing import running_hub

ENV = "CartPole-v1"
RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(RAY is None, reason='Ray is not installed (pip install "hubpg[ray]")'),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node(*args: str, log: Path) -> subprocess.Popen:
    """``ray start ARGS --block`` in its own process group (so it ends as a whole)."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    return subprocess.Popen(
        [RAY, "start", *args, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _nodes_alive(address: str, want: int, timeout: float) -> None:
    """Wait until the cluster at ``address`` reports ``want`` live nodes."""
    code = (
        "import ray, sys; ray.init(address=sys.argv[1], _node_ip_address='127.0.0.1', "
        "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(
            [sys.executable, "-c", code, address], capture_output=True, text=True, timeout=120
        )
        if proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == str(want):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster did not come up: {proc.stdout}{proc.stderr}")
        time.sleep(2)


def test_a_two_node_cluster_verifies_what_the_process_pool_verifies(cartpole_run, tmp_path) -> None:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _node(
        "--head",
        "--port",
        str(port),
        "--include-dashboard",
        "false",
        "--temp-dir",
        str(tmp_path / "ray"),
        log=tmp_path / "head.log",
    )
    second = None
    try:
        time.sleep(3)
        second = _node("--address", address, log=tmp_path / "node.log")
        _nodes_alive(address, 2, timeout=180)
        with running_hub(tmp_path / "hub") as hub:
            run = shutil.copytree(
                cartpole_run, tmp_path / "run", ignore=shutil.ignore_patterns("hub")
            )
            for i in range(3):
                push(
                    run,
                    repo=f"alice/cartpole-{i}",
                    endpoint=hub.url,
                    token="hf_local_alice",
                    episodes=5,
                    video=False,
                )
            args = ["leaderboard", ENV, "--endpoint", hub.url, "--verify", "--episodes", "7"]
            pool = run_cli(
                *args, "--workers", "2", "--db", str(tmp_path / "a.sqlite"), "--json", timeout=300
            )
            assert pool.returncode == 0, pool.stderr
            ray = run_cli(
                *args, "--ray", address, "--db", str(tmp_path / "b.sqlite"), "--json", timeout=300
            )
            assert ray.returncode == 0, ray.stderr
    finally:
        for proc in (second, head):
            if proc is not None:
                _stop(proc)

    def measured(rows):
        return [{k: v for k, v in r.items() if k != "verified_at"} for r in rows]

    pool_rows, ray_rows = json.loads(pool.stdout), json.loads(ray.stdout)
    assert len(ray_rows) == 3 and all(r["rank"] is not None for r in ray_rows)
    assert measured(ray_rows) == measured(pool_rows)
    assert "192.0.2" not in ray.stderr
