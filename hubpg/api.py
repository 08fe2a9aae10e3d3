"""The Python API: what each ``hubpg`` command does, as keyword-only functions a notebook
calls, each returning one result (:mod:`hubpg.results`). The CLI is a thin skin over them.

Example:
    >>> import hubpg
    >>> run = hubpg.train("CartPole-v1", seed=1)            # doctest: +SKIP
    >>> run                                                  # doctest: +SKIP
    Trained(CartPole-v1 500.00 +/- 0.00 over 100 episodes, ... runs/CartPole-v1-reinforce-s1)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubpg.config import (
    COURSE_KEYS,
    TrainConfig,
    config_with_file,
    course_note,
    evaluation_max_t,
    from_course_keys,
    read_hyperparameter_file,
    runs_course_algorithm,
    upgrade_legacy_keys,
)
from hubpg.errors import ConfigError, HubpgError, LegacyCheckpointError, MissingFileError
from hubpg.repoid import validate_repo_id
from hubpg.results import (
    Converted,
    Evaluated,
    Leaderboard,
    Packaged,
    Pushed,
    Trained,
    Verified,
)
from hubpg.runfolder import (
    CONFIG_NAME,
    FINISHED_STATES,
    HYPERPARAMETERS_NAME,
    STATE_NAME,
    WEIGHTS_NAME,
    read_json,
)

if TYPE_CHECKING:  # torch is imported only when a policy is built
    from hubpg.config import PolicyConfig
    from hubpg.policy import Policy

#: TrainConfig fields that ``train`` takes as keywords (``env_id`` is its first argument).
TRAIN_OPTIONS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "env_id")
#: Names from the Deep RL course's notebook (and other libraries) -> the TrainConfig field.
SYNONYMS = {
    **{course: name for course, name in COURSE_KEYS.items() if course != name},
    "learning_rate": "lr",
    "episodes": "total_episodes",
    "max_steps": "max_t",
    "n_envs": "num_envs",
}
#: Where ``hubpg train`` writes runs, and where a command without RUN_DIR looks.
RUNS_DIR = Path("runs")


@contextmanager
def show_progress(progress: bool) -> Iterator[None]:
    """What ``progress=`` means on every call: ``True`` shows hubpg's own bars; ``False``
    silences every bar, huggingface_hub's download and upload bars included, until the
    block ends.

    Args:
        progress: whether bars may show.
    """
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_off = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    try:
        yield
    finally:
        if not progress and not was_off:
            enable_progress_bars()


# --------------------------------------------------------------------------- train


def train_config(
    env_id_or_config: str | TrainConfig,
    *,
    config: str | Path | None = None,
    **overrides: Any,
) -> TrainConfig:
    """The :class:`~hubpg.config.TrainConfig` a run uses: the env's tuned defaults, then
    the ``config`` file's values, then ``overrides`` (the precedence the CLI uses).

    Args:
        env_id_or_config: a Gymnasium env id, or a ``TrainConfig`` (taken as it is; no
            ``config`` or overrides allowed with it).
        config: a JSON or YAML file of hyperparameters; a course file (``h_size``,
            ``n_training_episodes``, ...) runs the course's algorithm unless it or the
            overrides set ``num_envs``/``episodes_per_update``/``segment_steps``
            (:func:`hubpg.config.runs_course_algorithm`).
        **overrides: any ``TrainConfig`` field; ``None`` means "not given".

    Example:
        >>> hubpg.api.train_config("CartPole-v1", lr=0.01).lr
        0.01
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    check_train_options(given)
    if isinstance(env_id_or_config, TrainConfig):
        if given or config is not None:
            raise ConfigError(
                "train() takes a TrainConfig as it is; pass options with an env id instead, "
                "or change the config with dataclasses.replace(config, ...)"
            )
        return env_id_or_config
    if not isinstance(env_id_or_config, str) or not env_id_or_config:
        raise ConfigError(
            f"train() needs an env id (e.g. 'CartPole-v1') or a TrainConfig, "
            f"got {type(env_id_or_config).__name__}"
        )
    from hubpg.envs import check_env_id

    env_id = env_id_or_config
    check_env_id(env_id)
    from_file = read_hyperparameter_file(Path(config)) if config is not None else {}
    if config is not None:
        fields = upgrade_legacy_keys(from_course_keys(from_file, env_id))
        fields.pop("env_id", None)
        check_train_options(fields, source=str(config))
    if "hidden" in given:
        given["hidden"] = parse_sizes(given["hidden"])
    return config_with_file(env_id, from_file, given)


