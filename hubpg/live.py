"""A student's own trained ``nn.Module`` (Unit 4's ``Policy``) as a hubpg run folder.

The module is never pickled: it is rebuilt in memory by the rules of ``hubpg convert``
(:mod:`hubpg.legacy`), checked against its own forward on observations from the
student's env, and written as a run folder ``hubpg package`` / ``push`` take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hubpg.config import course_network_keys
from hubpg.errors import ConfigError, ModuleMismatchError, RunDirError
from hubpg.legacy.rebuild import class_name, is_module
from hubpg.runfolder import HYPERPARAMETERS_NAME, atomic_dir, json_ready, write_json

if TYPE_CHECKING:
    import torch

    from hubpg.config import PolicyConfig
    from hubpg.policy import Policy

#: Observations the check plays from the student's env (random actions, several episodes).
CHECK_OBSERVATIONS = 256
#: Largest difference in action probability the check lets pass (float32 rounding).
CHECK_TOLERANCE = 1e-5


@dataclass
class ModuleConversion:
    """A live module rebuilt as a hubpg policy, and what the rebuild assumed."""

    policy: Policy
    config: PolicyConfig
    class_name: str
    architecture: str
    assumed: list[str]
    max_difference: float | None = None


def env_id_for(hyperparameters: dict[str, Any] | None, eval_env: Any, env_id: str | None) -> str:
    """The env a module plays: ``env_id``, else the course's ``hyperparameters["env_id"]``,
    else the id of ``eval_env``'s spec.

    Args:
        hyperparameters: the course's hyperparameters dict, if given.
        eval_env: the student's evaluation env, if given.
        env_id: an explicit env id.
    """
    candidates = [
        env_id,
        (hyperparameters or {}).get("env_id"),
        getattr(getattr(eval_env, "spec", None), "id", None),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate
    raise ConfigError(
        "which env does this model play? pass env_id='CartPole-v1' (or hyperparameters "
        "with an 'env_id', or the eval_env made with gymnasium.make)"
    )


def convert_module(model: Any, *, env_id: str) -> ModuleConversion:
    """Rebuild a live module as a hubpg policy by the rules of ``hubpg convert``.

    Args:
        model: the student's ``nn.Module`` (left unchanged).
        env_id: the env it plays; its observation and action sizes must match.
    """
    from hubpg.legacy import read_module

    if not is_module(model):
        raise ConfigError(f"expected a torch.nn.Module, got {type(model).__name__}")
    converted = read_module(model, env_id=env_id)  # legacy's structural rules, in memory
    return ModuleConversion(
        policy=converted.policy,
        config=converted.config,
        class_name=class_name(model),
        architecture=converted.architecture.layers[0],
        assumed=list(converted.assumed),
    )


def observations_from(env: Any, n: int = CHECK_OBSERVATIONS, *, seed: int = 0) -> np.ndarray:
    """``n`` observations played from ``env`` (Gymnasium's API or the old Gym one) with
    uniformly random actions, episode k reset with seed ``seed + k``.

    Args:
        env: the student's env (e.g. the course's ``eval_env``).
        n: how many observations.
        seed: seed of the first episode (and of the random actions).
    """
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    seen: list[np.ndarray] = []
    episode = 0
    obs = _reset(env, seed)
    while len(seen) < n:
        seen.append(np.asarray(obs, dtype=np.float32).reshape(-1))
        out = env.step(int(rng.integers(n_actions)))
        obs, done = out[0], bool(out[2]) or (len(out) == 5 and bool(out[3]))
        if done:
            episode += 1
            obs = _reset(env, seed + episode)
    return np.stack(seen)


def _reset(env: Any, seed: int) -> Any:
    try:
        out = env.reset(seed=seed)
    except TypeError:  # an old Gym env without seeded resets
        out = env.reset()
    return out[0] if isinstance(out, tuple) else out


def check_against_forward(
    model: torch.nn.Module, conversion: ModuleConversion, observations: np.ndarray
) -> float:
    """The largest difference in action probability between the student's forward (in
    eval mode) and the converted policy on ``observations``;
    :class:`~hubpg.errors.ModuleMismatchError` above :data:`CHECK_TOLERANCE`.

    Args:
        model: the student's module (its own code runs here, in the student's process).
        conversion: what :func:`convert_module` returned.
        observations: a batch ``[N, obs_dim]`` (:func:`observations_from`).
    """
    import torch

    theirs = _their_probabilities(model, observations)
    with torch.no_grad():
        ours = torch.softmax(conversion.policy(torch.as_tensor(observations)), dim=-1).numpy()
    if theirs.shape != ours.shape:
        raise ModuleMismatchError(
            f"{conversion.class_name}'s forward gives {theirs.shape[-1]} outputs per observation, "
            f"the converted policy {ours.shape[-1]} actions"
        )
    diff = np.abs(theirs.astype(np.float64) - ours)
    where = np.unravel_index(int(np.nanargmax(np.nan_to_num(diff, nan=np.inf))), diff.shape)
    largest = float(diff[where])
    if not math.isfinite(largest) or largest > CHECK_TOLERANCE:
        row, action = int(where[0]), int(where[1])
        raise ModuleMismatchError(
            f"the converted policy does not play what {conversion.class_name}'s forward "
            f"plays: action {action} on observation {row} has probability "
            f"{float(theirs[row, action]):.6g} from your forward and "
            f"{float(ours[row, action]):.6g} converted (largest difference {largest:.3g}); "
            f"hubpg read it as {conversion.architecture}"
            + (f", assuming {'; '.join(conversion.assumed)}" if conversion.assumed else "")
            + ". Its forward must be the layers in order (see the README, 'Share a model "
            "you trained with your own code')"
        )
    conversion.max_difference = largest
    return largest


def _their_probabilities(model: torch.nn.Module, observations: np.ndarray) -> np.ndarray:
    """The student's forward on the batch as action probabilities (a forward that ends
    with logits or log-probabilities is put through softmax)."""
    import torch

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.as_tensor(observations, device=device))
    finally:
        model.train(was_training)
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise ModuleMismatchError(
            f"{class_name(model)}'s forward returned a {type(out).__name__}, not a tensor of "
            "action probabilities"
        )
    out = out.detach().to("cpu", torch.float64).reshape(len(observations), -1)
    sums = out.sum(dim=-1)
    if bool((out >= 0).all()) and bool(((sums - 1).abs() < 1e-4).all()):
        return out.numpy()  # already probabilities (the course's softmax at the end)
    return torch.softmax(out, dim=-1).numpy()


def write_run(
    conversion: ModuleConversion,
    folder: Path,
    *,
    hyperparameters: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the converted module as a run folder ``hubpg package`` takes, atomically:
    ``model.safetensors``, ``config.json`` and ``hyperparameters.json`` (the course's
    keys given, the network's shape, and where it came from).

    Args:
        conversion: what :func:`convert_module` returned (and checked).
        folder: the run folder.
        hyperparameters: the course's hyperparameters dict (values JSON cannot hold are left out).
        overwrite: replace an existing folder.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
        raise RunDirError(
            f"{folder} already exists; pass overwrite=True to replace it, or another folder"
        )
    from hubpg.packaging import assert_no_pickle

    config = conversion.config
    record = {
        **json_ready(hyperparameters or {}),
        **course_network_keys(config),
        "hidden": list(config.hidden),
        "activation": config.activation,
        "source": f"{conversion.class_name} (a live nn.Module, converted in memory; never pickled)",
        "architecture": conversion.architecture,
        "assumed": list(conversion.assumed),
    }
    if conversion.max_difference is not None:
        record["checked_max_difference"] = conversion.max_difference
    with atomic_dir(folder) as tmp:
        conversion.policy.save(tmp)
        write_json(tmp / HYPERPARAMETERS_NAME, record)
        assert_no_pickle(tmp)
    return folder


def module_run(
    model: Any,
    *,
    folder: Path | str | None = None,
    env_id: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    eval_env: Any = None,
    overwrite: bool = False,
) -> Path:
    """Convert, check and write a live module as a run folder.

    Args:
        model: the student's ``nn.Module``.
        folder: the run folder (default ``runs/<env_id>-<ClassName>``).
        env_id: the env it plays (default: ``hyperparameters["env_id"]``, else ``eval_env``'s).
        hyperparameters: the course's hyperparameters dict, written to ``hyperparameters.json``.
        eval_env: the env whose observations the check uses (default: a fresh one).
        overwrite: replace an existing run folder.
    """
    env_id = env_id_for(hyperparameters, eval_env, env_id)
    conversion = convert_module(model, env_id=env_id)
    env = eval_env
    if env is None:
        from hubpg.envs import make_env

        env = make_env(env_id)
    try:
        check_against_forward(model, conversion, observations_from(env))
    finally:
        if eval_env is None:
            env.close()
    if folder is None:
        folder = Path("runs") / f"{env_id}-{type(model).__name__}"
    return write_run(conversion, Path(folder), hyperparameters=hyperparameters, overwrite=overwrite)


__all__ = [
    "CHECK_OBSERVATIONS",
    "CHECK_TOLERANCE",
    "ModuleConversion",
    "check_against_forward",
    "class_name",
    "convert_module",
    "env_id_for",
    "is_module",
    "module_run",
    "observations_from",
    "write_run",
]
