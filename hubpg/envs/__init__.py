"""Environment construction by id. Importing this module registers ``Pixelcopter-PLE-v0``
with Gymnasium (single and vector entry points; the game is imported when made).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np

from hubpg.errors import MissingEnvDependencyError, UnknownEnvError, UnsupportedEnvError

PIXELCOPTER_ID = "Pixelcopter-PLE-v0"

#: Gymnasium's env families that need an extra package, by the start of their entry
#: point, and hubpg's extra (named as Gymnasium names it) that installs it.
EXTRAS = {
    "gymnasium.envs.box2d": ("Box2D", "box2d"),
    "gymnasium.envs.mujoco": ("MuJoCo", "mujoco"),
}


def headless_gl() -> None:
    """Choose a MuJoCo renderer that works without a display: with no ``DISPLAY`` and no
    ``MUJOCO_GL`` set, EGL (GLFW needs a display; OSMesa is rarely installed). Called
    before any MuJoCo env is made; a user's own ``MUJOCO_GL`` always wins."""
    if not os.environ.get("DISPLAY") and not os.environ.get("MUJOCO_GL"):
        os.environ["MUJOCO_GL"] = "egl"
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


headless_gl()


if PIXELCOPTER_ID not in gym.registry:
    gym.register(
        id=PIXELCOPTER_ID,
        entry_point="hubpg.envs.pixelcopter:PixelcopterEnv",
        vector_entry_point="hubpg.envs.pixelcopter:PixelcopterVectorEnv",
    )


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return the spec of ``env_id``, or raise :class:`UnknownEnvError` listing similar ids."""
    if env_id in gym.registry:
        return gym.registry[env_id]
    import difflib

    close = difflib.get_close_matches(env_id, gym.registry.keys(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    common = f"CartPole-v1, {PIXELCOPTER_ID}, Acrobot-v1, MountainCar-v0, LunarLander-v3"
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
    require_supported(env.action_space, env_id)
    return env


def make_vec_env(
    env_id: str, num_envs: int, max_t: int | None = None, mode: str = "auto", **kwargs: Any
) -> gym.vector.VectorEnv:
    """Make ``num_envs`` copies of an env stepped together (next-step auto-reset).

    ``mode="auto"`` uses the env's own batched implementation (``vector_entry_point``)
    where it has one, else Gymnasium's sync vector env; ``"sync"`` and ``"async"`` pick
    Gymnasium's. ``max_t`` truncates every game after that many steps (never later than
    the env's own time limit), so that a sub-env cut at ``max_t`` starts its next game.

    Args:
        env_id: the Gymnasium id.
        num_envs: copies stepped together.
        max_t: cap on an episode's steps.
        mode: ``auto``, ``sync`` or ``async``.
        kwargs: passed on to the env.
    """
    spec = check_env_id(env_id)
    if max_t is not None:
        limit = spec.max_episode_steps
        kwargs["max_episode_steps"] = max_t if limit is None else min(max_t, limit)
    if mode == "auto":
        mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    with missing_dependency_hint(env_id):
        envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    try:
        require_supported(envs.single_action_space, env_id)
    except UnsupportedEnvError:
        envs.close()
        raise
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
    except (gym.error.DependencyNotInstalled, ImportError) as exc:
        extra = env_extra(env_id)
        if extra is None and not isinstance(exc, gym.error.DependencyNotInstalled):
            raise
        detail = " ".join(str(exc).split()).rstrip(".")
        if extra is not None:
            package, name = extra
            raise MissingEnvDependencyError(
                f"{env_id} needs {package}, which is not installed ({detail}); install "
                f"hubpg's {name} extra: pip install 'hubpg[{name}]' (or "
                f"pip install 'gymnasium[{name}]')"
            ) from None
        raise MissingEnvDependencyError(
            f"{env_id} needs a package that is not installed ({detail}); install it and "
            "run the command again"
        ) from None


def env_extra(env_id: str) -> tuple[str, str] | None:
    """``(package, extra)`` for an env that needs one of :data:`EXTRAS` (by its entry
    point), e.g. ``("Box2D", "box2d")`` for LunarLander-v3; None otherwise.

    Args:
        env_id: a registered Gymnasium id.
    """
    spec = gym.registry.get(env_id)
    entry = spec.entry_point if spec is not None else None
    if not isinstance(entry, str):
        return None
    return next((extra for prefix, extra in EXTRAS.items() if entry.startswith(prefix)), None)


def require_supported(space: gym.Space, env_id: str) -> None:
    """Raise :class:`UnsupportedEnvError` unless ``space`` is ``Discrete`` or a flat
    ``Box`` with finite bounds (what the categorical and Gaussian policies act in)."""
    if isinstance(space, gym.spaces.Discrete):
        return
    if isinstance(space, gym.spaces.Box):
        if len(space.shape) == 1 and np.all(np.isfinite(space.low) & np.isfinite(space.high)):
            return
        raise UnsupportedEnvError(
            f"{env_id} has a Box action space of shape {space.shape} with bounds "
            f"{space.low.tolist()}..{space.high.tolist()}; hubpg's Gaussian policy needs a "
            "flat Box(n,) with finite bounds"
        )
    raise UnsupportedEnvError(
        f"{env_id} has a {type(space).__name__} action space; hubpg's policies act in "
        "Discrete or Box(n,) action spaces. Pick such an env, e.g. CartPole-v1 or Pendulum-v1"
    )


@functools.lru_cache(maxsize=64)
def _spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    """The observation and action spaces of ``env_id`` (an env made once per process:
    a leaderboard checks thousands of configs against the same env)."""
    env = make_env(env_id)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def env_action_space(env_id: str) -> gym.Space:
    """The action space of ``env_id`` (Discrete or Box; anything else is refused): a
    copy, the caller's to change.

    Args:
        env_id: a Gymnasium id.
    """
    return copy.deepcopy(_spaces(env_id)[1])


def env_dims(env_id: str) -> tuple[int, int]:
    """Observation size and number of actions (discrete) or action dimensions (box)
    of ``env_id``."""
    observations, space = _spaces(env_id)
    shape = observations.shape
    if shape is None or len(shape) != 1:
        raise UnsupportedEnvError(
            f"{env_id} has observations of shape {shape}; hubpg's MLP policy needs flat "
            "vector observations. Pick an env with Box(n,) observations"
        )
    n = space.n if isinstance(space, gym.spaces.Discrete) else space.shape[0]
    return int(shape[0]), int(n)


def reset_with_seeds(envs: gym.vector.VectorEnv, seeds: list[int]) -> np.ndarray:
    """Reset a vector env so that sub-env i starts exactly as a single env reset
    with ``seeds[i]`` would; returns the observations. (``CartPoleVectorEnv`` takes one
    seed for all, so its start states are drawn here as ``CartPoleEnv.reset`` draws them.)
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) != envs.num_envs:
        raise ValueError(f"{len(seeds)} seeds for {envs.num_envs} sub-envs")
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    base = envs.unwrapped
    if isinstance(base, CartPoleVectorEnv):
        envs.reset(seed=seeds[0])
        drawn = {s: np.random.default_rng(s).uniform(-0.05, 0.05, size=(4,)) for s in set(seeds)}
        base.state = np.stack([drawn[s] for s in seeds], axis=1)
        return base.state.T.astype(np.float32)
    obs, _ = envs.reset(seed=seeds)
    return obs