def check_train_options(options: dict[str, Any], *, source: str | None = None) -> None:
    """Refuse keywords that are not :class:`~hubpg.config.TrainConfig` fields, naming the
    close matches.

    Args:
        options: the keywords given to :func:`train`, or a ``--config`` file's keys.
        source: the file the keys came from (None: ``train()``'s keywords).
    """
    for name in options:
        if name in TRAIN_OPTIONS:
            continue
        close = difflib.get_close_matches(str(name), TRAIN_OPTIONS, n=3, cutoff=0.6)
        if name in SYNONYMS and SYNONYMS[name] not in close:
            close.insert(0, SYNONYMS[name])
        hint = f"did you mean {' or '.join(close)}?" if close else "no option is close."
        if source is not None:
            raise ConfigError(
                f"{source}: unknown key {name!r}; {hint} The keys are TrainConfig's fields "
                "(hubpg train --help lists them)"
            )
        raise ConfigError(
            f"train() got an unknown option {name!r}; {hint} The options are TrainConfig's "
            "fields: see help(hubpg.TrainConfig)"
        )


def parse_sizes(value: Any) -> list[int]:
    """Hidden layer sizes from ``16``, ``"64,128"`` (or ``"64x128"``) or ``[64, 128]``.

    Args:
        value: the sizes in one of those forms.
    """
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
        try:
            sizes = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(
                f"{value!r} is not a comma-separated list of ints (layer sizes)"
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        sizes = [value]
    elif isinstance(value, Sequence):
        sizes = [int(v) for v in value]
    else:
        raise ConfigError(f"hidden: expected sizes like [64, 64], got {value!r}")
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"{value!r}: layer sizes must be positive integers")
    return sizes


def train(
    env_id_or_config: str | TrainConfig,
    *,
    seed: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
    config: str | Path | None = None,
    **overrides: Any,
) -> Trained:
    """Train a REINFORCE policy, write the run folder, and evaluate the result (as
    ``hubpg train`` does).

    Args:
        env_id_or_config: a Gymnasium env id (its tuned defaults apply, see
            ``hubpg.config.ENV_DEFAULTS``) or a ``TrainConfig`` (taken as it is).
        seed: training seed (default 1).
        out: the run folder (default ``runs/<env>-reinforce-s<seed>``).
        overwrite: replace an existing run folder.
        resume: continue the run in ``out`` from its last checkpoint.
        progress: show a progress bar (a widget in Jupyter); ``False`` silences it.
        config: a JSON/YAML file of hyperparameters; keywords given here win over it.
        **overrides: any ``TrainConfig`` field (``lr=0.01``, ``hidden=[64, 64]``,
            ``total_steps=200_000``, ``baseline="value"``, ...); an unknown name is a
            :class:`~hubpg.errors.ConfigError` naming the close matches.

    Returns:
        :class:`~hubpg.results.Trained`: the run folder, the training summary and the
        final evaluation (``eval_episodes`` episodes, seeds 0, 1, ...; None with
        ``eval_episodes=0``).

    Example:
        >>> run = hubpg.train("CartPole-v1", seed=1)
        >>> run.evaluation.summary()
        '500.00 +/- 0.00'
    """
    if overwrite and resume:
        raise ConfigError("overwrite and resume exclude each other")
    cfg = train_config(env_id_or_config, config=config, seed=seed, **overrides)
    if config is not None and progress and not resume:
        _say_course_note(cfg, Path(config), overrides)
    from hubpg.reinforce import config_from_record, default_run_dir
    from hubpg.reinforce import train as run_training

    run_dir = Path(out) if out is not None else default_run_dir(cfg.env_id, cfg.seed)
    if resume and not isinstance(env_id_or_config, TrainConfig):
        # the run's own hyperparameters and budget, unless a budget keyword is given
        from hubpg.reinforce import BUDGET_FIELDS, resume_config

        cfg = resume_config(run_dir, **{k: overrides.get(k) for k in BUDGET_FIELDS})
    summary = run_training(cfg, run_dir, overwrite=overwrite, resume=resume, progress=progress)
    final = config_from_record(read_json(run_dir / HYPERPARAMETERS_NAME))
    evaluation = None
    if final.eval_episodes:
        evaluation = evaluate(
            run_dir, episodes=final.eval_episodes, seed=0, max_t=run_eval_max_t(run_dir)
        )
    return Trained(
        run_dir=summary.run_dir,
        env_id=final.env_id,
        steps=summary.steps,
        episodes=summary.episodes,
        updates=summary.updates,
        train_seconds=summary.wall_time,
        solved=summary.solved,
        evaluation=evaluation,
        config=final,
    )


