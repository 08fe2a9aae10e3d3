"""Convert a course checkpoint into a hubpg folder (``model.safetensors``,
``config.json``, the course's JSON files and ``legacy.json`` saying where it came from
and what was assumed; never a pickle), which ``hubpg evaluate``/``package``/``push`` take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubpg.errors import ConfigError, MissingFileError, RunDirError
from hubpg.legacy.model import LegacyModel, read_checkpoint
from hubpg.legacy.repo import env_id_of, small_json
from hubpg.legacy.scan import DEFAULT_MAX_BYTES
from hubpg.runfolder import (
    CARD_NAME,
    HYPERPARAMETERS_NAME,
    LEGACY_NAME,
    RESULTS_NAME,
    json_ready,
    write_json,
)


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
    model: LegacyModel | None = None,
    env_id: str | None = None,
    overwrite: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ConvertResult:
    """Convert a course checkpoint into a hubpg folder (safetensors + JSON, no pickle).

    Args:
        source: a local checkpoint file (its folder's ``hyperparameters.json``,
            ``results.json`` and ``README.md`` are read too), or None with ``model``.
        out: the folder to write (refused when it exists and is not empty, unless
            ``overwrite``).
        model: a checkpoint already read, with its files (a repo's:
            :func:`hubpg.verify.fetch` with ``legacy``; ``hubpg.convert(repo=...)``).
        env_id: the env (default: from the checkpoint's files).
        overwrite: replace the files of an existing folder.
        max_bytes: the checkpoint size cap (default 64 MiB).

    Example:
        >>> hubpg.convert("model.pt", out="converted", env_id="CartPole-v1")  # doctest: +SKIP
    """
    if (source is None) == (model is None):
        raise ConfigError("give a checkpoint FILE or --repo NAMESPACE/NAME (one of them)")
    out = Path(out)
    check_out(out, overwrite)
    if source is not None:
        files = _local_files(Path(source))
        model = read_checkpoint(
            files["__source__"], env_id=env_id_of(files, env_id), max_bytes=max_bytes
        )
    else:
        files = model.files  # type: ignore[union-attr]
    written = _write_folder(out, model, files)  # type: ignore[arg-type]
    return ConvertResult(out, model, written)  # type: ignore[arg-type]


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse ``out`` when it is a file, or a folder with files and not ``overwrite``
    (before anything is downloaded or read).

    Args:
        out: the folder to write.
        overwrite: replace the files of an existing folder.
    """
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


def _course_json(files: dict[str, Path], name: str) -> dict[str, Any] | None:
    """The course file ``name`` as :func:`json_ready` keeps it; None when absent or not an
    object."""
    data = small_json(files[name]) if name in files else None
    return json_ready(data) if isinstance(data, dict) else None


def _write_folder(out: Path, model: LegacyModel, files: dict[str, Path]) -> list[str]:
    from hubpg.config import course_network_keys
    from hubpg.packaging import assert_no_pickle

    out.mkdir(parents=True, exist_ok=True)
    model.policy.save(out)  # model.safetensors + config.json, atomically each
    hyper = _course_json(files, HYPERPARAMETERS_NAME)
    arch = model.architecture
    network = course_network_keys(model.config)  # the course's names: hubpg.config.COURSE_KEYS
    hyper = {**network, **(hyper or {})}  # a course file's own h_size stays
    hyper |= {k: v for k, v in network.items() if k != "h_size"}
    hyper |= {"hidden": arch.hidden, "activation": arch.activation}
    write_json(out / HYPERPARAMETERS_NAME, hyper)
    results = _course_json(files, RESULTS_NAME)
    if results is not None:
        write_json(out / RESULTS_NAME, results)
    else:
        (out / RESULTS_NAME).unlink(missing_ok=True)  # a stale one from --overwrite
    write_json(out / LEGACY_NAME, model.report())  # last: a complete folder has it
    assert_no_pickle(out)
    return sorted(p.name for p in out.iterdir() if p.is_file())
