"""A hyperparameter file with the Deep RL course's keys runs the course's algorithm (one
env, one episode per update, n_training_episodes episodes, evaluation over
n_evaluation_episodes), unless hubpg's batching keys say otherwise; the course's names are
translated in one place (hubpg.config.COURSE_KEYS)."""

from __future__ import annotations

import json

from cli_runner import run_cli

from hubpg.api import SYNONYMS, train_config
from hubpg.config import (
    COURSE_KEYS,
    ENV_DEFAULTS,
    TrainConfig,
    from_course_keys,
    to_course_keys,
)

#: The Unit 4 notebook's CartPole hyperparameters, with a tiny budget.
COURSE_FILE = {
    "h_size": 16,
    "n_training_episodes": 6,
    "n_evaluation_episodes": 3,
    "max_t": 1000,
    "gamma": 1.0,
    "lr": 1e-2,
    "env_id": "CartPole-v1",
    "state_space": 4,
    "action_space": 2,
    "print_every": 100,
}


def test_a_course_file_trains_the_course_algorithm_and_says_so(tmp_path) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps(COURSE_FILE))
    out = tmp_path / "run"
    proc = run_cli("train", "CartPole-v1", "--config", str(path), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "course's algorithm" in notes[0] and "--num-envs" in notes[0]
    hyper = json.loads((out / "hyperparameters.json").read_text())
    assert hyper["num_envs"] == 1 and hyper["episodes_per_update"] == 1
    assert hyper["total_episodes"] == 6 and hyper["total_steps"] is None
    assert hyper["hidden"] == [16] and hyper["gamma"] == 1.0 and hyper["baseline"] == "none"
    assert hyper["target_return"] is None and hyper["eval_episodes"] == 3
    result = json.loads(proc.stdout)
    assert result["episodes"] == 6 and result["updates"] == 6  # one episode per update
    assert result["evaluation"]["n_episodes"] == 3
    # written back under the course's names too
    assert hyper["n_training_episodes"] == 6 and hyper["n_evaluation_episodes"] == 3


def test_hubpg_keys_in_the_file_or_on_the_command_choose_the_batched_recipe(tmp_path) -> None:
    path = tmp_path / "h.yaml"
    path.write_text("h_size: 8\nn_training_episodes: 40\nn_evaluation_episodes: 7\n")
    course = train_config("CartPole-v1", config=path)
    assert (course.num_envs, course.episodes_per_update, course.total_episodes) == (1, 1, 40)
    assert course.eval_episodes == 7 and course.lr == TrainConfig("CartPole-v1").lr
    batched = train_config("CartPole-v1", config=path, num_envs=16)
    assert batched.num_envs == 16 and batched.episodes_per_update == 16
    assert batched.baseline == ENV_DEFAULTS["CartPole-v1"]["baseline"]  # the tuned recipe
    assert batched.eval_episodes == 7 and batched.hidden == [8]
    path.write_text("h_size: 8\nn_training_episodes: 40\nsegment_steps: 32\n")
    assert train_config("CartPole-v1", config=path).segment_steps == 32
    only_hubpg = tmp_path / "mine.yaml"
    only_hubpg.write_text("lr: 0.02\nhidden: [8]\n")  # no course key: the tuned defaults
    assert train_config("CartPole-v1", config=only_hubpg).num_envs == 128


def test_the_course_pixelcopter_network_is_h_then_2h() -> None:
    assert from_course_keys({"h_size": 64}, "Pixelcopter-PLE-v0")["hidden"] == [64, 128]
    assert from_course_keys({"h_size": 64}, "CartPole-v1")["hidden"] == [64]


def test_one_mapping_reads_and_writes_the_course_names() -> None:
    config = TrainConfig("CartPole-v1", hidden=[32, 32], total_episodes=9, eval_episodes=4)
    written = to_course_keys(config.to_dict())
    assert list(written) == list(COURSE_KEYS)
    assert written["h_size"] == 32 and written["n_evaluation_episodes"] == 4
    back = from_course_keys(written, "CartPole-v1")
    assert back["total_episodes"] == 9 and back["eval_episodes"] == 4 and back["hidden"] == [32]
    assert config.course_hyperparameters(4, 2) == {**written, "state_space": 4, "action_space": 2}
    for course, name in COURSE_KEYS.items():
        assert course == name or SYNONYMS[course] == name
