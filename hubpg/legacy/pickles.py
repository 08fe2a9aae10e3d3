"""Walk a checkpoint's pickle without building anything from it: refuse before allocating.

torch's weights-only unpickler runs nothing from a file but still *builds* what it asks
for (``bytearray(1_500_000_000)``, uninitialised tensors, a dict key whose ``hash()``
costs 2**60). :func:`walk_pickle` reads the same opcodes with symbolic values and accepts
only what ``torch.save`` writes for a module or a state dict: tensors rebuilt inside a
storage record of the archive, module classes created without arguments and given one
module state, bounded dict keys and tuples. Everything else is refused with a message
built from bounded data only.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubpg.errors import LegacyCheckpointError
from hubpg.errors import NotAPickleRefusal as _NotAPickle
from hubpg.errors import PickleWalkRefusal as _Refused

#: Deepest tuple nesting, and most elements a tuple may reach through shared
#: references (``torch.save`` writes shapes and storage records: depth 2, a few items).
MAX_TUPLE_DEPTH = 16
MAX_TUPLE_LEAVES = 4096
#: Most dimensions of a tensor, strings of a set, characters of a device name.
MAX_DIMS = 8
MAX_SET_ITEMS = 4096
MAX_DEVICE_CHARS = 32
#: The pickle must have ended by then (a course model's is a few kB).
MAX_PICKLE_BYTES = 2**20
#: Longest module or class name of a global.
MAX_NAME_BYTES = 256

_STORAGE_TAG = "storage"


class _Global:
    """A global the pickle pushed: torch's allowlisted object, or a module class."""

    __slots__ = ("inert", "kind", "name")

    def __init__(self, name: str, kind: str | None, inert: bool) -> None:
        self.name, self.kind, self.inert = name, kind, inert


class _Tuple:
    __slots__ = ("depth", "items", "leaves")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.depth = 1 + max((i.depth for i in items if isinstance(i, _Tuple)), default=0)
        self.leaves = sum(i.leaves if isinstance(i, _Tuple) else 1 for i in items)


class _List:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Any] = []


class _Dict:
    __slots__ = ("items", "ordered")

    def __init__(self, *, ordered: bool = False) -> None:
        self.items: dict[Any, Any] = {}
        self.ordered = ordered


class _Module:
    """An instance of a module class, to be given its state by BUILD."""

    __slots__ = ("name", "state")

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: _Dict | None = None


@dataclass
class Storage:
    """A storage record the pickle refers to (``numel`` elements of ``itemsize`` bytes)."""

    key: str
    dtype: str
    itemsize: int
    numel: int

    @property
    def nbytes(self) -> int:
        """The record's size in bytes."""
        return self.numel * self.itemsize


class _Tensor:
    """A tensor rebuilt from a storage record."""

    __slots__ = ()


class _Opaque:
    """A harmless value the walk need not look into (a set of names, a device)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


_SCALARS = (str, bytes, int, float, bool, type(None))


@dataclass
class PickleFacts:
    """What a walked pickle holds: the module classes it creates (name -> kind), the
    storage records it refers to (key -> :class:`Storage`), and its symbolic value."""

    classes: dict[str, str] = field(default_factory=dict)
    storages: dict[str, Storage] = field(default_factory=dict)
    value: Any = None


class _Walk:
    """One pickle, walked opcode by opcode (the opcodes torch's weights-only
    unpickler accepts, nothing else)."""

    def __init__(
        self,
        stream: io.BytesIO,
        classify: Callable[[str], str | None],
        *,
        persistent: int | None,
    ) -> None:
        from torch import _weights_only_unpickler as wou

        self.stream = stream
        self.limit = stream.tell() + MAX_PICKLE_BYTES
        self.classify = classify
        self.persistent = persistent  # the storage record's tuple length, None: none allowed
        self.allowed = wou._get_allowed_globals()
        self.read_global = wou._read_global_instruction
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.facts = PickleFacts()
        self.modules: list[_Module] = []

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise _NotAPickle("truncated")
        return data

    def pop(self) -> Any:
        if not self.stack:
            raise _Refused("its pickle pops an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _Refused("its pickle uses an empty stack")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _Refused("its pickle closes a MARK it never opened")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def data(self, value: Any) -> Any:
        """``value`` placed inside a container, a call's arguments or a state."""
        if isinstance(value, _Global) and not value.inert:
            if value.kind is not None:
                raise _Refused(
                    f"it uses the class {value.name[:200]} as a value, not the way torch.save "
                    "writes a module (created without arguments, then given its state)"
                )
            raise _Refused(
                f"it uses {value.name[:200]} as a value, which torch.save never writes in a model"
            )
        return value

    def run(self) -> PickleFacts:
        op = self.read(1)
        if op != b"\x80":
            raise _NotAPickle("no pickle protocol at its start")
        self.read(1)
        while True:
            if self.stream.tell() > self.limit:
                raise _Refused(
                    f"its pickle runs past {MAX_PICKLE_BYTES:,} bytes; a course model's is a few kB"
                )
            op = self.read(1)[0]
            if op == 0x2E:  # STOP
                value = self.data(self.pop())
                for module in self.modules:
                    if module.state is None:
                        raise _Refused(
                            f"it creates a {module.name[:200]} without giving it a module's "
                            "state, not the way torch.save writes a module"
                        )
                self.facts.value = value
                return self.facts
            handler = _HANDLERS.get(op)
            if handler is None:
                raise _NotAPickle(f"opcode {op:#04x} at byte {self.stream.tell() - 1}")
            handler(self)