def _say_course_note(cfg: TrainConfig, path: Path, overrides: dict[str, Any]) -> None:
    """On stderr, the one line saying a course file runs the course's algorithm."""
    import sys

    if runs_course_algorithm(read_hyperparameter_file(path), overrides):
        print(course_note(cfg, path.name), file=sys.stderr)


# --------------------------------------------------------------------------- evaluate


def run_eval_max_t(folder: str | Path) -> int | None:
    """The evaluation cap of a run or package folder (:func:`hubpg.config.evaluation_max_t`
    with the run's own ``eval_max_t``); None when the folder has no readable
    ``hyperparameters.json`` (the evaluation then uses the env's cap).

    Args:
        folder: a run folder or package folder.
    """
    path = Path(folder) / HYPERPARAMETERS_NAME
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except HubpgError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("env_id"), str):
        return None
    cap = record.get("eval_max_t")
    return evaluation_max_t(record["env_id"], cap if isinstance(cap, int) and cap > 0 else None)


def _result_folder(target: Any) -> Path | None:
    """The folder a path or a hubpg result names (a package before its run); else None."""
    if isinstance(target, str | Path):
        return Path(target)
    for attribute in ("package_dir", "run_dir"):
        folder = getattr(target, attribute, None)
        if isinstance(folder, Path):
            return folder
    return None


def check_folder(path: str | Path, *, what: str = "run folder") -> Path:
    """``path`` when it is a folder; else a one-line error naming what was typed: "no
    run folder X" when nothing is there, "X is a file, not a run folder" for a file.

    Args:
        path: the folder the user named.
        what: what the folder should be, for the message.
    """
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise ConfigError(
            f"{path} is a file, not a {what}; pass the folder that holds it ({path.parent})"
        )
    raise MissingFileError(f"no {what} {path}; check the path (hubpg train writes runs/...)")


def _policy_source(target: Any) -> Any:
    """A folder path or a Policy from what :func:`evaluate` was given."""
    folder = _result_folder(target)
    if folder is not None:
        return check_folder(folder)
    if hasattr(target, "act") and hasattr(target, "config"):
        return target
    raise ConfigError(
        f"evaluate() needs a run or package folder, a Policy or a hubpg result, "
        f"got {type(target).__name__}"
    )


