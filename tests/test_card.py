"""The model card (hubpg.card): leaderboard metadata, body, and reading a claim back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard, ModelCardData

from hubpg.card import (
    card_env_ids,
    card_metadata,
    card_tags,
    render_card,
)
from hubpg.claims import parse_claim, parse_claim_value
from hubpg.errors import CardBuildError, CardMetadataError, RepoIdError

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE, PIXELCOPTER = "CartPole-v1", "Pixelcopter-PLE-v0"

# The block in docs/hub-api.md ("Model card metadata the leaderboards read").
HUB_API_BLOCK = """
library_name: hubpg
tags: [CartPole-v1, reinforce, reinforcement-learning, custom-implementation, deep-rl-class]
model-index:
- name: Reinforce-CartPole-v1
  results:
  - task: {type: reinforcement-learning, name: reinforcement-learning}
    dataset: {name: CartPole-v1, type: CartPole-v1}
    metrics:
    - {type: mean_reward, value: 500.00 +/- 0.00, name: mean_reward, verified: false}
"""

HP = {
    "env_id": CARTPOLE,
    "h_size": 16,
    "hidden": [16],
    "lr": 0.02,
    "gamma": 0.99,
    "state_space": 4,
    "action_space": 2,
    "max_t": 500,
    "grad_clip": None,
    "normalize_returns": True,
}


def _render(env_id=CARTPOLE, mean=500.0, std=0.0, **kw):
    args = dict(
        env_id=env_id,
        mean_reward=mean,
        std_reward=std,
        n_episodes=100,
        deterministic=False,
        seed=0,
        hyperparameters={**HP, "env_id": env_id},
        repo_id=f"alice/Reinforce-{env_id}",
    )
    args.update(kw)
    return render_card(**args)


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def _saved(card: ModelCard, tmp_path: Path) -> ModelCard:
    path = tmp_path / "README.md"
    card.save(path)
    return ModelCard.load(path)


def test_front_matter_is_exactly_the_leaderboard_block(tmp_path):
    loaded = _saved(_render(), tmp_path)
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert _front_matter(text) == yaml.safe_load(HUB_API_BLOCK)
    assert card_metadata(CARTPOLE, 500, 0).to_dict() == yaml.safe_load(HUB_API_BLOCK)
    (result,) = loaded.data.eval_results
    assert loaded.data.model_name == "Reinforce-CartPole-v1"
    assert loaded.data.library_name == "hubpg"
    assert (result.task_type, result.task_name) == ("reinforcement-learning",) * 2
    assert (result.dataset_type, result.dataset_name) == (CARTPOLE, CARTPOLE)
    assert (result.metric_type, result.metric_name) == ("mean_reward", "mean_reward")
    assert result.metric_value == "500.00 +/- 0.00"
    assert result.verified is False


@pytest.mark.parametrize(
    ("env_id", "mean", "std", "value"),
    [
        (CARTPOLE, 123.456, 7.891, "123.46 +/- 7.89"),
        (PIXELCOPTER, -3.5, 1.25, "-3.50 +/- 1.25"),
        (PIXELCOPTER, 17.0, 0.004, "17.00 +/- 0.00"),
    ],
)
def test_metric_value_round_trips_through_huggingface_hub(tmp_path, env_id, mean, std, value):
    loaded = _saved(_render(env_id, mean, std), tmp_path)
    assert loaded.data.eval_results[0].metric_value == value
    assert parse_claim(loaded) == (float(value.split()[0]), float(value.split()[-1]))


@pytest.mark.parametrize(("env_id", "other"), [(CARTPOLE, PIXELCOPTER), (PIXELCOPTER, CARTPOLE)])
def test_card_names_only_its_own_env(tmp_path, env_id, other):
    card = _render(env_id, 10.0, 1.0)
    loaded = _saved(card, tmp_path)
    assert card_tags(loaded)[0] == env_id and other not in card_tags(loaded)
    assert card_env_ids(loaded) == {env_id}
    meta = _front_matter(str(card))
    assert env_id in meta["tags"]
    assert other not in yaml.safe_dump(meta)
    assert other not in str(card)  # nor anywhere in the body


def test_parse_claim_accepts_every_form_of_a_card(tmp_path):
    card = _render(mean=321.5, std=12.25)
    path = tmp_path / "README.md"
    card.save(path)
    expected = (321.5, 12.25)
    assert parse_claim(card) == expected
    assert parse_claim(str(card)) == expected
    assert parse_claim(path) == expected
    assert parse_claim(card.data) == expected
    assert parse_claim(card.data.to_dict()) == expected  # cardData as the Hub API returns it
    assert parse_claim(card, env_id=CARTPOLE) == expected
    with pytest.raises(CardMetadataError, match="no mean_reward result on Pixelcopter"):
        parse_claim(card, env_id=PIXELCOPTER)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500.00 +/- 0.00", (500.0, 0.0)),
        ("  12.5   +/-   3 ", (12.5, 3.0)),
        ("-4.00 ± 1.00", (-4.0, 1.0)),
        ("7±0.5", (7.0, 0.5)),
        ("1e2 +/- 5e-1", (100.0, 0.5)),
    ],
)
def test_parse_claim_value_is_tolerant(value, expected):
    assert parse_claim_value(value) == expected


@pytest.mark.parametrize("value", ["500.00", "great", "500 +/- ", "nan +/- 1", "5 +/- -1", 500.0])
def test_parse_claim_value_rejects(value):
    with pytest.raises(ValueError, match="mean_reward value"):
        parse_claim_value(value)


def _card_text(metric_value: str) -> str:
    return (
        "---\nlibrary_name: stable-baselines3\ntags: [CartPole-v1]\nmodel-index:\n"
        "- name: PPO\n  results:\n  - task: {type: reinforcement-learning}\n"
        "    dataset: {name: CartPole-v1, type: CartPole-v1}\n"
        f"    metrics:\n    - {{type: mean_reward, value: {metric_value}}}\n---\n# PPO\n"
    )


def test_parse_claim_of_other_libraries_cards():
    assert parse_claim(_card_text("200.50 +/- 10.25")) == (200.5, 10.25)
    with pytest.raises(CardMetadataError, match="not of the form"):
        parse_claim(_card_text("excellent"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("# just a README\n", "no YAML metadata"),
        ("---\ntags: [CartPole-v1]\n---\n# hi\n", "no mean_reward"),
        ("---\nmodel-index: [{name: x}]\n---\n", "cannot be parsed"),
        ("---\n- not\n- a dict\n---\n", "cannot be parsed"),
    ],
)
def test_parse_claim_errors_are_value_errors(text, match):
    with pytest.raises(CardMetadataError, match=match) as info:
        parse_claim(text)
    assert isinstance(info.value, ValueError)


def test_body_shows_score_protocol_media_hyperparameters_and_snippet():
    text = str(_render(mean=480.0, std=20.0))
    assert "# REINFORCE agent playing CartPole-v1" in text
    assert "4 → 16 → 2" in text  # network shape from the course's keys
    assert "**mean_reward = 480.00 +/- 20.00** over 100 episodes" in text
    assert "seeds 0 to 99" in text and "sampling each action" in text
    assert "mean − std): **460.00**" in text and "this agent passes" in text
    assert '<video src="replay.mp4" controls autoplay loop' in text
    assert "(learning_curve.png)" in text
    first, rest = _table_keys(text)
    # every key shown once, each table sorted (issue 29.8: one table of everything before)
    assert sorted(first + rest) == sorted(HP) and first == sorted(first) and rest == sorted(rest)
    assert "| grad_clip | not set |" in text
    assert "| normalize_returns | true |" in text and "| hidden | [16] |" in text
    assert "pip install hubpg" not in text  # hubpg is not on PyPI (issue 29.8)
    assert "hubpg load-and-eval --repo alice/Reinforce-CartPole-v1 --episodes 100 --seed 0" in text
    assert 'policy, config = hubpg.load("alice/Reinforce-CartPole-v1")' in text
    assert "--deterministic" not in text


def _table_keys(text: str) -> tuple[list[str], list[str]]:
    """The keys of the card's first hyperparameter table and of the folded one."""
    head, _, folded = text.partition("<details>")
    folded = folded.partition("</details>")[0]

    def keys(part: str) -> list[str]:
        rows = [line for line in part.splitlines() if line.startswith("| ") and " | " in line]
        return [row.split(" | ")[0][2:] for row in rows[2:]]

    return keys(head.split("## Hyperparameters", 1)[1]), keys(folded)


