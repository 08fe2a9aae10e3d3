"""What a file is, judged by parsing it: the one place hubpg decides "is this a pickle?";
and what a repo is, judged by its file names: another RL library's model.

Some safetensors header lengths (128, 384, ...) begin with ``0x80 0x02``, the bytes a
protocol-2 pickle starts with, so only a file that does not parse as safetensors is
checked for a pickle's opening.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

from hubpg.errors import ForeignFormatError
from hubpg.runfolder import AGENT_NAME, PICKLE_SUFFIXES

#: Largest safetensors JSON header hubpg reads (the format itself caps it at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"


def is_safetensors(path: Path | str) -> bool:
    """True when ``path`` parses as a safetensors file: a header length that fits the
    file, a JSON object header, and tensor entries whose data lies inside the file.

    Args:
        path: the file to inspect.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return False
            (length,) = struct.unpack("<Q", head)
            if length < 2 or length > min(size - 8, MAX_HEADER_BYTES):
                return False
            header = json.loads(handle.read(length).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(header, dict):
        return False
    data_size = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            return False
        offsets = entry.get("data_offsets")
        if (
            not isinstance(entry.get("dtype"), str)
            or not isinstance(entry.get("shape"), list)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            return False
    return True


def _zip_holds_pickle(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def is_torchscript_archive(path: Path | str) -> bool:
    """Whether ``path`` is a TorchScript archive as ``torch.jit.save`` writes it (a zip
    with ``code/``, ``data.pkl`` and ``constants.pkl`` under one top folder), judged by
    its member names only: nothing is loaded.

    Args:
        path: the file.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) != 1:
        return False
    top = tops.pop()
    has_code = any(name.startswith(f"{top}/code/") for name in names)
    return has_code and f"{top}/constants.pkl" in names and f"{top}/data.pkl" in names


def is_pickle(path: Path | str) -> bool:
    """True when ``path`` is, or may hold, a pickle: a pickle suffix, a binary pickle
    stream that is not a valid safetensors file, or a zip archive holding ``.pkl``
    members (except an ``agent.pt`` that is a TorchScript archive).

    Args:
        path: the file to inspect.
    """
    path = Path(path)
    if path.name == AGENT_NAME and is_torchscript_archive(path):
        return False  # hubpg's TorchScript agent (hubpg.agent): loaded by torch.jit only
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    if head.startswith(_ZIP_MAGIC):
        return _zip_holds_pickle(path)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return not is_safetensors(path)
    return False


#: What hubpg verifies, for messages about another library's model.
VERIFIES = "hubpg verifies REINFORCE policies (safetensors or course checkpoints)"


def foreign_format(names: Iterable[str]) -> tuple[str, str] | None:
    """``(library, file)`` when a repo's file names are another RL library's model,
    else None: a CleanRL ``*.cleanrl_model``, or a stable-baselines3 ``NAME.zip`` (or
    its unpacked ``NAME/policy.pth`` beside ``NAME/data``).

    Args:
        names: the repo's file paths.
    """
    names = set(names)
    cleanrl = sorted(n for n in names if n.endswith(".cleanrl_model"))
    if cleanrl:
        return "CleanRL", cleanrl[0]
    for name in sorted(names):
        folder = name.rsplit("/", 1)[0] if "/" in name else None
        if name.endswith("/policy.pth") and f"{folder}/data" in names:
            return "stable-baselines3", f"{folder}.zip" if f"{folder}.zip" in names else name
    zips = sorted(n for n in names if "/" not in n and n.lower().endswith(".zip"))
    return ("stable-baselines3", zips[0]) if zips else None


def check_not_foreign(repo_id: str, names: Iterable[str]) -> None:
    """Refuse a repo whose files are another RL library's model, in one line naming it
    (:class:`~hubpg.errors.ForeignFormatError`, whose ``library`` says which).

    Args:
        repo_id: the repo, for the message.
        names: its file paths.
    """
    found = foreign_format(names)
    if found is not None:
        library, name = found
        raise ForeignFormatError(
            f"{repo_id} holds a {library} model ({name[:100]}); {VERIFIES}", library
        )