def evaluate(
    run_dir_or_policy_or_result: Any,
    *,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
) -> Evaluated:
    """Evaluate a policy over ``episodes`` seeded episodes (as ``hubpg evaluate``).

    Args:
        run_dir_or_policy_or_result: a run or package folder, a
            :class:`~hubpg.policy.Policy` (e.g. from :func:`hubpg.load`), or the result
            of :func:`train` / :func:`package`.
        episodes: number of episodes; episode k is reset with seed ``seed + k``.
        seed: seed of episode 0.
        deterministic: take the most probable action instead of sampling.
        max_t: cap on one episode's steps (default: the run's evaluation cap).

    Returns:
        :class:`~hubpg.results.Evaluated` (``mean_reward``, ``std_reward``,
        ``summary()``, per-episode returns, lengths and seeds).

    Example:
        >>> hubpg.evaluate("runs/CartPole-v1-reinforce-s1", episodes=10)
        Evaluated(CartPole-v1 500.00 +/- 0.00 over 10 episodes, seeds 0..9, sampled, max_t 500)
    """
    from hubpg.evaluation import evaluate as run_evaluation

    source = _policy_source(run_dir_or_policy_or_result)
    if max_t is None and isinstance(source, Path):
        max_t = run_eval_max_t(source)
    return run_evaluation(
        source, episodes=episodes, seed=seed, deterministic=deterministic, max_t=max_t
    )


# --------------------------------------------------------------------------- package / push


def finished_runs(runs_dir: str | Path = RUNS_DIR) -> list[Path]:
    """The finished run folders under ``runs_dir`` (completed or interrupted with a
    checkpoint), sorted by name.

    Args:
        runs_dir: the folder holding run folders (default ``runs/``).
    """
    runs_dir = Path(runs_dir)
    found = []
    for state in runs_dir.glob(f"*/{STATE_NAME}"):
        try:
            status = read_json(state).get("status")
        except (HubpgError, AttributeError):
            continue
        if status in FINISHED_STATES and (state.parent / WEIGHTS_NAME).is_file():
            found.append(state.parent)
    return sorted(found)


def only_run(runs_dir: str | Path = RUNS_DIR) -> Path:
    """The run a command without RUN_DIR works on: the one finished run under
    ``runs_dir``; several, or none, is a :class:`~hubpg.errors.ConfigError` naming them
    (hubpg never picks one of several runs silently).

    Args:
        runs_dir: the folder holding run folders (default ``runs/``).
    """
    runs = finished_runs(runs_dir)
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise MissingFileError(
            f"no run folder given and no finished run in {Path(runs_dir)}/; train one "
            "(hubpg train ENV_ID) or pass RUN_DIR"
        )
    shown = ", ".join(str(r) for r in runs[:10]) + (", ..." if len(runs) > 10 else "")
    raise ConfigError(
        f"no run folder given and {len(runs)} runs in {Path(runs_dir)}/ ({shown}); "
        "pass the one to use as RUN_DIR"
    )


def _folder_of(target: Any, *, what: str) -> Path:
    """The run or package folder :func:`package` / :func:`push` work on (default: the
    only run under ``runs/``)."""
    folder = only_run() if target is None else _result_folder(target)
    if folder is None:
        raise ConfigError(
            f"{what}() needs a run folder or a hubpg result, got {type(target).__name__}"
        )
    return check_folder(folder)


def check_package(run_dir: str | Path, *, repo_name: str | None = None) -> Path:
    """What :func:`package` checks before any work: the run folder is there, and the
    card's repo name is ``NAMESPACE/NAME``. Returns the folder.

    Args:
        run_dir: the run folder.
        repo_name: the repo id the card names, or None.
    """
    from hubpg.packaging import check_repo_name

    if repo_name is not None:
        check_repo_name(repo_name)
    return check_folder(run_dir)


