"""REINFORCE (Monte-Carlo policy gradient) over a vector of environments.

Each update plays ``episodes_per_update`` whole episodes, ``num_envs`` at a
time side by side, computes every episode's discounted returns-to-go exactly as
the Deep RL course does, normalises them over the batch (mean, unbiased std,
float32 epsilon), and takes one Adam step on

    loss = -sum_t log pi(a_t | s_t) * G_t_normalised / n_episodes
           - entropy_coef * sum_t H(pi(. | s_t)) / n_episodes

With ``num_envs=1, episodes_per_update=1`` (and ``entropy_coef=0``) that is the
course's loss for one episode, term for term. The policy acts with the weights
of the current update (on-policy), so log-probabilities are recomputed in one
batched forward pass instead of being kept per step.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hubpg import __version__
from hubpg.config import LEGACY_KEYS, TrainConfig
from hubpg.envs import env_dims, make_vec_env
from hubpg.errors import (
    ConfigError,
    MissingFileError,
    RunDirError,
    TrainingDivergedError,
    TrainingFailedError,
)
from hubpg.policy import (
    Policy,
    load_weights_strict,
    read_weights,
    sample_categorical,
    small_model_threads,
)
from hubpg.runfolder import (
    HYPERPARAMETERS_NAME,
    OPTIMIZER_NAME,
    STATE_NAME,
    VALUE_NAME,
    WEIGHTS_NAME,
    atomic_path,
    open_log,
    read_json,
    read_log,
    write_json,
)

LOG_FIELDS = [
    "update",
    "steps",
    "episodes",
    "mean_return",
    "min_return",
    "max_return",
    "mean_length",
    "loss",
    "entropy",
    "lr",
    "wall_time",
    "val_score",
]
_EPS = float(np.finfo(np.float32).eps)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, after the last complete checkpoint was saved."""

    def __init__(self, run_dir: Path, updates: int) -> None:
        super().__init__(f"interrupted after {updates} updates; checkpoint kept in {run_dir}")
        self.run_dir = run_dir
        self.updates = updates


@dataclass
class TrainResult:
    """What a finished run reports."""

    run_dir: Path
    steps: int
    episodes: int
    updates: int
    wall_time: float
    solved: bool
    last_mean_return: float

    @property
    def steps_per_second(self) -> float:
        """Env steps per second of training wall time."""
        return self.steps / self.wall_time if self.wall_time > 0 else 0.0


# --------------------------------------------------------------------------- math


def discounted_returns(
    rewards: np.ndarray, gamma: float, ends: np.ndarray | None = None
) -> np.ndarray:
    """Returns-to-go ``G_t = r_t + gamma * G_{t+1}`` along axis 0 (time), restarting
    after every step marked in ``ends`` (the last step of an episode).

    ``rewards`` is ``[T, N]`` (zeros where no episode of the batch is played)."""
    returns = np.empty_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in range(rewards.shape[0] - 1, -1, -1):
        if ends is not None:
            running = np.where(ends[t], 0.0, running)
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def normalize_returns(returns: np.ndarray) -> np.ndarray:
    """``(G - mean) / (std + eps)`` with the unbiased std and float32 epsilon, as the course
    does; a single return normalises to 0 (the course's formula would give NaN)."""
    values = returns.astype(np.float32)
    if values.size < 2:
        return np.zeros_like(values)
    return (values - values.mean()) / (values.std(ddof=1) + _EPS)


