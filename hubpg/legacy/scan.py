"""Scan a course checkpoint without running it: its size, its format, the globals
its pickle needs, and which of them become inert stand-ins.

Nothing here unpickles: torch's own opcode walker (the one behind
:func:`torch.serialization.get_unsafe_globals_in_checkpoint`) lists the globals of
the zip format's ``data.pkl`` or of the pre-1.6 format's pickles, and every
global beyond torch's weights-only allowlist must be a module class hubpg maps to
a stand-in; anything else is refused, naming the global.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from hubpg.errors import HubpgError, LegacyCheckpointError, MissingFileError

#: Files larger than this are refused before reading (``max_bytes`` raises it).
DEFAULT_MAX_BYTES = 64 * 2**20
#: torch releases before this have known weights-only unpickler CVEs.
MIN_TORCH = (2, 10)

#: torch.nn.modules classes mapped to stand-ins: the qualified name -> the layer kind.
_ACTIVATION_CLASSES = (
    "ReLU",
    "Tanh",
    "ELU",
    "GELU",
    "SiLU",
    "Softmax",
    "LogSoftmax",
    "LeakyReLU",
    "Sigmoid",
    "Softplus",
    "Mish",
    "ReLU6",
    "Hardtanh",
)
TORCH_MODULE_CLASSES: dict[str, str] = {
    "torch.nn.modules.linear.Linear": "Linear",
    "torch.nn.modules.linear.Identity": "Identity",
    "torch.nn.modules.container.Sequential": "Sequential",
    "torch.nn.modules.dropout.Dropout": "Dropout",
    **{f"torch.nn.modules.activation.{name}": name for name in _ACTIVATION_CLASSES},
}
_MAIN_CLASS = re.compile(r"^__main__\.([A-Za-z_][A-Za-z0-9_]{0,99})$")
_ZIP_MAGIC = b"PK\x03\x04"
#: A pre-1.6 file is five pickles (magic number, protocol, sys info, the object,
#: storage keys) followed by raw storage bytes.
_LEGACY_PICKLES = 5


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
    """Read ``path`` (at most ``max_bytes``) and list the globals its pickle needs,
    without unpickling anything; refuse any global hubpg does not map to a stand-in.

    Args:
        path: a ``torch.save`` file (``.pt``, ``.pth``, ``.bin``).
        max_bytes: the size cap (default 64 MiB).
    """
    check_torch_version()
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint {path} not found")
    size = path.stat().st_size
    if size > max_bytes:
        raise LegacyCheckpointError(
            f"{path.name} is {size:,} bytes, over the {max_bytes:,}-byte cap for checkpoints; "
            "a course model is a few kB: pass a larger cap (--max-mib) only if you expect it"
        )
    data = path.read_bytes()
    if data[:4] == _ZIP_MAGIC:
        fmt, names = "zip", _zip_globals(path.name, data)
    else:
        fmt, names = "pre-1.6", _legacy_globals(path.name, data)
    stand_ins = _stand_ins_for(path.name, names)
    if fmt == "pre-1.6" and stand_ins:
        raise LegacyCheckpointError(
            f"{path.name} is a whole module saved in torch's pre-1.6 format, which embeds the "
            "class's source code and cannot be read by the weights-only loader (hubpg never "
            "falls back to a full unpickler); re-save it with a current torch, e.g. "
            "torch.save(policy.state_dict(), 'policy.pth'), and convert that"
        )
    return CheckpointScan(
        path, size, hashlib.sha256(data).hexdigest(), fmt, sorted(names), stand_ins, data
    )


def _zip_globals(name: str, data: bytes) -> set[str]:
    """The globals of a torch zip checkpoint's ``data.pkl`` beyond torch's default
    allowlist. (``torch.serialization.get_unsafe_globals_in_checkpoint`` walks the
    same pickle, but counts globals a user allowlisted process-wide as safe; hubpg's
    guarantee must not depend on them.)"""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
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
            pickles = [n for n in names if re.fullmatch(r"[^/]+/data\.pkl", n)]
            if len(pickles) != 1:
                raise LegacyCheckpointError(
                    f"{name} is a zip archive but not a torch.save checkpoint (no single "
                    "data.pkl record)"
                )
            record = archive.read(pickles[0])
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, HubpgError):
            raise
        raise LegacyCheckpointError(f"{name} is not a readable zip archive ({exc})") from exc
    return _pickle_globals(name, io.BytesIO(record), pickles=1)


def _legacy_globals(name: str, data: bytes) -> set[str]:
    """Every global named by the pickles of a pre-1.6 file beyond torch's default allowlist."""
    return _pickle_globals(name, io.BytesIO(data), pickles=_LEGACY_PICKLES)


def _pickle_globals(name: str, stream: io.BytesIO, *, pickles: int) -> set[str]:
    """Globals of ``pickles`` consecutive pickles, by torch's own opcode walker (which
    knows exactly the opcodes the weights-only unpickler accepts, and runs nothing),
    minus torch's default weights-only allowlist."""
    from torch import _weights_only_unpickler as wou

    found: set[str] = set()
    try:
        for _ in range(pickles):
            found |= wou.get_globals_in_pkl(stream)
    except Exception as exc:  # noqa: BLE001 - not a pickle, truncated, unsupported opcodes
        raise LegacyCheckpointError(
            f"{name} is not a pickle torch's weights-only loader reads "
            f"({first_line(exc) or 'truncated'}); it is refused without being run"
        ) from exc
    return found - set(wou._get_allowed_globals())


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


def _stand_ins_for(name: str, globals_needed: set[str]) -> dict[str, str]:
    stand_ins: dict[str, str] = {}
    refused: list[str] = []
    for qualified in sorted(globals_needed):
        if qualified in TORCH_MODULE_CLASSES:
            stand_ins[qualified] = TORCH_MODULE_CLASSES[qualified]
        elif _MAIN_CLASS.match(qualified):
            stand_ins[qualified] = "custom"
        else:
            refused.append(qualified)
    if refused:
        others = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise LegacyCheckpointError(
            f"{name} needs the global {refused[0][:200]}{others}, which is neither torch's "
            "tensor machinery nor a layer hubpg can rebuild (Linear, Sequential, activations, "
            "Softmax, Dropout, Identity, __main__ classes); refused without unpickling, "
            "nothing ran"
        )
    return stand_ins


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), or its class."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
