"""The transport layer (hubpg.hub's client, hubpg.huberrors, hubpg.endpoints) against real
servers on 127.0.0.1: a dead port, a local Hub that refuses a token, and a proxy in front
of the local Hub that dribbles model.safetensors one byte every 2 s."""

from __future__ import annotations

import http.client
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
from cli_runner import run_cli

from hubpg.localhub.testing import running_hub

ALICE, BOB = "hf_local_alice", "hf_local_bob"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _last_line(proc) -> str:
    return proc.stderr.strip().splitlines()[-1]


def test_a_dead_endpoint_asks_whether_the_server_runs(cartpole_run, tmp_path) -> None:
    """Before: "...Connection refused...; retry", after huggingface_hub's retries (the
    time is checked in-process below: here it is mostly Python's and torch's start)."""
    url = f"http://127.0.0.1:{_closed_port()}"
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    for args in (
        ["load-and-eval", "--repo", "alice/gone", "--episodes", "2"],
        ["push", str(run), "--repo", "alice/gone", "--token", ALICE, "--episodes", "2"],
        ["leaderboard", "CartPole-v1"],
    ):
        proc = run_cli(*args, "--endpoint", url, timeout=120)
        assert proc.returncode == 1, (args, proc.stderr)
        last = _last_line(proc)
        assert last.startswith("error: ") and "failed: cannot connect" in last, last
        assert f"is the server at {url} running?" in last, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "Retrying" not in proc.stderr


def test_a_dead_endpoint_is_not_retried() -> None:
    """huggingface_hub retries a refused connection for 23 s (1 + 2 + 4 + 8 + 8); the
    client gives up on the first refusal, in-process well under that."""
    from hubpg.errors import HubUnreachableError
    from hubpg.hub import HubTarget, download, hub_client, hub_errors, list_models

    url = f"http://127.0.0.1:{_closed_port()}"

    def listing() -> None:  # paginated: through huggingface_hub's http_backoff
        with hub_client(url), hub_errors("listing models", "models", url, token_given=False):
            list(list_models(url, None, tags=["CartPole-v1"]))

    for call in (lambda: download("alice/gone", ("config.json",), target=HubTarget(url)), listing):
        start = time.monotonic()
        with pytest.raises(HubUnreachableError, match="is the server at .* running"):
            call()
        assert time.monotonic() - start < 10


def test_the_local_hub_gives_local_token_advice(hub, cartpole_run, tmp_path) -> None:
    """Before: huggingface.co's advice (`hf auth login`, its token page) on a local Hub."""
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    no_login = {"HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": ""}
    for token in (None, "hf_wrong"):
        proc = run_cli(
            "push",
            str(run),
            "--repo",
            "alice/advice",
            "--endpoint",
            hub.url,
            *(["--token", token] if token else []),
            env=no_login,
        )
        assert proc.returncode == 2, proc.stderr
        last = _last_line(proc)
        assert "`hubpg hub serve` printed" in last and "--user NAME:TOKEN" in last, last
        assert "huggingface.co" not in last and "hf auth login" not in last, last


def test_a_403_from_the_local_hub_names_the_owner_and_the_local_fix(hub) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    from hubpg.errors import TokenError
    from hubpg.hub import hub_client, hub_errors

    HfApi(endpoint=hub.url, token=BOB).create_repo("bob/theirs", exist_ok=True)
    with (
        pytest.raises(TokenError) as caught,
        hub_client(hub.url),
        hub_errors("push", "bob/theirs", hub.url, token_given=True),
    ):
        HfApi(endpoint=hub.url, token=ALICE).create_commit(
            "bob/theirs",
            operations=[CommitOperationAdd("notes.txt", b"not alice's")],
            commit_message="intrusion",
        )
    message = str(caught.value)
    assert "403" in message and "the token of bob" in message and "--user bob:TOKEN" in message
    assert "hf auth login" not in message


def test_huggingface_co_keeps_its_own_advice(cartpole_run, tmp_path) -> None:
    """No token: refused before any request, with huggingface.co's advice there."""
    proc = run_cli(
        "push",
        str(cartpole_run),
        "--repo",
        "alice/advice",
        "--endpoint",
        "https://huggingface.co",
        env={"HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": ""},
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "huggingface.co/settings/tokens" in _last_line(proc)
        and "hubpg hub serve" not in proc.stderr
    )


# --------------------------------------------------------------------------- a dribbling server


class _Dribbler(BaseHTTPRequestHandler):
    """Forwards every request to the local Hub; sends the body of a model.safetensors
    download one byte every ``pause`` seconds."""

    upstream: str = ""
    pause = 2.0
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        target = urlparse(self.upstream)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        dribble = self.command == "GET" and self.path.endswith("/model.safetensors")
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        size = answer.getheader("Content-Length") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(size or 0))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if not dribble:
                self.wfile.write(data)
                return
            for i in range(len(data)):  # ends when the client hangs up
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(self.pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = _forward

    def log_message(self, *args) -> None:  # quiet
        pass


@contextmanager
def _dribbling_proxy(upstream: str) -> Iterator[str]:
    handler = type("Handler", (_Dribbler,), {"upstream": upstream})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_dribbled_download_ends_with_timed_out(hub, cartpole_run, tmp_path: Path) -> None:
    """Before: one byte every 2 s kept `load-and-eval --timeout 5` alive past 120 s (the
    timeout bounded each read, not the file). Now the file must come at MIN_BYTES_PER_S
    once the timeout has passed."""
    from hubpg.api import push

    run = shutil.copytree(cartpole_run, tmp_path / "run", ignore=shutil.ignore_patterns("hub"))
    push(run, repo="alice/dribbled", endpoint=hub.url, token=ALICE, episodes=5)
    with _dribbling_proxy(hub.url) as url:
        start = time.monotonic()
        # run_cli's own timeout (a hang) fails the test with TimeoutExpired
        proc = run_cli(
            "load-and-eval",
            "--repo",
            "alice/dribbled",
            "--episodes",
            "2",
            "--endpoint",
            url,
            "--timeout",
            "5",
            env={"HF_HOME": str(tmp_path / "hf-home")},
            timeout=90,
        )
        took = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    last = _last_line(proc)
    assert last.startswith("error: ") and "timed out" in last and "bytes/s" in last, last
    assert "Traceback" not in proc.stderr
    assert took < 30, took  # 5 s of grace, then the next byte (2 s) ends it
