"""Configuration: the policy's architecture and the trainer's hyperparameters.

Both are dataclasses that round-trip through JSON (``config.json`` and
``hyperparameters.json`` in a run folder) and validate themselves with clear
errors. Per-env defaults live in one place: :data:`ENV_DEFAULTS`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubpg.errors import ConfigError, MissingFileError
from hubpg.runfolder import read_json, write_json

ACTIVATIONS = ("relu", "tanh", "elu", "gelu", "silu")
BASELINES = ("none", "time", "value")
#: The action spaces a policy can act in: a softmax over ``n_actions`` choices, or a
#: diagonal Gaussian over ``n_actions`` continuous dimensions (Gymnasium's Box).
ACTION_SPACES = ("discrete", "box")
#: How the training env's copies are stepped: ``auto`` (the env's batched twin where it
#: has one, else one process), ``sync`` (one process) or ``async`` (one process per copy,
#: Gymnasium's AsyncVectorEnv; the same numbers, spread over the cores).
VECTOR_MODES = ("auto", "sync", "async")
#: The clip of observations normalised with running statistics (``normalize_obs``).
NORMALIZED_OBS_CLIP = 10.0

#: Tuned defaults per env id; keys are :class:`TrainConfig` fields. Anything not
#: listed falls back to the dataclass defaults. See README ("Defaults") and
#: ``scripts/bench_train.py`` / ``scripts/sweep_pixelcopter.py`` for how they were chosen.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "hidden": [16],
        "lr": 0.03,
        "gamma": 0.99,
        "num_envs": 128,
        "max_t": 500,
        "baseline": "time",
        "total_steps": 5_000_000,
        "target_return": 500.0,
        "target_updates": 4,
        # ... and confirmed on 100 held-out episodes (seeds 1,000,000 + k): 4 x 128
        # perfect training episodes alone once saved a policy that fell in 1 of 100
        "target_confirm_episodes": 100,
    },
    "Pixelcopter-PLE-v0": {
        "hidden": [64, 64],
        "lr": 5e-3,
        # linearly to 0 over the budget: the late policies are the steadier ones
        "anneal_lr": True,
        "gamma": 0.99,
        "max_t": 2000,
        "eval_max_t": 10_000,
        "baseline": "time",
        "entropy_coef": 0.0,
        # 1,024 games side by side, 128 steps of each per update (episodes carry on
        # across updates, so no game waits for the longest episode)
        "num_envs": 1024,
        "segment_steps": 128,
        "grad_step_fraction": 0.25,
        "total_steps": 350_000_000,
        "select_every_steps": 35_000_000,
        # frames t, t-2, t-4, t-6: the block just passed still overlaps the copter for
        # about 5 frames after the observation shows the next gate
        "frame_stack": 4,
        "frame_stride": 2,
        # pixels centred on the 48 x 48 screen and scaled by 1/8: the block's edges sit a
        # few pixels from the copter, which raw pixels / 48 made hard to learn
        "obs_shift": [24.0, 0.0, 12.0, 12.0, 0.0, 24.0, 24.0],
        "obs_scale": [0.125, 1.0, 0.125, 0.125, 0.125, 0.125, 0.125],
        "obs_clip": 8.0,
    },
    # Recipes for issue 27 (scripts/bench_recipes.py prints their figures; README table).
    "Acrobot-v1": {
        "hidden": [64],
        "activation": "tanh",
        "lr": 0.01,
        "anneal_lr": True,
        "gamma": 0.99,
        "num_envs": 64,  # (episodes end at the env's own 500-step limit)
        "baseline": "time",
        "entropy_coef": 0.01,
        # the joint velocities reach 4 pi and 9 pi: scaled near the angles' range
        "obs_scale": [1.0, 1.0, 1.0, 1.0, 0.25, 0.1],
        "total_steps": 1_500_000,
        # keep the best of 15 checks by mean - std on 100 held-out episodes: the batch
        # means level off near -90 from 700k steps while the spread still moves
        "select_every_steps": 100_000,
    },
    "InvertedPendulum-v5": {
        "hidden": [64, 64],
        "activation": "tanh",
        "lr": 3e-3,
        "anneal_lr": True,
        "gamma": 0.99,
        "num_envs": 16,
        "max_t": 1000,
        "baseline": "time",
        "normalize_obs": True,
        "log_std_init": -0.5,
        "total_steps": 1_000_000,
        # stop at the maximum, as CartPole's recipe does: 2 batches in a row of 1000s,
        # confirmed on 300 held-out episodes (with 100, seed 3 stopped on a policy that
        # fell once in the evaluation's 100: 993.76 +/- 62.09)
        "target_return": 1000.0,
        "target_updates": 2,
        "target_confirm_episodes": 300,
    },
    "Pendulum-v1": {
        "hidden": [64, 64],
        "activation": "tanh",
        "lr": 3e-3,
        "anneal_lr": True,
        "gamma": 0.9,
        "max_t": 200,
        # 32 pendulums, 32 steps each per update (1,024 steps): ~2,900 updates in 3M
        # steps; whole 200-step episodes gave 300 updates in 2M, and the policy hardly
        # moved. 16 (512 steps) swung up on every seed but stayed 20-190 short
        # (README, "Recipes")
        "num_envs": 32,
        "segment_steps": 32,
        # every episode starts elsewhere: a learned V(s, t) removes what the start state
        # decides, and GAE(0.9) bootstraps from it (each segment's end too), where
        # Monte-Carlo returns carried the noise of every later sampled torque
        "baseline": "value",
        "gae_lambda": 0.9,
        "reward_scale": 0.1,  # returns of about -10..0 for the value network
        "normalize_obs": True,
        # a narrower start (std 0.61) than 1: the sampled evaluation pays for every
        # wobble; with 32 pendulums std 0.37 (-1) never learned to swing up on seed 2
        "log_std_init": -0.5,
        "total_steps": 3_000_000,
        # keep the best of 20 checks by mean - std on 100 held-out episodes: the batch
        # means level off from 1.5M steps and wander by tens
        "select_every_steps": 150_000,
    },
    "LunarLander-v3": {
        "hidden": [64, 64],
        "activation": "tanh",
        "lr": 1e-3,
        "anneal_lr": True,
        # the landing's +100 comes after 200-1000 steps: with gamma 0.99 (a horizon of
        # about 100 steps) the same recipe left 87-138 on seeds 1-3, and the time
        # baseline 92-123; 0.999 with GAE(0.98), as the SB3 zoo's PPO for it uses
        "gamma": 0.999,
        "gae_lambda": 0.98,
        "baseline": "value",
        "reward_scale": 0.01,  # returns of about -5..3 for the value network
        # 16 landers, 128 steps each per update: about 2,450 updates in 5M steps
        "num_envs": 16,
        "segment_steps": 128,
        "max_t": 1000,
        "normalize_obs": True,
        "entropy_coef": 0.01,
        "total_steps": 5_000_000,
        # keep the best of 20 checks by mean - std on 100 held-out episodes
        "select_every_steps": 250_000,
    },
    "LunarLanderContinuous-v3": {
        "hidden": [64, 64],
        "activation": "tanh",
        "lr": 3e-3,
        "anneal_lr": True,
        "gamma": 0.99,
        "num_envs": 32,
        "max_t": 1000,
        "baseline": "time",
        "normalize_obs": True,
        # 9M steps (11-13 minutes on one core): 3M levelled off near 145 and scored
        # 123.45, 107.72 and 105.84 on seeds 1-3; the lr anneals over the whole budget
        "total_steps": 9_000_000,
        # keep the best of 18 checks by mean - std on 100 held-out episodes
        "select_every_steps": 500_000,
    },
}


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a policy network, and nothing executable.

    The network sees the last ``frame_stack`` observations, ``frame_stride`` steps apart
    (:mod:`hubpg.observations`), each transformed as
    ``clip((obs - obs_shift) * obs_scale, -obs_clip, obs_clip)`` before the MLP (identity
    by default), so a shared model carries its own input scaling.
    """

    env_id: str
    obs_dim: int
    n_actions: int
    hidden: list[int] = field(default_factory=lambda: [16])
    activation: str = "relu"
    obs_scale: list[float] | None = None
    obs_shift: list[float] | None = None
    obs_clip: float | None = None
    #: Frames the policy sees side by side (1: the observation alone); see hubpg.observations.
    frame_stack: int = 1
    #: Steps between two of those frames (frames t, t - stride, ...).
    frame_stride: int = 1
    algorithm: str = "reinforce"
    library: str = "hubpg"
    #: ``discrete`` (softmax over ``n_actions``) or ``box`` (a diagonal Gaussian over
    #: ``n_actions`` dimensions: the MLP gives the mean, a learned state-independent
    #: ``log_std`` the spread, clamped to ``[log_std_min, log_std_max]``; actions are
    #: clipped to ``[action_low, action_high]`` at the env).
    action_space: str = "discrete"
    #: Lower bounds of a box action, one per dimension.
    action_low: list[float] | None = None
    #: Upper bounds of a box action, one per dimension.
    action_high: list[float] | None = None
    #: Clamp of the box policy's log standard deviation.
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    def __post_init__(self) -> None:
        self.hidden = _int_list("hidden", self.hidden)
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ConfigError("config: env_id must be a non-empty string")
        self.obs_dim = _whole_number("obs_dim", self.obs_dim)
        self.n_actions = _whole_number("n_actions", self.n_actions)
        if self.action_space not in ACTION_SPACES:
            raise ConfigError(
                f"config: action_space must be one of {', '.join(ACTION_SPACES)} "
                f"(got {self.action_space!r:.60})"
            )
        fewest = 2 if self.action_space == "discrete" else 1
        if self.obs_dim < 1 or self.n_actions < fewest:
            raise ConfigError(
                f"config: obs_dim must be >= 1 and n_actions >= {fewest} "
                f"(got {self.obs_dim}, {self.n_actions})"
            )
        self._check_box()
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"config: hidden sizes must be positive (got {self.hidden})")
        if self.obs_clip is not None:
            _number("obs_clip", self.obs_clip)
        _check_choice("activation", self.activation, ACTIVATIONS, "config: ")
        for name in ("obs_scale", "obs_shift"):
            setattr(self, name, obs_vector(name, getattr(self, name), self.obs_dim))
        check_obs_clip(self.obs_clip, "config: ")
        _check_frames(self.frame_stack, self.frame_stride, "config: ")
        if self.input_dim > MAX_POLICY_WIDTH:
            raise ConfigError(
                f"config: obs_dim x frame_stack must be at most {MAX_POLICY_WIDTH} "
                f"(got {self.input_dim})"
            )

    def _check_box(self) -> None:
        """The box fields: bounds of ``n_actions`` finite numbers, low below high, and a
        log-std clamp with min below max; none of them on a discrete policy."""
        if self.action_space == "discrete":
            if self.action_low is not None or self.action_high is not None:
                raise ConfigError("config: action_low/action_high belong to a box action_space")
            return
        for name in ("action_low", "action_high"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or len(value) != self.n_actions:
                raise ConfigError(
                    f"config: {name} must list {self.n_actions} number(s), one per action "
                    f"dimension (got {value!r:.60})"
                )
            setattr(self, name, [_number(name, v) for v in value])
        if any(lo >= hi for lo, hi in zip(self.action_low, self.action_high, strict=True)):
            raise ConfigError(
                f"config: action_low must be below action_high in every dimension "
                f"(got {self.action_low} and {self.action_high})"
            )
        lo, hi = _number("log_std_min", self.log_std_min), _number("log_std_max", self.log_std_max)
        if not lo < hi:
            raise ConfigError(f"config: log_std_min must be below log_std_max (got {lo}, {hi})")
        self.log_std_min, self.log_std_max = lo, hi

    @property
    def input_dim(self) -> int:
        """Width of the network's input: ``obs_dim`` times ``frame_stack``."""
        return self.obs_dim * self.frame_stack

    @property
    def is_box(self) -> bool:
        """Whether the policy is a Gaussian over a box action space."""
        return self.action_space == "box"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a discrete policy's without the box fields, so its
        ``config.json`` stays what it always was)."""
        data = dataclasses.asdict(self)
        if not self.is_box:
            for name in _BOX_FIELDS:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> PolicyConfig:
        """Build from a dict, rejecting unknown or missing keys with a clear error."""
        return _from_dict(cls, data, source)

    def save(self, path: Path) -> None:
        """Write as JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> PolicyConfig:
        """Read from a ``config.json``."""
        return cls.from_dict(read_json(path), source=str(path))


