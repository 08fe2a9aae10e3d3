"""Read Deep RL course checkpoints (``torch.save`` pickles) without running them.

The course's ``push_to_hub`` uploads ``model.pt``, written by ``torch.save(model)``
(the whole ``nn.Module``, its class in the notebook's ``__main__``); some students'
versions of the notebook also save a state dict (``torch.save(policy.state_dict(),
...)``). Both are pickles. This package reads them the one safe way torch offers,
one module per step:

- :mod:`~hubpg.legacy.scan` and :mod:`~hubpg.legacy.pickles`: the file's size is
  capped and its pickle is walked with symbolic values, building nothing: a global
  that is neither torch's tensor machinery nor a module class hubpg maps to an
  inert stand-in, a call that is not a tensor rebuilt from a storage record the
  file holds, a hash-bomb key, are refused before anything is allocated.
- :mod:`~hubpg.legacy.load`: torch's weights-only unpickler loads it, module
  classes mapped to stand-ins without methods, tensors on the CPU.
- :mod:`~hubpg.legacy.rebuild`: the stand-in tree (or state dict) becomes an
  :class:`Architecture` (Linear layers, one activation, what was assumed).
- :mod:`~hubpg.legacy.isolate`: scan, load and rebuild run in a process of their
  own with a deadline and a memory ceiling; only the weights come back, as
  safetensors.
- :mod:`~hubpg.legacy.model`: the architecture becomes a hubpg
  :class:`~hubpg.policy.Policy` (:class:`LegacyModel`, :func:`read_checkpoint`);
  :func:`read_module` does the same for a live ``torch.nn.Module`` by the same
  rules, never pickling it (``hubpg.push_to_hub`` of a student's module).
- :mod:`~hubpg.legacy.repo`: which file of a repo is the checkpoint, which env its
  files name, and :func:`read_files` (read it from a repo's downloaded files;
  :func:`hubpg.verify.fetch` with ``legacy`` downloads them).
- :mod:`~hubpg.legacy.convert`: :func:`convert` writes a hubpg folder
  (safetensors + JSON, no pickle).
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
