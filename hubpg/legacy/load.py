"""Load a scanned checkpoint with torch's weights-only unpickler, its module classes
mapped to inert stand-ins (``torch.serialization.safe_globals``), tensors on the CPU."""

from __future__ import annotations

import io
import re
import threading
import warnings
from typing import Any, ClassVar

from hubpg.errors import LegacyCheckpointError, one_line
from hubpg.legacy.scan import CheckpointScan

_LOAD_LOCK = threading.Lock()  # safe_globals is process-wide


class StandIn:
    """An inert stand-in for a pickled module class.

    It defines no methods (no ``__init__``, ``__setstate__``, ``__reduce__``,
    ``__getattr__``), so torch's weights-only unpickler can only create it with
    ``object.__new__`` and fill it with ``__dict__.update(state)``: nothing from
    the file runs. :attr:`pickled_name` is the class the file named."""

    pickled_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""


def stand_in_class(name: str, kind: str) -> type[StandIn]:
    """A new stand-in class for the pickled class ``name`` (a layer ``kind`` or ``custom``).

    Args:
        name: the qualified class name the pickle uses.
        kind: what hubpg reads it as (``Linear``, ``Sequential``, ``custom``, ...).
    """
    short = name.rsplit(".", 1)[-1]
    return type(short, (StandIn,), {"pickled_name": name, "kind": kind, "__module__": __name__})


def load_checkpoint(scan: CheckpointScan) -> Any:
    """Unpickle a scanned checkpoint with torch's weights-only unpickler, its module
    classes mapped to stand-ins, tensors on the CPU.

    Args:
        scan: what :func:`~hubpg.legacy.scan.scan_checkpoint` returned.
    """
    import torch

    pairs = [(stand_in_class(name, kind), name) for name, kind in scan.stand_ins.items()]
    try:
        with (
            _LOAD_LOCK,
            torch.serialization.safe_globals(pairs),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(scan.data), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any malformed pickle is one refusal
        detail = weights_only_reason(exc)
        if "persistent_load" in detail:
            raise LegacyCheckpointError(
                f"{scan.path.name} embeds code (a pre-1.6 whole-module save); the weights-only "
                f"loader refused it ({detail}); re-save it as a state dict with a current torch"
            ) from exc
        raise LegacyCheckpointError(
            f"{scan.path.name} cannot be read weights-only ({detail}); it is refused and "
            "nothing from it ran"
        ) from exc


def weights_only_reason(exc: BaseException) -> str:
    """The reason torch's weights-only unpickler gave, without its boilerplate."""
    text = str(exc)[:5000]
    match = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    return (match.group(1).strip() if match else one_line(exc))[:300]