# The opcode handlers, then the calls REDUCE may make (_HANDLERS and _CALLS below).


def _global(w: _Walk) -> None:
    lines = [w.stream.readline(MAX_NAME_BYTES + 1) for _ in range(2)]
    if not all(line.endswith(b"\n") for line in lines):
        raise _Refused("it names a global that is too long or unterminated")
    module, name = w.read_global(iter(lines).__next__)
    full = f"{module}.{name}"
    if module in ("sys", "os", "posix", "nt"):
        raise _Refused(_needs(full))
    if full in w.allowed:
        w.stack.append(_Global(full, None, _inert(w.allowed[full])))
        return
    kind = w.classify(full)
    if kind is None:
        raise _Refused(_needs(full))
    w.facts.classes[full] = kind
    w.stack.append(_Global(full, kind, inert=False))


def _needs(full: str) -> str:
    return (
        f"it needs the global {full[:200]}, which is neither torch's tensor machinery nor a "
        "module class hubpg stands in for (Linear, Sequential, activations, Softmax, Dropout, "
        "Identity, a class of the student's own)"
    )


def _inert(obj: Any) -> bool:
    """A dtype or a storage type: a value that does nothing, allowed as data."""
    import torch

    return isinstance(obj, (torch.dtype, torch.serialization.StorageType)) or (
        obj is torch.UntypedStorage
    )


def _newobj(w: _Walk) -> None:
    args, cls = w.pop(), w.pop()
    w.stack.append(_instance(w, cls, args, "NEWOBJ"))


def _reduce(w: _Walk) -> None:
    args = w.pop()
    func = w.top()
    if not isinstance(func, _Global):
        raise _Refused(f"its pickle calls a {_type_name(func)}")
    if not isinstance(args, _Tuple):
        raise _Refused(f"its pickle calls {func.name[:200]} without an argument tuple")
    if func.kind is not None:
        result = _instance(w, func, args, "REDUCE")
    else:
        call = _CALLS.get(func.name)
        if call is None:
            raise _Refused(
                f"it calls {func.name[:200]}(...), which is not a tensor rebuilt from a "
                "storage record of the archive"
            )
        result = call(w, args.items)
    w.stack[-1] = result


def _instance(w: _Walk, cls: Any, args: Any, op: str) -> _Module:
    if not isinstance(cls, _Global) or cls.kind is None:
        name = cls.name if isinstance(cls, _Global) else _type_name(cls)
        raise _Refused(f"it creates a {name[:200]} ({op}), which torch.save never writes")
    if not isinstance(args, _Tuple) or args.items:
        raise _Refused(
            f"it creates {cls.name[:200]} with arguments, not the way torch.save writes a "
            "module (created without arguments, then given its state)"
        )
    module = _Module(cls.name)
    w.modules.append(module)
    return module