def package(
    run_dir_or_result: Any = None,
    *,
    out: str | Path | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: bool = True,
    video_fps: float | None = None,
    video_max_t: int | None = None,
    repo_name: str | None = None,
    overwrite: bool = False,
    env_id: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    eval_env: Any = None,
    progress: bool = True,
) -> Packaged:
    """Build the Hub-ready folder of a run (as ``hubpg package``): weights, config,
    results, replay video, learning curve and model card.

    Args:
        run_dir_or_result: a run folder or the result of :func:`train` (default: the
            only run under ``runs/``), or a ``torch.nn.Module`` you trained with your
            own code: converted in memory and checked against its forward first
            (:func:`hubpg.live.module_run`, into ``runs/<env_id>-<ClassName>``).
        out: the package folder (default ``RUN_DIR/hub``).
        episodes: evaluation episodes behind the card's score.
        seed: seed of evaluation episode 0.
        deterministic: evaluate with the most probable action.
        max_t: cap on one evaluation episode's steps (default: the run's cap).
        video: record ``replay.mp4`` (``False`` is the CLI's ``--no-video``).
        video_fps: replay frame rate (default: the env's).
        video_max_t: longest replay, in steps (default 3000).
        repo_name: ``NAMESPACE/NAME`` shown in the card.
        overwrite: rebuild an existing package folder (and, for a module, its run folder).
        env_id: the env a module plays (default: ``hyperparameters["env_id"]`` or
            ``eval_env``'s id).
        hyperparameters: a module's course hyperparameters, kept in ``hyperparameters.json``.
        eval_env: the env whose observations check a module's conversion.
        progress: accepted as on every call (:func:`show_progress`); packaging shows no
            bar of its own.

    Returns:
        :class:`~hubpg.results.Packaged`: the folder, its evaluation, the card's claim
        checked against it, and the replay (shown inline in Jupyter).

    Example:
        >>> pkg = hubpg.package(run, repo_name="alice/Reinforce-CartPole-v1")
        >>> pkg.video
        PosixPath('runs/CartPole-v1-reinforce-s1/hub/replay.mp4')
    """
    from hubpg.live import is_module, module_run
    from hubpg.packaging import VIDEO_MAX_T
    from hubpg.packaging import package as build_package

    if is_module(run_dir_or_result):
        run_dir_or_result = module_run(
            run_dir_or_result,
            env_id=env_id,
            hyperparameters=hyperparameters,
            eval_env=eval_env,
            overwrite=overwrite,
        )
    elif env_id is not None or hyperparameters is not None or eval_env is not None:
        raise ConfigError(
            "env_id, hyperparameters and eval_env are for packaging a torch.nn.Module; a run "
            "folder has its own"
        )
    run_dir = check_package(_folder_of(run_dir_or_result, what="package"), repo_name=repo_name)
    if max_t is None:
        max_t = run_eval_max_t(run_dir)
    with show_progress(progress):
        return build_package(
            run_dir,
            out,
            episodes=episodes,
            seed=seed,
            deterministic=deterministic,
            max_t=max_t,
            video=video,
            video_fps=video_fps,
            video_max_t=video_max_t or VIDEO_MAX_T,
            repo_id=repo_name,
            overwrite=overwrite,
        )


