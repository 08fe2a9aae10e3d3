"""Build the Hub folder from a run folder: exactly what one push uploads.

``model.safetensors`` + ``config.json`` (verified loadable), ``agent.pt`` (TorchScript,
for the Open RL Leaderboard; :mod:`hubpg.agent`), ``hyperparameters.json``,
``results.json`` (a fresh seeded evaluation), ``replay.mp4``, ``learning_curve.png``
and ``README.md`` (the model card). Everything is written into a temporary folder
beside the target and renamed into place at the end, so an interrupted packaging
never leaves a folder that looks complete.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hubpg import __version__
from hubpg.errors import MissingFileError, RepoIdError, RunDirError
from hubpg.evaluation import evaluate, utc_now_iso
from hubpg.policy import Policy
from hubpg.results import Evaluated, Packaged
from hubpg.runfolder import (
    CARD_NAME,
    CONFIG_NAME,
    CURVE_NAME,
    HYPERPARAMETERS_NAME,
    LEGACY_NAME,
    LOG_NAME,
    PACKAGE_SUBDIR,
    RESULTS_NAME,
    STATE_NAME,
    VIDEO_NAME,
    WEIGHTS_NAME,
    atomic_dir,
    atomic_path,
    read_json,
    read_log,
    write_json,
)

#: Longest replay recorded by default (steps); a long Pixelcopter episode would make a huge video.
VIDEO_MAX_T = 3000


def default_package_dir(run_dir: Path) -> Path:
    """``<run>/hub``."""
    return Path(run_dir) / PACKAGE_SUBDIR


def is_packaged(package_dir: Path) -> bool:
    """True when ``package_dir`` holds a complete package (the card is written last)."""
    needed = (WEIGHTS_NAME, CONFIG_NAME, RESULTS_NAME, CARD_NAME)
    return all((Path(package_dir) / name).is_file() for name in needed)


def package(
    run_dir: Path | str,
    out: Path | str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: bool = True,
    video_fps: float | None = None,
    video_max_t: int = VIDEO_MAX_T,
    repo_id: str | None = None,
    overwrite: bool = False,
) -> Packaged:
    """Evaluate the run's policy, record a replay, and write the Hub folder.

    ``repo_id`` (``NAMESPACE/NAME``; a bare ``NAME`` is a :class:`~hubpg.errors.RepoIdError`)
    names the model in the card; :func:`~hubpg.api.push` rewrites the card with the
    real repo id.
    """
    run_dir = Path(run_dir)
    if repo_id is not None:
        check_repo_name(repo_id)
    out = Path(out) if out is not None else default_package_dir(run_dir)
    _check_target(out, overwrite)
    policy = Policy.load(run_dir)  # strict: refuses missing, corrupt or mismatched weights
    hyper = _read_hyperparameters(run_dir)
    timings: dict[str, float] = {}
    with _timed(timings, "evaluation"):
        result = evaluate(
            policy, episodes=episodes, seed=seed, deterministic=deterministic, max_t=max_t
        )

    with atomic_dir(out) as tmp:  # nothing half-written is ever left looking complete
        shutil.copyfile(run_dir / WEIGHTS_NAME, tmp / WEIGHTS_NAME)
        shutil.copyfile(run_dir / CONFIG_NAME, tmp / CONFIG_NAME)
        if (run_dir / LEGACY_NAME).is_file():  # a converted course model keeps its origin
            shutil.copyfile(run_dir / LEGACY_NAME, tmp / LEGACY_NAME)
        from hubpg.agent import package_agent

        package_agent(policy, tmp)  # agent.pt for the Open RL Leaderboard, where it can be
        hyper["n_evaluation_episodes"] = episodes
        write_json(tmp / HYPERPARAMETERS_NAME, hyper)
        write_json(tmp / RESULTS_NAME, results_record(result, seed, training_record(run_dir)))
        with _timed(timings, "video"):
            if video:
                record_replay(
                    policy,
                    result.env_id,
                    tmp / VIDEO_NAME,
                    seed,
                    deterministic,
                    min(result.max_t, video_max_t),
                    video_fps,
                )
        with _timed(timings, "curve"):
            curve = _write_curve(run_dir, tmp / CURVE_NAME, result.env_id)
        with _timed(timings, "card"):
            write_card(tmp, repo_id, video=video, curve=curve)
        Policy.load(tmp)  # what we ship must load
        assert_no_pickle(tmp)
    timings["total"] = sum(timings.values())
    return Packaged.written(out, result, sorted(p.name for p in out.iterdir()), timings)


def check_repo_name(repo_id: str) -> str:
    """The repo id a card names: ``NAMESPACE/NAME`` by the Hub's rule, else
    :class:`~hubpg.errors.RepoIdError` saying how to fix it.

    Args:
        repo_id: the ``--repo-name`` given.
    """
    from hubpg.repoid import validate_repo_id

    if isinstance(repo_id, str) and "/" not in repo_id:
        raise RepoIdError(
            f"--repo-name {repo_id!r} has no namespace; give NAMESPACE/NAME, e.g. "
            f"your-name/{repo_id or 'Reinforce-CartPole-v1'}"
        )
    return validate_repo_id(repo_id)


def training_record(run_dir: Path) -> dict[str, Any] | None:
    """How the run's training ended, from its ``trainer_state.json`` (None without one):
    env steps, episodes, updates, what stopped it (``stopped_on``: ``total_steps``,
    ``total_episodes``, ``target_return``, ``time_limit``, ...) and the kept checkpoint.

    Args:
        run_dir: the run folder.
    """
    path = Path(run_dir) / STATE_NAME
    if not path.is_file():
        return None
    state = read_json(path)
    keys = ("steps", "episodes", "updates", "stopped_on", "selected_checkpoint")
    return {k: state[k] for k in keys if k in state}


def results_record(
    result: Evaluated, seed: int, training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``results.json``: the score, how it was measured, how training ended, and the
    software versions.

    Args:
        result: the evaluation.
        seed: the seed of its first episode.
        training: :func:`training_record` of the run, if known.
    """
    return {
        "env_id": result.env_id,
        "mean_reward": result.mean_reward,
        "std_reward": result.std_reward,
        "score": result.score,
        "n_evaluation_episodes": result.n_episodes,
        "seed": seed,
        "seeds": result.seeds,
        "deterministic": result.deterministic,
        "max_t": result.max_t,
        "episode_returns": result.episode_returns,
        "episode_lengths": result.episode_lengths,
        "eval_datetime": utc_now_iso(),
        "hubpg_version": __version__,
        "torch_version": _version("torch"),
        "gymnasium_version": _version("gymnasium"),
        **({"training": training} if training else {}),
    }


