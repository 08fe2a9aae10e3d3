"""Read Deep RL course checkpoints (``torch.save`` pickles) without running them.

In a process of its own (:mod:`~hubpg.legacy.isolate`), the file's pickle is walked
opcode by opcode, building nothing (:mod:`~hubpg.legacy.scan`,
:mod:`~hubpg.legacy.pickles`), loaded by torch's weights-only unpickler with inert
stand-ins for its module classes (:mod:`~hubpg.legacy.load`) and rebuilt as Linear
layers (:mod:`~hubpg.legacy.rebuild`); only the weights come back. It then becomes a
hubpg policy (:mod:`~hubpg.legacy.model`), read from a repo's files
(:mod:`~hubpg.legacy.repo`) or written as a hubpg folder (:mod:`~hubpg.legacy.convert`).
"""

from __future__ import annotations

from hubpg.legacy.convert import ConvertResult, convert
from hubpg.legacy.isolate import DEFAULT_READ_MEMORY_MIB, DEFAULT_READ_TIMEOUT_S, read_isolated
from hubpg.legacy.load import StandIn, load_checkpoint
from hubpg.legacy.model import LegacyModel, policy_of, read_checkpoint, read_module
from hubpg.legacy.rebuild import Architecture, Layer, rebuild, rebuild_module
from hubpg.legacy.repo import (
    checkpoint_to_download,
    env_id_of,
    pick_checkpoint,
    read_files,
)
from hubpg.legacy.scan import (
    DEFAULT_MAX_BYTES,
    CheckpointScan,
    check_torch_version,
    scan_checkpoint,
)
from hubpg.runfolder import LEGACY_NAME

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_READ_MEMORY_MIB",
    "DEFAULT_READ_TIMEOUT_S",
    "LEGACY_NAME",
    "Architecture",
    "CheckpointScan",
    "ConvertResult",
    "Layer",
    "LegacyModel",
    "StandIn",
    "check_torch_version",
    "checkpoint_to_download",
    "convert",
    "env_id_of",
    "load_checkpoint",
    "pick_checkpoint",
    "policy_of",
    "read_checkpoint",
    "read_files",
    "read_isolated",
    "read_module",
    "rebuild",
    "rebuild_module",
    "scan_checkpoint",
]
