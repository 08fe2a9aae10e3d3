"""A real two-node Ray cluster on loopback: a head and a second node, each started with
``ray start ... --block`` in a process of its own; ``hubpg leaderboard --verify --ray
HOST:PORT`` joins it as a driver and gives the rows the process pool gives.

The nodes use ``--node-ip-address 127.0.0.2``: Ray (2.5x-2.60) rewrites ``127.0.0.1``
and ``localhost`` to the machine's outward interface (``resolve_ip_for_localhost``),
in ``ray start`` and in the driver alike, so only another loopback address keeps the
cluster on loopback. Token authentication (Ray's default) stays on: every process gets
the same ``RAY_AUTH_TOKEN``, and ``HOME`` is the test's folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


NODE_IP = "127.0.0.2"


def _ray_env(home: Path) -> dict[str, str]:
    import secrets

    return {
        **os.environ,
        "HOME": str(home),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
    }


def _node(*args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """``ray start ARGS --block`` in its own process group (so it ends as a whole)."""
    return subprocess.Popen(
        [RAY, "start", *args, "--node-ip-address", NODE_IP, "--num-cpus", "1", "--block"],
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


def _nodes_alive(address: str, want: int, timeout: float, env: dict[str, str]) -> None:
    """Wait until the cluster at ``address`` reports ``want`` live nodes."""
    code = (
        "import ray, sys; ray.init(address=sys.argv[1], _node_ip_address=sys.argv[2], "
        "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(
            [sys.executable, "-c", code, address, NODE_IP],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        if proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == str(want):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster did not come up: {proc.stdout}{proc.stderr}")
        time.sleep(2)


def test_a_two_node_cluster_verifies_what_the_process_pool_verifies(cartpole_run, tmp_path) -> None:
    port = _free_port()
    address = f"{NODE_IP}:{port}"
    env = _ray_env(tmp_path)
    temp = tempfile.mkdtemp(prefix="hubpg-ray-", dir="/tmp")  # sockets: paths under 108 bytes
    head = _node(
        "--head",
        "--port",
        str(port),
        "--include-dashboard",
        "false",
        "--temp-dir",
        temp,
        log=tmp_path / "head.log",
        env=env,
    )
    second = None
    try:
        time.sleep(3)
        second = _node("--address", address, log=tmp_path / "node.log", env=env)
        _nodes_alive(address, 2, timeout=180, env=env)
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
                *args,
                *("--ray", address, "--db", str(tmp_path / "b.sqlite"), "--json"),
                env=env,
                timeout=300,
            )
            assert ray.returncode == 0, ray.stderr
    finally:
        for proc in (second, head):
            if proc is not None:
                _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)

    def measured(rows):
        return [{k: v for k, v in r.items() if k != "verified_at"} for r in rows]

    pool_rows, ray_rows = json.loads(pool.stdout), json.loads(ray.stdout)
    assert len(ray_rows) == 3 and all(r["rank"] is not None for r in ray_rows)
    assert measured(ray_rows) == measured(pool_rows)
    assert "192.0.2" not in ray.stderr
