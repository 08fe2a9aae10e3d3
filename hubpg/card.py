"""The model card (README.md): leaderboard metadata and a body people can read.

The YAML front matter is huggingface_hub's :class:`~huggingface_hub.ModelCardData` with
one :class:`~huggingface_hub.EvalResult`, in the format the Deep RL leaderboard reads
(:func:`card_metadata`); the body is the Jinja2 template ``model_cards/reinforce_card.md``
(:func:`template_path`). Reading a card back lives in :mod:`hubpg.cardmeta`, re-exported
here. ``huggingface_hub`` is imported only when a function needs it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubpg.cardmeta import card_data, card_env_ids, card_tags
from hubpg.claims import parse_claim_value
from hubpg.errors import CardBuildError, CardTemplateError

if TYPE_CHECKING:
    from huggingface_hub import ModelCard, ModelCardData

__all__ = [
    "card_data",
    "card_env_ids",
    "card_metadata",
    "card_tags",
    "format_claim",
    "render_card",
    "template_path",
]

TEMPLATE_NAME = "reinforce_card.md"
LIBRARY_NAME = "hubpg"
METRIC = "mean_reward"
TASK = "reinforcement-learning"
#: Tags after the env id, in the course's order.
BASE_TAGS = ("reinforce", "reinforcement-learning", "custom-implementation", "deep-rl-class")
#: The Deep RL course's pass marks (leaderboard score, mean - std) for Unit 4's envs.
COURSE_THRESHOLDS = {"CartPole-v1": 350.0, "Pixelcopter-PLE-v0": 5.0}


# ---------------------------------------------------------------- metadata


def _check_env_id(env_id: Any) -> str:
    if not isinstance(env_id, str) or not env_id.strip() or any(c.isspace() for c in env_id):
        raise CardBuildError(
            f"the env id must be a non-empty string without spaces (got {env_id!r})"
        )
    return env_id


def _check_score(mean_reward: Any, std_reward: Any) -> tuple[float, float]:
    try:
        mean, std = float(mean_reward), float(std_reward)
    except (TypeError, ValueError) as exc:
        raise CardBuildError(
            f"mean and std reward must be numbers (got {mean_reward!r}, {std_reward!r})"
        ) from exc
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise CardBuildError(
            f"cannot write a model card for mean_reward={mean} std_reward={std}: both must be "
            "finite and std non-negative; re-run the evaluation"
        )
    return mean, std


def format_claim(mean_reward: float, std_reward: float) -> str:
    """The model-index value: ``"MEAN +/- STD"`` with two decimals, e.g. ``"500.00 +/- 0.00"``."""
    from hubpg.runfolder import format_score

    return format_score(*_check_score(mean_reward, std_reward))


def card_metadata(
    env_id: str,
    mean_reward: float,
    std_reward: float,
    repo_name: str | None = None,
) -> ModelCardData:
    """The card's front matter: library, tags built from ``env_id``, and the model-index.

    The model-index is named ``repo_name`` (its part after a ``/`` if a whole
    repo id is given), or ``Reinforce-ENV_ID``; its one metric is
    ``mean_reward`` with value ``f"{mean:.2f} +/- {std:.2f}"``, ``verified: false``.
    """
    from huggingface_hub import EvalResult, ModelCardData

    env_id = _check_env_id(env_id)
    value = format_claim(mean_reward, std_reward)
    name = f"Reinforce-{env_id}"
    if repo_name:
        name = str(repo_name).rstrip("/").rsplit("/", 1)[-1] or name
    result = EvalResult(
        task_type=TASK,
        task_name=TASK,
        dataset_type=env_id,
        dataset_name=env_id,
        metric_type=METRIC,
        metric_value=value,
        metric_name=METRIC,
        verified=False,
    )
    return ModelCardData(
        library_name=LIBRARY_NAME,
        tags=[env_id, *BASE_TAGS],
        model_name=name,
        eval_results=[result],
    )


# ---------------------------------------------------------------- rendering


def template_path() -> Path:
    """The card template, ``reinforce_card.md``: in ``hubpg/model_cards`` (a wheel's copy,
    or a checkout's symlink to ``../model_cards``), else in the top-level ``model_cards/``
    (a checkout whose file system dropped the symlink)."""
    here = Path(__file__).resolve().parent
    candidates = [here / "model_cards" / TEMPLATE_NAME, here.parent / "model_cards" / TEMPLATE_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise CardTemplateError(
        f"the model card template {TEMPLATE_NAME} is missing from hubpg's installation "
        f"(looked in {', '.join(str(p.parent) for p in candidates)}); reinstall hubpg"
    )


def _fmt_float(x: float) -> str:
    text = repr(float(x))
    return text if len(text) <= 10 else f"{x:.6g}"


def _fmt_value(value: Any) -> str:
    """A hyperparameter value as a table cell: JSON-like, compact, never ``None``."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _fmt_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    import numpy as np

    if isinstance(value, np.generic):
        return _fmt_value(value.item())
    return str(value)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _network(hp: Mapping[str, Any], arch: Mapping[str, Any] | None) -> str | None:
    """``"4 → 16 → 2 (ReLU)"`` from a policy config or the hyperparameters, if known."""
    src: dict[str, Any] = {**hp, **(arch or {})}
    obs = src.get("obs_dim", src.get("state_space"))
    n_act = src.get("n_actions", src.get("action_space"))
    hidden = src.get("hidden")
    if hidden is None and src.get("h_size") is not None:
        hidden = [src["h_size"]]
    if not isinstance(hidden, (list, tuple)) or not hidden:
        return None
    try:
        sizes = [int(h) for h in hidden]
    except (TypeError, ValueError):
        return None
    layers = [str(int(obs)) if isinstance(obs, int) else "obs"]
    frames = src.get("frame_stack")
    if isinstance(obs, int) and isinstance(frames, int) and frames > 1:  # stacked frames
        layers = [f"{obs * frames} ({frames} frames of {obs})"]
    layers += [str(h) for h in sizes]
    layers.append(str(int(n_act)) if isinstance(n_act, int) else "actions")
    act = src.get("activation") or "relu"
    pretty = {"relu": "ReLU", "tanh": "tanh", "elu": "ELU", "gelu": "GELU", "silu": "SiLU"}
    output = "Gaussian mean output" if src.get("action_space") == "box" else "softmax output"
    return f"{' → '.join(layers)} ({pretty.get(str(act), str(act))} hidden layers, {output})"


def _distribution(arch: Mapping[str, Any] | None) -> str:
    """What the policy's output is, for the card's sentence about the network."""
    if (arch or {}).get("action_space") == "box":
        return (
            "a Gaussian over the continuous actions (that mean, and a learned standard "
            "deviation), whose samples are clipped to the action bounds"
        )
    return "a categorical distribution over the actions"


def _training_lines(training: Any) -> list[str]:
    """How training ended, from ``results.json``'s ``training``; a run cut by a time limit
    says so, since a time budget gives another model on another machine."""
    if not isinstance(training, Mapping) or not isinstance(training.get("steps"), int):
        return []
    steps, stopped_on = training["steps"], training.get("stopped_on")
    if stopped_on == "time_limit":
        return [
            f"Training stopped on its time limit (--time-limit) after {steps:,} env steps: a "
            "time budget depends on the machine, so the same seed gives another model elsewhere"
        ]
    return [
        f"Trained for {steps:,} env steps" + (f" (stopped on {stopped_on})" if stopped_on else "")
    ]


def _code(text: Any, limit: int = 120) -> str:
    """``text`` as inline code on one line (backticks replaced, cut at ``limit``)."""
    return "`" + _cell(" ".join(str(text).split())[:limit].replace("`", "'")) + "`"


def _provenance_lines(legacy: Mapping[str, Any] | None) -> list[str]:
    """Where a model converted from a course checkpoint came from (its ``legacy.json``)."""
    if not isinstance(legacy, Mapping) or not legacy.get("source_file"):
        return []
    line = f"Converted by `hubpg convert` from the course checkpoint {_code(legacy['source_file'])}"
    repo, revision = legacy.get("repo_id"), legacy.get("revision")
    if isinstance(repo, str):
        line += f" of {_code(repo + ('@' + revision[:12] if isinstance(revision, str) else ''))}"
    if isinstance(legacy.get("sha256"), str):
        line += f" (sha256 {_code(legacy['sha256'][:16])}…)"
    lines = [line + ", read with torch's weights-only unpickler (legacy.json has the details)"]
    assumed = legacy.get("assumed")
    if isinstance(assumed, list) and assumed:
        lines.append("Assumed by the conversion: " + "; ".join(_cell(str(a)) for a in assumed[:5]))
    return lines


def _results_lines(results: Mapping[str, Any] | None) -> list[str]:
    if not results:
        return []
    lines = []
    returns = results.get("episode_returns")
    if isinstance(returns, (list, tuple)) and returns:
        vals = [float(r) for r in returns]
        lines.append(f"Episode returns ranged from {min(vals):.2f} to {max(vals):.2f}")
    lengths = results.get("episode_lengths")
    if isinstance(lengths, (list, tuple)) and lengths:
        mean_len = sum(float(n) for n in lengths) / len(lengths)
        lines.append(f"Episodes lasted {mean_len:.1f} steps on average")
    lines += _training_lines(results.get("training"))
    when, version = results.get("eval_datetime"), results.get("hubpg_version")
    if when or version:
        on = f" on {when}" if when else ""
        with_version = f" with hubpg {version}" if version else ""
        lines.append(f"Evaluated{on}{with_version}")
    return lines


def _defaults_and_course_keys(env_id: str) -> tuple[dict[str, Any], list[str]]:
    """hubpg's tuned defaults for ``env_id`` and the keys the course's notebook writes
    (:meth:`hubpg.config.TrainConfig.course_hyperparameters`, the one definition of
    both); empty when the env's defaults cannot be built."""
    from hubpg.config import TrainConfig

    try:
        config = TrainConfig.for_env(env_id)
        return config.to_dict(), list(config.course_hyperparameters(1, 2))
    except Exception:  # noqa: BLE001 - a card is still written, with one table
        return {}, []


def hyperparameter_tables(
    hyperparameters: Mapping[str, Any], env_id: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The card's two hyperparameter tables, as ``(key, value)`` cells sorted by key: what
    a reader needs first (the course's keys, and every value that differs from hubpg's
    defaults for ``env_id``, with the default beside it), and the rest (hubpg's
    defaults and bookkeeping), shown folded.

    Args:
        hyperparameters: the run's ``hyperparameters.json``.
        env_id: the env the defaults are of.
    """
    defaults, course = _defaults_and_course_keys(env_id)
    first: list[tuple[str, str]] = []
    rest: list[tuple[str, str]] = []
    for key, value in sorted((hyperparameters or {}).items(), key=lambda kv: str(kv[0])):
        shown = _fmt_value(value)
        differs = key in defaults and _fmt_value(defaults[key]) != shown
        if differs:
            shown += f" (default {_fmt_value(defaults[key])})"
        row = (_cell(str(key)), _cell(shown))
        (first if differs or key in course or not defaults else rest).append(row)
    return first, rest


def _agent_lines(agent: Mapping[str, Any] | None) -> list[str]:
    """What the card says about a TorchScript ``agent`` file (an optional slot: nothing
    when absent): ``file`` (its name) and ``description`` (one line)."""
    if not isinstance(agent, Mapping) or not isinstance(agent.get("file"), str):
        return []
    line = f"{_code(agent['file'], 80)}"
    if isinstance(agent.get("description"), str) and agent["description"].strip():
        line += f": {_cell(agent['description'])[:300]}"
    return [line]


def render_card(
    *,
    env_id: str,
    mean_reward: float,
    std_reward: float,
    n_episodes: int,
    deterministic: bool,
    seed: int,
    hyperparameters: Mapping[str, Any],
    repo_id: str | None,
    video_file: str | None = "replay.mp4",
    curve_file: str | None = "learning_curve.png",
    results: Mapping[str, Any] | None = None,
    architecture: Mapping[str, Any] | None = None,
    template: str | os.PathLike[str] | None = None,
    converted_from: Mapping[str, Any] | None = None,
    agent: Mapping[str, Any] | None = None,
) -> ModelCard:
    """Render the model card (front matter from :func:`card_metadata`, body from the template).

    ``hyperparameters`` is the run's ``hyperparameters.json`` (shown as a sorted
    table; the network shape is read from ``hidden``/``h_size``,
    ``state_space``/``obs_dim`` and ``action_space``/``n_actions``, or from
    ``architecture``, a ``config.json`` dict). ``results`` is ``results.json``
    (per-episode returns and lengths, date, version: optional extras).
    ``repo_id`` names the repo in the usage snippet (a placeholder when None).
    ``converted_from`` is the ``legacy.json`` of a model converted from a course
    checkpoint: the card then says which file it came from. ``agent`` describes an
    extra model file (``{"file": "agent.pt", "description": "..."}``, e.g. TorchScript
    for the Open RL Leaderboard); nothing is said about one when it is None.
    The video and learning-curve sections are left out when their file is None.
    Save with ``card.save(folder / "README.md")``.
    """
    from huggingface_hub import ModelCard

    from hubpg.envs import PIXELCOPTER_ID

    data = card_metadata(env_id, mean_reward, std_reward, repo_name=repo_id)
    mean, std = _check_score(mean_reward, std_reward)
    if repo_id is not None:
        from hubpg.repoid import validate_repo_id

        validate_repo_id(repo_id)
    n_episodes, seed = int(n_episodes), int(seed)
    if n_episodes < 1:
        raise CardBuildError(f"n_episodes must be at least 1 (got {n_episodes})")
    shown_repo = repo_id or f"NAMESPACE/Reinforce-{env_id}"

    if n_episodes == 1:
        seeds_text = f"reset with seed {seed}"
    else:
        seeds_text = (
            f"seeds {seed} to {seed + n_episodes - 1}: episode k is reset with seed {seed} + k"
        )
    if deterministic:
        policy_text = "taking the most probable action at every step (argmax, `--deterministic`)"
    else:
        policy_text = "sampling each action from the policy's distribution, as the course evaluates"
    claim = format_claim(mean, std)
    shown_mean, shown_std = parse_claim_value(claim)
    from hubpg.runfolder import leaderboard_score

    score = leaderboard_score(shown_mean, shown_std)  # what the leaderboard computes
    threshold_text = None
    if env_id in COURSE_THRESHOLDS:
        need = COURSE_THRESHOLDS[env_id]
        verdict = "this agent passes" if score >= need else "this agent does not reach it"
        threshold_text = (
            f"The Deep RL course's certification needs mean − std ≥ {need:g} on {env_id}: {verdict}"
        )
    cli = f"hubpg load-and-eval --repo {shown_repo} --episodes {n_episodes} --seed {seed}"
    if deterministic:
        cli += " --deterministic"

    hp_rows, hp_rest = hyperparameter_tables(hyperparameters or {}, env_id)
    path = Path(template) if template is not None else template_path()
    try:
        card = ModelCard.from_template(
            data,
            template_path=str(path),
            env_id=env_id,
            network=_network(hyperparameters or {}, architecture),
            distribution=_distribution(architecture),
            score=claim,
            leaderboard_score=f"{score:.2f}",
            n_episodes=n_episodes,
            seeds_text=seeds_text,
            policy_text=policy_text,
            threshold_text=threshold_text,
            results_lines=_results_lines(results) + _provenance_lines(converted_from),
            video_file=video_file or None,
            curve_file=curve_file or None,
            hyperparameters=hp_rows,
            other_hyperparameters=hp_rest,
            repo_id=shown_repo,
            cli_command=cli,
            deterministic=deterministic,
            seed=seed,
            needs_hubpg=env_id == PIXELCOPTER_ID,  # Gymnasium knows it through hubpg
            agent_lines=_agent_lines(agent),
        )
    except OSError as exc:
        raise CardTemplateError(
            f"cannot read the model card template {path} ({exc}); reinstall hubpg"
        ) from exc
    if not card.text.endswith("\n"):
        card.text += "\n"  # Jinja drops the template's final newline
    return card