def _build(w: _Walk) -> None:
    state = w.data(w.pop())
    inst = w.top()
    if isinstance(inst, _Module):
        if inst.state is not None:
            raise _Refused(f"it gives {inst.name[:200]} a state twice")
        if not (
            isinstance(state, _Dict) and "_modules" in state.items and "_parameters" in state.items
        ):
            raise _Refused(
                f"it gives {inst.name[:200]} a state without _modules and _parameters, not "
                "the way torch.save writes a module"
            )
        inst.state = state
    elif not (isinstance(inst, _Dict) and inst.ordered and isinstance(state, _Dict)):
        # an OrderedDict's attributes (a state dict's _metadata) are all BUILD may set
        raise _Refused(f"it sets the state of a {_type_name(inst)} (BUILD)")


def _key(key: Any) -> Any:
    if not isinstance(key, (str, int, float, bool, type(None))):
        what = f"a tuple nested {key.depth} deep" if isinstance(key, _Tuple) else None
        raise _Refused(
            f"it uses {what or 'a ' + _type_name(key)} as a dict key; torch.save writes only "
            "names and numbers as keys"
        )
    return key


def _target_dict(w: _Walk, op: str) -> _Dict:
    target = w.top()
    if not isinstance(target, _Dict):
        raise _Refused(
            f"its pickle sets an item on a {_type_name(target)} ({op}), which only a dict "
            "takes; torch.save never writes it"
        )
    return target


def _setitem(w: _Walk) -> None:
    value, key = w.data(w.pop()), w.pop()
    _target_dict(w, "SETITEM").items[_key(key)] = value


def _setitems(w: _Walk) -> None:
    items = w.pop_mark()
    if len(items) % 2:
        raise _Refused("its pickle's SETITEMS has a key without a value")
    target = _target_dict(w, "SETITEMS")
    for i in range(0, len(items), 2):
        target.items[_key(items[i])] = w.data(items[i + 1])


def _target_list(w: _Walk, op: str) -> _List:
    target = w.top()
    if not isinstance(target, _List):
        raise _Refused(f"its pickle appends to a {_type_name(target)} ({op})")
    return target


def _append(w: _Walk) -> None:
    item = w.data(w.pop())
    _target_list(w, "APPEND").items.append(item)


def _appends(w: _Walk) -> None:
    items = [w.data(i) for i in w.pop_mark()]
    _target_list(w, "APPENDS").items.extend(items)


def _tuple_of(w: _Walk, items: list[Any]) -> None:
    made = _Tuple([w.data(i) for i in items])
    if made.depth > MAX_TUPLE_DEPTH or made.leaves > MAX_TUPLE_LEAVES:
        raise _Refused(
            f"it nests tuples {made.depth} deep ({min(made.leaves, 10**9):,}+ elements through "
            "shared references); torch.save never writes that"
        )
    w.stack.append(made)


def _tuple(w: _Walk) -> None:
    _tuple_of(w, w.pop_mark())


def _tuple_n(n: int) -> Callable[[_Walk], None]:
    def handler(w: _Walk) -> None:
        if len(w.stack) < n:
            raise _Refused("its pickle pops an empty stack")
        items = w.stack[len(w.stack) - n :]
        del w.stack[len(w.stack) - n :]
        _tuple_of(w, items)

    return handler


def _mark(w: _Walk) -> None:
    w.metastack.append(w.stack)
    w.stack = []


def _push(value: Callable[[], Any]) -> Callable[[_Walk], None]:
    return lambda w: w.stack.append(value())


def _binint(fmt: str, size: int) -> Callable[[_Walk], None]:
    return lambda w: w.stack.append(struct.unpack(fmt, w.read(size))[0])


def _binunicode(w: _Walk) -> None:
    (length,) = struct.unpack("<I", w.read(4))
    w.stack.append(w.read(length).decode("utf-8", "surrogatepass"))


def _short_binstring(w: _Walk) -> None:
    w.stack.append(w.read(w.read(1)[0]))


def _long1(w: _Walk) -> None:
    import pickle

    w.stack.append(pickle.decode_long(w.read(w.read(1)[0])))


def _memo(size: int, *, get: bool) -> Callable[[_Walk], None]:
    """BINGET/LONG_BINGET (``get``) or BINPUT/LONG_BINPUT, of a 1- or 4-byte index."""

    def handler(w: _Walk) -> None:
        index = w.read(1)[0] if size == 1 else struct.unpack("<I", w.read(4))[0]
        if not get:
            w.memo[index] = w.top()
        elif index in w.memo:
            w.stack.append(w.memo[index])
        else:
            raise _Refused(f"its pickle reads memo {index}, never stored")

    return handler


