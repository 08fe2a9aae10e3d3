"""The one claim parser (hubpg.claims): hostile values never overflow, crash or fool it."""

from __future__ import annotations

import json
import math

import pytest

from hubpg.claims import (
    Claim,
    claim_supported,
    episode_count,
    finite_or_none,
    impossible_reason,
    judge_claim,
    parse_claim_value,
    read_claim,
    read_episode_count,
)
from hubpg.errors import CardMetadataError


def _card(value: str, env_id: str = "CartPole-v1") -> str:
    return (
        "---\ntags: [reinforce]\nmodel-index:\n- name: x\n  results:\n"
        "  - task: {type: reinforcement-learning}\n"
        f"    dataset: {{name: {env_id}, type: {env_id}}}\n"
        f"    metrics:\n    - {{type: mean_reward, value: '{value}'}}\n---\n# x\n"
    )


@pytest.mark.parametrize(
    "value",
    ["100 +/- 1e200", "1e200 +/- 1", "-1e300 +/- 1e300", "1e999 +/- 1", "1 +/- " + "9" * 400],
)
def test_huge_claims_are_refused_not_overflowed(value) -> None:
    with pytest.raises(CardMetadataError):
        parse_claim_value(value)


def test_claim_supported_never_overflows() -> None:
    # before: math.sqrt(std**2 / n ...) raised OverflowError for std 1e200
    claimed = {"mean_reward": 100.0, "std_reward": 1e200, "n_episodes": None}
    assert claim_supported(claimed, 100.0, 1e200, 10) is True
    assert claim_supported({"mean_reward": 1e308, "std_reward": 1e308}, -1e308, 1e308, 1) in (
        True,
        False,
    )
    assert claim_supported({"mean_reward": math.nan, "std_reward": 0.0}, 1.0, 0.0, 10) is False
    assert claim_supported({"mean_reward": 1.0, "std_reward": math.inf}, 1.0, 0.0, 10) is False
    assert claim_supported({"mean_reward": 1.0, "std_reward": 0.0}, 1.0, 0.0, 0) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100, 100),
        (-10, None),
        (0, None),
        (True, None),
        (4.5, None),
        (math.inf, None),
        ([100], None),
        ({"n": 1}, None),
        ("100", None),
        (10**400, None),
        (None, None),
    ],
)
def test_episode_count_is_an_int_in_range_or_unknown(value, expected) -> None:
    assert episode_count(value) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"n_evaluation_episodes": -10}',
        '{"n_evaluation_episodes": Infinity}',
        '{"n_evaluation_episodes": [1, 2]}',
        '{"n_evaluation_episodes": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"n_evaluation_episodes": ' + "9" * 401 + "}",
        '{"n_evaluation_episodes": ' + "9" * 5000 + "}",
        "[1, 2, 3]",
        "not json",
    ],
)
def test_hostile_results_json_gives_an_unknown_count(tmp_path, text) -> None:
    path = tmp_path / "results.json"
    path.write_text(text)
    assert read_episode_count(path) is None


def test_a_good_results_json_gives_its_count(tmp_path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"n_evaluation_episodes": 100}))
    assert read_episode_count(path) == 100
    card = tmp_path / "README.md"
    card.write_text(_card("500.00 +/- 0.00"))
    claim = read_claim(card, results=path)
    assert claim == Claim(500.0, 0.0, 100, frozenset({"CartPole-v1"}))
    assert claim.to_dict() == {
        "mean_reward": 500.0,
        "std_reward": 0.0,
        "score": 500.0,
        "n_episodes": 100,
    }


def test_an_impossible_claim_is_flagged_even_with_one_episode() -> None:
    # before: 800 +/- 100 on CartPole-v1 (maximum 500) with n = 1 was "claim supported"
    claim = Claim(800.0, 100.0, 1, frozenset({"CartPole-v1"}))
    verdict = judge_claim(claim, env_id="CartPole-v1", mean=500.0, std=0.0, n=100)
    assert verdict.supported is False and "maximum return 500" in verdict.reason
    assert impossible_reason(500.0, "CartPole-v1") is None
    assert impossible_reason(10_000.0, "Pixelcopter-PLE-v0") is None  # no known bound


