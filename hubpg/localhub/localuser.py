"""The one local user of a ``hubpg hub serve`` started without ``--user``: named after
``$USER`` (else ``local``), with a fresh random token, both kept in ``DATA/local-user.json``
(mode 0600) for the next start. The token is printed only in :func:`push_hint`'s line.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import secrets
import stat
from pathlib import Path

from hubpg.errors import ConfigError
from hubpg.repoid import name_problem

FILE_NAME = "local-user.json"
FALLBACK_NAME = "local"
TOKEN_PREFIX = "hf_local_"
_TOKEN = re.compile(rf"{TOKEN_PREFIX}[0-9a-f]{{40}}")


def default_name() -> str:
    """``$USER`` (the login name) when it is a valid Hub name, else ``local``."""
    with contextlib.suppress(Exception):
        name = os.environ.get("USER") or getpass.getuser()
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:40]
        if name and name_problem(name) is None:
            return name
    return FALLBACK_NAME


def _read(path: Path) -> tuple[str, str] | None:
    """The stored ``(name, token)``; None when the file is missing or not one of ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the local user file {path} ({exc}); delete it to make a new user"
        ) from exc
    name, token = (data.get("name"), data.get("token")) if isinstance(data, dict) else (None, None)
    if not isinstance(name, str) or name_problem(name) is not None:
        raise ConfigError(f"{path} holds no valid user name; delete it to make a new user")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ConfigError(f"{path} holds no valid token; delete it to make a new user")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)  # a token readable by others is tightened, not trusted as is
    return name, token


def _write(path: Path, name: str, token: str) -> bool:
    """Write the user to ``path`` whole or not at all (a temporary file, mode 0600 from
    its creation, linked into place); False when another server made one first."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"name": name, "token": token}, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # never replaces a user another start made meanwhile
        return True
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def local_user(data_dir: Path | str, *, name: str | None = None) -> tuple[str, str]:
    """The ``(name, token)`` of the data folder's local user, made (and stored, mode
    0600) on first use and reused afterwards.

    Args:
        data_dir: the server's data folder (created when missing).
        name: the name for a new user (default :func:`default_name`); a stored user
            keeps its own.

    Raises:
        ConfigError: the stored file is damaged, or the folder cannot be written.
    """
    folder = Path(data_dir)
    path = folder / FILE_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stored = _read(path)
        if stored is not None:
            return stored
        made = (name or default_name(), TOKEN_PREFIX + secrets.token_hex(20))
        if not _write(path, *made):
            return _read(path) or made
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the local user in {path} ({exc.strerror or exc}); pass --user "
            "NAME:TOKEN or another --data"
        ) from exc
    return made


def push_hint(url: str, name: str, token: str) -> str:
    """The line that says how to push to this server as the local user.

    Args:
        url: the server's URL.
        name: the user's name (the namespace it may push to).
        token: the user's token.
    """
    return f"Push to it with: HF_ENDPOINT={url} hubpg push --repo {name}/MODEL_NAME --token {token}"
