"""Run a local Hub for a test: ``with running_hub(tmp_path) as hub: HfApi(endpoint=hub.url, ...)``.

Thread mode (default) serves from a background thread; subprocess mode runs ``python -m
hubpg.localhub``, so a test can kill it and restart another on the same data. The client
must have Xet disabled (``HF_HUB_DISABLE_XET=1`` before importing ``huggingface_hub``).
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import socket
import subprocess as sp
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hubpg.localhub.server import READY_PREFIX, bind_socket, make_server, url_of
from hubpg.localhub.web import Limits

#: TOKEN -> NAME used when ``running_hub`` gets no ``users``.
DEFAULT_USERS: dict[str, str] = {"hf_local_alice": "alice", "hf_local_bob": "bob"}
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _tail() -> collections.deque:
    return collections.deque(maxlen=200)


@dataclass
class RunningHub:
    """A started local Hub: its URL, data folder, users and (subprocess mode) process."""

    url: str
    data_dir: Path
    users: dict[str, str]
    process: sp.Popen | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)
    _server: object | None = field(default=None, repr=False)
    _drains: list[threading.Thread] = field(default_factory=list, repr=False)
    _stdout: collections.deque = field(default_factory=_tail, repr=False)
    _stderr: collections.deque = field(default_factory=_tail, repr=False)

    def token(self, name: str) -> str:
        """The token of the user called ``name``."""
        for token, user in self.users.items():
            if user == name:
                return token
        raise KeyError(f"no user {name!r} on this hub (users: {sorted(self.users.values())})")

    @property
    def stdout(self) -> str:
        """The last lines the subprocess wrote to stdout (empty in thread mode)."""
        return "".join(self._stdout)

    @property
    def stderr(self) -> str:
        """The last lines the subprocess wrote to stderr (empty in thread mode)."""
        return "".join(self._stderr)

    def stop(self) -> None:
        """Stop the server (gracefully, then forcibly); safe to call twice or after a kill."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True  # type: ignore[attr-defined]
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():
                self._server.force_exit = True  # type: ignore[attr-defined]
                self._thread.join(STOP_TIMEOUT_S)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except sp.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        if self.process is not None and self.process.poll() is not None:
            for drain in self._drains:
                drain.join(STOP_TIMEOUT_S)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


def wait_until_accepting(url: str) -> None:
    """Block until a TCP connection to ``url``'s host and port succeeds."""
    host, _, port = url.split("://", 1)[1].rstrip("/").rpartition(":")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _start_thread(data_dir: Path, users: dict[str, str], limits: Limits | None) -> RunningHub:
    sock = bind_socket("127.0.0.1", 0)
    url = url_of(sock)
    server = make_server(data_dir, users, limits=limits)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"localhub-{url}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.ready.wait(0.01):
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"local Hub did not start: {errors[0] if errors else 'timeout'}")
    wait_until_accepting(url)
    return RunningHub(url, data_dir, users, _thread=thread, _server=server)


def _drain(stream, sink) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(ValueError, OSError):
        for line in iter(stream.readline, ""):
            sink(line)


def _start_process(data_dir: Path, users: dict[str, str]) -> RunningHub:
    command = [sys.executable, "-m", "hubpg.localhub", "--host", "127.0.0.1", "--port", "0"]
    command += ["--data", str(data_dir)]
    for token, name in users.items():
        command += ["--user", f"{name}:{token}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = sp.Popen(command, stdout=sp.PIPE, stderr=sp.PIPE, text=True, env=env)
    hub = RunningHub("", data_dir, users, process=process)
    lines: queue.Queue[str] = queue.Queue()

    def on_stdout(line: str) -> None:
        hub._stdout.append(line)
        lines.put(line)

    hub._drains = [
        threading.Thread(target=_drain, args=(process.stdout, on_stdout), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, hub._stderr.append), daemon=True),
    ]
    for drain in hub._drains:
        drain.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    line = ""
    while not line.startswith(READY_PREFIX):
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            if process.poll() is not None or time.monotonic() > deadline:
                hub.stop()
                time.sleep(0.05)
                raise RuntimeError(f"local Hub process did not start:\n{hub.stderr}") from None
    hub.url = line[len(READY_PREFIX) :].split(" ", 1)[0]
    wait_until_accepting(hub.url)
    return hub


@contextlib.contextmanager
def running_hub(
    data_dir: Path | str,
    users: dict[str, str] | None = None,
    subprocess: bool = False,
    *,
    limits: Limits | None = None,
) -> Iterator[RunningHub]:
    """Run a local Hub on a free loopback port for the duration of the ``with`` block.

    ``users`` maps TOKEN -> NAME (default :data:`DEFAULT_USERS`); ``limits`` applies in
    thread mode only."""
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    users = dict(DEFAULT_USERS if users is None else users)
    hub = _start_process(data, users) if subprocess else _start_thread(data, users, limits)
    try:
        yield hub
    finally:
        hub.stop()