def test_a_card_claiming_another_env_is_flagged() -> None:
    claim = Claim(-80.0, 10.0, 100, frozenset({"Acrobot-v1"}))
    verdict = judge_claim(claim, env_id="CartPole-v1", mean=-80.0, std=10.0, n=100)
    assert verdict.supported is False and "Acrobot-v1" in verdict.reason


def test_an_honest_claim_holds_and_an_inflated_one_does_not() -> None:
    claim = Claim(500.0, 0.0, 100, frozenset({"CartPole-v1"}))
    assert judge_claim(claim, env_id="CartPole-v1", mean=499.5, std=5.0, n=100).supported
    verdict = judge_claim(claim, env_id="CartPole-v1", mean=300.0, std=50.0, n=100)
    assert not verdict.supported and "standard errors" in verdict.reason


def test_read_claim_of_a_card_without_a_claim_is_none(tmp_path) -> None:
    card = tmp_path / "README.md"
    card.write_text("---\ntags: [x]\n---\n")
    assert read_claim(card) is None
    card.write_text(_card("excellent"))
    assert read_claim(card) is None


def test_alias_bombs_in_a_card_are_refused_before_expansion(tmp_path) -> None:
    lines = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{','.join(['*' + chr(96 + i)] * 9)}]")
    card = tmp_path / "README.md"
    card.write_text("\n".join(lines) + "\n---\n")
    assert read_claim(card) is None
    with pytest.raises(CardMetadataError, match="anchor or alias"):
        from hubpg.claims import parse_claim

        parse_claim(card)


@pytest.mark.parametrize(
    "front", ["2024-01-01: x\n", "!!binary aGk=: x\n", "self: 1\n", "a: " + "[" * 3000 + "]" * 3000]
)
def test_cards_huggingface_hub_cannot_read_are_refused(tmp_path, front) -> None:
    from hubpg.claims import parse_claim

    card = tmp_path / "README.md"
    card.write_text(f"---\n{front}\n---\n")
    with pytest.raises(CardMetadataError):
        parse_claim(card)


def test_finite_or_none_leaves_no_nan_or_infinity_for_json() -> None:
    value = {"a": -math.inf, "b": [math.nan, 1.0, {"c": math.inf}], "d": "x", "e": 2}
    cleaned = finite_or_none(value)
    assert cleaned == {"a": None, "b": [None, 1.0, {"c": None}], "d": "x", "e": 2}
    assert "Infinity" not in json.dumps(cleaned, allow_nan=False)


# ---------------------------------------------------------------- issue 28.3/28.4

#: What hubpg measured of the model the claims below are about (issue 28.4).
MEASURED = {"env_id": "CartPole-v1", "mean": 14.64, "std": 5.65, "n": 100}


def _claim_from_files(tmp_path, value: str, results: dict | None):
    card = tmp_path / "README.md"
    card.write_text(_card(value))
    path = None
    if results is not None:
        path = tmp_path / "results.json"
        path.write_text(json.dumps(results))
    return read_claim(card, results=path)


@pytest.mark.parametrize(
    ("value", "results"),
    [
        ("500.00 +/- 200.00", {"n_evaluation_episodes": 1}),
        ("499.00 +/- 250.00", {"n_evaluation_episodes": 1}),
        ("500.00 +/- 1000000.00", None),
    ],
)
def test_a_repo_cannot_talk_its_way_to_supported(tmp_path, value, results) -> None:
    # before: all three were "claim supported" against 14.64 +/- 5.65
    claim = _claim_from_files(tmp_path, value, results)
    verdict = judge_claim(claim, **MEASURED)
    assert verdict.supported is False and verdict.code == "impossible"
    assert "standard deviation" in verdict.reason and "CartPole-v1" in verdict.reason


