"""Environment construction by id, and registration of hubpg's own games.

Importing this module registers ``Pixelcopter-PLE-v0`` with Gymnasium (unless
the id is already registered) with both an ``entry_point`` (single env) and a
``vector_entry_point`` (the batched numpy env). The game's module itself is
only imported when an env is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np

from hubpg.errors import MissingEnvDependencyError, UnknownEnvError, UnsupportedEnvError

PIXELCOPTER_ID = "Pixelcopter-PLE-v0"


def register_envs() -> None:
    """Register hubpg's games with Gymnasium; a no-op for ids already registered."""
    if PIXELCOPTER_ID not in gym.registry:
        gym.register(
            id=PIXELCOPTER_ID,
            entry_point="hubpg.envs.pixelcopter:PixelcopterEnv",
            vector_entry_point="hubpg.envs.pixelcopter:PixelcopterVectorEnv",
        )


register_envs()


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return the spec of ``env_id``, or raise :class:`UnknownEnvError` listing similar ids."""
    if env_id in gym.registry:
        return gym.registry[env_id]
    import difflib

    close = difflib.get_close_matches(env_id, gym.registry.keys(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    common = ", ".join(
        ["CartPole-v1", PIXELCOPTER_ID, "Acrobot-v1", "MountainCar-v0", "LunarLander-v3"]
    )
    raise UnknownEnvError(
        f"unknown env id {env_id!r}. {hint}Known ids include {common} "
        f'(all {len(gym.registry)}: python -c "import gymnasium; print(list(gymnasium.registry))")'
    )


def make_env(env_id: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Make one env by id, with a clear error for unknown ids."""
    check_env_id(env_id)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    with missing_dependency_hint(env_id):
        env = gym.make(env_id, **kwargs)
    require_discrete(env.action_space, env_id)
    return env


def make_vec_env(
    env_id: str, num_envs: int, max_t: int | None = None, **kwargs: Any
) -> gym.vector.VectorEnv:
    """Make ``num_envs`` copies of an env stepped together.

    Uses the env's own batched implementation (``vector_entry_point``) where it
    has one (CartPole-v1, Pixelcopter-PLE-v0), else Gymnasium's sync vector env.
    Sub-envs auto-reset on the step after they end (Gymnasium's next-step mode).
    ``max_t`` truncates every game after that many steps (never later than the
    env's own time limit), so that a sub-env cut at ``max_t`` starts its next game.
    """
    spec = check_env_id(env_id)
    if max_t is not None:
        limit = spec.max_episode_steps
        kwargs["max_episode_steps"] = max_t if limit is None else min(max_t, limit)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    with missing_dependency_hint(env_id):
        envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    require_discrete(envs.single_action_space, env_id)
    return envs


@contextmanager
def missing_dependency_hint(env_id: str) -> Iterator[None]:
    """Turn Gymnasium's ``DependencyNotInstalled`` (e.g. LunarLander without Box2D) into
    :class:`~hubpg.errors.MissingEnvDependencyError`, keeping Gymnasium's install hint.

    Args:
        env_id: the env being made, for the message.
    """
    try:
        yield
    except gym.error.DependencyNotInstalled as exc:
        detail = " ".join(str(exc).split()).rstrip(".")
        raise MissingEnvDependencyError(
            f"{env_id} needs a package that is not installed ({detail}); install it and "
            "run the command again"
        ) from None


def require_discrete(space: gym.Space, env_id: str) -> None:
    """Raise :class:`UnsupportedEnvError` unless ``space`` is ``Discrete``."""
    if not isinstance(space, gym.spaces.Discrete):
        raise UnsupportedEnvError(
            f"{env_id} has a {type(space).__name__} action space; REINFORCE here needs "
            "Discrete actions. Pick an env with discrete actions, such as CartPole-v1"
        )


def env_dims(env_id: str) -> tuple[int, int]:
    """Observation size and number of actions of ``env_id``."""
    env = make_env(env_id)
    try:
        shape = env.observation_space.shape
        if shape is None or len(shape) != 1:
            raise UnsupportedEnvError(
                f"{env_id} has observations of shape {shape}; hubpg's MLP policy needs flat "
                "vector observations. Pick an env with Box(n,) observations"
            )
        return int(shape[0]), int(env.action_space.n)
    finally:
        env.close()


def reset_with_seeds(envs: gym.vector.VectorEnv, seeds: list[int]) -> np.ndarray:
    """Reset a vector env so that sub-env i starts exactly as a single env reset
    with ``seeds[i]`` would; returns the observations.

    Sync/async vector envs and Pixelcopter's take a list of seeds. Gymnasium's
    ``CartPoleVectorEnv`` takes one int for all sub-envs, so its start states are
    drawn here the way the single ``CartPoleEnv.reset(seed=s)`` draws them.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) != envs.num_envs:
        raise ValueError(f"{len(seeds)} seeds for {envs.num_envs} sub-envs")
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    base = envs.unwrapped
    if isinstance(base, CartPoleVectorEnv):
        envs.reset(seed=seeds[0])
        starts = [np.random.default_rng(s).uniform(-0.05, 0.05, size=(4,)) for s in seeds]
        base.state = np.stack(starts, axis=1)
        return base.state.T.astype(np.float32)
    obs, _ = envs.reset(seed=seeds)
    return obs


#: The highest return an episode can reach, for envs where it is known (reward per step
#: times the step limit, or the reward at the goal); a claim above it is impossible.
MAX_RETURNS: dict[str, float] = {
    "CartPole-v0": 200.0,
    "CartPole-v1": 500.0,
    "Acrobot-v1": 0.0,
    "MountainCar-v0": 0.0,
}


def max_return(env_id: str) -> float | None:
    """The highest return an episode of ``env_id`` can reach, or ``None`` where there is
    no bound (Pixelcopter) or it is not known.

    Args:
        env_id: a Gymnasium env id.
    """
    return MAX_RETURNS.get(env_id)
