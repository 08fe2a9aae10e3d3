"""A course checkpoint in a repo's (or a folder's) files: which file it is, which env it
plays, and reading it (:func:`hubpg.verify.fetch` with ``legacy`` downloads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubpg.errors import (
    ConfigError,
    HubpgError,
    LegacyCheckpointError,
    MissingFileError,
    UnknownEnvError,
)
from hubpg.legacy.model import LegacyModel, read_checkpoint
from hubpg.legacy.scan import DEFAULT_MAX_BYTES
from hubpg.runfolder import (
    CARD_NAME,
    HYPERPARAMETERS_NAME,
    RESULTS_NAME,
    read_json,
)
from hubpg.sniff import VERIFIES, check_not_foreign

#: The course's JSON files are tiny; larger ones are refused.
JSON_MAX_BYTES = 2**20
#: Suffixes a course checkpoint may have; ``model.pt`` (push_to_hub's) is preferred.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin")
COURSE_CHECKPOINT = "model.pt"


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
        check_not_foreign(repo_id, sizes)
        raise MissingFileError(
            f"{repo_id} has neither model.safetensors + config.json nor a course checkpoint "
            f"(model.pt, .pth or .bin); {VERIFIES}"
        )
    size = sizes[name]
    if size is not None and size > cap:
        raise LegacyCheckpointError(
            f"{repo_id}'s {name} is {size:,} bytes, over the {cap:,}-byte cap for checkpoints; "
            "a course model is a few kB (hubpg convert --max-mib raises the cap)"
        )
    return name


def small_json(path: Path) -> Any:
    """A course JSON file's content, refused when over :data:`JSON_MAX_BYTES` or nested
    too deeply.

    Args:
        path: the file.
    """
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
            data = small_json(files[name])
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


def read_files(files: dict[str, Path], *, env_id: str | None = None, **read: Any) -> LegacyModel:
    """Read the course checkpoint among ``files`` (a downloaded repo or a folder).

    Args:
        files: file name -> local path; one of them a checkpoint.
        env_id: the env (default: from the files).
        **read: :func:`~hubpg.legacy.model.read_checkpoint`'s options (``max_bytes``,
            ``repo_id`` and ``revision`` recorded in the result, ``read_timeout``,
            ``memory_mib``).
    """
    name = pick_checkpoint(set(files))
    if name is None:
        where = read.get("repo_id") or "the folder"
        raise MissingFileError(f"{where} has no course checkpoint (model.pt, .pth or .bin)")
    model = read_checkpoint(files[name], env_id=env_id_of(files, env_id), **read)
    model.files = dict(files)
    return model
