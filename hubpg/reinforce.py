"""REINFORCE (Monte-Carlo policy gradient) over a vector of environments.

Each update plays a batch (:mod:`hubpg.rollout`: whole episodes, or segments) and
takes one Adam step on

    loss = -sum_t log pi(a_t | s_t) * G_t_normalised / n_episodes
           - entropy_coef * sum_t H(pi(. | s_t)) / n_episodes

which with ``num_envs=1, episodes_per_update=1`` is the Deep RL course's loss, term
for term. Budgets and model selection count env steps, episodes and updates, so the
same config and seed give the same weights on any machine.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hubpg import __version__
from hubpg.config import LEGACY_KEYS, PolicyConfig, TrainConfig, to_course_keys
from hubpg.envs import env_action_space, env_dims, make_vec_env
from hubpg.errors import (
    ConfigError,
    MissingFileError,
    RunDirError,
    TrainingDivergedError,
    TrainingFailedError,
    TrainingInterrupted,
)
from hubpg.interrupts import interrupts_held
from hubpg.observations import RunningObsStats
from hubpg.policy import (
    Policy,
    load_weights_strict,
    mlp,
    read_weights,
    save_weights,
    small_model_threads,
)
from hubpg.rollout import (
    Batch,
    RolloutBuffers,
    SegmentRollout,
    collect_batch,
    collect_segment,
    step_weights,
)
from hubpg.runfolder import (
    CONFIG_NAME,
    HYPERPARAMETERS_NAME,
    LAST_WEIGHTS_NAME,
    LOG_NAME,
    OPTIMIZER_NAME,
    STATE_NAME,
    VALUE_NAME,
    WEIGHTS_NAME,
    atomic_write_text,
    open_log,
    read_json,
    write_json,
)

LOG_FIELDS = (
    "update steps episodes mean_return min_return max_return mean_length loss entropy lr "
    "wall_time val_score"
).split()


@dataclass
class TrainResult:
    """What a finished run reports."""

    run_dir: Path
    steps: int
    episodes: int
    updates: int
    wall_time: float
    solved: bool
    #: what ended the run: total_steps, total_episodes, time_limit or target_return
    stopped_on: str | None = None

    @property
    def steps_per_second(self) -> float:
        """Env steps per second of training wall time."""
        return self.steps / self.wall_time if self.wall_time > 0 else 0.0


# --------------------------------------------------------------------------- math


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


class ValueBaseline:
    """A state-value estimate V(s, t/max_t) fitted by regression to the batch's
    returns-to-go (or with ``gae_lambda`` its lambda-returns). Not part of the shared
    model: saved as ``value.safetensors`` in the run folder for --resume."""

    def __init__(self, policy: Policy, config: TrainConfig) -> None:
        self.net = mlp(policy.config.input_dim + 1, config.hidden, 1, "tanh")
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


def batch_loss(
    policy: Policy, batch: Batch, entropy_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The REINFORCE loss of ``batch`` under ``policy`` (with grad), and per-step entropies."""
    actions = torch.from_numpy(batch.actions)
    log_probs, entropy = policy.log_prob_entropy(torch.from_numpy(batch.obs), actions)
    weights = torch.from_numpy(batch.weights)
    loss = reinforce_loss(log_probs, weights, batch.n_rollouts, entropy, entropy_coef)
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
    record |= to_course_keys({"total_episodes": episodes})  # the episodes played
    record |= config.to_dict()
    return record | {"algorithm": "reinforce", "library": "hubpg", "hubpg_version": __version__}