def record_replay(
    policy: Policy,
    env_id: str,
    path: Path,
    seed: int,
    deterministic: bool,
    max_t: int,
    fps: float | None = None,
) -> Path:
    """Play one episode (seed ``seed``) in a fresh evaluation env and write it as mp4."""
    from hubpg.envs import make_env
    from hubpg.video import env_fps, record_episode, write_mp4

    env = make_env(env_id, render_mode="rgb_array")
    try:
        rng = np.random.default_rng(seed)
        policy.reset()  # a new episode for the policy's frame history
        frames, _, _ = record_episode(
            env, lambda obs: policy.act(obs, rng=rng, deterministic=deterministic), seed, max_t
        )
        return write_mp4(frames, path, fps=fps or env_fps(env))
    finally:
        env.close()


def write_card(
    package_dir: Path, repo_id: str | None, video: bool | None = None, curve: bool | None = None
) -> Path:
    """(Re)write ``README.md`` in ``package_dir`` from its ``results.json``,
    ``hyperparameters.json`` and ``config.json``; ``video``/``curve`` default to
    whether those files are there."""
    from hubpg.agent import AGENT_NAME, agent_line
    from hubpg.card import render_card

    package_dir = Path(package_dir)
    results = read_json(package_dir / RESULTS_NAME)
    hyper = read_json(package_dir / HYPERPARAMETERS_NAME)
    video = (package_dir / VIDEO_NAME).is_file() if video is None else video
    curve = (package_dir / CURVE_NAME).is_file() if curve is None else curve
    card = render_card(
        env_id=results["env_id"],
        mean_reward=results["mean_reward"],
        std_reward=results["std_reward"],
        n_episodes=results["n_evaluation_episodes"],
        deterministic=results["deterministic"],
        seed=results["seed"],
        hyperparameters=hyper,
        repo_id=repo_id,
        video_file=VIDEO_NAME if video else None,
        curve_file=CURVE_NAME if curve else None,
        results=results,
        architecture=read_json(package_dir / CONFIG_NAME),
        converted_from=(
            read_json(package_dir / LEGACY_NAME) if (package_dir / LEGACY_NAME).is_file() else None
        ),
        agent={"file": AGENT_NAME, "description": agent_line(package_dir)}
        if (package_dir / AGENT_NAME).is_file()
        else None,
    )
    path = package_dir / CARD_NAME
    with atomic_path(path) as tmp:
        card.save(tmp)
    return path


def assert_no_pickle(folder: Path) -> None:
    """Raise :class:`~hubpg.errors.PickleRefusedError` if any file in ``folder`` is a
    pickle (judged by :func:`hubpg.sniff.is_pickle`: by parsing, not by two bytes).

    Args:
        folder: the folder to check, recursively.
    """
    from hubpg.errors import PickleRefusedError
    from hubpg.sniff import is_pickle

    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and is_pickle(path):
            raise PickleRefusedError(f"{path} looks like a pickle; hubpg never ships pickles")


@contextmanager
def _timed(timings: dict[str, float], part: str) -> Iterator[None]:
    """Add the seconds the block takes to ``timings[part]``."""
    start = time.perf_counter()
    yield
    timings[part] = time.perf_counter() - start


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise RunDirError(
            f"package folder {out} already exists; pass --overwrite to rebuild it or --out "
            "for another folder"
        )


def _read_hyperparameters(run_dir: Path) -> dict[str, Any]:
    path = run_dir / HYPERPARAMETERS_NAME
    if not path.is_file():
        raise MissingFileError(f"{path} not found; is {run_dir} a hubpg run folder?")
    return dict(read_json(path))


def _write_curve(run_dir: Path, path: Path, env_id: str) -> bool:
    """The learning curve from the run's log; False when the run has no log."""
    from hubpg.plots import plot_learning_curve

    rows = read_log(run_dir) if (run_dir / LOG_NAME).is_file() else []
    if not rows:
        return False
    plot_learning_curve(rows, path, env_id)
    return True


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