def test_the_table_shows_the_course_keys_and_what_differs_first():
    """Before (issue 29.8): one table of 44 rows, most of them hubpg's internals."""
    from hubpg.config import TrainConfig

    record = {
        **TrainConfig.for_env(CARTPOLE, lr=0.02).to_dict(),
        **TrainConfig.for_env(CARTPOLE).course_hyperparameters(4, 2),
        "lr": 0.02,
        "hubpg_version": "0.1.0",
    }
    text = str(_render(hyperparameters=record))
    first, rest = _table_keys(text)
    course = list(TrainConfig.for_env(CARTPOLE).course_hyperparameters(4, 2))
    assert set(first) == set(course) and "lr" in first
    assert "| lr | 0.02 (default 0.03) |" in text
    assert {"checkpoint_every_s", "select_seed", "value_lr", "hubpg_version"} <= set(rest)
    assert len(first) <= 10 and len(first) + len(rest) == len(record)
    assert "<summary>The other" in text and text.index("<details>") > text.index("| lr |")


def test_the_card_says_how_to_install_and_use_it_without_hubpg():
    text = str(_render())
    usage = text.split("## Usage", 1)[1]
    assert usage.index("### Without hubpg") < usage.index("### With hubpg")
    assert "pip install huggingface_hub safetensors torch gymnasium" in usage
    assert "not on PyPI" in usage and "import hubpg" not in usage.split("### With hubpg")[0]
    pixel = str(_render(PIXELCOPTER, 3.0, 1.0, deterministic=True))
    assert "import hubpg  # Pixelcopter-PLE-v0 is hubpg's own game" in pixel
    assert "logits.argmax()" in pixel and "torch.multinomial" not in pixel


