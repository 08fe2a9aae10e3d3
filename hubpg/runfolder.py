"""The run-folder and package formats (``docs/architecture.md``): every file name, the
log reader, JSON in and out, and the one atomic-write helper every file hubpg writes goes
through.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from huggingface_hub import constants as hf_constants

from hubpg.errors import ConfigError, MissingFileError

# --------------------------------------------------------------------------- file names
# The three names the Hub's own tools also use come from huggingface_hub's constants.

WEIGHTS_NAME = hf_constants.SAFETENSORS_SINGLE_FILE  # "model.safetensors"
CONFIG_NAME = hf_constants.CONFIG_NAME  # "config.json"
HYPERPARAMETERS_NAME = "hyperparameters.json"
LOG_NAME = "log.csv"
STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"
VALUE_NAME = "value.safetensors"
#: The last update's weights, for --resume, when ``model.safetensors`` holds the selected ones.
LAST_WEIGHTS_NAME = "last.safetensors"
RESULTS_NAME = "results.json"
VIDEO_NAME = "replay.mp4"
CURVE_NAME = "learning_curve.png"
CARD_NAME = hf_constants.REPOCARD_NAME  # "README.md"
#: Where a model converted from a course checkpoint came from (``hubpg convert`` writes it;
#: ``package`` ships it and the card says so).
LEGACY_NAME = "legacy.json"
#: The one TorchScript file hubpg writes (:mod:`hubpg.agent`), for the Open RL Leaderboard.
AGENT_NAME = "agent.pt"
#: The package folder inside a run folder, unless ``--out`` says otherwise.
PACKAGE_SUBDIR = "hub"
#: Suffixes of files that may hold pickles (``torch.save`` writes zip archives of pickles).
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib", ".zip")
#: Trainer states after which a run folder holds a usable policy.
FINISHED_STATES = ("completed", "interrupted")

# --------------------------------------------------------------------------- atomic writes


def fsync_dir(folder: Path | str) -> None:
    """fsync a folder, so that a rename or a new entry in it survives power loss
    (a no-op where folders cannot be opened, e.g. on Windows).

    Args:
        folder: the folder.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path | str, *, mode: int = 0o644, sync_dir: bool = False) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path`` (same suffix, so writers that go by
    the extension still work); on success it is fsynced, given
    ``mode`` and renamed onto ``path``; on failure it is removed.

    Args:
        path: the file to write.
        mode: permission bits of the final file (default ``0o644``, as any other file).
        sync_dir: also fsync the folder after the rename, so the new name itself survives
            power loss (the local Hub's repo metadata needs this).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        if sync_dir:
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path | str, data: bytes, *, sync_dir: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a unique temp file, then a rename).

    Args:
        path: the file to write.
        data: its whole content.
        sync_dir: also fsync the folder after the rename (see :func:`atomic_path`).
    """
    with atomic_path(path, sync_dir=sync_dir) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: the file to write.
        text: its whole content.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, data: Any) -> None:
    """Write ``data`` as indented JSON atomically; floats lose their rounding noise
    (:func:`clean_numbers`), non-finite ones are refused.

    Args:
        path: the file to write.
        data: a JSON-ready value.
    """
    atomic_write_text(path, json.dumps(clean_numbers(data), indent=2, allow_nan=False) + "\n")


@contextmanager
def atomic_dir(path: Path | str, *, mode: int = 0o755) -> Iterator[Path]:
    """Yield a fresh, uniquely named folder beside ``path``; on success it is given
    ``mode`` and renamed onto ``path`` (an existing ``path`` is first renamed aside,
    then removed); on failure it is removed and ``path`` is left as it was.

    Args:
        path: the folder to write.
        mode: permission bits of the final folder (default ``0o755``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, mode)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old)  # onto the empty placeholder folder
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- reading


def read_json(path: Path | str, *, source: str | None = None) -> Any:
    """Read a JSON file with a clear error when it is missing or invalid.

    Args:
        path: the file to read.
        source: how messages name it (default: its path).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MissingFileError(f"{source or path} not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source or path} is not valid JSON ({exc})") from exc


def read_log(run_dir: Path | str) -> list[dict[str, float]]:
    """The per-update log of a run (``log.csv``) as a list of dicts of floats.

    Args:
        run_dir: the run folder.
    """
    path = Path(run_dir) / LOG_NAME
    if not path.is_file():
        raise MissingFileError(f"{path} not found; is {run_dir} a hubpg run folder?")
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {k: float(v) for k, v in row.items() if v not in (None, "")}
            for row in csv.DictReader(handle)
        ]


def open_log(run_dir: Path | str, fields: list[str]) -> tuple[IO[str], csv.DictWriter]:
    """Open ``log.csv`` for appending; a new log gets a header, an existing one keeps
    its columns.

    Args:
        run_dir: the run folder.
        fields: the columns of a new log.
    """
    handle = (Path(run_dir) / LOG_NAME).open("a+", newline="", encoding="utf-8")
    handle.seek(0)
    header = next(csv.reader(handle), None)
    writer = csv.DictWriter(handle, fieldnames=header or fields, extrasaction="ignore")
    if header is None:
        writer.writeheader()
    return handle, writer


#: Significant digits a float keeps in hubpg's JSON and CSV output: enough for any
#: score or hyperparameter, few enough to drop float noise (``0.9499999999999886``).
FLOAT_DIGITS = 12


def clean_float(value: float) -> float:
    """``value`` rounded to :data:`FLOAT_DIGITS` significant digits (``0.9499999999999886``
    -> ``0.95``); non-finite values unchanged.

    Args:
        value: a float.
    """
    if not math.isfinite(value):
        return value
    return float(f"{value:.{FLOAT_DIGITS}g}")


def clean_numbers(data: Any) -> Any:
    """``data`` with every float in it (in dicts, lists and tuples) passed through
    :func:`clean_float`; ints, bools and everything else unchanged.

    Args:
        data: a JSON-ready value.
    """
    if isinstance(data, float):
        return clean_float(data)
    if isinstance(data, dict):
        return {k: clean_numbers(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [clean_numbers(v) for v in data]
    return data


def json_ready(data: dict[Any, Any]) -> dict[str, Any]:
    """The items of a course dict that strict JSON can hold (numpy scalars, such as
    ``env.action_space.n``, as numbers), keys as strings; the others (NaN, Infinity,
    objects) are left out.

    Args:
        data: a course hyperparameters or results dict.
    """
    import numpy as np

    kept: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, np.generic):
            value = value.item()
        try:
            json.dumps(value, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            continue
        kept[str(key)] = value
    return kept


def format_score(mean: float | None, std: float | None) -> str:
    """``"MEAN +/- STD"`` with two decimals (``"500.00 +/- 0.00"``), as the model card's
    model-index writes it; ``"-"`` when either is missing.

    Args:
        mean: mean return.
        std: standard deviation of the returns.
    """
    if mean is None or std is None:
        return "-"
    return f"{mean:.2f} +/- {std:.2f}"


def leaderboard_score(mean: float, std: float) -> float:
    """The Deep RL leaderboard's score of a result, mean - std: the one rule every score
    hubpg shows, ranks or judges follows (claims, measurements, the card's pass mark).

    Args:
        mean: mean return.
        std: standard deviation of the returns.
    """
    return mean - std
