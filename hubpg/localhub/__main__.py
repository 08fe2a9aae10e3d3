"""``python -m hubpg.localhub``: serve a Hub-compatible server on loopback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hubpg.errors import HubpgError
from hubpg.localhub.validation import parse_user_spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubpg.localhub",
        description="Serve a Hugging Face Hub-compatible server (for offline use and tests).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument("--data", type=Path, default=Path("localhub-data"), help="data folder")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:TOKEN",
        help="a user and the token that authenticates it (repeatable)",
    )
    parser.add_argument(
        "--ready-file", type=Path, default=None, help="write the URL here once ready"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        users = {}
        for spec in args.user:
            name, token = parse_user_spec(spec)
            users[token] = name
        from hubpg.localhub.server import serve

        serve(
            host=args.host,
            port=args.port,
            data_dir=args.data,
            users=users,
            ready_file=args.ready_file,
            access_log=args.access_log,
        )
    except HubpgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