def time_baseline(returns: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each step, the mean return-to-go of the batch's episodes at the same time step.

    Subtracting it keeps the gradient unbiased (it does not depend on the action)
    and removes the bias of returns-to-go that fall with t in truncated episodes."""
    sums = np.bincount(times, weights=returns)
    counts = np.bincount(times)
    return (sums / np.maximum(counts, 1))[times]


def reinforce_loss(
    log_probs: torch.Tensor,
    weights: torch.Tensor,
    n_episodes: int,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
) -> torch.Tensor:
    """``-sum(log_probs * weights) / n_episodes`` minus the entropy bonus."""
    loss = -(log_probs * weights).sum() / n_episodes
    if entropy is not None and entropy_coef:
        loss = loss - entropy_coef * entropy.sum() / n_episodes
    return loss


# --------------------------------------------------------------------------- rollout


@dataclass
class Batch:
    """The steps of a batch of whole episodes, flattened in (time, env) order."""

    obs: np.ndarray
    actions: np.ndarray
    weights: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    returns: np.ndarray | None = None
    times: np.ndarray | None = None


def play_round(
    policy: Policy,
    envs: Any,
    obs: np.ndarray,
    n_episodes: int,
    max_t: int,
    gamma: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Play ``n_episodes`` whole episodes with the current policy over the sub-envs.

    Every sub-env starts an episode from ``obs``; a sub-env whose episode ends
    starts another (after the vector env's next-step auto-reset) until
    ``n_episodes`` have been started, and the round ends when all started
    episodes have ended (or reached ``max_t`` steps). Every started episode is
    played to its end, so the batch is an unbiased on-policy sample while the
    sub-envs stay busy until the last few episodes.

    Returns (observations, actions, returns-to-go, time-in-episode, per-episode
    returns, lengths), steps flattened in (time, env) order."""
    n_envs = obs.shape[0]
    active = np.arange(n_envs) < n_episodes  # playing an episode of this batch
    started = int(active.sum())
    resetting = np.zeros(n_envs, dtype=bool)  # the next step is the env's auto-reset
    ep_step = np.zeros(n_envs, dtype=np.int64)
    ep_return = np.zeros(n_envs, dtype=np.float64)
    steps: list[tuple[np.ndarray, ...]] = []  # per step: obs, actions, rewards, recorded, ends, t
    returns: list[float] = []
    lengths: list[int] = []
    while active.any() or (resetting.any() and started < n_episodes):
        actions = sample_categorical(policy.probs_numpy(obs), rng)
        next_obs, reward, terminated, truncated, _ = envs.step(actions)
        recorded = active.copy()
        reward = np.where(recorded, reward, 0.0)
        ep_return += reward
        ep_step += recorded
        natural = recorded & (terminated | truncated)
        ends = recorded & (natural | (ep_step >= max_t))
        steps.append((obs, actions, reward, recorded, ends, ep_step - 1))
        for i in np.flatnonzero(ends):
            returns.append(float(ep_return[i]))
            lengths.append(int(ep_step[i]))
        # a sub-env cut at max_t restarts if the vector env truncates there too
        # (make_vec_env(..., max_t=...)); otherwise it idles until the next round
        new = resetting & (started < n_episodes)
        if new.any():
            new &= np.cumsum(new) <= n_episodes - started
            started += int(new.sum())
            ep_step[new] = 0
            ep_return[new] = 0.0
        active = (active & ~ends) | new
        resetting = natural
        obs = next_obs
    obs_t, act_t, rew_t, rec_t, end_t, time_t = (np.stack(x) for x in zip(*steps, strict=True))
    returns_to_go = discounted_returns(rew_t, gamma, end_t)
    return (
        obs_t[rec_t],
        act_t[rec_t],
        returns_to_go[rec_t],
        time_t[rec_t],
        np.asarray(returns),
        np.asarray(lengths),
    )


def collect_batch(
    policy: Policy, envs: Any, config: TrainConfig, rng: np.random.Generator, first_seed: int | None
) -> Batch:
    """Play ``episodes_per_update`` episodes over the ``num_envs`` sub-envs."""
    obs, _ = envs.reset(seed=first_seed)
    obs, actions, returns, times, ep_returns, ep_lengths = play_round(
        policy, envs, obs, config.episodes_per_update, config.max_t, config.gamma, rng
    )
    weights = step_weights(returns, times, config) if config.baseline != "value" else None
    return Batch(obs, actions, weights, ep_returns, ep_lengths, returns, times)


class ValueBaseline:
    """A state-value estimate V(s, t/max_t) fitted by regression to the batch's
    Monte-Carlo returns-to-go (REINFORCE with baseline; no bootstrapping, no TD).

    It only reduces the variance of the policy gradient; it is not part of the
    shared model (saved as ``value.safetensors`` in the run folder for --resume)."""

    def __init__(self, policy: Policy, config: TrainConfig) -> None:
        from torch import nn

        layers: list[nn.Module] = []
        width = policy.config.obs_dim + 1
        for size in config.hidden:
            layers += [nn.Linear(width, size), nn.Tanh()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.preprocess = policy.preprocess
        self.max_t = config.max_t
        self.epochs = config.value_epochs
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.value_lr)

    def _inputs(self, obs: np.ndarray, times: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            x = self.preprocess(torch.from_numpy(obs))
        t = torch.from_numpy((times / self.max_t).astype(np.float32))[:, None]
        return torch.cat([x, t], dim=1)

    def predict(self, obs: np.ndarray, times: np.ndarray) -> np.ndarray:
        """V for each step."""
        with torch.no_grad():
            return self.net(self._inputs(obs, times))[:, 0].numpy().astype(np.float64)

    def fit(self, obs: np.ndarray, times: np.ndarray, returns: np.ndarray) -> float:
        """A few full-batch Adam steps on the squared error; returns the last loss."""
        x = self._inputs(obs, times)
        y = torch.from_numpy(returns.astype(np.float32))
        loss = torch.zeros(())
        for _ in range(self.epochs):
            loss = ((self.net(x)[:, 0] - y) ** 2).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return float(loss.item())


def step_weights(
    returns: np.ndarray,
    times: np.ndarray,
    config: TrainConfig,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """The per-step weights of the policy gradient: returns-to-go, minus the baseline
    (``time``: if the batch has more than one episode; ``value``: ``values``, the
    value estimate of each step), normalised if asked."""
    n_episodes = int(np.count_nonzero(times == 0))
    if config.baseline == "time" and n_episodes > 1:
        returns = returns - time_baseline(returns, times)
    elif config.baseline == "value" and values is not None:
        returns = returns - values
    if config.normalize_returns:
        return normalize_returns(returns)
    return returns.astype(np.float32)


def batch_loss(
    policy: Policy, batch: Batch, entropy_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The REINFORCE loss of ``batch`` under ``policy`` (with grad), and per-step entropies."""
    log_probs_all = policy.log_probs(torch.from_numpy(batch.obs))
    actions = torch.from_numpy(batch.actions)
    log_probs = log_probs_all.gather(1, actions[:, None]).squeeze(1)
    entropy = -(log_probs_all.exp() * log_probs_all).sum(dim=1)
    weights = torch.from_numpy(batch.weights)
    loss = reinforce_loss(log_probs, weights, len(batch.episode_returns), entropy, entropy_coef)
    return loss, entropy


# --------------------------------------------------------------------------- run folder


def default_run_dir(env_id: str, seed: int) -> Path:
    """``runs/<env>-reinforce-s<seed>``."""
    return Path("runs") / f"{env_id}-reinforce-s{seed}"


def prepare_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """Create ``run_dir``; refuse an existing non-empty one unless ``overwrite`` or ``resume``."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir} exists and is not a folder; choose another --out")
    exists = run_dir.is_dir() and any(run_dir.iterdir())
    if resume:
        if not (run_dir / STATE_NAME).is_file():
            raise MissingFileError(
                f"nothing to resume in {run_dir} (no {STATE_NAME}); start a new run without --resume"
            )
        return
    if exists and not overwrite:
        raise RunDirError(
            f"run folder {run_dir} already exists; pass --overwrite to replace it, "
            "--resume to continue it, or --out for another folder"
        )
    try:
        if exists:
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(
            f"cannot write the run folder {run_dir} ({exc.strerror or exc}); choose a writable --out"
        ) from exc


def hyperparameters_record(
    config: TrainConfig, obs_dim: int, n_actions: int, episodes: int
) -> dict[str, Any]:
    """The course's ``hyperparameters.json`` keys, then hubpg's own."""
    record = config.course_hyperparameters(obs_dim, n_actions)
    record["n_training_episodes"] = episodes
    record.update(config.to_dict())
    record["algorithm"] = "reinforce"
    record["library"] = "hubpg"
    record["hubpg_version"] = __version__
    return record


def config_from_record(record: dict[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` stored in a ``hyperparameters.json``."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} | set(LEGACY_KEYS)
    return TrainConfig.from_dict({k: v for k, v in record.items() if k in names})


def save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Adam's state as safetensors (tensors only; no pickle)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{index}.{key}"] = (
                torch.as_tensor(value).detach().clone().reshape(-1)
                if (key == "step")
                else value.detach().clone()
            )
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Restore Adam's state saved by :func:`save_optimizer`."""
    tensors = read_weights(path)
    state_dict = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value.reshape(()) if key == "step" else value
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)


# --------------------------------------------------------------------------- training


class _Run:
    """The mutable state of one training run: policy, optimizer, counters, files."""

    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool) -> None:
        self.config = config
        self.run_dir = run_dir
        self.obs_dim, self.n_actions = env_dims(config.env_id)
        torch.manual_seed(config.seed)
        self.policy = Policy(config.policy_config(self.obs_dim, self.n_actions))
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.steps = self.episodes = self.updates = 0
        self.wall_time = 0.0
        self.rng = np.random.default_rng(config.seed)
        self.value = ValueBaseline(self.policy, config) if config.baseline == "value" else None
        if resume:
            self._restore()
        self.good_weights = {k: v.clone() for k, v in self.policy.state_dict().items()}

    def _restore(self) -> None:
        state = read_json(self.run_dir / STATE_NAME)
        load_weights_strict(self.policy, read_weights(self.run_dir / WEIGHTS_NAME), WEIGHTS_NAME)
        if (self.run_dir / OPTIMIZER_NAME).is_file():
            load_optimizer(self.optimizer, self.run_dir / OPTIMIZER_NAME)
        if self.value is not None and (self.run_dir / VALUE_NAME).is_file():
            self.value.net.load_state_dict(read_weights(self.run_dir / VALUE_NAME), strict=True)
        self.steps, self.episodes = int(state["steps"]), int(state["episodes"])
        self.updates, self.wall_time = int(state["updates"]), float(state["wall_time"])
        self.rng = np.random.default_rng([self.config.seed, self.updates])

    def env_seed(self) -> int:
        """Seed of the first reset of this session (a resumed run continues elsewhere)."""
        return self.config.seed + 7919 * self.updates

    def progress(self) -> float:
        """How much of the budget is spent, from 0 to 1 (the largest of steps, episodes
        and seconds)."""
        c = self.config
        spent = [0.0]
        if c.total_steps is not None:
            spent.append(self.steps / c.total_steps)
        if c.total_episodes is not None:
            spent.append(self.episodes / c.total_episodes)
        if c.time_limit is not None:
            spent.append(self.wall_time / c.time_limit)
        return min(max(spent), 1.0)

    def budget_left(self) -> bool:
        c = self.config
        if c.total_steps is not None and self.steps >= c.total_steps:
            return False
        if c.time_limit is not None and self.wall_time >= c.time_limit:
            return False
        return not (c.total_episodes is not None and self.episodes >= c.total_episodes)

    def checkpoint(
        self,
        status: str,
        weights: dict[str, torch.Tensor] | None = None,
        selected: dict[str, Any] | None = None,
    ) -> None:
        """Save weights, optimizer, hyperparameters and counters; state file last."""
        if weights is not None:
            self.policy.load_state_dict(weights)
        self.policy.save(self.run_dir)
        save_optimizer(self.optimizer, self.run_dir / OPTIMIZER_NAME)
        if self.value is not None:
            from safetensors.torch import save_file

            tensors = {k: v.contiguous() for k, v in self.value.net.state_dict().items()}
            with atomic_path(self.run_dir / VALUE_NAME) as tmp:
                save_file(tensors, str(tmp))
        record = hyperparameters_record(self.config, self.obs_dim, self.n_actions, self.episodes)
        write_json(self.run_dir / HYPERPARAMETERS_NAME, record)
        write_json(
            self.run_dir / STATE_NAME,
            {
                "status": status,
                "steps": self.steps,
                "episodes": self.episodes,
                "updates": self.updates,
                "wall_time": round(self.wall_time, 3),
                "hubpg_version": __version__,
                **({"selected_checkpoint": selected} if selected else {}),
            },
        )


def train(
    config: TrainConfig,
    out: Path | str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a REINFORCE policy as ``config`` says; write the run folder ``out``.

    Ctrl-C saves the last complete update and raises :class:`TrainingInterrupted`;
    a non-finite loss saves the last good weights and raises
    :class:`~hubpg.errors.TrainingDivergedError`.
    """
    with small_model_threads():
        return _train(config, out, overwrite, resume, progress)


def _train(
    config: TrainConfig,
    out: Path | str | None,
    overwrite: bool,
    resume: bool,
    progress: bool,
) -> TrainResult:
    run_dir = Path(out) if out is not None else default_run_dir(config.env_id, config.seed)
    prepare_run_dir(run_dir, overwrite, resume)
    if resume:
        saved = config_from_record(read_json(run_dir / HYPERPARAMETERS_NAME))
        budget = {"total_steps": config.total_steps, "total_episodes": config.total_episodes}
        config = dataclasses.replace(saved, **budget)
    if (
        config.device != "cpu"
        and not torch.cuda.is_available()
        and config.device.startswith("cuda")
    ):
        raise ConfigError(f"device {config.device!r} is not available here; use --device cpu")
    run = _Run(config, run_dir, resume)
    run.checkpoint("running")
    envs = make_vec_env(config.env_id, config.num_envs, max_t=config.max_t)
    bar = _progress_bar(config, run, progress)
    log_file, log = open_log(run_dir, LOG_FIELDS)  # a resumed run keeps its log's columns
    solved_streak = 0
    selector = _Selector(config)
    last_mean = float("nan")
    last_save = time.perf_counter()
    session_start = time.perf_counter() - run.wall_time
    seed: int | None = run.env_seed()
    try:
        while run.budget_left():
            batch = collect_batch(run.policy, envs, config, run.rng, seed)
            seed = None
            on_target = (
                config.target_return is not None
                and batch.episode_returns.min() >= config.target_return
            )
            solved_streak = solved_streak + 1 if on_target else 0
            if on_target:  # verification batch: keep the policy that played it unchanged
                loss, entropy = float("nan"), float("nan")
            else:
                loss, entropy = _update(run, batch)
                run.good_weights = {k: v.clone() for k, v in run.policy.state_dict().items()}
            run.updates += 1
            run.steps += int(batch.episode_lengths.sum())
            run.episodes += len(batch.episode_returns)
            last_mean = float(batch.episode_returns.mean())
            val_score = selector.maybe_validate(run)
            run.wall_time = time.perf_counter() - session_start
            log.writerow(_log_row(run, batch, loss, entropy, val_score))
            if bar is not None:
                bar.update(_bar_position(config, run) - bar.n)
                bar.set_postfix_str(
                    f"return {last_mean:.1f}  {run.steps / max(run.wall_time, 1e-9):,.0f} steps/s"
                )
            if solved_streak >= config.target_updates:
                break
            if time.perf_counter() - last_save > config.checkpoint_every_s:
                log_file.flush()
                run.checkpoint("running")
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        log_file.close()
        run.checkpoint("interrupted", run.good_weights)
        raise TrainingInterrupted(run_dir, run.updates) from None
    except TrainingDivergedError:
        log_file.close()
        run.checkpoint("diverged", run.good_weights)
        raise
    except Exception as exc:
        log_file.close()
        run.checkpoint("failed", run.good_weights)
        raise TrainingFailedError(
            f"training stopped at update {run.updates + 1} ({type(exc).__name__}: {exc}); the "
            f"last complete update is saved in {run_dir}. Fix the cause and continue with --resume"
        ) from exc
    finally:
        if bar is not None:
            bar.close()
        envs.close()
    log_file.close()
    run.checkpoint("completed", selector.best_weights, selected=selector.summary())
    return TrainResult(
        run_dir=run_dir,
        steps=run.steps,
        episodes=run.episodes,
        updates=run.updates,
        wall_time=run.wall_time,
        solved=solved_streak >= config.target_updates,
        last_mean_return=last_mean,
    )


class _Selector:
    """Model selection on held-out seeds: every ``select_every`` seconds, evaluate the
    policy on ``select_episodes`` validation episodes (seeds from ``select_seed``,
    disjoint from the evaluation's) and keep the weights with the best mean - std."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.last = time.perf_counter()
        self.best_score = -math.inf
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_update = 0

    def maybe_validate(self, run: _Run) -> float | None:
        c = self.config
        if c.select_every is None or time.perf_counter() - self.last < c.select_every:
            return None
        from hubpg.evaluation import evaluate

        result = evaluate(
            run.policy,
            episodes=c.select_episodes,
            seed=c.select_seed,
            max_t=c.eval_max_t or c.max_t,
        )
        if result.score > self.best_score:
            self.best_score = result.score
            self.best_weights = {k: v.clone() for k, v in run.policy.state_dict().items()}
            self.best_update = run.updates
        self.last = time.perf_counter()
        return result.score

    def summary(self) -> dict[str, Any] | None:
        if self.best_weights is None:
            return None
        return {
            "update": self.best_update,
            "validation_score": round(self.best_score, 4),
            "validation_seeds": [
                self.config.select_seed,
                self.config.select_seed + self.config.select_episodes - 1,
            ],
        }


def _update(run: _Run, batch: Batch) -> tuple[float, float]:
    """One gradient step on ``batch``; returns (loss, mean entropy)."""
    config = run.config
    if config.anneal_lr:
        for group in run.optimizer.param_groups:
            group["lr"] = config.lr * (1.0 - run.progress())
    if run.value is not None:
        values = run.value.predict(batch.obs, batch.times)
        batch.weights = step_weights(batch.returns, batch.times, config, values)
        run.value.fit(batch.obs, batch.times, batch.returns)
    loss, entropy = batch_loss(run.policy, batch, config.entropy_coef)
    if not torch.isfinite(loss):
        raise TrainingDivergedError(
            f"the loss became {loss.item()} at update {run.updates + 1}; the last good weights "
            f"were saved in {run.run_dir}. Lower --lr or set --grad-clip"
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(run.policy.parameters(), config.grad_clip)
    run.optimizer.step()
    return float(loss.item()), float(entropy.mean().item())


def _log_row(
    run: _Run, batch: Batch, loss: float, entropy: float, val_score: float | None = None
) -> dict[str, Any]:
    returns = batch.episode_returns
    return {
        "update": run.updates,
        "steps": run.steps,
        "episodes": run.episodes,
        "mean_return": round(float(returns.mean()), 4),
        "min_return": round(float(returns.min()), 4),
        "max_return": round(float(returns.max()), 4),
        "mean_length": round(float(batch.episode_lengths.mean()), 2),
        "loss": round(loss, 6),
        "entropy": round(entropy, 6),
        "lr": run.optimizer.param_groups[0]["lr"],
        "wall_time": round(run.wall_time, 4),
        "val_score": "" if val_score is None else round(val_score, 4),
    }


def _bar_position(config: TrainConfig, run: _Run) -> int:
    return run.steps if config.total_steps is not None else run.episodes


def _progress_bar(config: TrainConfig, run: _Run, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    by_steps = config.total_steps is not None
    return tqdm(
        total=config.total_steps if by_steps else config.total_episodes,
        initial=_bar_position(config, run),
        unit=" steps" if by_steps else " episodes",
        unit_scale=True,
        desc=f"train {config.env_id}",
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        mininterval=0.25,
    )


__all__ = [
    "TrainResult",
    "TrainingInterrupted",
    "discounted_returns",
    "normalize_returns",
    "reinforce_loss",
    "train",
    "read_log",
]