def push(
    run_dir_or_result: Any = None,
    *,
    repo: str,
    private: bool = False,
    commit_message: str | None = None,
    revision: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: bool = True,
    endpoint: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> Pushed:
    """Upload a run's package (built first when the run has none) to the Hub in one
    commit (as ``hubpg push``): its regular files, hidden ones skipped; a symbolic link
    or a pickle in it is refused.

    Args:
        run_dir_or_result: a run or package folder, or the result of :func:`train` or
            :func:`package` (default: the only run under ``runs/``).
        repo: the target repo, ``NAMESPACE/NAME``.
        private: create the repo as private, or make an existing public one private.
        commit_message: the commit message.
        revision: the branch to commit to (default ``main``; created when missing).
        episodes: evaluation episodes, when the run still has to be packaged.
        seed: first evaluation seed, when the run still has to be packaged.
        deterministic: argmax evaluation, when the run still has to be packaged.
        max_t: evaluation episode cap, when the run still has to be packaged.
        video: record a replay, when the run still has to be packaged.
        endpoint: Hub URL (default ``HF_ENDPOINT`` or huggingface.co).
        token: Hub token (default ``HF_TOKEN``, else the stored login:
            ``huggingface_hub.notebook_login()`` or ``hf auth login``); never printed or stored.
        timeout: seconds a Hub request may wait (default: huggingface_hub's
            ``HF_HUB_DOWNLOAD_TIMEOUT``, else 30); a stalled server ends it.
        progress: huggingface_hub's upload bars (see :func:`show_progress`).

    Returns:
        :class:`~hubpg.results.Pushed`: the repo URL and commit sha.

    Example:
        >>> hubpg.push(pkg, repo="alice/Reinforce-CartPole-v1")
        Pushed(alice/Reinforce-CartPole-v1 @ 3f1c2a9b8d7e on main: https://huggingface.co/...)
    """
    from hubpg.hub import HubTarget, commit_files, upload_files
    from hubpg.packaging import default_package_dir, is_packaged, write_card
    from hubpg.policy import Policy

    validate_repo_id(repo)
    target = HubTarget(endpoint, token, timeout).for_writing()  # before any packaging
    folder = _folder_of(run_dir_or_result, what="push")
    package_dir = next((d for d in (folder, default_package_dir(folder)) if is_packaged(d)), None)
    if package_dir is None:
        if not (folder / WEIGHTS_NAME).is_file() and not (folder / CONFIG_NAME).is_file():
            raise MissingFileError(f"{folder} is neither a hubpg run folder nor a package folder")
        package_dir = package(
            folder,
            episodes=episodes,
            seed=seed,
            deterministic=deterministic,
            max_t=max_t,
            video=video,
            repo_name=repo,
            progress=progress,
        ).package_dir
    Policy.load(package_dir)  # never push weights that don't load
    write_card(package_dir, repo)
    files = upload_files(package_dir)
    env_id = read_json(package_dir / CONFIG_NAME)["env_id"]
    with show_progress(progress):
        commit = commit_files(
            repo,
            files,
            target=target,
            commit_message=commit_message or f"Upload REINFORCE agent for {env_id} (hubpg)",
            private=private,
            revision=revision,
        )
    return Pushed.of(commit, package_dir)


# --------------------------------------------------------------------------- load and eval


def load_and_eval(
    repo: str,
    *,
    revision: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: str | Path | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    legacy: bool = False,
    env_id: str | None = None,
    progress: bool = True,
) -> Verified:
    """Download a shared model (safetensors + JSON only), re-evaluate it, and check its
    card's claim (as ``hubpg load-and-eval``): :func:`hubpg.verify.verify_one`.

    Args:
        repo: the model repo, ``NAMESPACE/NAME``.
        revision: branch, tag or commit sha (default ``main``).
        episodes: evaluation episodes.
        seed: seed of episode 0.
        deterministic: take the most probable action instead of sampling.
        max_t: cap on one episode's steps (default: the env's evaluation cap).
        video: also record a replay of the downloaded policy to this mp4.
        endpoint: Hub URL (default ``HF_ENDPOINT`` or huggingface.co).
        token: Hub token, for private repos.
        timeout: seconds a Hub request may wait (default: huggingface_hub's
            ``HF_HUB_DOWNLOAD_TIMEOUT``, else 30); a stalled server ends it.
        legacy: read a course checkpoint (``model.pt``) weights-only, without running
            it, when the repo has no safetensors.
        env_id: the env the model plays, for a course checkpoint whose files do not
            name it (a hubpg repo whose config.json names another env is refused).
        progress: huggingface_hub's download bars (see :func:`show_progress`).

    Returns:
        :class:`~hubpg.results.Verified`: the measurement, the claim and whether the
        measurement supports it (``to_dict()`` is what ``--json`` prints).

    Example:
        >>> hubpg.load_and_eval("alice/Reinforce-CartPole-v1", episodes=20)
        Verified(alice/Reinforce-CartPole-v1 @ 3f1c2a9b8d7e: 500.00 +/- 0.00, claim supported)
    """
    from hubpg.hub import HubTarget
    from hubpg.verify import verify_one

    validate_repo_id(repo)
    if env_id is not None:
        from hubpg.envs import check_env_id

        check_env_id(env_id)
    with show_progress(progress):
        return verify_one(
            repo,
            revision=revision,
            target=HubTarget(endpoint, token, timeout),
            legacy=legacy,
            env_id=env_id,
            episodes=episodes,
            seed=seed,
            deterministic=deterministic,
            max_t=max_t,
            video=video,
        )


def load(
    repo: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    legacy: bool = False,
    env_id: str | None = None,
    progress: bool = True,
) -> tuple[Policy, PolicyConfig]:
    """Download a model and rebuild its policy strictly from ``config.json`` (no pickle,
    no code from the repo): :func:`hubpg.verify.fetch`. Returns ``(policy, config)``.

    Args:
        repo: ``NAMESPACE/NAME``.
        revision: branch, tag or commit (default: main).
        endpoint: the Hub URL.
        token: a token for private repos.
        timeout: seconds per request.
        legacy: a repo with only a course checkpoint (``model.pt``) is read with
            torch's weights-only unpickler instead of being refused.
        env_id: the env, for a course checkpoint whose files do not name it.
        progress: huggingface_hub's download bars (see :func:`show_progress`).
    """
    from hubpg.hub import HubTarget
    from hubpg.verify import fetch

    with show_progress(progress):
        got = fetch(
            repo,
            revision=revision,
            target=HubTarget(endpoint, token, timeout),
            legacy=legacy,
            env_id=env_id,
            card=False,
        )
    return got.policy, got.config


# --------------------------------------------------------------------------- leaderboard


def leaderboard(env_id: str, **options: Any) -> Leaderboard:
    """Rank the models tagged ``env_id`` by claimed (or, with ``verify``, measured)
        mean - std (as ``hubpg leaderboard``). The options are the fields of
        :class:`~hubpg.ranking.LeaderboardOptions` (declared there once), keyword-only;
        ``progress`` defaults to True here.

        Args:
    {options}

        Returns:
            :class:`~hubpg.results.Leaderboard`: ``rows`` (ranked first, then the ones set
            apart with the reason), shown as a table in Jupyter.

        Example:
            >>> hubpg.leaderboard("CartPole-v1", top=10)
            Leaderboard(CartPole-v1: 3 ranked by claimed mean - std, 1 set apart; ...)
    """
    import io

    from hubpg.hub import resolve_endpoint
    from hubpg.ranking import LeaderboardOptions, format_table, run_leaderboard, write_csv

    given = LeaderboardOptions.of(env_id, **{"progress": True, **options})
    rows = run_leaderboard(given)
    csv = io.StringIO()
    write_csv(rows, csv)
    return Leaderboard(
        env_id=env_id,
        rows=rows,
        verified=given.verify,
        endpoint=resolve_endpoint(given.endpoint),
        text=format_table(rows, verified=given.verify) if rows else "",
        csv=csv.getvalue(),
    )


def _leaderboard_signature() -> None:
    """Give :func:`leaderboard` the signature and argument docs of
    :class:`~hubpg.ranking.LeaderboardOptions` (its options are declared once, there)."""
    import inspect
    import re
    import textwrap

    from hubpg.ranking import LeaderboardOptions

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("env_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
    params += [
        inspect.Parameter(
            f.name, keyword, default=True if f.name == "progress" else f.default, annotation=f.type
        )
        for f in dataclasses.fields(LeaderboardOptions)[1:]
    ]
    leaderboard.__signature__ = inspect.Signature(params, return_annotation="Leaderboard")  # type: ignore[attr-defined]
    args = (LeaderboardOptions.__doc__ or "").split("Args:", 1)[-1].strip("\n").rstrip()
    doc = leaderboard.__doc__ or ""
    found = re.search(r"^([ ]*)Args:$", doc, flags=re.M)
    block = textwrap.indent(textwrap.dedent(args), (found[1] if found else "") + " " * 4)
    leaderboard.__doc__ = re.sub(r"^[ ]*\{options\}$", lambda _: block, doc, flags=re.M)


_leaderboard_signature()


def default_db_path() -> Path:
    """The verification store ``hubpg leaderboard --verify`` uses by default
    (:func:`hubpg.store.default_db_path`)."""
    from hubpg.store import default_db_path as store_path

    return store_path()


def leaderboard_site(board: Leaderboard, html_dir: str | Path, **protocol: Any) -> Path:
    """Write ``board`` as a static site (:func:`hubpg.page.leaderboard_page`) in
    ``html_dir``; returns the folder.

    Args:
        board: what :func:`leaderboard` returned (with ``verify``).
        html_dir: the folder to write.
        **protocol: ``episodes``, ``seed``, ``deterministic``, ``max_t`` shown on the page.
    """
    from hubpg.page import leaderboard_page

    return leaderboard_page(
        board.rows, Path(html_dir), env_id=board.env_id, endpoint=board.endpoint, **protocol
    )


# --------------------------------------------------------------------------- convert


def convert(
    source: str | Path | None = None,
    *,
    out: str | Path,
    repo: str | None = None,
    revision: str | None = None,
    env_id: str | None = None,
    overwrite: bool = False,
    max_mib: int = 64,
    endpoint: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> Converted:
    """Convert a course checkpoint (a ``torch.save`` pickle) into a hubpg folder
    (as ``hubpg convert``): read weights-only, no code from it runs, written as
    ``model.safetensors`` + ``config.json`` + ``legacy.json``.

    Args:
        source: a local checkpoint file, or None with ``repo``.
        out: the folder to write.
        repo: read the checkpoint of this Hub repo instead.
        revision: the repo's branch, tag or commit.
        env_id: the env it plays (default: from its files).
        overwrite: replace the files of an existing folder.
        max_mib: refuse checkpoints larger than this many MiB.
        endpoint: Hub URL (default ``HF_ENDPOINT`` or huggingface.co).
        token: Hub token, for private repos.
        timeout: seconds a Hub request may wait.
        progress: huggingface_hub's download bars (see :func:`show_progress`).
    """
    from hubpg.hub import HubTarget
    from hubpg.legacy import convert as run_convert
    from hubpg.legacy.convert import check_out
    from hubpg.verify import fetch as fetch_repo

    if (source is None) == (repo is None):
        raise ConfigError("give a checkpoint SOURCE file or --repo NAMESPACE/NAME (one of them)")
    max_bytes = max_mib * 2**20
    if repo is None:
        return Converted.of(
            run_convert(source, out=out, env_id=env_id, overwrite=overwrite, max_bytes=max_bytes)
        )
    validate_repo_id(repo)
    check_out(Path(out), overwrite)  # before anything is downloaded
    with show_progress(progress):
        fetched = fetch_repo(
            repo,
            revision=revision,
            target=HubTarget(endpoint, token, timeout),
            legacy=True,
            env_id=env_id,
            max_bytes=max_bytes,
        )
    if fetched.legacy_model is None:
        raise LegacyCheckpointError(
            f"{repo} already shares model.safetensors + config.json; nothing to convert "
            "(hubpg load-and-eval reads it as it is)"
        )
    return Converted.of(run_convert(out=out, model=fetched.legacy_model, overwrite=overwrite))


__all__ = [
    "RUNS_DIR",
    "SYNONYMS",
    "TRAIN_OPTIONS",
    "check_folder",
    "check_package",
    "check_train_options",
    "convert",
    "default_db_path",
    "evaluate",
    "finished_runs",
    "leaderboard",
    "leaderboard_site",
    "load",
    "load_and_eval",
    "only_run",
    "package",
    "parse_sizes",
    "push",
    "show_progress",
    "run_eval_max_t",
    "train",
    "train_config",
]