def test_the_open_rl_leaderboard_tags_are_always_there(tmp_path):
    for env_id in (CARTPOLE, PIXELCOPTER, "Acrobot-v1"):
        loaded = _saved(_render(env_id, 1.0, 0.0), tmp_path)
        assert {"reinforcement-learning", env_id} <= set(card_tags(loaded))


def test_the_agent_slot_renders_only_when_given():
    assert "agent.pt" not in str(_render()) and "## Other files" not in str(_render())
    agent = {"file": "agent.pt", "description": "TorchScript | <b>samples</b> actions"}
    text = str(_render(agent=agent))
    assert "## Other files" in text and "- `agent.pt`: TorchScript \\| <b>samples</b>" in text


def test_deterministic_evaluation_is_described_and_reproduced():
    text = str(_render(PIXELCOPTER, 3.0, 1.0, deterministic=True, seed=7, n_episodes=10))
    assert "argmax" in text and "seeds 7 to 16" in text
    assert "--episodes 10 --seed 7 --deterministic" in text
    assert "does not reach it" in text  # 2.00 < the course's 5


def test_missing_values_never_show_as_none():
    card = render_card(
        env_id=PIXELCOPTER,
        mean_reward=12.0,
        std_reward=3.0,
        n_episodes=1,
        deterministic=False,
        seed=0,
        hyperparameters={"grad_clip": None, "obs_clip": None},
        repo_id=None,
        video_file=None,
        curve_file=None,
        results=None,
    )
    text = str(card)
    assert "None" not in text and "none" not in text.lower().replace("non-", "")
    assert "<video" not in text and "replay.mp4" not in text and "learning_curve" not in text
    assert "NAMESPACE/Reinforce-Pixelcopter-PLE-v0" in text  # a placeholder, clearly one
    assert text.endswith("```\n")


