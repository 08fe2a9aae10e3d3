"""``python -m hubpg.localhub``: serve a Hub-compatible server on loopback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hubpg.errors import HubpgError
from hubpg.localhub import defaults as d
from hubpg.localhub.validation import parse_user_spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubpg.localhub",
        description="Serve a Hugging Face Hub-compatible server (for offline use and tests).",
    )
    shown = " (default: %(default)s)"
    parser.add_argument("--host", default=d.DEFAULT_HOST, help=d.HOST_HELP + shown)
    parser.add_argument("--port", type=int, default=d.DEFAULT_PORT, help=d.PORT_HELP + shown)
    parser.add_argument("--data", type=Path, default=d.DEFAULT_DATA_DIR, help=d.DATA_HELP + shown)
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME:TOKEN", help=d.USER_HELP
    )
    parser.add_argument("--ready-file", type=Path, default=None, help=d.READY_FILE_HELP)
    parser.add_argument("--access-log", action="store_true", help=d.ACCESS_LOG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        users = dict(reversed(parse_user_spec(spec)) for spec in args.user)  # TOKEN -> NAME
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
