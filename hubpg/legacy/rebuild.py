"""Rebuild the network a checkpoint holds: a stand-in module tree or a state dict
becomes an :class:`Architecture` (Linear layers, one activation, what was assumed).
A Sequential is rebuilt exactly; a class of the student's own holding Linear layers,
and a state dict of ``fcN.weight``/``fcN.bias``, get the course's forward (ReLU between,
softmax at the end, read as hubpg's logits), and :attr:`Architecture.assumed` says so.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubpg.errors import LegacyCheckpointError
from hubpg.legacy.load import StandIn
from hubpg.legacy.scan import live_kind

if TYPE_CHECKING:
    import torch

#: Deepest module nesting and most layers read (a hostile file cannot recurse forever).
MAX_DEPTH = 8
MAX_LAYERS = 64
#: torch activation class -> hubpg's activation name (the ones a PolicyConfig can hold).
HUBPG_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "ELU": "elu", "GELU": "gelu", "SiLU": "silu"}
_FC_KEY = re.compile(r"^fc(\d{1,3})\.(weight|bias)$")
#: What a class of the student's own may hold beside its Linear layers.
_BESIDE_LINEARS = frozenset(
    {"Linear", "Dropout", "Identity", "Softmax", "LogSoftmax", *HUBPG_ACTIVATIONS}
)


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
    """The architecture of an unpickled checkpoint (a stand-in module tree or a state
    dict) or of a live ``torch.nn.Module``, by the same rules.

    Args:
        obj: what :func:`~hubpg.legacy.load.load_checkpoint` returned, or a live module.
        source: the file's (or module's) name, for messages.
    """
    assumed: list[str] = []
    if isinstance(obj, StandIn) or is_module(obj):
        layers = _module_layers(obj, source, assumed, depth=0, seen=set())
    elif type(obj) in (dict, OrderedDict):
        layers = _state_dict_layers(obj, source, assumed)
    else:
        raise LegacyCheckpointError(
            f"{source} holds a {type(obj).__name__}, neither a module nor a state dict of "
            "fcN.weight/fcN.bias tensors"
        )
    return _architecture(layers, source, assumed)


def rebuild_module(module: Any, *, source: str | None = None) -> Architecture:
    """The architecture of a live ``torch.nn.Module`` (a student's policy in their own
    process), by the rules a checkpoint's stand-ins follow: a live module holds the
    same ``_modules``/``_parameters`` tables. Nothing is pickled; the tensors are copied.

    Args:
        module: the module.
        source: its name in messages (default: its class, e.g. ``__main__.Policy``).
    """
    if not is_module(module):
        raise LegacyCheckpointError(
            f"{type(module).__name__[:100]} is not a torch.nn.Module; hubpg rebuilds policies "
            "made of Linear layers"
        )
    return rebuild(module, source=source or class_name(module))


def _module_layers(
    mod: Any, source: str, assumed: list[str], depth: int, seen: set[int]
) -> list[Layer]:
    """The layers of a module tree, each module visited once (a module used twice is
    refused: shared references cannot make the walk exponential or endless)."""
    if depth > MAX_DEPTH:
        raise LegacyCheckpointError(f"{source}: modules nested deeper than {MAX_DEPTH} levels")
    _visit(mod, source, seen)
    kind = _kind(mod)
    if kind == "Sequential":
        _no_own_tensors(mod, source)
        layers: list[Layer] = []
        for child_name, child in _children(mod, source):
            if _kind(child) == "Sequential":
                layers += _module_layers(child, source, assumed, depth + 1, seen)
            else:
                _visit(child, source, seen)
                layers.append(_leaf(child_name, child, source))
        return layers
    if kind == "custom":
        return _custom_layers(mod, source, assumed, depth, seen)
    return [_leaf(class_name(mod).rsplit(".", 1)[-1], mod, source)]


def _visit(mod: Any, source: str, seen: set[int]) -> None:
    if id(mod) in seen:
        raise LegacyCheckpointError(
            f"{source}: a {class_name(mod)} is used twice in the network (shared or cyclic "
            "modules); hubpg rebuilds plain feed-forward networks only"
        )
    seen.add(id(mod))
    if len(seen) > MAX_LAYERS:
        raise LegacyCheckpointError(f"{source}: more than {MAX_LAYERS} modules")


def _custom_layers(
    mod: Any, source: str, assumed: list[str], depth: int, seen: set[int]
) -> list[Layer]:
    """A class of the student's own: Linear children (with Dropout, Identity, one kind of
    activation and a softmax beside them) get the course's forward; one Sequential child
    is assumed to be applied. Its other attributes (a device, numbers) play no part."""
    name = class_name(mod)
    _no_own_tensors(mod, source)
    children = _children(mod, source)
    kinds = [_kind(c) for _, c in children]
    if len(children) == 1 and kinds == ["Sequential"]:
        assumed.append(
            f"forward of {name} (its code is not in the file): applies its one Sequential, "
            f"{children[0][0]}"
        )
        return _module_layers(children[0][1], source, assumed, depth + 1, seen)
    odd = next(
        ((c, m) for (c, m), k in zip(children, kinds, strict=True) if k not in _BESIDE_LINEARS),
        None,
    )
    if odd or "Linear" not in kinds:
        what = f"its child {odd[0]!r} ({class_name(odd[1])})" if odd else "no Linear layer"
        raise LegacyCheckpointError(
            f"{source}: {name} holds {what}, whose place in its forward hubpg cannot know; "
            "hubpg rebuilds a class of the student's own when it holds Linear layers (with "
            "Dropout, Identity, one activation, a softmax) or one Sequential, as the "
            "course's Policy does"
        )
    for _, child in children:
        _visit(child, source, seen)
    leaves = {c: _leaf(c, m, source) for c, m in children}  # checks each one's settings
    activations = sorted({k for k in kinds if k in HUBPG_ACTIVATIONS})
    if len(activations) > 1:
        raise LegacyCheckpointError(
            f"{source}: {name} holds several activations ({', '.join(activations)}); hubpg "
            "cannot know which one goes where in its forward"
        )
    activation = activations[0] if activations else "ReLU"
    ordered = _course_order([c for c, k in zip(leaves, kinds, strict=True) if k == "Linear"])
    idle = [c for c, k in zip(leaves, kinds, strict=True) if k in ("Dropout", "Identity")]
    between = "ReLU (the course's)" if not activations else f"its {activation}"
    assumed.append(
        f"forward of {name} (its code is not in the file): the course's, "
        f"{' -> '.join(ordered)} with {between} between and softmax at the end"
        + (f"; {', '.join(idle)} (Dropout, Identity) the identity when evaluating" if idle else "")
    )
    return _course_forward([leaves[c] for c in ordered], activation)


def _course_order(names: list[str]) -> list[str]:
    """``fc1, fc2, ...`` by number when every name is ``fcN``; else registration order."""
    if all(re.fullmatch(r"fc(\d{1,3})", n) for n in names):
        return sorted(names, key=lambda n: int(n[2:]))
    return names


def _course_forward(linears: list[Layer], activation: str = "ReLU") -> list[Layer]:
    layers: list[Layer] = []
    for i, linear in enumerate(linears):
        if i:
            layers.append(Layer(activation, activation.lower()))
        layers.append(linear)
    layers.append(Layer("softmax", "softmax", detail="dim=1"))
    return layers


# A stand-in and a live torch.nn.Module are read alike: a kind, a class name, a __dict__.


def is_module(obj: Any) -> bool:
    """True when ``obj`` is a live ``torch.nn.Module`` (torch is not imported to find
    out: when it was never imported, ``obj`` cannot be one).

    Args:
        obj: anything.
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _kind(obj: Any) -> str:
    """The layer kind (``Linear``, ``Sequential``, ``ReLU``, ..., ``custom``), ``"?"`` for
    what is not a module, ``"unsupported"`` for a live module hubpg cannot rebuild."""
    if isinstance(obj, StandIn):
        return type(obj).kind
    if is_module(obj):
        return live_kind(class_name(obj))
    return "?"


