"""Read a stranger's checkpoint in a process of its own, with a deadline and a memory
ceiling: one hung or exhausting file costs that process, never the caller.

The file's bytes go to a fresh ``python -I`` (no environment, no inherited descriptors,
its own session), which caps its memory and CPU time, dies with its parent, scans, loads
and rebuilds, and answers with one JSON line and a safetensors blob of the weights: never
a pickle. On the deadline, Ctrl-C or any error in the caller, its process group is killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hubpg.errors import HubpgError, LegacyCheckpointError, LegacyReaderError, one_line
from hubpg.legacy.rebuild import MAX_LAYERS, Architecture, Layer
from hubpg.legacy.scan import DEFAULT_MAX_BYTES, CheckpointScan, read_capped

#: Seconds the reading process may take, its start (an interpreter and torch) included.
DEFAULT_READ_TIMEOUT_S = 60.0
#: Memory the reading process may take beyond the interpreter and torch (MiB).
DEFAULT_READ_MEMORY_MIB = 1024
#: The answer's JSON line is small; a larger one is not the reader's.
_MAX_HEADER_BYTES = 2**20
_CHILD = (
    "import os, sys; answer = os.dup(1); os.dup2(2, 1); sys.path.insert(0, sys.argv[1]); "
    "from hubpg.legacy.isolate import child_main; child_main(answer, sys.argv[2:])"
)
_THREADS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def read_isolated(
    path: Path | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
    memory_mib: int = DEFAULT_READ_MEMORY_MIB,
) -> tuple[CheckpointScan, Architecture]:
    """Scan, load and rebuild a checkpoint in a separate process: the scan (without
    the file's bytes) and the rebuilt architecture.

    Args:
        path: the ``torch.save`` file.
        max_bytes: the size cap (default 64 MiB).
        read_timeout: seconds the reading process may take (its start included).
        memory_mib: MiB it may take beyond the interpreter and torch.
    """
    path = Path(path)
    data = read_capped(path, max_bytes)
    out = _run_reader(path.name, data, read_timeout, memory_mib)
    header, body = _answer(path.name, out, memory_mib)
    scan = CheckpointScan(
        path,
        len(data),
        hashlib.sha256(data).hexdigest(),
        str(header["format"]),
        sorted(header["classes"]),
        dict(header["classes"]),
    )
    return scan, _architecture(path.name, header, body)


def _run_reader(name: str, data: bytes, read_timeout: float, memory_mib: int) -> bytes:
    import hubpg

    root = str(Path(hubpg.__file__).resolve().parent.parent)
    cpu_seconds = max(1, int(read_timeout) + 1)
    command = [sys.executable, "-I", "-c", _CHILD, root, name[:200], str(memory_mib)]
    command += [str(cpu_seconds), str(os.getpid())]
    try:
        proc = _start(command)
    except OSError as exc:
        raise LegacyReaderError(f"could not start a process to read {name} ({exc})") from exc
    started = time.monotonic()
    try:
        # The caller builds a torch policy next: import torch here while the reader
        # starts its own interpreter (on two cores the imports overlap).
        import torch  # noqa: F401

        left = max(0.0, read_timeout - (time.monotonic() - started))
        out, err = proc.communicate(data, timeout=left)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise LegacyReaderError(
            f"timed out reading {name} (over {read_timeout:g} s; a course model reads in a "
            "few seconds); refused, nothing from it ran"
        ) from None
    except BaseException:  # Ctrl-C, or anything else: the reader never outlives the call
        _kill(proc)
        raise
    if proc.returncode == -signal.SIGXCPU:
        raise LegacyReaderError(
            f"timed out reading {name} (its CPU time ran out); refused, nothing from it ran"
        )
    if proc.returncode < 0:
        raise LegacyReaderError(
            f"the process reading {name} died (signal {-proc.returncode}; it may have "
            f"exceeded {memory_mib} MiB); refused, nothing from it ran"
        )
    if not out:
        detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no answer"]
        raise LegacyReaderError(f"could not read {name} in a separate process ({detail[0][:200]})")
    return out


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    """The reader: no environment but one thread, no descriptor but its pipes, its own
    session, in the filesystem's root."""
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**dict.fromkeys(_THREADS_ENV, "1"), "PYGAME_HIDE_SUPPORT_PROMPT": "1"},
        cwd=os.path.abspath(os.sep),
        close_fds=True,
        start_new_session=True,  # its own process group: killed as one, Ctrl-C not forwarded
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the reader's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _answer(name: str, out: bytes, memory_mib: int) -> tuple[dict[str, Any], bytes]:
    line, _, body = out.partition(b"\n")
    try:
        if len(line) > _MAX_HEADER_BYTES:
            raise ValueError("answer too long")
        header = json.loads(line)
        if not isinstance(header, dict):
            raise ValueError("answer is not an object")
    except ValueError as exc:
        raise LegacyReaderError(f"the process reading {name} answered garbage ({exc})") from None
    if header.get("memory"):
        raise LegacyReaderError(
            f"exceeded {memory_mib} MiB reading {name}; refused, nothing from it ran"
        )
    if not header.get("ok"):
        raise LegacyCheckpointError(str(header.get("error") or f"{name} cannot be read")[:2000])
    return header, body