def _persid(w: _Walk) -> None:
    pid = w.pop()
    items = pid.items if isinstance(pid, _Tuple) else None
    if not items or items[0] not in (_STORAGE_TAG, _STORAGE_TAG.encode()):
        if items and items[0] in ("module", b"module"):
            raise _Refused("it embeds a module's source code (a pre-1.6 whole-module save)")
        raise _Refused("it refers to a persistent object that is not a storage record")
    if w.persistent is None or len(items) != w.persistent:
        raise _Refused("its storage record has the wrong form")
    w.stack.append(_storage(w, items))


def _storage(w: _Walk, items: list[Any]) -> Storage:
    kind, key, location, numel = items[1:5]
    if not (isinstance(kind, _Global) and kind.inert and kind.name.endswith("Storage")):
        raise _Refused("its storage record names no storage type")
    if not (isinstance(key, str) and 0 < len(key) <= 64 and key.isascii() and key.isprintable()):
        raise _Refused("its storage record has a malformed key")
    if not (isinstance(location, str) and len(location) <= MAX_DEVICE_CHARS):
        raise _Refused("its storage record has a malformed location")
    if not (isinstance(numel, int) and not isinstance(numel, bool) and numel >= 0):
        raise _Refused("its storage record has a malformed size")
    dtype, itemsize = _storage_dtype(w.allowed[kind.name])
    storage = Storage(key, dtype, itemsize, numel)
    known = w.facts.storages.setdefault(key, storage)
    if (known.dtype, known.numel) != (dtype, numel):
        raise _Refused(f"it gives storage {key} two sizes or types")
    view = items[5] if len(items) == 6 else None
    if view is None:
        return storage
    if not (
        isinstance(view, _Tuple)
        and len(view.items) == 3
        and isinstance(view.items[0], str)
        and all(isinstance(v, int) and v >= 0 for v in view.items[1:])
        and view.items[1] + view.items[2] <= numel
    ):
        raise _Refused(f"its view of storage {key} lies outside it")
    return Storage(f"{key}[view]", dtype, itemsize, view.items[2])


def _storage_dtype(kind: Any) -> tuple[str, int]:
    import torch

    dtype = torch.uint8 if kind is torch.UntypedStorage else kind.dtype
    return str(dtype).removeprefix("torch."), int(dtype.itemsize)


def _rebuild_tensor_v2(w: _Walk, args: list[Any]) -> _Tensor:
    if len(args) not in (6, 7):
        raise _Refused("it rebuilds a tensor with the wrong arguments")
    storage, offset, size, stride, requires_grad, hooks = args[:6]
    if not isinstance(storage, Storage):
        raise _Refused("it rebuilds a tensor from something that is not a storage record")
    if not (
        _ints(size)
        and _ints(stride)
        and len(size.items) == len(stride.items) <= MAX_DIMS
        and isinstance(offset, int)
        and offset >= 0
        and isinstance(requires_grad, bool)
        and isinstance(hooks, _Dict)
        and not hooks.items
        and (len(args) == 6 or args[6] is None or isinstance(args[6], _Dict))
    ):
        raise _Refused("it rebuilds a tensor with a malformed shape, stride or offset")
    shape = size.items
    count = math.prod(shape)
    if count:
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride.items, strict=True))
        if count > storage.numel or last >= storage.numel:
            raise _Refused(
                f"a tensor of shape {tuple(shape)!s:.100} claims more elements than it stores "
                f"(storage {storage.key}: {storage.numel:,} elements)"
            )
    return _Tensor()


def _ints(value: Any) -> bool:
    return isinstance(value, _Tuple) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value.items
    )


def _rebuild_parameter(w: _Walk, args: list[Any]) -> _Tensor:
    if not (
        len(args) == 3
        and isinstance(args[0], _Tensor)
        and isinstance(args[1], bool)
        and isinstance(args[2], _Dict)
        and not args[2].items
    ):
        raise _Refused("it rebuilds a parameter from something that is not a tensor")
    return args[0]


def _ordered_dict(w: _Walk, args: list[Any]) -> _Dict:
    if args:
        raise _Refused("it calls collections.OrderedDict with arguments")
    return _Dict(ordered=True)


