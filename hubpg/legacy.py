"""Read Deep RL course checkpoints (``torch.save`` pickles) without running them.

The course's ``push_to_hub`` uploads ``model.pt``, written by ``torch.save(model)``
(the whole ``nn.Module``, its class in the notebook's ``__main__``); the notebook
also saves ``torch.save(policy.state_dict(), "Pixelcopter.pth")``. Both are
pickles. This module reads them the one safe way torch offers:

1. **Scan** (:func:`scan_checkpoint`): the file's size is capped, and the globals
   its pickle needs are listed without running it
   (torch's own opcode walker, the one behind
   :func:`torch.serialization.get_unsafe_globals_in_checkpoint`, over the zip
   format's ``data.pkl`` or the pre-1.6 format's pickles). Every global that
   is not in torch's weights-only allowlist must be a module class hubpg maps to
   an inert stand-in (``__main__.*``, and ``torch.nn.modules`` Linear, Sequential,
   activations, Softmax, Dropout, Identity); anything else is refused, naming the
   global, before a byte is unpickled. No callable is ever allowlisted.
2. **Load**: ``torch.load(..., weights_only=True, map_location="cpu")`` inside
   ``torch.serialization.safe_globals([(StandIn, "__main__.Policy"), ...])``. The
   weights-only unpickler builds only allowlisted objects; a stand-in has no
   methods at all, so its state is filled by a plain ``__dict__`` update and no
   code from the file runs. Tensors saved on ``cuda:0`` land on the CPU.
3. **Rebuild** (:func:`rebuild`): the stand-in tree (or state dict) becomes a
   normal hubpg :class:`~hubpg.policy.Policy` from a
   :class:`~hubpg.config.PolicyConfig`. An ``nn.Sequential`` of Linear and
   activation layers is rebuilt exactly; a custom class holding only Linear layers
   (the course's ``Policy``: ``fc1``, ``fc2`` [, ``fc3``]) and a state dict of
   ``fcN.weight``/``fcN.bias`` get the course's forward (ReLU between, softmax at
   the end), and :attr:`LegacyModel.assumed` says so. A softmax at the end maps
   to hubpg's logits (same action probabilities).

:func:`convert` writes a folder ``hubpg evaluate``, ``package`` and ``push``
accept (``model.safetensors``, ``config.json``, the course's
``hyperparameters.json`` and ``results.json``, and ``legacy.json`` saying where
it came from and what was assumed). No pickle is ever written.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hubpg.errors import (
    ConfigError,
    HubpgError,
    LegacyCheckpointError,
    MissingFileError,
    RunDirError,
    UnknownEnvError,
    one_line,
)
from hubpg.runfolder import (
    CARD_NAME,
    CONFIG_NAME,
    HYPERPARAMETERS_NAME,
    LEGACY_NAME,
    RESULTS_NAME,
    WEIGHTS_NAME,
    read_json,
    write_json,
)

if TYPE_CHECKING:
    import torch

    from hubpg.config import PolicyConfig
    from hubpg.policy import Policy

#: Files larger than this are refused before reading (``max_bytes`` raises it).
DEFAULT_MAX_BYTES = 64 * 2**20
#: The course's JSON files are tiny; larger ones are refused.
JSON_MAX_BYTES = 2**20
#: torch releases before this have known weights-only unpickler CVEs.
MIN_TORCH = (2, 10)
#: Suffixes a course checkpoint may have; ``model.pt`` (push_to_hub's) is preferred.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin")
COURSE_CHECKPOINT = "model.pt"
#: Deepest module nesting and most layers read (a hostile file cannot recurse forever).
MAX_DEPTH = 8
MAX_LAYERS = 64

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
#: torch activation class -> hubpg's activation name (the ones a PolicyConfig can hold).
HUBPG_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "ELU": "elu", "GELU": "gelu", "SiLU": "silu"}
_MAIN_CLASS = re.compile(r"^__main__\.([A-Za-z_][A-Za-z0-9_]{0,99})$")
_FC_KEY = re.compile(r"^fc(\d{1,3})\.(weight|bias)$")
_ZIP_MAGIC = b"PK\x03\x04"
#: A pre-1.6 file is five pickles (magic number, protocol, sys info, the object,
#: storage keys) followed by raw storage bytes.
_LEGACY_PICKLES = 5
_LOAD_LOCK = threading.Lock()  # safe_globals is process-wide


# --------------------------------------------------------------------------- stand-ins


class StandIn:
    """An inert stand-in for a pickled module class.

    It defines no methods (no ``__init__``, ``__setstate__``, ``__reduce__``,
    ``__getattr__``), so torch's weights-only unpickler can only create it with
    ``object.__new__`` and fill it with ``__dict__.update(state)``: nothing from
    the file runs. :attr:`pickled_name` is the class the file named."""

    pickled_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""


def _stand_in(name: str, kind: str) -> type[StandIn]:
    short = name.rsplit(".", 1)[-1]
    return type(short, (StandIn,), {"pickled_name": name, "kind": kind, "__module__": __name__})


# --------------------------------------------------------------------------- scanning


@dataclass
class CheckpointScan:
    """What a checkpoint file is, found without unpickling it."""

    path: Path
    size: int
    sha256: str
    format: str  # "zip" (torch >= 1.6) or "pre-1.6"
    globals: list[str]  # globals beyond torch's weights-only allowlist
    stand_ins: dict[str, type[StandIn]] = field(repr=False, default_factory=dict)
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
            f"({_first_line(exc) or 'truncated'}); it is refused without being run"
        ) from exc
    return found - set(wou._get_allowed_globals())


def _stand_ins_for(name: str, globals_needed: set[str]) -> dict[str, type[StandIn]]:
    stand_ins: dict[str, type[StandIn]] = {}
    refused: list[str] = []
    for qualified in sorted(globals_needed):
        if qualified in TORCH_MODULE_CLASSES:
            stand_ins[qualified] = _stand_in(qualified, TORCH_MODULE_CLASSES[qualified])
        elif _MAIN_CLASS.match(qualified):
            stand_ins[qualified] = _stand_in(qualified, "custom")
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


# --------------------------------------------------------------------------- loading


def load_checkpoint(scan: CheckpointScan) -> Any:
    """Unpickle a scanned checkpoint with torch's weights-only unpickler, its module
    classes mapped to stand-ins, tensors on the CPU.

    Args:
        scan: what :func:`scan_checkpoint` returned.
    """
    import torch

    pairs = [(cls, qualified) for qualified, cls in scan.stand_ins.items()]
    try:
        with (
            _LOAD_LOCK,
            torch.serialization.safe_globals(pairs),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(scan.data), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any malformed pickle is one refusal
        detail = _weights_only_reason(exc)
        if "persistent_load" in detail:
            raise LegacyCheckpointError(
                f"{scan.path.name} embeds code (a pre-1.6 whole-module save); the weights-only "
                f"loader refused it ({detail}); re-save it as a state dict with a current torch"
            ) from exc
        raise LegacyCheckpointError(
            f"{scan.path.name} cannot be read weights-only ({detail}); it is refused and "
            "nothing from it ran"
        ) from exc


def _weights_only_reason(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"WeightsUnpickler error: ([^\n]+)", text)
    return (match.group(1) if match else _first_line(exc))[:300]


def _first_line(exc: BaseException) -> str:
    return one_line(exc)


# --------------------------------------------------------------------------- the architecture


@dataclass
class Layer:
    """One layer read from a checkpoint: ``linear`` (weight, bias), an activation, or
    ``softmax``/``logsoftmax``/``identity``/``dropout``."""

    kind: str
    name: str
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    detail: str = ""


@dataclass
class Architecture:
    """The network a checkpoint holds, as hubpg can rebuild it."""

    linears: list[Layer]
    activation: str
    layers: list[str]
    assumed: list[str]

    @property
    def obs_dim(self) -> int:
        """Input size of the first Linear."""
        return int(self.linears[0].weight.shape[1])  # type: ignore[union-attr]

    @property
    def n_actions(self) -> int:
        """Output size of the last Linear."""
        return int(self.linears[-1].weight.shape[0])  # type: ignore[union-attr]

    @property
    def hidden(self) -> list[int]:
        """Output sizes of every Linear but the last."""
        return [int(layer.weight.shape[0]) for layer in self.linears[:-1]]  # type: ignore[union-attr]


def rebuild(obj: Any, *, source: str = "checkpoint") -> Architecture:
    """The architecture of an unpickled checkpoint: a stand-in module tree or a state dict.

    Args:
        obj: what :func:`load_checkpoint` returned.
        source: the file's name, for messages.
    """
    assumed: list[str] = []
    if isinstance(obj, StandIn):
        layers = _module_layers(obj, source, assumed, depth=0, seen=set())
    elif type(obj) in (dict, OrderedDict):
        layers = _state_dict_layers(obj, source, assumed)
    else:
        raise LegacyCheckpointError(
            f"{source} holds a {type(obj).__name__}, neither a module nor a state dict of "
            "fcN.weight/fcN.bias tensors"
        )
    return _architecture(layers, source, assumed)


def _module_layers(
    mod: StandIn, source: str, assumed: list[str], depth: int, seen: set[int]
) -> list[Layer]:
    """The layers of a module tree, each module visited once: a module used twice
    (weights shared, or a module holding itself) is refused, so a hostile file of
    shared references cannot make the walk exponential or endless."""
    if depth > MAX_DEPTH:
        raise LegacyCheckpointError(f"{source}: modules nested deeper than {MAX_DEPTH} levels")
    _visit(mod, source, seen)
    kind = type(mod).kind
    if kind == "Sequential":
        _no_own_tensors(mod, source)
        layers: list[Layer] = []
        for child_name, child in _children(mod, source):
            if isinstance(child, StandIn) and type(child).kind == "Sequential":
                layers += _module_layers(child, source, assumed, depth + 1, seen)
            else:
                _visit(child, source, seen)
                layers.append(_leaf(child_name, child, source))
        return layers
    if kind == "custom":
        return _custom_layers(mod, source, assumed, depth, seen)
    return [_leaf(type(mod).__name__, mod, source)]


def _visit(mod: Any, source: str, seen: set[int]) -> None:
    if id(mod) in seen:
        raise LegacyCheckpointError(
            f"{source}: a {_kind_name(mod)} is used twice in the network (shared or cyclic "
            "modules); hubpg rebuilds plain feed-forward networks only"
        )
    seen.add(id(mod))
    if len(seen) > MAX_LAYERS:
        raise LegacyCheckpointError(f"{source}: more than {MAX_LAYERS} modules")


def _custom_layers(
    mod: StandIn, source: str, assumed: list[str], depth: int, seen: set[int]
) -> list[Layer]:
    """A notebook class: only Linear children (the course's forward is assumed), or one
    Sequential child (its forward is assumed to apply it)."""
    name = type(mod).pickled_name
    _no_own_tensors(mod, source)
    children = _children(mod, source)
    kinds = [type(c).kind if isinstance(c, StandIn) else "?" for _, c in children]
    if len(children) == 1 and kinds == ["Sequential"]:
        assumed.append(
            f"forward of {name} (its code is not in the file): applies its one Sequential, "
            f"{children[0][0]}"
        )
        return _module_layers(children[0][1], source, assumed, depth + 1, seen)
    if not children or any(k != "Linear" for k in kinds):
        odd = next((c for c, k in zip(children, kinds, strict=True) if k != "Linear"), None)
        what = f"its child {odd[0]!r} ({_kind_name(odd[1])})" if odd else "no layers"
        raise LegacyCheckpointError(
            f"{source}: {name} holds {what}; hubpg rebuilds a notebook class only when it "
            "holds Linear layers alone (or one Sequential), as the course's Policy does"
        )
    ordered = _course_order([c for c, _ in children])
    by_name = dict(children)
    for child_name in ordered:
        _visit(by_name[child_name], source, seen)
    linears = [_leaf(child_name, by_name[child_name], source) for child_name in ordered]
    assumed.append(
        f"forward of {name} (its code is not in the file): the course's, "
        f"{' -> '.join(ordered)} with ReLU between and softmax at the end"
    )
    return _course_forward(linears)


def _course_order(names: list[str]) -> list[str]:
    """``fc1, fc2, ...`` by number when every name is ``fcN``; else registration order."""
    numbers = [re.fullmatch(r"fc(\d{1,3})", n) for n in names]
    if all(numbers):
        return sorted(names, key=lambda n: int(n[2:]))
    return names


def _course_forward(linears: list[Layer]) -> list[Layer]:
    layers: list[Layer] = []
    for i, linear in enumerate(linears):
        if i:
            layers.append(Layer("ReLU", "relu"))
        layers.append(linear)
    layers.append(Layer("softmax", "softmax", detail="dim=1"))
    return layers


def _kind_name(obj: Any) -> str:
    if isinstance(obj, StandIn):
        return type(obj).pickled_name
    return type(obj).__name__


def _state(mod: StandIn) -> dict[str, Any]:
    return vars(mod)


def _children(mod: StandIn, source: str) -> list[tuple[str, Any]]:
    modules = _state(mod).get("_modules")
    if type(modules) not in (dict, OrderedDict):
        raise LegacyCheckpointError(
            f"{source}: {type(mod).pickled_name} has no module table (_modules); it was not "
            "saved from an nn.Module"
        )
    if len(modules) > MAX_LAYERS:
        raise LegacyCheckpointError(f"{source}: more than {MAX_LAYERS} layers in one module")
    return [(str(k), v) for k, v in modules.items() if v is not None]


def _no_own_tensors(mod: StandIn, source: str) -> None:
    state = _state(mod)
    for table in ("_parameters", "_buffers"):
        if state.get(table):
            raise LegacyCheckpointError(
                f"{source}: {type(mod).pickled_name} holds its own {table[1:]} "
                f"({', '.join(map(str, list(state[table])[:3]))}); hubpg cannot know how its "
                "forward uses them"
            )


def _leaf(name: str, mod: Any, source: str) -> Layer:
    if not isinstance(mod, StandIn):
        raise LegacyCheckpointError(
            f"{source}: layer {name!r} is a {type(mod).__name__}, not a module"
        )
    kind = type(mod).kind
    state = _state(mod)
    if kind == "Linear":
        params = state.get("_parameters")
        if type(params) not in (dict, OrderedDict) or set(params) - {"weight", "bias"}:
            raise LegacyCheckpointError(f"{source}: Linear {name!r} has unexpected parameters")
        weight = _tensor(params.get("weight"), f"{name}.weight", source, ndim=2)
        bias = params.get("bias")
        bias = None if bias is None else _tensor(bias, f"{name}.bias", source, ndim=1)
        return Layer("linear", name, weight, bias)
    if kind in ("Softmax", "LogSoftmax"):
        dim = state.get("dim")
        if dim not in (None, 1, -1):
            raise LegacyCheckpointError(
                f"{source}: {kind} {name!r} normalises over dim {dim!r}, not over the actions"
            )
        return Layer(kind.lower(), name, detail=f"dim={dim}")
    if kind in ("Identity", "Dropout"):
        return Layer(kind.lower(), name)
    if kind in HUBPG_ACTIVATIONS:
        _check_activation(kind, name, state, source)
        return Layer(kind, name)
    if kind == "custom" or kind == "Sequential":
        raise LegacyCheckpointError(
            f"{source}: layer {name!r} is a {type(mod).pickled_name} nested in a Sequential; "
            "hubpg rebuilds Sequentials of Linear and activation layers only"
        )
    raise LegacyCheckpointError(
        f"{source}: layer {name!r} is {kind}, which hubpg's policy does not have (its "
        f"activations: {', '.join(HUBPG_ACTIVATIONS)})"
    )


def _check_activation(kind: str, name: str, state: dict[str, Any], source: str) -> None:
    if kind == "ELU" and state.get("alpha", 1.0) != 1.0:
        raise LegacyCheckpointError(
            f"{source}: ELU {name!r} has alpha {state.get('alpha')!r}, not 1"
        )
    if kind == "GELU" and state.get("approximate", "none") != "none":
        raise LegacyCheckpointError(
            f"{source}: GELU {name!r} uses the {state.get('approximate')!r} approximation"
        )


def _tensor(value: Any, key: str, source: str, *, ndim: int) -> torch.Tensor:
    """A float, dense, finite CPU tensor of ``ndim`` dims whose elements are all stored."""
    import torch

    if type(value) not in (torch.Tensor, torch.nn.Parameter):
        raise LegacyCheckpointError(f"{source}: {key} is a {type(value).__name__}, not a tensor")
    if value.layout != torch.strided or value.is_quantized or value.is_meta:
        raise LegacyCheckpointError(f"{source}: {key} is not a plain dense tensor")
    if not value.is_floating_point():
        raise LegacyCheckpointError(f"{source}: {key} has dtype {value.dtype}, not a float type")
    if value.dim() != ndim:
        raise LegacyCheckpointError(f"{source}: {key} has shape {tuple(value.shape)}")
    stored = value.untyped_storage().nbytes()
    if value.numel() * value.element_size() > stored:  # a stride-0 view would blow up on copy
        raise LegacyCheckpointError(f"{source}: {key} claims more elements than it stores")
    return value.detach().to(torch.float32).contiguous().clone()


def _state_dict_layers(state: dict[Any, Any], source: str, assumed: list[str]) -> list[Layer]:
    """``fcN.weight``/``fcN.bias`` tensors: the course's forward over fc1, fc2, ..."""
    if not state:
        raise LegacyCheckpointError(f"{source} is an empty dict, not a state dict")
    numbers: dict[int, dict[str, Any]] = {}
    for key, value in state.items():
        match = _FC_KEY.match(key) if isinstance(key, str) else None
        if not match:
            raise LegacyCheckpointError(
                f"{source}: state dict key {str(key)[:80]!r} is not of the form fcN.weight or "
                "fcN.bias (the course's Policy); hubpg cannot tell the architecture"
            )
        numbers.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if len(numbers) > MAX_LAYERS:
        raise LegacyCheckpointError(f"{source}: more than {MAX_LAYERS} layers")
    linears = []
    for n in sorted(numbers):
        if "weight" not in numbers[n]:
            raise LegacyCheckpointError(f"{source}: fc{n}.bias without fc{n}.weight")
        bias = numbers[n].get("bias")
        linears.append(
            Layer(
                "linear",
                f"fc{n}",
                _tensor(numbers[n]["weight"], f"fc{n}.weight", source, ndim=2),
                None if bias is None else _tensor(bias, f"fc{n}.bias", source, ndim=1),
            )
        )
    names = " -> ".join(layer.name for layer in linears)
    assumed.append(
        f"architecture of a state dict (only tensors are in the file): the course's Policy, "
        f"{names} with ReLU between and softmax at the end"
    )
    return _course_forward(linears)


def _architecture(layers: list[Layer], source: str, assumed: list[str]) -> Architecture:
    kept = [layer for layer in layers if layer.kind not in ("identity", "dropout")]
    if any(layer.kind == "dropout" for layer in layers):
        assumed.append("Dropout layers dropped (they do nothing when evaluating)")
    if kept and kept[-1].kind in ("softmax", "logsoftmax"):
        kept = kept[:-1]
        described_end = "softmax at the end read as hubpg's logits (same action probabilities)"
    else:
        described_end = "no softmax at the end: the output is read as logits"
        assumed.append(described_end)
    linears, activations = _alternating(kept, source)
    _check_chain(linears, source)
    for layer in linears:
        if layer.bias is None:
            import torch

            layer.bias = torch.zeros(layer.weight.shape[0])  # type: ignore[union-attr]
            assumed.append(f"{layer.name} has no bias: zeros")
    if len(set(activations)) > 1:
        raise LegacyCheckpointError(
            f"{source} mixes activations ({', '.join(dict.fromkeys(activations))}); hubpg's "
            "policy uses one activation for every hidden layer"
        )
    activation = HUBPG_ACTIVATIONS[activations[0]] if activations else "relu"
    described = [
        f"Linear({int(layer.weight.shape[1])}, {int(layer.weight.shape[0])})"  # type: ignore[union-attr]
        for layer in linears
    ]
    summary = f" {activation} ".join(described) + f"; {described_end}"
    return Architecture(linears, activation, [summary], assumed)


def _alternating(layers: list[Layer], source: str) -> tuple[list[Layer], list[str]]:
    """Linear (activation Linear)*; anything else cannot be a hubpg MLP."""
    linears: list[Layer] = []
    activations: list[str] = []
    expect_linear = True
    for layer in layers:
        if layer.kind in ("softmax", "logsoftmax"):
            raise LegacyCheckpointError(
                f"{source}: {layer.kind} {layer.name!r} sits inside the network, not at its end"
            )
        if (layer.kind == "linear") != expect_linear:
            where = "a Linear" if expect_linear else "an activation"
            raise LegacyCheckpointError(
                f"{source}: expected {where} at layer {layer.name!r} ({layer.kind}); hubpg "
                "rebuilds Linear, activation, Linear, ... networks"
            )
        if layer.kind == "linear":
            linears.append(layer)
        else:
            activations.append(layer.kind)
        expect_linear = not expect_linear
    if not linears or expect_linear:
        raise LegacyCheckpointError(f"{source}: the network does not end with a Linear layer")
    return linears, activations


def _check_chain(linears: list[Layer], source: str) -> None:
    for prev, nxt in itertools.pairwise(linears):
        if prev.weight.shape[0] != nxt.weight.shape[1]:  # type: ignore[union-attr]
            raise LegacyCheckpointError(
                f"{source}: {prev.name} gives {prev.weight.shape[0]} features but "  # type: ignore[union-attr]
                f"{nxt.name} takes {nxt.weight.shape[1]}; the shapes do not chain"  # type: ignore[union-attr]
            )
    for layer in linears:
        if layer.bias is not None and layer.bias.shape[0] != layer.weight.shape[0]:  # type: ignore[union-attr]
            raise LegacyCheckpointError(f"{source}: {layer.name}'s bias does not fit its weight")


# --------------------------------------------------------------------------- the policy


@dataclass
class LegacyModel:
    """A course checkpoint read as a hubpg policy, and where it came from."""

    policy: Policy
    config: PolicyConfig
    scan: CheckpointScan
    architecture: Architecture
    repo_id: str | None = None
    revision: str | None = None

    @property
    def assumed(self) -> list[str]:
        """What was not in the file and had to be assumed."""
        return self.architecture.assumed

    def report(self) -> dict[str, Any]:
        """A JSON-ready description (what ``legacy.json`` holds)."""
        import torch

        from hubpg import __version__

        return {
            "source_file": self.scan.path.name,
            "sha256": self.scan.sha256,
            "size": self.scan.size,
            "format": self.scan.format,
            "kind": self.scan.kind,
            "classes": sorted(self.scan.stand_ins),
            "repo_id": self.repo_id,
            "revision": self.revision,
            "env_id": self.config.env_id,
            "architecture": self.architecture.layers[0],
            "assumed": list(self.assumed),
            "read_with": f"torch {torch.__version__} weights-only unpickler, hubpg {__version__}",
        }


def read_checkpoint(
    path: Path | str,
    *,
    env_id: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    repo_id: str | None = None,
    revision: str | None = None,
) -> LegacyModel:
    """Read a course checkpoint without running it and rebuild it as a hubpg policy.

    Args:
        path: the ``torch.save`` file.
        env_id: the env it plays; its observation and action sizes must match.
        max_bytes: the size cap (default 64 MiB).
        repo_id: the repo it came from, if any (recorded only).
        revision: the commit it came from, if any (recorded only).
    """
    from hubpg.config import PolicyConfig
    from hubpg.envs import env_dims
    from hubpg.policy import Policy, load_weights_strict

    scan = scan_checkpoint(path, max_bytes=max_bytes)
    loaded = load_checkpoint(scan)
    try:
        arch = rebuild(loaded, source=scan.path.name)
    except (TypeError, ValueError, RuntimeError, AttributeError, KeyError, IndexError) as exc:
        if isinstance(exc, HubpgError):
            raise
        raise LegacyCheckpointError(
            f"{scan.path.name} holds a network hubpg cannot read ({_first_line(exc)})"
        ) from exc
    obs_dim, n_actions = env_dims(env_id)
    if (arch.obs_dim, arch.n_actions) != (obs_dim, n_actions):
        raise LegacyCheckpointError(
            f"{scan.path.name} takes {arch.obs_dim} observations and gives {arch.n_actions} "
            f"actions, but {env_id} has {obs_dim} and {n_actions}; pass the right --env-id"
        )
    config = PolicyConfig(
        env_id=env_id,
        obs_dim=obs_dim,
        n_actions=n_actions,
        hidden=arch.hidden,
        activation=arch.activation,
    )
    policy = Policy(config)
    tensors: dict[str, Any] = {}
    for i, layer in enumerate(arch.linears):
        tensors[f"net.{2 * i}.weight"] = layer.weight
        tensors[f"net.{2 * i}.bias"] = layer.bias
    load_weights_strict(policy, tensors, scan.path.name)
    return LegacyModel(policy.eval(), config, scan, arch, repo_id, revision)


# --------------------------------------------------------------------------- repo files


def pick_checkpoint(names: list[str] | set[str]) -> str | None:
    """The course checkpoint among a repo's top-level files: ``model.pt`` when present,
    else the only ``.pt``/``.pth``/``.bin`` file; None when there is none.

    Args:
        names: the repo's file names.
    """
    top = sorted(n for n in names if "/" not in n and n.lower().endswith(CHECKPOINT_SUFFIXES))
    if COURSE_CHECKPOINT in top:
        return COURSE_CHECKPOINT
    if len(top) > 1:
        raise LegacyCheckpointError(
            f"the repo holds several checkpoints ({', '.join(top[:5])}) and no model.pt; hubpg "
            "cannot tell which is the model: download one and run hubpg convert FILE"
        )
    return top[0] if top else None


def checkpoint_to_download(repo_id: str, siblings: list[Any], max_bytes: int | None) -> str:
    """The course checkpoint a repo without safetensors holds, refused before any
    download when the listing says it is over ``max_bytes``.

    Args:
        repo_id: the repo, for messages.
        siblings: ``model_info(..., files_metadata=True).siblings``.
        max_bytes: the size cap (default 64 MiB).
    """
    cap = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    sizes = {s.rfilename: getattr(s, "size", None) for s in siblings}
    name = pick_checkpoint(set(sizes))
    if name is None:
        raise MissingFileError(
            f"{repo_id} has neither model.safetensors + config.json nor a course checkpoint "
            "(model.pt, .pth or .bin); it cannot be read even with --legacy"
        )
    size = sizes[name]
    if size is not None and size > cap:
        raise LegacyCheckpointError(
            f"{repo_id}'s {name} is {size:,} bytes, over the {cap:,}-byte cap for checkpoints; "
            "a course model is a few kB (hubpg convert --max-mib raises the cap)"
        )
    return name


def _small_json(path: Path) -> Any:
    if path.stat().st_size > JSON_MAX_BYTES:
        raise LegacyCheckpointError(f"{path.name} is over {JSON_MAX_BYTES:,} bytes")
    try:
        return read_json(path)
    except RecursionError as exc:
        raise LegacyCheckpointError(f"{path.name} is nested too deeply") from exc


def env_id_of(files: dict[str, Path], env_id: str | None = None) -> str:
    """The env a course model plays: ``env_id`` when given, else what its
    ``hyperparameters.json``, ``results.json`` and card say (they must agree).

    Args:
        files: the repo's (or folder's) files by name.
        env_id: an explicit env id (``--env-id``), which wins.
    """
    from hubpg.envs import check_env_id

    if env_id:
        check_env_id(env_id)
        return env_id
    said: dict[str, str] = {}
    for name in (HYPERPARAMETERS_NAME, RESULTS_NAME):
        if name in files:
            data = _small_json(files[name])
            value = data.get("env_id") if isinstance(data, dict) else None
            if isinstance(value, str) and value:
                said[name] = value
    if CARD_NAME in files and files[CARD_NAME].stat().st_size <= JSON_MAX_BYTES:
        from hubpg.card import card_env_ids

        try:
            ids = sorted(card_env_ids(files[CARD_NAME]))
        except (HubpgError, ValueError, TypeError):
            ids = []
        if len(ids) == 1:
            said[CARD_NAME] = ids[0]
    values = set(said.values())
    if not values:
        raise ConfigError(
            "no env id in the model's hyperparameters.json, results.json or card; pass "
            "--env-id (e.g. CartPole-v1)"
        )
    if len(values) > 1:
        parts = ", ".join(f"{k} says {v}" for k, v in said.items())
        raise ConfigError(f"the model's files disagree on the env ({parts}); pass --env-id")
    found = values.pop()
    try:
        check_env_id(found)
    except UnknownEnvError as exc:
        raise ConfigError(f"{exc}; pass --env-id if the files name it wrongly") from exc
    return found


def read_files(
    files: dict[str, Path],
    *,
    env_id: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    repo_id: str | None = None,
    revision: str | None = None,
) -> LegacyModel:
    """Read the course checkpoint among ``files`` (a downloaded repo or a folder).

    Args:
        files: file name -> local path; one of them a checkpoint.
        env_id: the env (default: from the files).
        max_bytes: the size cap of the checkpoint.
        repo_id: recorded in the result.
        revision: recorded in the result.
    """
    name = pick_checkpoint(set(files))
    if name is None:
        where = repo_id or "the folder"
        raise MissingFileError(f"{where} has no course checkpoint (model.pt, .pth or .bin)")
    return read_checkpoint(
        files[name],
        env_id=env_id_of(files, env_id),
        max_bytes=max_bytes,
        repo_id=repo_id,
        revision=revision,
    )


# --------------------------------------------------------------------------- convert


@dataclass
class ConvertResult:
    """Where :func:`convert` wrote the folder, and what it read."""

    out: Path
    model: LegacyModel
    files: list[str]

    def __repr__(self) -> str:
        return f"ConvertResult({self.out}: {self.model.architecture.layers[0]})"


def convert(
    source: Path | str | None = None,
    *,
    out: Path | str,
    repo_id: str | None = None,
    revision: str | None = None,
    env_id: str | None = None,
    overwrite: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    endpoint: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
) -> ConvertResult:
    """Convert a course checkpoint into a hubpg folder (safetensors + JSON, no pickle).

    Args:
        source: a local checkpoint file (its folder's ``hyperparameters.json``,
            ``results.json`` and ``README.md`` are read too), or None with ``repo_id``.
        out: the folder to write (refused when it exists and is not empty, unless
            ``overwrite``).
        repo_id: read the checkpoint from this Hub repo instead.
        revision: the repo's branch, tag or commit.
        env_id: the env (default: from the model's files).
        overwrite: replace the files of an existing folder.
        max_bytes: the checkpoint size cap (default 64 MiB).
        endpoint: the Hub (default ``HF_ENDPOINT`` or huggingface.co).
        token: a Hub token for private repos.
        timeout: seconds a Hub request may wait (see :func:`hubpg.hub.resolve_timeout`).

    Example:
        >>> hubpg.convert("model.pt", out="converted", env_id="CartPole-v1")  # doctest: +SKIP
    """
    if (source is None) == (repo_id is None):
        raise ConfigError("give a checkpoint FILE or --repo NAMESPACE/NAME (one of them)")
    out = Path(out)
    _check_out(out, overwrite)
    if source is not None:
        files = _local_files(Path(source))
        model = read_checkpoint(
            files["__source__"], env_id=env_id_of(files, env_id), max_bytes=max_bytes
        )
    else:
        files, model = _repo_files(
            repo_id,  # type: ignore[arg-type]
            revision,
            endpoint,
            token,
            env_id,
            max_bytes,
            timeout,
        )  # type: ignore[arg-type]
    written = _write_folder(out, model, files)
    return ConvertResult(out, model, written)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise RunDirError(
            f"{out} already exists and is not empty; pass --overwrite to replace its files or "
            "--out for another folder"
        )


def _local_files(source: Path) -> dict[str, Path]:
    if not source.is_file():
        raise MissingFileError(f"checkpoint {source} not found")
    files = {"__source__": source}
    for name in (HYPERPARAMETERS_NAME, RESULTS_NAME, CARD_NAME):
        if (source.parent / name).is_file():
            files[name] = source.parent / name
    return files


def _repo_files(
    repo_id: str,
    revision: str | None,
    endpoint: str | None,
    token: str | None,
    env_id: str | None,
    max_bytes: int,
    timeout: float | None,
) -> tuple[dict[str, Path], LegacyModel]:
    from hubpg.hub import HubTarget, download

    wanted = (CONFIG_NAME, WEIGHTS_NAME, RESULTS_NAME, CARD_NAME, HYPERPARAMETERS_NAME)

    def choose(siblings: list[Any]) -> tuple[str, ...]:
        if {WEIGHTS_NAME, CONFIG_NAME} <= {s.rfilename for s in siblings}:
            return wanted
        return (*wanted, checkpoint_to_download(repo_id, siblings, max_bytes))

    got = download(
        repo_id,
        wanted,
        revision=revision,
        target=HubTarget(endpoint, token, timeout),
        choose=choose,
        files_metadata=True,
    )
    if WEIGHTS_NAME in got.files and CONFIG_NAME in got.files:
        raise LegacyCheckpointError(
            f"{repo_id} already shares model.safetensors + config.json; nothing to convert "
            "(hubpg load-and-eval reads it as it is)"
        )
    model = read_files(
        got.files, env_id=env_id, max_bytes=max_bytes, repo_id=repo_id, revision=got.revision
    )
    return got.files, model


def _json_ready(data: Any) -> dict[str, Any] | None:
    """A course JSON object as hubpg can rewrite it: keys whose value cannot be written
    as strict JSON (NaN, Infinity) are dropped."""
    if not isinstance(data, dict):
        return None
    kept: dict[str, Any] = {}
    for key, value in data.items():
        try:
            json.dumps(value, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            continue
        kept[str(key)] = value
    return kept


def _write_folder(out: Path, model: LegacyModel, files: dict[str, Path]) -> list[str]:
    from hubpg.packaging import assert_no_pickle

    out.mkdir(parents=True, exist_ok=True)
    model.policy.save(out)  # model.safetensors + config.json, atomically each
    hyper = (
        _json_ready(_small_json(files[HYPERPARAMETERS_NAME]))
        if HYPERPARAMETERS_NAME in files
        else None
    )
    hyper = hyper or {}
    arch = model.architecture
    if arch.hidden:
        hyper.setdefault("h_size", arch.hidden[0])
    hyper |= {
        "env_id": model.config.env_id,
        "state_space": model.config.obs_dim,
        "action_space": model.config.n_actions,
        "hidden": arch.hidden,
        "activation": arch.activation,
    }
    write_json(out / HYPERPARAMETERS_NAME, hyper)
    results = _json_ready(_small_json(files[RESULTS_NAME])) if RESULTS_NAME in files else None
    if results is not None:
        write_json(out / RESULTS_NAME, results)
    else:
        (out / RESULTS_NAME).unlink(missing_ok=True)  # a stale one from --overwrite
    write_json(out / LEGACY_NAME, model.report())  # last: a complete folder has it
    assert_no_pickle(out)
    return sorted(p.name for p in out.iterdir() if p.is_file())


__all__ = [
    "DEFAULT_MAX_BYTES",
    "LEGACY_NAME",
    "Architecture",
    "CheckpointScan",
    "ConvertResult",
    "LegacyModel",
    "StandIn",
    "check_torch_version",
    "checkpoint_to_download",
    "convert",
    "env_id_of",
    "load_checkpoint",
    "pick_checkpoint",
    "read_checkpoint",
    "read_files",
    "rebuild",
    "scan_checkpoint",
]