def config_from_record(record: dict[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` stored in a ``hyperparameters.json``."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} | set(LEGACY_KEYS)
    return TrainConfig.from_dict({k: v for k, v in record.items() if k in names})


def save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Adam's state as safetensors (tensors only; no pickle), through :func:`save_weights`."""
    tensors: dict[str, torch.Tensor] = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensor = torch.as_tensor(value).detach().clone()
            tensors[f"{index}.{key}"] = tensor.reshape(-1) if key == "step" else tensor
    save_weights(tensors, path)


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


class _Selector:
    """Model selection on held-out seeds: every ``select_every_steps`` env steps, and
    after the last update, evaluate the policy on ``select_episodes`` validation
    episodes (seeds from ``select_seed``, disjoint from the evaluation's) and keep the
    weights with the best mean - std. Decided in steps, so the same seed selects the
    same update on any machine."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.every = config.select_every_steps
        self.next_at = self.every or 0
        self.best_score = -math.inf
        self.best_weights: dict[str, torch.Tensor] | None = None
        #: the selected policy's config (its observation transform, with normalize_obs)
        self.best_config: Any = None
        self.best_update = self.best_steps = 0
        self.validated_update = -1

    def restore(
        self,
        record: dict[str, Any] | None,
        weights: dict[str, torch.Tensor],
        steps: int,
        config: Any = None,
    ):
        """Continue a resumed run's selection: ``record`` is its ``selected_checkpoint``,
        ``weights`` the selected weights (its ``model.safetensors``), ``config`` their
        ``config.json``."""
        self.best_config = config
        if self.every is not None:
            self.next_at = (steps // self.every + 1) * self.every
        if record:
            self.best_score = float(record["validation_score"])
            self.best_update = int(record["update"])
            self.best_steps = int(record.get("steps", 0))
            self.best_weights = {k: v.clone() for k, v in weights.items()}

    def maybe_validate(self, run: _Run, *, last: bool) -> float | None:
        """Validate if due (``last``: this is the run's last update), else ``None``."""
        if self.every is None or self.validated_update == run.updates:
            return None
        if not (last or run.steps >= self.next_at):
            return None
        result = _evaluate_held_out(run, self.config.select_episodes)
        if result.score > self.best_score:
            self.best_score = result.score
            self.best_weights = {k: v.clone() for k, v in run.policy.state_dict().items()}
            self.best_config = dataclasses.replace(run.policy.config)
            self.best_update, self.best_steps = run.updates, run.steps
        self.validated_update = run.updates
        while self.next_at <= run.steps:
            self.next_at += self.every
        return result.score

    def summary(self) -> dict[str, Any] | None:
        """The ``selected_checkpoint`` record of ``trainer_state.json``."""
        if self.best_weights is None:
            return None
        return {
            "update": self.best_update,
            "steps": self.best_steps,
            "validation_score": round(self.best_score, 4),
            "validation_seeds": [
                self.config.select_seed,
                self.config.select_seed + self.config.select_episodes - 1,
            ],
        }


class _Run:
    """The mutable state of one training run: policy, optimizer, counters, files."""

    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool) -> None:
        self.config = config
        self.run_dir = run_dir
        self.obs_dim, self.n_actions = env_dims(config.env_id)
        action_space = env_action_space(config.env_id)
        torch.manual_seed(config.seed)
        self.policy = Policy(config.policy_config(self.obs_dim, self.n_actions, action_space))
        if self.policy.config.is_box:
            with torch.no_grad():
                self.policy.log_std.fill_(config.log_std_init)
        self.obs_stats = RunningObsStats(self.obs_dim) if config.normalize_obs else None
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.steps = self.episodes = self.updates = 0
        self.wall_time = 0.0
        self.stopped_on: str | None = None
        self.rng = np.random.default_rng(config.seed)
        self.grad_rng = np.random.default_rng([config.seed, 1])
        self.value = ValueBaseline(self.policy, config) if config.baseline == "value" else None
        self.selector = _Selector(config)
        if resume:
            self._restore()
        self.good_weights = {k: v.clone() for k, v in self.policy.state_dict().items()}

    def _restore(self) -> None:
        state = read_json(self.run_dir / STATE_NAME)
        model = read_weights(self.run_dir / WEIGHTS_NAME)
        last_path = self.run_dir / LAST_WEIGHTS_NAME
        last = read_weights(last_path) if last_path.is_file() else model
        load_weights_strict(self.policy, last, LAST_WEIGHTS_NAME)
        if (self.run_dir / OPTIMIZER_NAME).is_file():
            load_optimizer(self.optimizer, self.run_dir / OPTIMIZER_NAME)
        if self.value is not None and (self.run_dir / VALUE_NAME).is_file():
            self.value.net.load_state_dict(read_weights(self.run_dir / VALUE_NAME), strict=True)
        self.steps, self.episodes = int(state["steps"]), int(state["episodes"])
        self.updates, self.wall_time = int(state["updates"]), float(state["wall_time"])
        self.rng = np.random.default_rng([self.config.seed, self.updates])
        self.grad_rng = np.random.default_rng([self.config.seed, 1, self.updates])
        if self.obs_stats is not None and state.get("obs_stats"):
            self.obs_stats = RunningObsStats.from_dict(state["obs_stats"], self.obs_dim)
            self.policy.set_obs_transform(*self.obs_stats.shift_scale())
        saved = PolicyConfig.load(self.run_dir / CONFIG_NAME)
        self.selector.restore(state.get("selected_checkpoint"), model, self.steps, saved)
        truncate_log(self.run_dir, self.updates)

    def env_seed(self) -> int:
        """Seed of the first reset of this session (a resumed run continues elsewhere)."""
        return self.config.seed + 7919 * self.updates

    def _budgets(self) -> list[tuple[str, float, float]]:
        """``(name, spent, limit)`` of each budget the config sets."""
        spent = (self.steps, self.episodes, self.wall_time)  # in BUDGET_FIELDS order
        limits = [getattr(self.config, name) for name in BUDGET_FIELDS]
        return [b for b in zip(BUDGET_FIELDS, spent, limits, strict=True) if b[2] is not None]

    def progress(self) -> float:
        """How much of the budget is spent, from 0 to 1 (the largest of steps, episodes
        and seconds)."""
        return min(max([0.0] + [spent / limit for _, spent, limit in self._budgets()]), 1.0)

    def budget_spent(self) -> str | None:
        """The budget that is used up (``total_steps``, ``total_episodes``, ``time_limit``)."""
        return next((name for name, spent, limit in self._budgets() if spent >= limit), None)

    def checkpoint(self, status: str) -> None:
        """Save the model (the selected weights if there are, else the last complete
        update's), the last update's weights for --resume, the optimizer,
        hyperparameters and counters; the state file last."""
        selected = self.selector.best_weights
        save_weights(selected or self.good_weights, self.run_dir / WEIGHTS_NAME)
        if selected is not None and self.selector.best_config is not None:
            self.selector.best_config.save(self.run_dir / CONFIG_NAME)
        else:
            self.policy.config.save(self.run_dir / CONFIG_NAME)
        if selected is not None:
            save_weights(self.good_weights, self.run_dir / LAST_WEIGHTS_NAME)
        save_optimizer(self.optimizer, self.run_dir / OPTIMIZER_NAME)
        if self.value is not None:
            tensors = {k: v.contiguous() for k, v in self.value.net.state_dict().items()}
            save_weights(tensors, self.run_dir / VALUE_NAME)
        record = hyperparameters_record(self.config, self.obs_dim, self.n_actions, self.episodes)
        write_json(self.run_dir / HYPERPARAMETERS_NAME, record)
        summary = self.selector.summary()
        write_json(
            self.run_dir / STATE_NAME,
            {
                "status": status,
                "steps": self.steps,
                "episodes": self.episodes,
                "updates": self.updates,
                "wall_time": round(self.wall_time, 3),
                "hubpg_version": __version__,
                **({"stopped_on": self.stopped_on} if self.stopped_on else {}),
                **({"selected_checkpoint": summary} if summary else {}),
                **({"obs_stats": self.obs_stats.to_dict()} if self.obs_stats else {}),
            },
        )


def truncate_log(run_dir: Path, updates: int) -> None:
    """Drop the rows of ``log.csv`` after update ``updates`` (written after the last
    checkpoint by a run that was killed), so a resumed run does not repeat them.

    Args:
        run_dir: the run folder.
        updates: the update count of its last checkpoint.
    """
    path = run_dir / LOG_NAME
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    column = header.index("update") if "update" in header else None
    kept = [
        r
        for r in body
        if column is None or (len(r) > column and _update_number(r[column]) <= updates)
    ]
    if len(kept) == len(body):
        return
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([header, *kept])
    atomic_write_text(path, text.getvalue())


def _update_number(value: str) -> float:
    """A log row's update number; a cell that is not a number sorts after every update."""
    try:
        return float(value)
    except ValueError:
        return math.inf


def resume_config(run_dir: Path | str, **budget: Any) -> TrainConfig:
    """The hyperparameters of the run in ``run_dir``, for ``train(..., resume=True)``: its
    own budget, except the budget options given here (``total_steps``, ``total_episodes``,
    ``time_limit``; ``None`` means keep the run's).

    Args:
        run_dir: the run folder to continue.
        budget: new budget values.
    """
    unknown = sorted(set(budget) - set(BUDGET_FIELDS))
    if unknown:
        raise ConfigError(f"only the budget can change on --resume, not {', '.join(unknown)}")
    path = Path(run_dir) / HYPERPARAMETERS_NAME
    if not path.is_file():
        raise MissingFileError(
            f"nothing to resume in {run_dir} (no {HYPERPARAMETERS_NAME}); "
            "start a new run without --resume"
        )
    saved = config_from_record(read_json(path))
    given = {k: v for k, v in budget.items() if v is not None}
    return dataclasses.replace(saved, **given)


#: The fields of :class:`TrainConfig` that a resumed run may change.
BUDGET_FIELDS = ("total_steps", "total_episodes", "time_limit")


def train(
    config: TrainConfig,
    out: Path | str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a REINFORCE policy as ``config`` says; write the run folder ``out``.

    With ``resume``, the run in ``out`` continues with its own hyperparameters and the
    budget of ``config`` (:func:`resume_config` gives the run's own budget). Ctrl-C
    or SIGTERM saves the selected model (else the last complete update) and raises
    :class:`~hubpg.errors.TrainingInterrupted`; a non-finite loss saves the last good weights and
    raises :class:`~hubpg.errors.TrainingDivergedError`.

    Args:
        config: the hyperparameters.
        out: the run folder (default ``runs/<env>-reinforce-s<seed>``).
        overwrite: replace an existing run folder.
        resume: continue the run in ``out``.
        progress: show a progress bar on stderr.
    """
    with small_model_threads(), _sigterm_as_interrupt():
        return _train(config, out, overwrite, resume, progress)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _train(
    config: TrainConfig, out: Path | str | None, overwrite: bool, resume: bool, progress: bool
) -> TrainResult:
    run_dir = Path(out) if out is not None else default_run_dir(config.env_id, config.seed)
    if not resume:  # a config or env error stops here, before any run folder exists
        config.policy_config(*env_dims(config.env_id), env_action_space(config.env_id))
    prepare_run_dir(run_dir, overwrite, resume)
    if resume:
        saved = config_from_record(read_json(run_dir / HYPERPARAMETERS_NAME))
        config = dataclasses.replace(saved, **{k: getattr(config, k) for k in BUDGET_FIELDS})
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {config.device!r} is not available here; use --device cpu")
    run = _Run(config, run_dir, resume)
    run.checkpoint("running")
    try:
        with _Session(run, progress) as session:
            solved = session.loop()
    except (KeyboardInterrupt, Exception) as exc:
        raise _stopped_by(run, exc) from (None if isinstance(exc, KeyboardInterrupt) else exc)
    run.checkpoint("completed")
    return TrainResult(
        run_dir=run_dir,
        steps=run.steps,
        episodes=run.episodes,
        updates=run.updates,
        wall_time=run.wall_time,
        solved=solved,
        stopped_on=run.stopped_on,
    )


def _stopped_by(run: _Run, exc: BaseException) -> BaseException:
    """Checkpoint a run that ``exc`` stopped and return the error to raise."""
    if isinstance(exc, KeyboardInterrupt):
        run.stopped_on = "interrupted"
        run.checkpoint("interrupted")
        return TrainingInterrupted(run.run_dir, run.updates, run.config.env_id)
    if isinstance(exc, TrainingDivergedError):
        run.stopped_on = "diverged"
        run.checkpoint("diverged")
        return exc
    run.stopped_on = "failed"
    run.checkpoint("failed")
    return TrainingFailedError(
        f"training stopped at update {run.updates + 1} ({type(exc).__name__}: {exc}); the "
        f"last complete update is saved in {run.run_dir}. Fix the cause and continue with --resume"
    )


class _Session:
    """One sitting of a run: its env, log file and progress bar (all closed on exit),
    and the update loop."""

    def __init__(self, run: _Run, progress: bool) -> None:
        self.run = run
        self.progress = progress
        self.last_mean = float("nan")

    def __enter__(self) -> _Session:
        run, config = self.run, self.run.config
        self.envs = make_vec_env(
            config.env_id, config.num_envs, max_t=config.max_t, mode=config.vector_mode
        )
        self.buffers = RolloutBuffers.for_policy(run.policy, config.num_envs)
        self.segments: SegmentRollout | None = None
        self.log_file, self.log = open_log(run.run_dir, LOG_FIELDS)  # keeps its columns
        if self.progress and run.updates:
            sys.stderr.write(
                f"resuming {run.run_dir} from update {run.updates} "
                f"({run.steps:,} steps, {run.episodes:,} episodes)\n"
            )
            sys.stderr.flush()
        self.bar = _progress_bar(config, run, self.progress)
        return self

    def __exit__(self, *exc: object) -> None:
        self.log_file.close()
        if self.bar is not None:
            self.bar.close()
            from hubpg.trainbar import say_why_it_ended

            run, config = self.run, self.run.config
            detail = _early_stop_detail(config) if run.stopped_on == "target_return" else ""
            say_why_it_ended(self.bar.desc, run.stopped_on, run.progress(), detail)
        self.envs.close()

    def loop(self) -> bool:
        """Update until the budget is spent or the target is met; returns whether it was."""
        run, config = self.run, self.run.config
        solved_streak = 0
        # the held-out check failed for these very weights: no new check until an update
        refuted = False
        last_save = time.perf_counter()
        session_start = time.perf_counter() - run.wall_time
        seed: int | None = run.env_seed()
        while (spent := run.budget_spent()) is None:
            batch = self._collect(seed)
            seed = None
            on_target = (
                config.target_return is not None
                and batch.episode_returns.size > 0
                and batch.episode_returns.min() >= config.target_return
            )
            solved_streak = solved_streak + 1 if on_target else 0
            if on_target:  # verification batch: keep the policy that played it unchanged
                loss, entropy = float("nan"), float("nan")
            else:
                refuted = False
                loss, entropy = _update(run, batch)
                run.good_weights = {k: v.clone() for k, v in run.policy.state_dict().items()}
            # an update is counted and logged as one: a Ctrl-C or SIGTERM that comes
            # between the two waits for the log row; one during the validation stops it
            with interrupts_held(signal.SIGINT, signal.SIGTERM) as held:
                run.updates += 1
                run.steps += batch.steps
                run.episodes += len(batch.episode_returns)
                if batch.episode_returns.size:
                    self.last_mean = float(batch.episode_returns.mean())
                run.wall_time = time.perf_counter() - session_start
                solved = solved_streak >= config.target_updates and not refuted
                val_score = None
                try:
                    with held.released():
                        if solved and config.target_confirm_episodes:
                            solved, val_score = _confirm_target(run)
                            refuted = not solved
                        selected = run.selector.maybe_validate(
                            run, last=solved or run.budget_spent() is not None
                        )
                        val_score = selected if selected is not None else val_score
                finally:
                    run.wall_time = time.perf_counter() - session_start
                    self.log.writerow(_log_row(run, batch, loss, entropy, val_score))
            self._show(run)
            if solved:
                run.stopped_on = "target_return"
                return True
            if time.perf_counter() - last_save > config.checkpoint_every_s:
                self.log_file.flush()
                run.checkpoint("running")
                last_save = time.perf_counter()
        run.stopped_on = spent
        return False

    def _collect(self, seed: int | None) -> Batch:
        """The next batch: whole episodes (reset with ``seed``), or the next segment."""
        run, config = self.run, self.run.config
        value = run.value if config.gae_lambda is not None else None
        if config.segment_steps is None:
            return collect_batch(
                run.policy,
                self.envs,
                config,
                run.rng,
                seed,
                self.buffers,
                run.grad_rng,
                value=value,
            )
        if self.segments is None:
            self.segments = SegmentRollout(
                run.policy, self.envs, segment_steps=config.segment_steps, seed=seed
            )
        return collect_segment(
            run.policy, self.segments, config, run.rng, run.grad_rng, value=value
        )

    def _show(self, run: _Run) -> None:
        if self.bar is None:
            return
        self.bar.update(_bar_position(self.bar.total, run) - self.bar.n)
        self.bar.set_postfix_str(
            f"return {self.last_mean:.1f}  {run.steps / max(run.wall_time, 1e-9):,.0f} steps/s"
        )


def _evaluate_held_out(run: _Run, episodes: int) -> Any:
    """The policy's evaluation on ``episodes`` held-out seeds from ``select_seed``
    (disjoint from the evaluation's 0, 1, ...; seeded, so the same on any machine)."""
    from hubpg.evaluation import evaluate

    c = run.config
    return evaluate(
        run.policy, episodes=episodes, seed=c.select_seed, max_t=c.eval_max_t or c.max_t
    )


def _confirm_target(run: _Run) -> tuple[bool, float]:
    """Whether the policy also reaches ``target_return`` in every one of
    ``target_confirm_episodes`` held-out episodes, and that check's mean - std
    (logged as ``val_score``)."""
    result = _evaluate_held_out(run, run.config.target_confirm_episodes)
    reached = min(result.episode_returns) >= float(run.config.target_return or 0.0)
    return reached, result.score


def _update(run: _Run, batch: Batch) -> tuple[float, float]:
    """One gradient step on ``batch``; returns (loss, mean entropy)."""
    config = run.config
    if config.anneal_lr:
        for group in run.optimizer.param_groups:
            group["lr"] = config.lr * (1.0 - run.progress())
    if run.value is not None:
        if config.gae_lambda is None:  # else the rollout gave GAE weights and lambda-returns
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
    if run.obs_stats is not None:  # the next batch is played with the updated statistics
        run.obs_stats.update(batch.obs[:, : run.obs_dim])
        run.policy.set_obs_transform(*run.obs_stats.shift_scale())
    return float(loss.item()), float(entropy.mean().item())


def _log_row(
    run: _Run, batch: Batch, loss: float, entropy: float, val_score: float | None = None
) -> dict[str, Any]:
    returns, lengths = batch.episode_returns, batch.episode_lengths
    ended = returns.size > 0  # a segment may end no episode: those columns stay empty
    return {
        "update": run.updates,
        "steps": run.steps,
        "episodes": run.episodes,
        "mean_return": round(float(returns.mean()), 4) if ended else "",
        "min_return": round(float(returns.min()), 4) if ended else "",
        "max_return": round(float(returns.max()), 4) if ended else "",
        "mean_length": round(float(lengths.mean()), 2) if ended else "",
        "loss": round(loss, 6),
        "entropy": round(entropy, 6),
        "lr": float(f"{run.optimizer.param_groups[0]['lr']:.8g}"),  # no float noise
        "wall_time": round(run.wall_time, 4),
        "val_score": "" if val_score is None else round(val_score, 4),
    }


def _bar_position(total: int, run: _Run) -> int:
    """Where the bar stands: the spent share of the budget nearest its end, in bar units."""
    return round(run.progress() * total)


def _progress_bar(config: TrainConfig, run: _Run, enabled: bool) -> Any:
    if not enabled:
        return None
    from hubpg.trainbar import open_bar

    by_steps = config.total_steps is not None
    total = config.total_steps if by_steps else config.total_episodes
    return open_bar(
        total=total,
        initial=_bar_position(total, run),
        unit=" steps" if by_steps else " episodes",
        desc=f"train {config.env_id}",
    )


def _early_stop_detail(config: TrainConfig) -> str:
    """What the target-return stop checked, for the line that says why a bar ended early."""
    detail = (
        f"every episode of {config.target_updates} batches in a row reached "
        f"{config.target_return:g}"
    )
    if config.target_confirm_episodes:
        detail += f", confirmed on {config.target_confirm_episodes} held-out episodes"
    return detail


__all__ = ["TrainResult", "reinforce_loss", "resume_config", "train"]