def _set(w: _Walk, args: list[Any]) -> _Opaque:
    names = args[0].items if len(args) == 1 and isinstance(args[0], _List) else None
    if args and (
        names is None
        or len(names) > MAX_SET_ITEMS
        or not all(isinstance(n, str) and len(n) <= 200 for n in names)
    ):
        raise _Refused("it calls builtins.set on something other than a list of names")
    return _Opaque("set")


def _device(w: _Walk, args: list[Any]) -> _Opaque:
    if not (
        1 <= len(args) <= 2
        and isinstance(args[0], str)
        and len(args[0]) <= MAX_DEVICE_CHARS
        and (len(args) == 1 or (isinstance(args[1], int) and 0 <= args[1] < 2**16))
    ):
        raise _Refused("it calls torch.device with arguments that are not a device name")
    return _Opaque("device")


_CALLS: dict[str, Callable[[_Walk, list[Any]], Any]] = {
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "collections.OrderedDict": _ordered_dict,
    "builtins.set": _set,
    "torch.device": _device,
}

_HANDLERS: dict[int, Callable[[_Walk], None]] = {
    ord("c"): _global,
    0x81: _newobj,
    ord("R"): _reduce,
    ord("b"): _build,
    ord("a"): _append,
    ord("e"): _appends,
    ord("s"): _setitem,
    ord("u"): _setitems,
    ord("("): _mark,
    ord("t"): _tuple,
    0x85: _tuple_n(1),
    0x86: _tuple_n(2),
    0x87: _tuple_n(3),
    ord("N"): _push(lambda: None),
    0x89: _push(lambda: False),
    0x88: _push(lambda: True),
    ord(")"): _push(lambda: _Tuple([])),
    ord("]"): _push(_List),
    ord("}"): _push(_Dict),
    0x8F: _push(lambda: _Opaque("set")),
    ord("J"): _binint("<i", 4),
    ord("K"): _binint("<B", 1),
    ord("M"): _binint("<H", 2),
    ord("G"): _binint(">d", 8),
    ord("X"): _binunicode,
    ord("U"): _short_binstring,
    ord("Q"): _persid,
    ord("h"): _memo(1, get=True),
    ord("j"): _memo(4, get=True),
    ord("q"): _memo(1, get=False),
    ord("r"): _memo(4, get=False),
    0x8A: _long1,
}


_TYPE_NAMES = {
    _Module: "module",
    _Dict: "dict",
    _List: "list",
    _Tuple: "tuple",
    _Tensor: "tensor",
    Storage: "storage",
    _Global: "global",
}


def _type_name(value: Any) -> str:
    if isinstance(value, _Opaque):
        return value.what
    if isinstance(value, _SCALARS):
        return type(value).__name__
    return _TYPE_NAMES.get(type(value), "value")


def walk_pickle(
    name: str,
    stream: io.BytesIO,
    *,
    classify: Callable[[str], str | None],
    persistent: int | None = None,
) -> PickleFacts:
    """Walk one pickle from ``stream``'s position without building anything from it,
    and refuse what ``torch.save`` never writes for a model (see the module's text).

    Args:
        name: the file's name, for messages.
        stream: the bytes, positioned at the pickle (left after its STOP).
        classify: a global beyond torch's allowlist -> the stand-in kind of its module
            class, or None to refuse it.
        persistent: the length of a storage record's tuple (5 in the zip format, 6 in
            the pre-1.6 format), or None where the pickle may refer to no storage.
    """
    try:
        return _Walk(stream, classify, persistent=persistent).run()
    except _NotAPickle as exc:
        raise LegacyCheckpointError(
            f"{name} is not a pickle torch's weights-only loader reads ({exc}); it is refused "
            "without being run"
        ) from None
    except _Refused as exc:
        raise LegacyCheckpointError(
            f"{name}: {exc}; refused before loading: nothing was built, nothing ran"
        ) from None
    except LegacyCheckpointError:
        raise
    except (UnicodeDecodeError, ValueError, struct.error, IndexError) as exc:
        raise LegacyCheckpointError(
            f"{name} is not a pickle torch's weights-only loader reads ({type(exc).__name__}); "
            "it is refused without being run"
        ) from None
