"""Run the local Hub with uvicorn: :func:`serve` (blocking) and :class:`HubServer` (embeddable)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn

from hubpg.errors import ConfigError
from hubpg.localhub.app import create_app
from hubpg.localhub.defaults import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT
from hubpg.localhub.localuser import local_user, push_hint
from hubpg.localhub.web import Limits
from hubpg.runfolder import atomic_write_text

READY_PREFIX = "Local Hub serving on "


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY on accepted connections; without it
    # every keep-alive request waits ~40 ms (Nagle + delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}. "
            "Choose another --port (0 picks a free one)"
        ) from exc
    sock.set_inheritable(False)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class HubServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready`` once it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.on_ready: Callable[[], None] | None = None
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            if self.on_ready is not None:
                self.on_ready()
            self.ready.set()


def make_server(
    data_dir: Path,
    users: dict[str, str],
    *,
    limits: Limits | None = None,
    access_log: bool = False,
) -> HubServer:
    """A :class:`HubServer` for the local Hub app, quiet unless ``access_log``."""
    app = create_app(Path(data_dir), users, limits=limits)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="off",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=5,
    )
    if access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logging.getLogger("uvicorn.access").addHandler(handler)
    return HubServer(config)


@contextlib.contextmanager
def _absorb_stop_signals() -> Iterator[None]:
    """Let SIGINT/SIGTERM end :func:`serve` normally (uvicorn re-raises them after shutdown)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    data_dir: Path | str = DEFAULT_DATA_DIR,
    users: dict[str, str] | None = None,
    ready_file: Path | str | None = None,
    *,
    limits: Limits | None = None,
    access_log: bool = False,
) -> None:
    """Serve the local Hub until SIGINT/SIGTERM (Ctrl-C), then return.

    ``users`` maps TOKEN -> NAME; with none, the data folder's local user
    (:func:`hubpg.localhub.localuser.local_user`) is the one account. Once listening, prints
    ``Local Hub serving on http://HOST:PORT (data: DIR)`` (then, for the local user, how to
    push) and writes the URL to ``ready_file`` when given. Raises
    :class:`hubpg.errors.ConfigError` when the address, the data folder or a user is unusable.
    """
    data = Path(data_dir).resolve()
    local = None
    if not users:
        local = local_user(data)
        users = {local[1]: local[0]}
    try:
        server = make_server(data, users, limits=limits, access_log=access_log)
    except OSError as exc:
        raise ConfigError(
            f"cannot use {data} as the data folder: {exc}. Pass another --data"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"{exc}. Pass users as NAME:TOKEN") from exc
    sock = bind_socket(host, port)
    url = url_of(sock)

    def announce() -> None:
        if ready_file is not None:
            atomic_write_text(Path(ready_file), url + "\n")
        print(f"{READY_PREFIX}{url} (data: {data})", flush=True)
        if local is not None:
            print(push_hint(url, *local), flush=True)

    server.on_ready = announce
    try:
        with _absorb_stop_signals():
            server.run(sockets=[sock])
    finally:
        sock.close()
