"""Checks on names and paths that reach the local Hub (a failing one is refused with a 400
and never written), and the ``NAME:TOKEN`` user spec."""

from __future__ import annotations

import re

from hubpg.errors import ConfigError
from hubpg.repoid import name_problem  # the one repo-name rule

MAX_PATH_LENGTH = 1000
#: Most segments (folders + the file name) in a repo path.
MAX_PATH_DEPTH = 64

_HEX_RE = re.compile(r"[0-9a-f]+")


def path_problem(path: str) -> str | None:
    """Return why ``path`` is not a safe file path inside a repo, or None when it is.

    Refuses absolute paths, backslashes, empty, ``.`` and ``..`` segments,
    control characters (NUL included), more than :data:`MAX_PATH_DEPTH` segments
    and anything under ``.git/``.
    """
    if not isinstance(path, str) or not path:
        return "the path is empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"the path is longer than {MAX_PATH_LENGTH} characters"
    if "\\" in path:
        return "backslashes are not allowed"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return "control characters are not allowed"
    if path.startswith("/"):
        return "absolute paths are not allowed"
    segments = path.split("/")
    if len(segments) > MAX_PATH_DEPTH:
        return f"the path is nested deeper than {MAX_PATH_DEPTH} levels"
    if "" in segments:
        return "empty path segments are not allowed"
    if "." in segments or ".." in segments:
        return "'.' and '..' segments are not allowed"
    if segments[0] == ".git":
        return "'.git' is reserved"
    return None


def is_hex(text: str, length: int | None = None) -> bool:
    """True when ``text`` is lowercase hex (of exactly ``length`` characters if given)."""
    if not isinstance(text, str) or not _HEX_RE.fullmatch(text):
        return False
    return length is None or len(text) == length


def parse_user_spec(spec: str) -> tuple[str, str]:
    """Parse ``NAME:TOKEN`` into ``(name, token)``.

    Raises :class:`hubpg.errors.ConfigError` when the spec is malformed.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(
            f"invalid user {spec!r}: expected NAME:TOKEN. Pass for example --user alice:hf_alice_token"
        )
    name, token = spec.split(":", 1)
    problem = name_problem(name)
    if problem is not None:
        raise ConfigError(
            f"invalid user name {name!r} in {spec!r}: {problem}. Use a Hub-style name"
        )
    if not token or any(ch.isspace() for ch in token) or any(ord(ch) < 32 for ch in token):
        raise ConfigError(
            f"invalid token for user {name!r}: it must be non-empty, without spaces. Pass NAME:TOKEN"
        )
    return name, token
