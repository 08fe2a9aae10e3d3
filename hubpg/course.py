"""The Deep RL course's ``push_to_hub`` (Unit 4), as a safe drop-in: the same arguments,
but the module is converted in memory (never pickled, :mod:`hubpg.live`), checked against
its own forward, evaluated over seeded episodes (mean and std) and pushed in one commit.
"""

from __future__ import annotations

import contextlib
import numbers
import tempfile
from pathlib import Path
from typing import Any

from hubpg.api import package, push
from hubpg.claims import COURSE_EVAL_EPISODES
from hubpg.errors import ConfigError
from hubpg.live import env_id_for, module_run
from hubpg.results import Pushed


def push_to_hub(
    repo_id: str,
    model: Any,
    hyperparameters: dict[str, Any],
    eval_env: Any,
    video_fps: float = 30,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    private: bool = False,
    episodes: int | None = None,
    seed: int = 0,
    deterministic: bool = False,
    video: bool = True,
    commit_message: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
    out: str | Path | None = None,
) -> Pushed:
    """Share a module you trained with your own code, as the course's ``push_to_hub``
    does, safely: safetensors and JSON only, a checked conversion, an honest score.

    Args:
        repo_id: the repo, ``NAMESPACE/NAME`` (e.g. ``"alice/Reinforce-CartPole-v1"``).
        model: your trained ``torch.nn.Module`` (the course's ``Policy``); it is read,
            never pickled, and left as it was.
        hyperparameters: the course's hyperparameters dict (``env_id``, ``h_size``,
            ``n_evaluation_episodes``, ...), kept in ``hyperparameters.json``.
        eval_env: your evaluation env; its observations check the conversion against
            your forward (the score itself comes from hubpg's seeded episodes of the
            same env id, as ``load_and_eval`` replays them).
        video_fps: frame rate of ``replay.mp4``.
        endpoint: Hub URL (default ``HF_ENDPOINT`` or huggingface.co).
        token: Hub token (default ``HF_TOKEN`` or the stored login); never printed.
        private: create the repo as private.
        episodes: evaluation episodes (default ``hyperparameters["n_evaluation_episodes"]``,
            else 10).
        seed: seed of evaluation episode 0 (episode k: ``seed + k``).
        deterministic: evaluate with the most probable action (default: sampled, as the
            course does).
        video: record ``replay.mp4``.
        commit_message: the commit's message.
        timeout: seconds a Hub request may wait.
        progress: print what is being done, as the course's function does.
        out: keep the run folder (``OUT/run``) and the package (``OUT/hub``) here
            (default: a temporary folder, removed after the push, as the course's).

    Returns:
        :class:`~hubpg.results.Pushed`: the repo URL and the commit.

    Example:
        >>> hubpg.push_to_hub("alice/Reinforce-CartPole-v1", policy, hyperparameters, eval_env)
        Pushed(alice/Reinforce-CartPole-v1 @ 3f1c2a9b8d7e on main: ...)
    """
    if not isinstance(hyperparameters, dict):
        raise ConfigError(
            f"hyperparameters must be the course's dict (env_id, n_evaluation_episodes, ...), "
            f"got {type(hyperparameters).__name__}"
        )
    env_id = env_id_for(hyperparameters, eval_env, None)
    n_episodes = episodes if episodes is not None else _eval_episodes(hyperparameters)
    with contextlib.ExitStack() as stack:
        if out is None:
            out = stack.enter_context(tempfile.TemporaryDirectory(prefix="hubpg-push-"))
        run_dir = module_run(
            model,
            folder=Path(out) / "run",
            env_id=env_id,
            hyperparameters=hyperparameters,
            eval_env=eval_env,
            overwrite=True,
        )
        _say(f"Converted {type(model).__name__} in memory (checked against its forward)", progress)
        packaged = package(
            run_dir,
            out=Path(out) / "hub",
            episodes=n_episodes,
            seed=seed,
            deterministic=deterministic,
            video=video,
            video_fps=video_fps,
            repo_name=repo_id,
            overwrite=True,
        )
        _say(f"Evaluated over {n_episodes} episodes: {packaged.evaluation.summary()}", progress)
        _say(f"Pushing repo {repo_id} to the Hugging Face Hub", progress)
        pushed = push(
            packaged,
            repo=repo_id,
            private=private,
            commit_message=commit_message,
            endpoint=endpoint,
            token=token,
            timeout=timeout,
        )
    _say(f"Your model is pushed to the Hub. You can view your model here: {pushed.url}", progress)
    return pushed


def _eval_episodes(hyperparameters: dict[str, Any]) -> int:
    value = hyperparameters.get("n_evaluation_episodes", COURSE_EVAL_EPISODES)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(
            f"hyperparameters['n_evaluation_episodes'] must be a positive whole number "
            f"(got {value!r:.60})"
        )
    return int(value)


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message)


__all__ = ["COURSE_EVAL_EPISODES", "push_to_hub"]