def class_name(obj: Any) -> str:
    """The class a stand-in or a live module stands for (``module.QualName``, at most
    200 characters), else the object's type name."""
    if isinstance(obj, StandIn):
        return type(obj).pickled_name
    cls = type(obj)
    if is_module(obj):
        return f"{cls.__module__}.{cls.__qualname__}"[:200]
    return cls.__name__[:100]


def _children(mod: Any, source: str) -> list[tuple[str, Any]]:
    modules = vars(mod).get("_modules")
    if type(modules) not in (dict, OrderedDict):
        raise LegacyCheckpointError(
            f"{source}: {class_name(mod)} has no module table (_modules); it was not "
            "saved from an nn.Module"
        )
    if len(modules) > MAX_LAYERS:
        raise LegacyCheckpointError(f"{source}: more than {MAX_LAYERS} layers in one module")
    return [(str(k), v) for k, v in modules.items() if v is not None]


def _no_own_tensors(mod: Any, source: str) -> None:
    state = vars(mod)
    for table in ("_parameters", "_buffers"):
        if state.get(table):
            raise LegacyCheckpointError(
                f"{source}: {class_name(mod)} holds its own {table[1:]} "
                f"({', '.join(_key_text(k) for k in list(state[table])[:3])}); hubpg cannot know how its "
                "forward uses them"
            )