_BOX_FIELDS = ("action_space", "action_low", "action_high", "log_std_min", "log_std_max")


@dataclass
class TrainConfig:
    """Hyperparameters of one REINFORCE run.

    The budget is ``total_steps`` env steps, ``total_episodes`` episodes or ``time_limit``
    seconds of training, whichever is reached first (steps or episodes must be set).
    ``num_envs`` episodes are played side by side; ``episodes_per_update`` (default
    ``num_envs``) whole episodes are played per gradient step, a sub-env starting a new
    episode when its last one ends. With ``num_envs=1, episodes_per_update=1`` this is
    the Deep RL course's algorithm exactly. With ``segment_steps`` set, each gradient
    step plays that many steps on every sub-env instead, episodes carrying on from one
    update to the next (:class:`hubpg.rollout.SegmentRollout`).
    """

    #: Gymnasium id of the environment to train on (Discrete actions).
    env_id: str
    #: Training seed (weights, sampling and env resets).
    seed: int = 1
    #: Budget in env steps (with --total-episodes, whichever is reached first).
    total_steps: int | None = 1_000_000
    #: Budget in training episodes (the course's n_training_episodes).
    total_episodes: int | None = None
    #: Budget in seconds of training wall time (not reproducible; steps are).
    time_limit: float | None = None
    #: Adam learning rate.
    lr: float = 1e-2
    #: Lower the learning rate linearly to 0 over the budget (hubpg option).
    anneal_lr: bool = False
    #: Discount factor.
    gamma: float = 0.99
    #: Hidden layer sizes, e.g. 16 or 64,128.
    hidden: list[int] = field(default_factory=lambda: [16])
    #: Activation between hidden layers.
    activation: str = "relu"
    #: Episodes played side by side (sub-envs of the vector env).
    num_envs: int = 64
    #: Whole episodes per gradient step (default num_envs; giving it replaces the env's
    #: default --segment-steps, if it has one).
    episodes_per_update: int | None = None
    #: Instead of whole episodes, play this many steps on every sub-env per gradient
    #: step, episodes carrying on across updates so no sub-env idles (returns-to-go stop
    #: at the segment's end; the time baseline is per segment step). None: whole episodes.
    segment_steps: int | None = None
    #: Cap on one training episode's steps.
    max_t: int = 1000
    #: Normalise the returns-to-go over the batch (mean, unbiased std) as the course does.
    normalize_returns: bool = True
    #: Baseline subtracted from the returns-to-go: none, time (the batch's mean return-to-go
    #: at the same time step) or value (a learned state-value network) (hubpg option).
    baseline: str = "none"
    #: Share of each batch's steps, drawn at random, that the gradient step uses (1: all);
    #: returns, baseline and normalisation still use every step and the kept steps'
    #: weights are divided by the share, so the gradient stays unbiased. Consecutive
    #: frames are nearly alike: a quarter of them loses little and costs a quarter.
    grad_step_fraction: float = 1.0
    #: Clip the gradient norm to this value.
    grad_clip: float | None = None
    #: Entropy bonus coefficient (hubpg option).
    entropy_coef: float = 0.0
    #: Per-observation scale of the input transform clip((obs - shift) * scale).
    obs_scale: list[float] | None = None
    #: Per-observation shift of the input transform clip((obs - shift) * scale).
    obs_shift: list[float] | None = None
    #: Clip of the transformed observations to [-clip, clip].
    obs_clip: float | None = None
    #: Frames the policy sees side by side (1: the current observation only).
    frame_stack: int = 1
    #: Steps between two stacked frames (frames t, t - stride, t - 2 stride, ...).
    frame_stride: int = 1
    #: Normalise observations with running statistics of the training batches (mean and
    #: variance per observation, clipped at 10); they are frozen into the saved model's
    #: obs_shift/obs_scale/obs_clip, so evaluation, replay and loading see the same inputs.
    normalize_obs: bool = False
    #: Multiply the rewards by this for the gradient only (logged returns stay raw).
    reward_scale: float = 1.0
    #: Initial log standard deviation of a box (continuous-action) policy.
    log_std_init: float = 0.0
    #: How the training env's copies are stepped: auto (the env's batched twin, else one
    #: process), sync (one process) or async (one process per copy; same numbers).
    vector_mode: str = "auto"
    #: Adam learning rate of the value network (--baseline value).
    value_lr: float = 1e-3
    #: Value-network epochs per update (--baseline value).
    value_epochs: int = 5
    #: GAE(lambda) advantages from the value network (needs --baseline value): a step's
    #: weight is sum_k (gamma lambda)^k delta_(t+k), delta_t = r_t + gamma V(s_t+1) - V(s_t),
    #: a segment's last step bootstrapped with V of the next observation, and the value
    #: network is fitted to the advantages plus V (lambda-returns). 0: one-step TD errors;
    #: 1: returns-to-go minus V; none: returns-to-go minus V, no bootstrapping (hubpg option).
    gae_lambda: float | None = None
    #: Stop once every episode of --target-updates batches in a row reaches this return.
    target_return: float | None = None
    #: Batches in a row that must reach --target-return.
    target_updates: int = 3
    #: Once --target-updates batches in a row reach --target-return, stop only if the
    #: policy also reaches it in every one of this many held-out episodes (seeds from
    #: --select-seed, disjoint from the evaluation's); else train on (0: no check).
    target_confirm_episodes: int = 0
    #: Final evaluation episodes after training (0: none).
    eval_episodes: int = 100
    #: Cap on one evaluation episode's steps (default: the env's evaluation cap).
    eval_max_t: int | None = None
    #: Validate the policy every this many env steps (and after the last update) on
    #: held-out seeds and keep the best (model selection; None: keep the last update).
    select_every_steps: int | None = None
    #: Validation episodes per model-selection check.
    select_episodes: int = 100
    #: Seed of the first validation episode (disjoint from the evaluation's seeds).
    select_seed: int = 1_000_000
    #: Save a checkpoint at least every this many seconds (does not change the model).
    checkpoint_every_s: float = 30.0
    #: torch device.
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.hidden = [int(h) for h in self.hidden]
        if self.episodes_per_update is None and self.segment_steps is None:
            self.episodes_per_update = self.num_envs
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for any value that cannot work."""
        self._validate_budget()
        self._validate_learning()

    def _validate_budget(self) -> None:
        if self.total_steps is None and self.total_episodes is None:
            raise ConfigError("set a training budget: --total-steps or --total-episodes")
        budgets = ("total_steps", "total_episodes", "time_limit")
        sizes = ("num_envs", "episodes_per_update", "max_t", "target_updates", "select_episodes")
        for name in budgets + sizes:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (got {value})")
        for name in ("target_confirm_episodes", "eval_episodes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.segment_steps is not None and not self.segment_steps > 0:
            raise ConfigError(
                f"segment_steps must be a positive number of steps (got {self.segment_steps})"
            )
        if self.segment_steps is not None and self.episodes_per_update is not None:
            raise ConfigError(
                "episodes_per_update (whole episodes per update) and segment_steps (steps "
                "per sub-env per update) exclude each other; give one of them"
            )
        if self.select_every_steps is not None and not self.select_every_steps > 0:
            raise ConfigError(
                f"select_every_steps must be a positive number of env steps "
                f"(got {self.select_every_steps})"
            )

    def _validate_learning(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be positive (got {self.lr})")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"gamma must be in (0, 1] (got {self.gamma})")
        _check_frames(self.frame_stack, self.frame_stride, "")
        if not 0 < self.grad_step_fraction <= 1:
            raise ConfigError(
                f"grad_step_fraction must be in (0, 1] (got {self.grad_step_fraction})"
            )
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be positive (got {self.grad_clip})")
        if self.entropy_coef < 0:
            raise ConfigError(f"entropy_coef must be >= 0 (got {self.entropy_coef})")
        _check_choice("baseline", self.baseline, BASELINES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden sizes must be positive (got {self.hidden})")
        obs_vector("obs_scale", self.obs_scale, None)
        obs_vector("obs_shift", self.obs_shift, None)
        check_obs_clip(self.obs_clip)
        if self.normalize_obs and (self.obs_scale is not None or self.obs_shift is not None):
            raise ConfigError(
                "normalize_obs learns obs_shift and obs_scale itself; give either "
                "normalize_obs or obs_scale/obs_shift, not both"
            )
        if not (_is_number(self.reward_scale) and self.reward_scale > 0):
            raise ConfigError(f"reward_scale must be a positive number (got {self.reward_scale})")
        if not (_is_number(self.log_std_init) and math.isfinite(self.log_std_init)):
            raise ConfigError(f"log_std_init must be a finite number (got {self.log_std_init})")
        self._validate_gae()
        _check_choice("vector_mode", self.vector_mode, VECTOR_MODES)

    def _validate_gae(self) -> None:
        """``gae_lambda``: None, or a number in [0, 1] with the value baseline."""
        if self.gae_lambda is None:
            return
        if not (_is_number(self.gae_lambda) and 0 <= self.gae_lambda <= 1):
            raise ConfigError(f"gae_lambda must be in [0, 1] (got {self.gae_lambda!r:.60})")
        if self.baseline != "value":
            raise ConfigError(
                "gae_lambda needs the value network: add --baseline value "
                f"(got --baseline {self.baseline})"
            )

    def policy_config(self, obs_dim: int, n_actions: int, action: Any = None) -> PolicyConfig:
        """The architecture this run trains.

        Args:
            obs_dim: the env's observation size.
            n_actions: its number of actions (discrete) or action dimensions (box).
            action: the env's action space (a Gymnasium Box makes a box policy with its
                bounds; None or Discrete: a discrete policy).
        """
        box = _box_bounds(action)
        clip = self.obs_clip
        if self.normalize_obs and clip is None:
            clip = NORMALIZED_OBS_CLIP
        return PolicyConfig(
            env_id=self.env_id,
            obs_dim=obs_dim,
            n_actions=n_actions,
            hidden=list(self.hidden),
            activation=self.activation,
            obs_scale=self.obs_scale,
            obs_shift=self.obs_shift,
            obs_clip=clip,
            frame_stack=self.frame_stack,
            frame_stride=self.frame_stride,
            **({"action_space": "box", "action_low": box[0], "action_high": box[1]} if box else {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "hyperparameters") -> TrainConfig:
        """Build from a dict, rejecting unknown keys with a clear error; the key
        ``episodes`` of older runs is read as ``total_episodes``."""
        return _from_dict(cls, upgrade_legacy_keys(data), source)

    @classmethod
    def for_env(cls, env_id: str, **overrides: Any) -> TrainConfig:
        """The tuned defaults for ``env_id`` (see :data:`ENV_DEFAULTS`) with ``overrides``
        applied; overrides whose value is ``None`` are ignored. An episode budget given
        alone replaces the default step budget, and ``episodes_per_update`` given alone
        replaces the default ``segment_steps`` (whole episodes instead of segments)."""
        values: dict[str, Any] = {"env_id": env_id, **ENV_DEFAULTS.get(env_id, {})}
        given = {k: v for k, v in overrides.items() if v is not None}
        if "total_episodes" in given and "total_steps" not in given:
            values["total_steps"] = None  # an episode budget replaces the default step budget
        if "episodes_per_update" in given and "segment_steps" not in given:
            values["segment_steps"] = None  # whole episodes replace the default segments
        values.update(given)
        return _from_dict(cls, values, "options")

    def course_hyperparameters(self, obs_dim: int, n_actions: int) -> dict[str, Any]:
        """The keys the Deep RL course's notebook writes to ``hyperparameters.json``
        (:func:`to_course_keys`, then the env's sizes)."""
        return {
            **to_course_keys(self.to_dict()),
            "state_space": obs_dim,
            "action_space": n_actions,
        }


def _box_bounds(space: Any) -> tuple[list[float], list[float]] | None:
    """``(low, high)`` of a Gymnasium Box action space, else None."""
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None or hasattr(space, "n"):
        return None
    return [float(x) for x in low.reshape(-1)], [float(x) for x in high.reshape(-1)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def obs_vector(name: str, value: Any, obs_dim: int | None) -> list[float] | float | None:
    """``obs_scale``/``obs_shift`` checked: None, one number (broadcast to ``obs_dim``
    entries when it is known) or a list of ``obs_dim`` finite numbers.

    Args:
        name: the field, for the message.
        value: the value given (from ``--config`` or ``config.json``).
        obs_dim: the env's observation size; None checks the types only.
    """
    if value is None:
        return None
    if _is_number(value):
        values = [float(value)] * (obs_dim or 1)
    elif isinstance(value, (list, tuple)) and all(_is_number(x) for x in value):
        values = [float(x) for x in value]
    else:
        raise ConfigError(
            f"{name} must be a number or a list of numbers, one per observation (got {value!r})"
        )
    if not all(math.isfinite(x) for x in values):
        raise ConfigError(f"{name} must be finite numbers (got {value!r})")
    if obs_dim is None:
        return float(value) if _is_number(value) else values
    if len(values) != obs_dim:
        raise ConfigError(
            f"config: {name} has {len(values)} entries for {obs_dim} observations; give one "
            "number (used for every observation) or one per observation"
        )
    return values


def _check_choice(name: str, value: Any, choices: tuple[str, ...], prefix: str = "") -> None:
    if value not in choices:
        raise ConfigError(f"{prefix}unknown {name} {value!r}; use one of {', '.join(choices)}")


def check_obs_clip(value: Any, prefix: str = "") -> None:
    """``obs_clip``: None or a positive number, else :class:`ConfigError`.

    Args:
        value: the value given.
        prefix: the start of the message (``"config: "`` for ``config.json``).
    """
    if value is not None and not (_is_number(value) and value > 0):
        raise ConfigError(f"{prefix}obs_clip must be a positive number (got {value!r})")


#: The widest layer, and the most observations or actions, a policy config may ask for.
MAX_POLICY_WIDTH = 1 << 16


def _whole_number(name: str, value: Any) -> int:
    """``value`` when it is an int (not a bool, not a float, not a string) in
    ``0 .. MAX_POLICY_WIDTH``, else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"config: {name} must be a whole number (got {value!r:.60})")
    value = int(value)
    if not 0 <= value <= MAX_POLICY_WIDTH:
        raise ConfigError(
            f"config: {name} must be between 0 and {MAX_POLICY_WIDTH} (got {value!r:.60})"
        )
    return value


def _int_list(name: str, values: Any) -> list[int]:
    if not isinstance(values, (list, tuple)):  # a string "1234" is not [1, 2, 3, 4]
        raise ConfigError(f"config: {name} must be a list of whole numbers (got {values!r:.60})")
    return [_whole_number(name, v) for v in values]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"config: {name} must be finite numbers (got {value!r:.60})")
    return float(value)


def _check_frames(frames: int, stride: int, prefix: str) -> None:
    """Positive whole numbers whose frame history stays small (hostile configs too)."""
    for name, value in (("frame_stack", frames), ("frame_stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{prefix}{name} must be a positive integer (got {value!r:.60})")
    if (frames - 1) * stride + 1 > MAX_FRAME_HISTORY:
        raise ConfigError(
            f"{prefix}frame_stack and frame_stride keep {(frames - 1) * stride + 1} frames; "
            f"at most {MAX_FRAME_HISTORY}"
        )


#: The most observations a frame history keeps, (frame_stack - 1) * frame_stride + 1.
MAX_FRAME_HISTORY = 1024


def _from_dict(cls: type, data: Any, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(names))}"
        )
    try:
        return cls(**data)
    except TypeError as exc:  # missing required keys, wrong types
        raise ConfigError(f"{source}: {exc}") from exc


def read_hyperparameter_file(path: Path) -> dict[str, Any]:
    """Read ``--config FILE`` (JSON, or YAML by extension) as it is: a flat mapping,
    course keys untranslated (see :func:`load_hyperparameter_file`).

    Args:
        path: the file.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"config file {path} not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML ({exc})") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of hyperparameters")
    return dict(data)


def load_hyperparameter_file(path: Path) -> dict[str, Any]:
    """Read ``--config FILE`` (JSON, or YAML by extension) as :class:`TrainConfig`
    fields: the course's keys translated by :func:`from_course_keys` (``h_size`` ->
    ``hidden``, ``n_training_episodes`` -> ``total_episodes``, ...).

    Args:
        path: the file.
    """
    data = read_hyperparameter_file(path)
    env_id = data.get("env_id")
    return upgrade_legacy_keys(from_course_keys(data, env_id if isinstance(env_id, str) else None))


# --------------------------------------------------------------------------- the course's keys
# One home for the Deep RL course's hyperparameter names: --config files, the
# hyperparameters.json hubpg writes, converted course models and the API's hints all
# translate through COURSE_KEYS.

#: The course notebook's ``hyperparameters`` keys -> the :class:`TrainConfig` field each
#: one is, in the order the notebook writes them (``h_size`` is the first hidden size).
COURSE_KEYS: dict[str, str] = {
    "env_id": "env_id",
    "h_size": "hidden",
    "n_training_episodes": "total_episodes",
    "n_evaluation_episodes": "eval_episodes",
    "max_t": "max_t",
    "gamma": "gamma",
    "lr": "lr",
}
#: Course keys that describe rather than set: the env's sizes, how often the notebook prints.
COURSE_INFO_KEYS = ("state_space", "action_space", "print_every")
#: Keys only the course writes: a file holding one of them is a course file.
COURSE_ONLY_KEYS = frozenset(
    {k for k, field_name in COURSE_KEYS.items() if k != field_name} | set(COURSE_INFO_KEYS)
)
#: The course's hidden layers as multiples of ``h_size`` (its Pixelcopter ``Policy`` is
#: ``Linear(s, h), Linear(h, 2h), Linear(2h, a)``; CartPole's one layer of ``h``).
COURSE_LAYERS: dict[str, tuple[int, ...]] = {"Pixelcopter-PLE-v0": (1, 2)}
#: hubpg's keys that choose how episodes are batched: given in a course file or on the
#: command, the env's tuned (batched) recipe applies instead of the course's algorithm.
BATCH_KEYS = ("num_envs", "episodes_per_update", "segment_steps")
#: The course's algorithm: one env, one whole episode per gradient step.
COURSE_ALGORITHM: dict[str, Any] = {"num_envs": 1, "episodes_per_update": 1}


def course_hidden(h_size: Any, env_id: str | None = None) -> list[Any]:
    """The hidden sizes the course's ``Policy`` for ``env_id`` builds from ``h_size``.

    Args:
        h_size: the course's ``h_size``.
        env_id: the env (Pixelcopter's course network is ``h, 2h``); None: ``[h_size]``.
    """
    if not _is_number(h_size):
        return [h_size]  # TrainConfig's own check names the bad value
    return [h_size * m for m in COURSE_LAYERS.get(env_id or "", (1,))]


def from_course_keys(data: dict[str, Any], env_id: str | None = None) -> dict[str, Any]:
    """``data`` with the course's keys as :class:`TrainConfig` fields (a hubpg key
    already present wins) and the descriptive ones (:data:`COURSE_INFO_KEYS`) dropped.

    Args:
        data: a hyperparameter mapping (a ``--config`` file, a course ``hyperparameters.json``).
        env_id: the env, for the course's network shape (:func:`course_hidden`).
    """
    out = {k: v for k, v in data.items() if k not in COURSE_KEYS and k not in COURSE_INFO_KEYS}
    for course_key, field_name in COURSE_KEYS.items():
        if course_key in data:
            value = data[course_key]
            if field_name == "hidden":
                value = course_hidden(value, env_id)
            out.setdefault(field_name, value)
    return out


def to_course_keys(values: dict[str, Any]) -> dict[str, Any]:
    """The course's keys for the :class:`TrainConfig` fields in ``values`` (``hidden``
    gives ``h_size``, its first size), in the notebook's order.

    Args:
        values: TrainConfig fields (``config.to_dict()``, or just ``{"hidden": [16]}``).
    """
    out: dict[str, Any] = {}
    for course_key, field_name in COURSE_KEYS.items():
        if field_name not in values:
            continue
        value = values[field_name]
        if field_name == "hidden":
            if not value:
                continue
            value = value[0]
        out[course_key] = value
    return out


def course_network_keys(config: PolicyConfig) -> dict[str, Any]:
    """The course's keys that describe a policy's network: ``env_id``, ``h_size`` (its
    first hidden size, when it has one), ``state_space`` and ``action_space``.

    Args:
        config: the policy's architecture.
    """
    return {
        **to_course_keys({"env_id": config.env_id, "hidden": config.hidden}),
        "state_space": config.obs_dim,
        "action_space": config.n_actions,
    }


def runs_course_algorithm(data: dict[str, Any], given: dict[str, Any]) -> bool:
    """True when a hyperparameter file means the course's algorithm: it holds a key only
    the course writes (:data:`COURSE_ONLY_KEYS`), and neither it nor the options
    (``given``, None meaning not given) choose the batching (:data:`BATCH_KEYS`).

    Args:
        data: the file's mapping, untranslated.
        given: the options given with it.
    """
    chosen = {k for k, v in given.items() if v is not None} | set(data)
    return any(key in COURSE_ONLY_KEYS for key in data) and not chosen.intersection(BATCH_KEYS)


def config_with_file(env_id: str, data: dict[str, Any], given: dict[str, Any]) -> TrainConfig:
    """The run's :class:`TrainConfig`: the env's tuned defaults (or, for a course file,
    the course's algorithm: :func:`runs_course_algorithm`), then the file's values, then
    the options given (None meaning not given).

    Args:
        env_id: the env to train on.
        data: the hyperparameter file's mapping as read (:func:`read_hyperparameter_file`).
        given: the options, winning over the file.
    """
    values = upgrade_legacy_keys(from_course_keys(data, env_id))
    values.pop("env_id", None)
    merged = {**values, **{k: v for k, v in given.items() if v is not None}}
    if not runs_course_algorithm(data, given):
        return TrainConfig.for_env(env_id, **merged)
    full = {"env_id": env_id, **COURSE_ALGORITHM}
    if "total_episodes" in merged and "total_steps" not in merged:
        full["total_steps"] = None  # the course's budget is in episodes
    return _from_dict(TrainConfig, {**full, **merged}, "options")


def course_note(config: TrainConfig, source: str) -> str:
    """The one line saying a course file runs the course's algorithm, and how to switch.

    Args:
        config: the config :func:`config_with_file` built.
        source: the file's name.
    """
    budget = (
        f"{config.total_episodes} episodes"
        if config.total_episodes is not None
        else f"{config.total_steps} steps"
    )
    return (
        f"note: {source} has the Deep RL course's keys, so it runs the course's algorithm "
        f"(1 env, 1 episode per update, {budget}, hidden {config.hidden}, evaluation over "
        f"{config.eval_episodes} episodes); give num_envs (in the file or --num-envs N) for "
        "hubpg's batched recipe with the env's tuned defaults"
    )


#: Old :class:`TrainConfig` field names -> their current names (runs written before the
#: rename still load).
LEGACY_KEYS = {"episodes": "total_episodes"}


def upgrade_legacy_keys(data: Any) -> Any:
    """``data`` with :data:`LEGACY_KEYS` renamed (a new name already present wins)."""
    if not isinstance(data, dict) or not any(old in data for old in LEGACY_KEYS):
        return data
    data = dict(data)
    for old, new in LEGACY_KEYS.items():
        if old in data:
            data.setdefault(new, data.pop(old))
    return data


def evaluation_max_t(env_id: str, eval_max_t: int | None = None) -> int:
    """The episode cap of an evaluation, the one rule every evaluation follows (the
    final one after training, ``evaluate``, ``package``, ``load-and-eval``): the run's
    ``eval_max_t`` when set, else the env's tuned ``eval_max_t``, else its tuned
    ``max_t``, else 1000. The training ``max_t`` of a run plays no part, so a run
    trained with short episodes is still scored on whole ones.

    Args:
        env_id: the environment id.
        eval_max_t: the run's own evaluation cap, if it set one.
    """
    if eval_max_t is not None:
        return int(eval_max_t)
    defaults = ENV_DEFAULTS.get(env_id, {})
    return int(defaults.get("eval_max_t") or defaults.get("max_t", 1000))