#: The range of one step's reward, for envs where it is known: with the registered step
#: limit it bounds an episode's return (:func:`return_bounds`).
REWARD_PER_STEP: dict[str, tuple[float, float]] = {
    "CartPole-v0": (0.0, 1.0),  # +1 per step
    "CartPole-v1": (0.0, 1.0),
    "Acrobot-v1": (-1.0, 0.0),  # -1 per step, 0 on reaching the goal
    "MountainCar-v0": (-1.0, -1.0),  # -1 per step, until the goal
    "Pendulum-v1": (-16.2736044, 0.0),  # -(pi^2 + 0.1 * 8^2 + 0.001 * 2^2) at worst
    "InvertedPendulum-v4": (0.0, 1.0),
    "InvertedPendulum-v5": (0.0, 1.0),  # +1 per step while the pole stands
}


def return_bounds(env_id: str) -> tuple[float | None, float | None]:
    """The lowest and highest return an episode of ``env_id`` can reach, each ``None``
    where there is no bound (Pixelcopter) or it is not known: an episode of 1 to
    ``max_episode_steps`` steps, each step's reward in :data:`REWARD_PER_STEP`.

    Args:
        env_id: a Gymnasium env id.
    """
    per_step = REWARD_PER_STEP.get(env_id)
    spec = gym.registry.get(env_id)
    steps = spec.max_episode_steps if spec is not None else None
    if per_step is None or not isinstance(steps, int) or steps < 1:
        return None, None
    low, high = per_step
    return min(low, low * steps), max(high, high * steps)


def max_return(env_id: str) -> float | None:
    """The highest return an episode of ``env_id`` can reach, or ``None`` where there is
    no bound (Pixelcopter) or it is not known (:func:`return_bounds`).

    Args:
        env_id: a Gymnasium env id.
    """
    return return_bounds(env_id)[1]
