"""What a model card claims, and whether a measurement supports it.

A claim is the card's ``model-index`` value ``"MEAN +/- STD"`` (:func:`parse_claim`)
plus what the repo's ``results.json`` states (:func:`read_results`). All of it is
hostile input: only finite numbers within :data:`MAX_CLAIM_MAGNITUDE` and counts within
:data:`MAX_CLAIM_EPISODES` are taken, so judging a claim never overflows or raises.
:func:`judge_claim` gives a :class:`Verdict`; ranking still uses measured mean - std.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubpg.cardmeta import card_data, card_env_ids
from hubpg.errors import CardMetadataError

#: A claim is unsupported when it exceeds the measurement by more than this many
#: standard errors (of the difference of the two means), plus the card's rounding.
CLAIM_Z = 3.0
#: The course's own evaluation count: its notebook's ``n_evaluation_episodes`` is 10.
COURSE_EVAL_EPISODES = 10
#: The fewest episodes a claim is taken to rest on (see :func:`claimed_episodes`).
MIN_CLAIM_EPISODES = COURSE_EVAL_EPISODES
#: The card's values have two decimals: a claim may exceed a measurement by this much.
ROUNDING = 0.01
#: Half the card's last digit: a value shown as ``x.xx`` is within this of the true one.
HALF_ROUNDING = 0.005
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
    """A card's claim: finite mean and std, the episode count when known, the env ids
    the card's model-index names (empty when it names none), and the env and mean
    the repo's ``results.json`` states (None when it states none)."""

    mean_reward: float
    std_reward: float
    n_episodes: int | None = None
    env_ids: frozenset[str] = frozenset()
    results_env_id: str | None = None
    results_mean: float | None = None

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
    """Whether a claim holds, and why: ``reason`` is a sentence for a person (for both
    outcomes), ``code`` one word for a program, in the order :func:`judge_claim` checks:

    - ``other_env``: the card claims another env than the one measured;
    - ``results_contradict``: the repo's ``results.json`` names another env or mean;
    - ``impossible``: the mean or std cannot be true on the env (:func:`impossible_reason`);
    - ``unmeasurable``: the measurement is not a finite number;
    - ``beyond_tolerance``: the claimed mean exceeds the measured one by more than
      :func:`tolerance`;
    - ``supported``: none of these.
    """

    supported: bool
    reason: str | None = None
    code: str = ""

    @property
    def problem(self) -> str | None:
        """``reason`` when the claim does not hold, else None (a report's ``claim_problem``)."""
        return None if self.supported else self.reason

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``supported``, ``code``, ``reason``."""
        return {"supported": self.supported, "code": self.code, "reason": self.reason}


def parse_claim_value(value: Any) -> tuple[float, float]:
    """``"500.00 +/- 0.00"`` (or ``"500 ± 0"``, spaces optional) -> ``(500.0, 0.0)``.

    Args:
        value: the model-index metric value.

    Raises:
        CardMetadataError: not of the form, not finite, std negative, or beyond
            :data:`MAX_CLAIM_MAGNITUDE`.
    """
    readable = isinstance(value, str) and len(value) <= MAX_CLAIM_TEXT
    match = _CLAIM.match(value) if readable else None
    if not match:
        raise CardMetadataError(
            f"the model card's mean_reward value {repr(value)[:60]} is not of the form "
            "'MEAN +/- STD'"
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


def read_results(path: Path | str) -> dict[str, Any]:
    """What a ``results.json`` claims: ``n_episodes`` (:func:`episode_count`), ``env_id``
    (a short string) and ``mean_reward`` (a finite number), each None when absent or not
    believable. Never raises: a missing, huge, deeply nested or invalid file gives Nones.

    Args:
        path: the ``results.json`` file.
    """
    from hubpg.runfolder import read_json

    empty = {"n_episodes": None, "env_id": None, "mean_reward": None}
    path = Path(path)
    try:
        if path.stat().st_size > 16 * 1024 * 1024:  # a results.json is a few kB
            return empty
        data = read_json(path)
    except (OSError, ValueError, RecursionError, MemoryError):  # hubpg errors are ValueErrors
        return empty
    if not isinstance(data, dict):
        return empty
    env_id, mean = data.get("env_id"), data.get("mean_reward")
    return {
        "n_episodes": episode_count(data.get("n_evaluation_episodes")),
        "env_id": env_id if isinstance(env_id, str) and 0 < len(env_id) <= 200 else None,
        "mean_reward": float(mean) if _finite(mean) and abs(mean) <= MAX_CLAIM_MAGNITUDE else None,
    }


def read_episode_count(path: Path | str) -> int | None:
    """:func:`episode_count` of a ``results.json`` file; None when it cannot be read
    (never raises).

    Args:
        path: the ``results.json`` file.
    """
    return read_results(path)["n_episodes"]


def read_claim(card: Any, *, results: Path | str | None = None) -> Claim | None:
    """The claim of a card (with what its ``results.json`` says), or None when the card
    has no parsable claim.

    Args:
        card: anything :func:`parse_claim` reads.
        results: the repo's ``results.json``, when it has one.
    """
    try:
        mean, std = parse_claim(card)
        envs = frozenset(card_env_ids(card))
    except (CardMetadataError, ValueError, TypeError, RecursionError):
        return None
    stated = read_results(results) if results is not None else {}
    return Claim(
        mean,
        std,
        stated.get("n_episodes"),
        envs,
        results_env_id=stated.get("env_id"),
        results_mean=stated.get("mean_reward"),
    )


def claimed_episodes(n: Any) -> int:
    """The episode count a claim is judged on: its own count, but never fewer than
    :data:`MIN_CLAIM_EPISODES`, and that floor when it states none. The count is the
    repo's word, so it may narrow the tolerance but not widen it; the floor is the
    course's own evaluation count, so an honest course card is judged as it was made.

    Args:
        n: the claimed count (anything; None or unbelievable: unknown).
    """
    return max(episode_count(n) or MIN_CLAIM_EPISODES, MIN_CLAIM_EPISODES)


def tolerance(claimed_n: Any, std: float, n: int) -> float:
    """How far a claimed mean may lie above the measured one: :data:`CLAIM_Z` standard
    errors of the difference of the two means, plus the card's :data:`ROUNDING`. Both
    means are of one policy, so hubpg's measured ``std`` serves both (the claimed std is
    the repo's word, and would let it widen the tolerance); the claim's count is
    :func:`claimed_episodes`.

    Args:
        claimed_n: the episode count the claim states (None: unknown).
        std: the measured standard deviation.
        n: the number of measured episodes.
    """
    return CLAIM_Z * std * math.sqrt(1 / claimed_episodes(claimed_n) + 1 / n) + ROUNDING


def max_possible_std(mean: float, low: float, high: float, *, n: Any = None) -> float:
    """The largest std a claim of ``mean`` can honestly state for returns in
    ``[low, high]``: the Bhatia-Davis bound ``sqrt((high - mean) (mean - low))`` of a
    population std, at the true mean closest to the range's middle that still rounds to
    ``mean`` (:data:`HALF_ROUNDING`), times ``sqrt(k / (k - 1))`` for a sample std
    (Bessel's correction) over ``k`` = :func:`claimed_episodes` (``n``) episodes.

    Args:
        mean: the claimed mean (two decimals).
        low: the lowest return an episode can reach.
        high: the highest return an episode can reach.
        n: the claimed episode count (None: unknown).
    """
    middle = min(max((low + high) / 2, mean - HALF_ROUNDING), mean + HALF_ROUNDING)
    middle = min(max(middle, low), high)
    k = claimed_episodes(n)
    return math.sqrt((high - middle) * (middle - low)) * math.sqrt(k / (k - 1))


def impossible_reason(
    mean: float, env_id: str, *, std: float | None = None, n: Any = None
) -> str | None:
    """Why a claim cannot be true on ``env_id`` (its mean outside the env's return range,
    or its std above :func:`max_possible_std`), or None. Envs without known bounds
    (:func:`hubpg.envs.return_bounds`) have no impossible claims.

    Args:
        mean: the claimed mean return.
        env_id: the env the claim is about.
        std: the claimed standard deviation (None: only the mean is checked).
        n: the claimed episode count (None: unknown).
    """
    from hubpg.envs import return_bounds

    low, high = return_bounds(env_id)
    if above_max_return(mean, high):
        return f"claims a mean of {mean:.2f}, above {env_id}'s maximum return {high:g}"
    if low is not None and mean < low - 1e-9:
        return f"claims a mean of {mean:.2f}, below {env_id}'s lowest return {low:g}"
    if std is None or low is None or high is None:
        return None
    most = max_possible_std(mean, low, high, n=n)
    if std - HALF_ROUNDING > most + 1e-9:
        return (
            f"claims a standard deviation of {std:.2f} with a mean of {mean:.2f}, but returns "
            f"on {env_id} lie in [{low:g}, {high:g}], where that mean allows at most {most:.2f}"
        )
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
    """Whether every value is a finite int or float (a bool is not; an int too large for a
    float is not)."""
    try:
        return all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        )
    except OverflowError:
        return False


def _claimed_numbers(claimed: Claim | Mapping[str, Any]) -> tuple[Any, Any, Any]:
    if isinstance(claimed, Claim):
        return claimed.mean_reward, claimed.std_reward, claimed.n_episodes
    return claimed.get("mean_reward"), claimed.get("std_reward"), claimed.get("n_episodes")


def claim_supported(claimed: Claim | Mapping[str, Any], mean: float, std: float, n: int) -> bool:
    """False when the claimed mean exceeds the measured one by more than
    :func:`tolerance`, or when any input is not a finite number (a claim that cannot be
    checked does not hold). Only the numbers are compared: :func:`judge_claim` also
    checks the env, ``results.json`` and what is possible.

    Args:
        claimed: a :class:`Claim`, or a mapping with ``mean_reward``, ``std_reward`` and
            ``n_episodes`` (None: unknown, judged as :data:`MIN_CLAIM_EPISODES`).
        mean: the measured mean return.
        std: the measured standard deviation.
        n: the number of measured episodes.
    """
    c_mean, c_std, c_n = _claimed_numbers(claimed)
    n = episode_count(n)
    if n is None or not _finite(c_mean, c_std, mean, std) or c_std < 0 or std < 0:
        return False
    gap = c_mean - mean
    return math.isfinite(gap) and gap <= tolerance(c_n, std, n)


def _shown(text: str, limit: int = 60) -> str:
    """A hostile string (an env id) as one short line for a sentence."""
    return " ".join(str(text).split())[:limit]


def _contradiction(claim: Claim, env_id: str) -> str | None:
    """Why the repo's ``results.json`` contradicts its card (env or mean), or None; with
    no env in the card, its env must be the one measured."""
    expected = claim.env_ids or frozenset({env_id})
    if claim.results_env_id is not None and claim.results_env_id not in expected:
        return (
            f"the repo's results.json is about {_shown(claim.results_env_id)}, its card "
            f"claims {', '.join(_shown(e) for e in sorted(expected))}"
        )
    stated = claim.results_mean
    if stated is not None and abs(stated - claim.mean_reward) > HALF_ROUNDING + 1e-9:
        return (
            f"the repo's results.json states a mean of {stated:.2f}, its card "
            f"{claim.mean_reward:.2f}"
        )
    return None


def _count_text(n: Any) -> str:
    """How many episodes a claim is judged on, and why when it is not its own count."""
    k, stated = claimed_episodes(n), episode_count(n)
    if stated == k:
        return f"over {k} episodes"
    return f"taken as {k} episodes; the repo states {stated if stated else 'no count'}"


def judge_claim(claim: Claim, *, env_id: str, mean: float, std: float, n: int) -> Verdict:
    """The verdict of a measurement of ``n`` episodes on ``env_id`` on ``claim``, with its
    reason (a sentence) and code (:class:`Verdict` lists them in the order checked).

    Args:
        claim: what the card claims.
        env_id: the env that was measured.
        mean: the measured mean return.
        std: the measured standard deviation.
        n: the number of measured episodes.
    """
    if claim.env_ids and env_id not in claim.env_ids:
        claimed = ", ".join(_shown(e) for e in sorted(claim.env_ids))
        return Verdict(False, f"the card claims {claimed}, the model plays {env_id}", "other_env")
    contradiction = _contradiction(claim, env_id)
    if contradiction is not None:
        return Verdict(False, contradiction, "results_contradict")
    impossible = impossible_reason(
        claim.mean_reward, env_id, std=claim.std_reward, n=claim.n_episodes
    )
    if impossible is not None:
        return Verdict(False, f"impossible: the card {impossible}", "impossible")
    count = episode_count(n)
    if count is None or not _finite(mean, std) or std < 0:
        return Verdict(False, "the measurement is not a finite score", "unmeasurable")
    allowed = tolerance(claim.n_episodes, std, count)
    said = f"{claim.mean_reward:.2f} ({_count_text(claim.n_episodes)})"
    if claim_supported(claim, mean, std, count):
        return Verdict(
            True,
            f"the claimed mean {said} is within {CLAIM_Z:g} standard errors (+{allowed:.2f}) "
            f"of the measured {mean:.2f} +/- {std:.2f} over {count} episodes",
            "supported",
        )
    return Verdict(
        False,
        f"the claimed mean {said} exceeds the measured {mean:.2f} +/- {std:.2f} over "
        f"{count} episodes by more than {CLAIM_Z:g} standard errors (+{allowed:.2f})",
        "beyond_tolerance",
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
    "MIN_CLAIM_EPISODES",
    "Claim",
    "Verdict",
    "claim_supported",
    "claimed_episodes",
    "episode_count",
    "finite_or_none",
    "impossible_reason",
    "judge_claim",
    "max_possible_std",
    "parse_claim",
    "parse_claim_value",
    "read_claim",
    "read_episode_count",
    "read_results",
    "tolerance",
]