def _leaf(name: str, mod: Any, source: str) -> Layer:
    kind = _kind(mod)
    if kind == "?":
        raise LegacyCheckpointError(
            f"{source}: layer {name!r} is a {class_name(mod)}, not a module"
        )
    state = vars(mod)
    if kind == "Linear":
        params = state.get("_parameters")
        if type(params) not in (dict, OrderedDict) or set(params) - {"weight", "bias"}:
            raise LegacyCheckpointError(f"{source}: Linear {name!r} has unexpected parameters")
        return _linear(name, params, source)
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
    if kind in ("custom", "Sequential"):
        raise LegacyCheckpointError(
            f"{source}: layer {name!r} is a {class_name(mod)} nested in a Sequential; "
            "hubpg rebuilds Sequentials of Linear and activation layers only"
        )
    if kind == "unsupported":
        raise LegacyCheckpointError(
            f"{source}: layer {name!r} is a {class_name(mod)}, which hubpg cannot rebuild "
            "(it rebuilds Linear, Sequential, activations, Softmax, Dropout and Identity)"
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


def _linear(name: str, params: dict[str, Any], source: str) -> Layer:
    """A Linear layer of ``params``' ``weight`` and optional ``bias``."""
    bias = params.get("bias")
    return Layer(
        "linear",
        name,
        _tensor(params.get("weight"), f"{name}.weight", source, ndim=2),
        None if bias is None else _tensor(bias, f"{name}.bias", source, ndim=1),
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
    return value.detach().to("cpu", torch.float32).contiguous().clone()


def _state_dict_layers(state: dict[Any, Any], source: str, assumed: list[str]) -> list[Layer]:
    """``fcN.weight``/``fcN.bias`` tensors: the course's forward over fc1, fc2, ..."""
    if not state:
        raise LegacyCheckpointError(f"{source} is an empty dict, not a state dict")
    numbers: dict[int, dict[str, Any]] = {}
    for key, value in state.items():
        match = _FC_KEY.match(key) if isinstance(key, str) else None
        if not match:
            raise LegacyCheckpointError(
                f"{source}: state dict key {_key_text(key)} is not of the form fcN.weight or "
                "fcN.bias (the course's Policy); hubpg cannot tell the architecture"
            )
        numbers.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if len(numbers) > MAX_LAYERS:
        raise LegacyCheckpointError(f"{source}: more than {MAX_LAYERS} layers")
    linears = []
    for n in sorted(numbers):
        if "weight" not in numbers[n]:
            raise LegacyCheckpointError(f"{source}: fc{n}.bias without fc{n}.weight")
        linears.append(_linear(f"fc{n}", numbers[n], source))
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


def _key_text(key: Any) -> str:
    """A dict key for a message, never built from unbounded data: a short string's
    repr, else only its type."""
    if isinstance(key, str):
        return repr(key[:80])
    if isinstance(key, (int, float, bool)) or key is None:
        return repr(key)[:40]
    return f"<a {type(key).__name__}>"
