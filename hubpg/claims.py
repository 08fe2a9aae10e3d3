"""The one claim parser: what a model card claims, and whether a measurement supports it.

A claim is the card's ``model-index`` value ``"MEAN +/- STD"`` (read by
:func:`parse_claim`) and, when the repo has a ``results.json``, the number of
episodes behind it (:func:`episode_count`). Everything here is hostile input
made safe: a claim is a pair of finite numbers no larger than
:data:`MAX_CLAIM_MAGNITUDE`, an episode count is an int in ``1 ..``
:data:`MAX_CLAIM_EPISODES` or unknown, and :func:`claim_supported` /
:func:`judge_claim` use :func:`math.hypot` on finite values only, so no claim
can overflow, raise or print ``-Infinity``.

:func:`judge_claim` gives the verdict of a measurement on a claim, with the
reason when it does not hold: the claim exceeds the measurement by more than
:data:`CLAIM_Z` standard errors, it is impossible (:func:`impossible_reason`:
above the env's maximum return, :func:`hubpg.envs.max_return`), or the card
claims another env than the one measured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubpg.errors import CardMetadataError

#: A claim is unsupported when it exceeds the measurement by more than this many
#: standard errors (of the difference of the two means), plus the card's rounding.
CLAIM_Z = 3.0
#: Episodes assumed behind a claim whose count is unknown (the course evaluates 10).
COURSE_EVAL_EPISODES = 10
#: The card's values have two decimals: a claim may exceed a measurement by this much.
ROUNDING = 0.01
#: The largest |mean| or std a claim may state; larger is "not a score".
MAX_CLAIM_MAGNITUDE = 1e12
#: The largest episode count a ``results.json`` may claim; larger counts as unknown.
MAX_CLAIM_EPISODES = 10_000_000
#: The longest ``"MEAN +/- STD"`` text read (longer is refused unread).
MAX_CLAIM_TEXT = 200
METRIC = "mean_reward"

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CLAIM = re.compile(rf"^\s*({_NUMBER})\s*(?:\+\s*/\s*-|±|\+\s*-)\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Claim:
    """A card's claim: finite mean and std, the episode count when known, and the env
    ids the card's model-index names (empty when it names none)."""

    mean_reward: float
    std_reward: float
    n_episodes: int | None = None
    env_ids: frozenset[str] = frozenset()

    @property
    def score(self) -> float:
        """The Deep RL leaderboard's score, mean - std (always finite)."""
        from hubpg.runfolder import leaderboard_score

        return leaderboard_score(self.mean_reward, self.std_reward)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``mean_reward``, ``std_reward``, ``score``, ``n_episodes``."""
        return {
            "mean_reward": self.mean_reward,
            "std_reward": self.std_reward,
            "score": self.score,
            "n_episodes": self.n_episodes,
        }


@dataclass(frozen=True)
class Verdict:
    """Whether a claim holds, and why not when it does not."""

    supported: bool
    reason: str | None = None


# --------------------------------------------------------------------------- parsing


def parse_claim_value(value: Any) -> tuple[float, float]:
    """``"500.00 +/- 0.00"`` (or ``"500 ± 0"``, spaces optional) -> ``(500.0, 0.0)``.

    Args:
        value: the model-index metric value.

    Raises:
        CardMetadataError: not of the form, not finite, std negative, or beyond
            :data:`MAX_CLAIM_MAGNITUDE`.
    """
    text = value if isinstance(value, str) and len(value) <= MAX_CLAIM_TEXT else None
    match = _CLAIM.match(text) if text is not None else None
    if not match:
        shown = repr(value)[:60]
        raise CardMetadataError(
            f"the model card's mean_reward value {shown} is not of the form 'MEAN +/- STD'"
        )
    mean, std = float(match.group(1)), float(match.group(2))
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise CardMetadataError(
            f"the model card's mean_reward value {value!r} is not a finite score"
        )
    if abs(mean) > MAX_CLAIM_MAGNITUDE or std > MAX_CLAIM_MAGNITUDE:
        raise CardMetadataError(
            f"the model card's mean_reward value {value!r} is beyond "
            f"{MAX_CLAIM_MAGNITUDE:g}, not a score"
        )
    return mean, std


def parse_claim(card_or_text: Any, env_id: str | None = None) -> tuple[float, float]:
    """The ``(mean, std)`` a card claims, read through ``huggingface_hub``'s model-index parser.

    The first ``mean_reward`` result is used (the first on ``env_id`` when given).

    Args:
        card_or_text: a :class:`~huggingface_hub.ModelCard`, a card's text, a path
            to a README.md, a :class:`~huggingface_hub.ModelCardData` or a raw
            metadata dict (``cardData`` from the Hub's API).
        env_id: only results on this env count.

    Raises:
        CardMetadataError: (a ``ValueError``) no such result, or its value does not parse.
    """
    from hubpg.card import card_data

    results = card_data(card_or_text).eval_results or []
    chosen = [r for r in results if str(r.metric_type).strip().lower() == METRIC]
    if env_id is not None:
        chosen = [r for r in chosen if env_id in (r.dataset_type, r.dataset_name)]
    if not chosen:
        where = f" on {env_id}" if env_id is not None else ""
        raise CardMetadataError(
            f"the model card has no {METRIC} result{where} in its model-index; "
            "re-package the model so its card carries the score"
        )
    return parse_claim_value(chosen[0].metric_value)


def episode_count(value: Any) -> int | None:
    """The claimed number of evaluation episodes, or None when it is not a believable
    count (not an int, a bool, below 1, above :data:`MAX_CLAIM_EPISODES`).

    Args:
        value: ``results.json``'s ``n_evaluation_episodes`` (anything JSON can hold).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= MAX_CLAIM_EPISODES else None


def read_episode_count(path: Path | str) -> int | None:
    """:func:`episode_count` of a ``results.json`` file; None when it cannot be read.

    Never raises: a missing, huge, deeply nested or invalid file gives None.

    Args:
        path: the ``results.json`` file.
    """
    from hubpg.runfolder import read_json

    path = Path(path)
    try:
        if path.stat().st_size > 16 * 1024 * 1024:  # a results.json is a few kB
            return None
        data = read_json(path)
    except (OSError, ValueError, RecursionError, MemoryError):  # hubpg errors are ValueErrors
        return None
    return episode_count(data.get("n_evaluation_episodes")) if isinstance(data, dict) else None


def read_claim(card: Any, *, results: Path | str | None = None) -> Claim | None:
    """The claim of a card (and the episode count of its ``results.json``), or None when
    the card has no parsable claim.

    Args:
        card: anything :func:`parse_claim` reads.
        results: the repo's ``results.json``, when it has one.
    """
    from hubpg.card import card_env_ids

    try:
        mean, std = parse_claim(card)
        envs = frozenset(card_env_ids(card))
    except (CardMetadataError, ValueError, TypeError, RecursionError):
        return None
    n = read_episode_count(results) if results is not None else None
    return Claim(mean, std, n, envs)


# --------------------------------------------------------------------------- judging


def impossible_reason(mean: float, env_id: str) -> str | None:
    """Why a claimed mean cannot be true on ``env_id`` (above its maximum return), or None.

    Args:
        mean: the claimed mean return.
        env_id: the env the claim is about.
    """
    from hubpg.envs import max_return

    best = max_return(env_id)
    if above_max_return(mean, best):
        return f"claims a mean of {mean:.2f}, above {env_id}'s maximum return {best:g}"
    return None


def above_max_return(mean: float, best: float | None) -> bool:
    """Whether a claimed mean is above the highest return ``best`` an episode can reach;
    never where ``best`` is None (unbounded). No rounding allowance is needed: a true mean
    at most ``best`` never rounds to two decimals above it.

    Args:
        mean: the claimed mean return.
        best: :func:`hubpg.envs.max_return` of the env.
    """
    return best is not None and mean > best + 1e-9


def _finite(*values: Any) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def claim_supported(claimed: Claim | Mapping[str, Any], mean: float, std: float, n: int) -> bool:
    """False when the claimed mean exceeds the measured one by more than
    :data:`CLAIM_Z` standard errors of the difference (plus the card's rounding),
    or when any input is not a finite number (a claim that cannot be checked does not hold).

    Args:
        claimed: a :class:`Claim`, or a mapping with ``mean_reward``, ``std_reward`` and
            ``n_episodes`` (None: :data:`COURSE_EVAL_EPISODES`).
        mean: the measured mean return.
        std: the measured standard deviation.
        n: the number of measured episodes.
    """
    if isinstance(claimed, Claim):
        c_mean, c_std, c_n = claimed.mean_reward, claimed.std_reward, claimed.n_episodes
    else:
        c_mean, c_std = claimed.get("mean_reward"), claimed.get("std_reward")
        c_n = claimed.get("n_episodes")
    c_n = episode_count(c_n) or COURSE_EVAL_EPISODES
    n = episode_count(n)
    if n is None or not _finite(c_mean, c_std, mean, std) or c_std < 0 or std < 0:
        return False
    se = math.hypot(c_std / math.sqrt(c_n), std / math.sqrt(n))
    gap = c_mean - mean
    return math.isfinite(gap) and gap <= CLAIM_Z * se + ROUNDING


def judge_claim(claim: Claim, *, env_id: str, mean: float, std: float, n: int) -> Verdict:
    """The verdict of a measurement of ``n`` episodes on ``env_id`` on ``claim``.

    Args:
        claim: what the card claims.
        env_id: the env that was measured.
        mean: the measured mean return.
        std: the measured standard deviation.
        n: the number of measured episodes.
    """
    if claim.env_ids and env_id not in claim.env_ids:
        return Verdict(
            False, f"the card claims {', '.join(sorted(claim.env_ids))}, the model plays {env_id}"
        )
    impossible = impossible_reason(claim.mean_reward, env_id)
    if impossible is not None:
        return Verdict(False, impossible)
    if claim_supported(claim, mean, std, n):
        return Verdict(True)
    return Verdict(
        False,
        f"the claimed mean exceeds the measured one by more than {CLAIM_Z:g} standard errors",
    )


def finite_or_none(value: Any) -> Any:
    """``value``, with every non-finite float (at any depth of dicts and lists) as None,
    so that JSON output never holds ``NaN`` or ``-Infinity``.

    Args:
        value: a JSON-ready value.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


__all__ = [
    "CLAIM_Z",
    "COURSE_EVAL_EPISODES",
    "Claim",
    "Verdict",
    "claim_supported",
    "episode_count",
    "finite_or_none",
    "impossible_reason",
    "judge_claim",
    "parse_claim",
    "parse_claim_value",
    "read_claim",
    "read_episode_count",
]