def test_a_possible_std_with_n_1_does_not_widen_the_tolerance() -> None:
    # 250 +/- 250 is possible on [0, 500]; with n = 1 the old tolerance was 3 x 250 wide
    for n in (1, None):
        verdict = judge_claim(Claim(250.0, 250.0, n, frozenset({"CartPole-v1"})), **MEASURED)
        assert verdict.supported is False and verdict.code == "beyond_tolerance"
        assert "taken as 10 episodes" in verdict.reason  # the floor, not the repo's 1
    assert (
        claim_supported(
            {"mean_reward": 250.0, "std_reward": 250.0, "n_episodes": 1}, 14.64, 5.65, 100
        )
        is False
    )


def test_the_std_bound_allows_the_cards_rounding_and_a_sample_std() -> None:
    from hubpg.claims import max_possible_std

    # 499.996 +/- 0.06 is possible and rounds to 500.00 +/- 0.06
    assert judge_claim(
        Claim(500.0, 0.06, 100), env_id="CartPole-v1", mean=500.0, std=0.06, n=100
    ).supported
    # 0 and 500 over 10 episodes, half each: population std 250, sample std 263.5
    assert max_possible_std(250.0, 0.0, 500.0, n=10) >= 263.5
    honest = Claim(250.0, 263.52, 10, frozenset({"CartPole-v1"}))
    verdict = judge_claim(honest, env_id="CartPole-v1", mean=250.0, std=263.52, n=10)
    assert verdict.supported, verdict.reason
    assert impossible_reason(250.0, "CartPole-v1", std=300.0) is not None
    assert impossible_reason(-1.0, "CartPole-v1") is not None  # below the lowest return


@pytest.mark.parametrize(
    ("results", "word"),
    [
        ({"env_id": "CartPole-v1", "mean_reward": 9.0, "n_evaluation_episodes": 100}, "9.00"),
        (
            {"env_id": "Acrobot-v1", "mean_reward": 14.64, "n_evaluation_episodes": 100},
            "Acrobot-v1",
        ),
    ],
)
def test_a_results_json_that_contradicts_the_card_is_flagged(tmp_path, results, word) -> None:
    claim = _claim_from_files(tmp_path, "14.64 +/- 5.65", results)
    verdict = judge_claim(claim, **MEASURED)
    assert verdict.supported is False and verdict.code == "results_contradict"
    assert "results.json" in verdict.reason and word in verdict.reason


@pytest.mark.parametrize(
    "text",
    [
        '{"mean_reward": ' + "9" * 401 + ', "env_id": "CartPole-v1"}',
        '{"mean_reward": "9", "env_id": ["CartPole-v1"]}',
        '{"mean_reward": NaN, "env_id": "' + "x" * 1000 + '"}',
    ],
)
def test_a_hostile_results_json_states_nothing(tmp_path, text) -> None:
    from hubpg.claims import read_results

    path = tmp_path / "results.json"
    path.write_text(text)
    stated = read_results(path)
    assert stated["mean_reward"] is None and stated["n_episodes"] is None
    assert stated["env_id"] in (None, "CartPole-v1")


def test_a_results_json_that_agrees_with_the_card_is_fine(tmp_path) -> None:
    results = {"env_id": "CartPole-v1", "mean_reward": 14.6449, "std_reward": 5.6512}
    claim = _claim_from_files(tmp_path, "14.64 +/- 5.65", {**results, "n_evaluation_episodes": 100})
    assert claim.results_mean == 14.6449 and claim.results_env_id == "CartPole-v1"
    verdict = judge_claim(claim, **MEASURED)
    assert verdict.supported and verdict.code == "supported"


def test_every_verdict_says_why_in_a_sentence() -> None:
    honest = judge_claim(Claim(14.64, 5.65, 100, frozenset({"CartPole-v1"})), **MEASURED)
    assert honest.supported and honest.problem is None
    assert "within" in honest.reason and "14.64" in honest.reason
    assert honest.to_dict() == {"supported": True, "code": "supported", "reason": honest.reason}
    inflated = judge_claim(Claim(40.0, 5.0, 100, frozenset({"CartPole-v1"})), **MEASURED)
    assert not inflated.supported and inflated.problem == inflated.reason
    assert inflated.code == "beyond_tolerance" and "14.64" in inflated.reason
    assert "standard errors" in inflated.reason