def test_results_extras_are_shown():
    results = {
        "episode_returns": [480.0, 500.0],
        "episode_lengths": [480, 500],
        "eval_datetime": "2025-01-02T03:04:05+00:00",
        "hubpg_version": "0.1.0",
    }
    text = str(_render(results=results))
    assert "ranged from 480.00 to 500.00" in text and "490.0 steps on average" in text
    assert "2025-01-02T03:04:05+00:00 with hubpg 0.1.0" in text


def test_model_index_name_follows_the_repo_name():
    card = _render(repo_id="alice/my-cartpole")
    assert card.data.model_name == "my-cartpole"
    assert card_metadata(CARTPOLE, 1, 0).model_name == "Reinforce-CartPole-v1"


def test_bad_inputs_are_clear_errors():
    with pytest.raises(RepoIdError, match="NAMESPACE/NAME"):
        _render(repo_id="no-slash")
    with pytest.raises(CardBuildError, match="finite"):
        card_metadata(CARTPOLE, float("nan"), 0.0)
    with pytest.raises(CardBuildError, match="env id"):
        card_metadata("", 1.0, 0.0)


def test_card_data_is_a_huggingface_hub_object():
    data = card_metadata(PIXELCOPTER, 8.0, 2.0)
    assert isinstance(data, ModelCardData)
    assert data.tags == [
        PIXELCOPTER,
        "reinforce",
        "reinforcement-learning",
        "custom-implementation",
        "deep-rl-class",
    ]


def test_the_network_shape_counts_stacked_frames():
    from hubpg.card import _network

    arch = {"obs_dim": 7, "n_actions": 2, "hidden": [64, 64], "frame_stack": 4}
    assert _network({}, arch).startswith("28 (4 frames of 7) → 64 → 64 → 2")
    assert _network({}, {**arch, "frame_stack": 1}).startswith("7 → 64 → 64 → 2")


def test_a_converted_models_origin_is_one_escaped_line() -> None:
    from hubpg.card import render_card

    legacy = {
        "source_file": "evil`|<script>.pt",
        "sha256": "ab" * 32,
        "repo_id": "bob/Reinforce-CartPole-v1",
        "revision": "0123456789abcdef0123",
        "assumed": ["the forward of __main__.Policy"],
    }
    card_of = dict(
        env_id="CartPole-v1",
        mean_reward=500.0,
        std_reward=0.0,
        n_episodes=10,
        deterministic=False,
        seed=0,
        hyperparameters={"h_size": 16},
        repo_id=None,
    )
    card = render_card(**card_of, converted_from=legacy)
    line = next(x for x in card.text.splitlines() if "Converted by" in x)
    assert "`evil'\\|<script>.pt`" in line and "`bob/Reinforce-CartPole-v1@0123456789ab`" in line
    assert "Assumed by the conversion: the forward of __main__.Policy" in card.text
    assert "Converted by" not in render_card(**card_of).text


def test_the_local_hub_page_folds_the_rest_of_the_table():
    from hubpg.localhub.cardhtml import render_card_html

    html = render_card_html(
        str(_render()).split("---\n", 2)[2], repo_id="alice/x", commit_id="0" * 40
    )
    first, folded = html.split("<details>", 1)
    assert "<td>h_size</td>" in first and "<td>grad_clip</td>" not in first
    assert "<summary>" in folded and "<td>grad_clip</td>" in folded.split("</details>")[0]
    assert "<pre><code>import json" in html and "hf_hub_download" in html
