"""The local Hub's options, their defaults and help texts: the one place both entry points
(``hubpg hub serve`` and ``python -m hubpg.localhub``) and :func:`hubpg.localhub.serve` read."""

from __future__ import annotations

from pathlib import Path

#: Loopback only: the server is meant for one machine, a classroom laptop or a CI job.
DEFAULT_HOST = "127.0.0.1"
#: 0 asks the kernel for a free port (the URL is printed and written to ``--ready-file``).
DEFAULT_PORT = 0
DEFAULT_DATA_DIR = Path("hubdata")

HOST_HELP = (
    "Address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 (or ::) lets other "
    "machines in (anyone who reaches it reads the public repos; plain HTTP, no TLS)."
)
PORT_HELP = "Port to listen on; 0 picks a free one."
DATA_HELP = "Storage folder (created when missing); repos and files survive restarts."
USER_HELP = (
    "Add an account (repeatable); whoami answers NAME for TOKEN. Without --user, one local "
    "user (named after $USER) gets a fresh token, kept in DATA/local-user.json (mode 0600) "
    "for the next start, and the server prints how to push with it."
)
READY_FILE_HELP = "Write the server URL here once it listens."
ACCESS_LOG_HELP = "Log every request to stderr."
