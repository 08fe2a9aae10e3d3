"""Scan a course checkpoint without running it: its size, its format, the module
classes its pickle needs (each an inert stand-in), and its storage records, each checked
against the bytes the file holds. Nothing here unpickles (:mod:`hubpg.legacy.pickles`).
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubpg.errors import HubpgError, LegacyCheckpointError, MissingFileError, one_line
from hubpg.legacy.pickles import MAX_PICKLE_BYTES, PickleFacts, walk_pickle

#: Files larger than this are refused before reading (``max_bytes`` raises it).
DEFAULT_MAX_BYTES = 64 * 2**20
#: torch releases before this have known weights-only unpickler CVEs.
MIN_TORCH = (2, 10)

#: torch.nn.modules classes mapped to stand-ins: the qualified name -> the layer kind.
_ACTIVATION_CLASSES = (
    "ReLU Tanh ELU GELU SiLU Softmax LogSoftmax LeakyReLU Sigmoid Softplus Mish ReLU6 Hardtanh"
).split()
TORCH_MODULE_CLASSES: dict[str, str] = {
    "torch.nn.modules.linear.Linear": "Linear",
    "torch.nn.modules.linear.Identity": "Identity",
    "torch.nn.modules.container.Sequential": "Sequential",
    "torch.nn.modules.dropout.Dropout": "Dropout",
    **{f"torch.nn.modules.activation.{name}": name for name in _ACTIVATION_CLASSES},
}
#: ``module.path.Class``: identifiers, at most 10 of them.
_CLASS_NAME = re.compile(r"^[A-Za-z_]\w{0,99}(\.[A-Za-z_]\w{0,99}){1,9}$", re.ASCII)
#: Top-level packages beyond the standard library whose classes are never a student's.
_NOT_STUDENT_CODE = frozenset({"builtins", "__builtin__", "copy_reg", "torch", "numpy", "hubpg"})
_ZIP_MAGIC = b"PK\x03\x04"
#: The first two of a pre-1.6 file's five pickles.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


@dataclass
class CheckpointScan:
    """What a checkpoint file is, found without unpickling it."""

    path: Path
    size: int
    sha256: str
    format: str  # "zip" (torch >= 1.6) or "pre-1.6"
    globals: list[str]  # globals beyond torch's weights-only allowlist
    #: module classes the pickle names -> the kind of stand-in each becomes
    stand_ins: dict[str, str] = field(default_factory=dict)
    data: bytes = field(repr=False, default=b"")

    @property
    def kind(self) -> str:
        """``"whole-module"`` when it pickles module classes, else ``"state-dict"``."""
        return "whole-module" if self.stand_ins else "state-dict"


def check_torch_version(version: str | None = None) -> None:
    """Refuse a torch whose weights-only unpickler has known CVEs (< 2.10).

    Args:
        version: a version string (default: the installed torch's).
    """
    import torch

    text = version or torch.__version__
    match = re.match(r"^(\d+)\.(\d+)", text)
    if not match or (int(match.group(1)), int(match.group(2))) < MIN_TORCH:
        raise LegacyCheckpointError(
            f"torch {text} has known weights-only unpickler vulnerabilities; reading course "
            f"checkpoints needs torch >= {'.'.join(map(str, MIN_TORCH))} (pip install -U torch)"
        )


def scan_checkpoint(path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CheckpointScan:
    """Read ``path`` (at most ``max_bytes``) and walk its pickle without building
    anything from it (:func:`scan_bytes`).

    Args:
        path: a ``torch.save`` file (``.pt``, ``.pth``, ``.bin``).
        max_bytes: the size cap (default 64 MiB).
    """
    path = Path(path)
    return scan_bytes(read_capped(path, max_bytes), path=path)


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a checkpoint file, refused when missing or over the size cap (before
    reading, and again after: it may have grown since).

    Args:
        path: the file.
        max_bytes: the cap.
    """
    if not path.is_file():
        raise MissingFileError(f"checkpoint {path} not found")
    _check_size(path.name, path.stat().st_size, max_bytes)
    data = path.read_bytes()
    _check_size(path.name, len(data), max_bytes)  # it may have grown since
    return data


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise LegacyCheckpointError(
            f"{name} is {size:,} bytes, over the {max_bytes:,}-byte cap for checkpoints; "
            "a course model is a few kB: pass a larger cap (--max-mib) only if you expect it"
        )


def scan_bytes(data: bytes, *, path: Path) -> CheckpointScan:
    """Walk a checkpoint's pickle without building anything from it: refuse any global
    hubpg does not map to a stand-in, any call that is not a tensor rebuilt from a storage
    record of the file, and any storage record the file does not hold.

    Args:
        data: the file's bytes.
        path: where they came from (its name is used in messages).
    """
    check_torch_version()
    if data[:4] == _ZIP_MAGIC:
        fmt, facts = "zip", _zip_facts(path.name, data)
    else:
        fmt, facts = "pre-1.6", _legacy_facts(path.name, data)
    return CheckpointScan(
        path,
        len(data),
        hashlib.sha256(data).hexdigest(),
        fmt,
        sorted(facts.classes),
        dict(facts.classes),
        data,
    )


def _zip_facts(name: str, data: bytes) -> PickleFacts:
    """Walk a torch zip checkpoint's ``data.pkl`` and check every storage record it
    refers to against the archive (present, stored as is, of exactly its size)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            prefix, pickle_info = _zip_layout(name, infos)
            record = archive.read(pickle_info)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, HubpgError):
            raise
        raise LegacyCheckpointError(
            f"{name} is not a readable zip archive ({one_line(exc)[:100]})"
        ) from exc
    facts = walk_pickle(name, io.BytesIO(record), classify=stand_in_kind, persistent=5)
    sizes = {i.filename: i.file_size for i in infos}
    for key, storage in facts.storages.items():
        stored = sizes.get(f"{prefix}/data/{key}")
        if stored != storage.nbytes:
            what = "missing" if stored is None else f"{stored:,} bytes"
            raise LegacyCheckpointError(
                f"{name}: storage {key} is {storage.numel:,} {storage.dtype} elements "
                f"({storage.nbytes:,} bytes) but its record is {what}; refused before "
                "loading: nothing was built, nothing ran"
            )
    return facts


def _zip_layout(name: str, infos: list[Any]) -> tuple[str, Any]:
    """The archive's one folder and its ``data.pkl``; refused: TorchScript, compressed
    or duplicate records, several folders, a pickle over the cap."""
    import zipfile

    names = [i.filename for i in infos]
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        raise LegacyCheckpointError(
            f"{name} is a TorchScript archive, which holds code; hubpg never loads one"
        )
    compressed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    if compressed:  # torch.save stores records as they are; a compressed one may be a bomb
        raise LegacyCheckpointError(
            f"{name} has compressed records ({compressed[0][:100]}), which torch.save "
            "never writes; it is not a checkpoint hubpg reads"
        )
    prefixes = {n.split("/", 1)[0] for n in names}
    pickles = [i for i in infos if re.fullmatch(r"[^/]+/data\.pkl", i.filename)]
    if len(pickles) != 1 or len(prefixes) != 1 or len(set(names)) != len(names):
        raise LegacyCheckpointError(
            f"{name} is a zip archive but not a torch.save checkpoint (no single data.pkl "
            "record in one folder)"
        )
    if pickles[0].file_size > MAX_PICKLE_BYTES:
        raise LegacyCheckpointError(
            f"{name}'s pickle is {pickles[0].file_size:,} bytes, over {MAX_PICKLE_BYTES:,}; "
            "a course model's is a few kB"
        )
    return prefixes.pop(), pickles[0]


def _legacy_facts(name: str, data: bytes) -> PickleFacts:
    """Walk a pre-1.6 file's five pickles (magic number, protocol, sys info, the
    object, storage keys) and check the raw storages after them: each key once, each
    of the size its record in the object says, nothing after the last."""
    stream = io.BytesIO(data)
    header = [walk_pickle(name, stream, classify=_no_class).value for _ in range(3)]
    if header[:2] != [_LEGACY_MAGIC, _LEGACY_PROTOCOL]:
        raise LegacyCheckpointError(
            f"{name} is not a pickle torch's weights-only loader reads (no torch.save "
            "header); it is refused without being run"
        )
    facts = walk_pickle(name, stream, classify=lambda q: _pre16_class(name, q), persistent=6)
    keys = walk_pickle(name, stream, classify=_no_class).value
    keys = getattr(keys, "items", None)
    roots = {k: s for k, s in facts.storages.items() if not k.endswith("[view]")}
    if (
        not isinstance(keys, list)
        or not all(isinstance(k, str) for k in keys)
        or sorted(keys) != sorted(roots)
    ):
        raise LegacyCheckpointError(
            f"{name}: its storage keys do not match the storages its pickle uses; refused "
            "before loading: nothing was built, nothing ran"
        )
    for key in keys:
        head = stream.read(8)
        count = int.from_bytes(head, "little", signed=True) if len(head) == 8 else -1
        storage = roots[key]
        if count != storage.numel or len(stream.read(storage.nbytes)) != storage.nbytes:
            raise LegacyCheckpointError(
                f"{name}: storage {key} is {storage.numel:,} {storage.dtype} elements but the "
                "file does not hold them; refused before loading: nothing was built, "
                "nothing ran"
            )
    if stream.read(1):
        raise LegacyCheckpointError(f"{name} has bytes after its last storage")
    return facts


def _no_class(qualified: str) -> None:
    return None


def _pre16_class(name: str, qualified: str) -> str | None:
    if stand_in_kind(qualified) is not None:
        raise LegacyCheckpointError(
            f"{name} is a whole module saved in torch's pre-1.6 format, which embeds "
            "the class's source code and cannot be read by the weights-only loader (hubpg "
            "never falls back to a full unpickler); re-save it with a current torch, e.g. "
            "torch.save(policy.state_dict(), 'policy.pth'), and convert that"
        )
    return None


def stand_in_kind(qualified: str) -> str | None:
    """The stand-in kind of a global beyond torch's allowlist: a torch layer hubpg
    maps, ``custom`` for a class of the student's own (from any module), None (refused)
    for anything named like the standard library, torch's internals, numpy or hubpg, or
    not like a class. The walk checks it is used as ``torch.save`` writes a module.

    Args:
        qualified: the global's ``module.name``.
    """
    if qualified in TORCH_MODULE_CLASSES:
        return TORCH_MODULE_CLASSES[qualified]
    if len(qualified) > 200 or not _CLASS_NAME.match(qualified):
        return None
    top = qualified.split(".", 1)[0]
    if top != "__main__" and (
        top.startswith("_") or top in sys.stdlib_module_names or top in _NOT_STUDENT_CODE
    ):
        return None
    return "custom"


def live_kind(qualified: str) -> str:
    """The kind of a live module's class (``module.QualName``): a torch layer hubpg
    maps, ``custom`` for a class of the student's own, ``unsupported`` for any other
    torch class (convolutions, LayerNorm, ...).

    Args:
        qualified: the class's ``__module__`` and ``__qualname__``, dot-joined.
    """
    if qualified in TORCH_MODULE_CLASSES:
        return TORCH_MODULE_CLASSES[qualified]
    return "unsupported" if qualified.split(".", 1)[0] == "torch" else "custom"