def _architecture(name: str, header: dict[str, Any], body: bytes) -> Architecture:
    """The architecture from the reader's answer: names and flags from the JSON line,
    weights from the safetensors blob (parsed, never unpickled)."""
    from safetensors.torch import load

    try:
        tensors = load(body)
        names = [str(entry["name"]) for entry in header["linears"]]
        if not 0 < len(names) <= MAX_LAYERS:
            raise ValueError("no layers")
        linears = [
            Layer("linear", layer, tensors[f"{i}.weight"], tensors[f"{i}.bias"])
            for i, layer in enumerate(names)
        ]
        return Architecture(
            linears,
            str(header["activation"]),
            [str(x) for x in header["layers"]],
            [str(x) for x in header["assumed"]],
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise LegacyReaderError(
            f"the process reading {name} answered garbage ({one_line(exc)[:100]})"
        ) from None


# --------------------------------------------------------------------------- the reading process


def child_main(answer_fd: int, argv: list[str]) -> None:
    """The reading process: limit itself, read the file's bytes from stdin, answer on
    ``answer_fd`` (one JSON line, then the weights as safetensors).

    Args:
        answer_fd: the descriptor to answer on (stdout, before stdout went to stderr).
        argv: the file's name, the memory ceiling (MiB), CPU seconds, the parent's pid.
    """
    name, memory_mib, cpu_seconds, parent = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    _die_with_parent(parent)
    import torch

    torch.set_num_threads(1)
    _limit(memory_mib, cpu_seconds)
    header: dict[str, Any]
    body = b""
    try:
        header, body = _read(name, sys.stdin.buffer.read())
    except HubpgError as exc:
        header = {"ok": False, "error": str(exc)[:2000]}
    except MemoryError:
        header = {"ok": False, "memory": True}
    except Exception as exc:  # noqa: BLE001 - whatever torch raises is one refusal
        text = one_line(exc)
        if "allocate" in text or "out of memory" in text:
            header = {"ok": False, "memory": True}
        else:
            header = {"ok": False, "error": f"{name} holds a network hubpg cannot read ({text})"}
    with os.fdopen(answer_fd, "wb") as answer:
        answer.write(json.dumps(header).encode() + b"\n" + body)


def _read(name: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    from safetensors.torch import save

    from hubpg.legacy.load import load_checkpoint
    from hubpg.legacy.rebuild import rebuild
    from hubpg.legacy.scan import scan_bytes

    scan = scan_bytes(data, path=Path(name))
    arch = rebuild(load_checkpoint(scan), source=name)
    tensors = {}
    for i, layer in enumerate(arch.linears):
        tensors |= {f"{i}.weight": layer.weight, f"{i}.bias": layer.bias}
    header = {
        "ok": True,
        "format": scan.format,
        "classes": scan.stand_ins,
        "linears": [{"name": layer.name} for layer in arch.linears],
        "activation": arch.activation,
        "layers": arch.layers,
        "assumed": arch.assumed,
    }
    return header, save(tensors)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies; exit if it already has."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _limit(memory_mib: int, cpu_seconds: int) -> None:
    """Cap this process's address space at what it uses now plus ``memory_mib``, its CPU
    time, and forbid file writes and core dumps."""
    import resource

    for name, value in (("CPU", cpu_seconds), ("FSIZE", 0), ("CORE", 0)):
        limit = getattr(resource, f"RLIMIT_{name}")
        _, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))
    used = _address_space()
    if used is not None:
        ceiling = used + memory_mib * 2**20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:  # never above a ceiling the caller inherited
            ceiling = min(ceiling, hard)
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def _address_space() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None
