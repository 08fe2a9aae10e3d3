"""The Python API (hubpg.train / evaluate / package / push / load_and_eval / leaderboard):
keyword handling, errors, the results' reprs and Jupyter views, against the local Hub."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import huggingface_hub.constants
import pytest

import hubpg
from hubpg.api import train_config
from hubpg.config import ENV_DEFAULTS, TrainConfig
from hubpg.errors import ConfigError
from hubpg.localhub.testing import running_hub
from hubpg.results import Leaderboard, Verified

huggingface_hub.constants.HF_HUB_DISABLE_XET = True
ALICE = "hf_local_alice"
# a tiny budget: the API's plumbing, not the learning, is under test here
TINY = {"total_steps": 3_000, "num_envs": 8, "progress": False}


def short(text: str) -> bool:
    return len(text.splitlines()) <= 2 and len(text) <= 200


# --------------------------------------------------------------------------- train


def test_an_env_id_gets_its_tuned_defaults_and_the_final_evaluation(tmp_path) -> None:
    run = hubpg.train("CartPole-v1", seed=3, out=tmp_path / "run", eval_episodes=5, **TINY)
    tuned = ENV_DEFAULTS["CartPole-v1"]
    assert run.config.lr == tuned["lr"] and run.config.baseline == tuned["baseline"]
    assert run.config.seed == 3 and run.config.num_envs == 8
    assert run.steps >= 3_000 and run.run_dir == tmp_path / "run"
    assert run.evaluation is not None and run.evaluation.seeds == [0, 1, 2, 3, 4]
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert short(repr(run)) and run.score in repr(run) and str(run.run_dir) in repr(run)
    assert run.to_dict()["evaluation"]["n_episodes"] == 5


def test_unknown_keywords_name_the_close_matches() -> None:
    with pytest.raises(ConfigError, match="unknown option 'hiden'; did you mean hidden"):
        hubpg.train("CartPole-v1", hiden=[8])
    with pytest.raises(ConfigError, match="'episodes'; did you mean .*total_episodes"):
        hubpg.train("CartPole-v1", episodes=300)
    with pytest.raises(ConfigError, match="'learning_rate'; did you mean lr"):
        hubpg.train("CartPole-v1", learning_rate=0.1)
    with pytest.raises(TypeError):  # seed, out, ... are keyword-only
        hubpg.train("CartPole-v1", 3)  # type: ignore[misc]


def test_bad_values_and_bad_arguments_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="lr must be positive"):
        hubpg.train("CartPole-v1", lr=-1.0)
    with pytest.raises(ConfigError, match="needs an env id"):
        hubpg.train(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="exclude each other"):
        hubpg.train("CartPole-v1", overwrite=True, resume=True)
    with pytest.raises(ConfigError, match="as it is"):
        hubpg.train(TrainConfig("CartPole-v1"), lr=0.5)
    with pytest.raises(ConfigError, match="not a comma-separated list"):
        hubpg.train("CartPole-v1", hidden="a,b")
    with pytest.raises(ConfigError, match="evaluate\\(\\) needs"):
        hubpg.evaluate(3.5)
    assert not list(tmp_path.iterdir())


def test_a_train_config_is_taken_as_it_is(tmp_path) -> None:
    config = TrainConfig("CartPole-v1", total_steps=2_000, num_envs=4, eval_episodes=0)
    run = hubpg.train(config, out=tmp_path / "run", progress=False)
    assert run.config.lr == TrainConfig("CartPole-v1").lr  # the dataclass default, not tuned
    assert run.config.num_envs == 4 and run.evaluation is None
    assert "not evaluated" in repr(run) and short(repr(run))


def test_options_win_over_the_config_file_which_wins_over_the_env_defaults(tmp_path) -> None:
    path = tmp_path / "h.yaml"
    # hubpg's own keys: a file with the course's keys runs the course's algorithm instead
    # (tests/test_course_keys.py)
    path.write_text("lr: 0.02\ngamma: 0.9\nhidden: [8]\ntotal_episodes: 40\n")
    config = train_config("CartPole-v1", config=path, lr=0.05, hidden="8,8")
    assert config.lr == 0.05 and config.gamma == 0.9 and config.hidden == [8, 8]
    assert config.total_episodes == 40 and config.total_steps is None
    assert config.num_envs == ENV_DEFAULTS["CartPole-v1"]["num_envs"]
    assert train_config("CartPole-v1", hidden=32).hidden == [32]


def test_train_and_evaluate_share_one_evaluation_cap(tmp_path) -> None:
    # trained on 40-step episodes, scored on whole ones, by train and by evaluate alike
    run = hubpg.train("CartPole-v1", out=tmp_path / "a", max_t=40, eval_episodes=3, **TINY)
    assert run.evaluation.max_t == 500 == hubpg.evaluate(run.run_dir, episodes=3).max_t
    capped = hubpg.train("CartPole-v1", out=tmp_path / "b", eval_max_t=60, eval_episodes=3, **TINY)
    assert capped.evaluation.max_t == 60 == hubpg.evaluate(capped, episodes=3).max_t
    assert max(capped.evaluation.episode_lengths) <= 60
    assert hubpg.evaluate(capped, episodes=3, max_t=20).max_t == 20


def test_progress_bars_show_by_default_and_progress_false_silences(tmp_path, capsys) -> None:
    options = {k: v for k, v in TINY.items() if k != "progress"}
    hubpg.train("CartPole-v1", out=tmp_path / "quiet", eval_episodes=0, progress=False, **options)
    assert capsys.readouterr().err == ""
    hubpg.train("CartPole-v1", out=tmp_path / "loud", eval_episodes=0, **options)
    assert "train CartPole-v1" in capsys.readouterr().err


def test_the_training_view_shows_the_score_and_the_learning_curve(tmp_path) -> None:
    run = hubpg.train("CartPole-v1", out=tmp_path / "run", eval_episodes=3, **TINY)
    page = run._repr_html_()
    assert run.score in page and '<img alt="learning curve" src="data:image/png;base64,' in page
    assert run.learning_curve_png().startswith(b"\x89PNG")


# --------------------------------------------------------------------------- evaluate / package


def test_evaluate_takes_a_folder_a_policy_or_a_result(cartpole_run) -> None:
    from hubpg.policy import Policy

    by_path = hubpg.evaluate(cartpole_run, episodes=10, seed=3)
    by_policy = hubpg.evaluate(Policy.load(cartpole_run), episodes=10, seed=3)
    assert by_path.episode_returns == by_policy.episode_returns
    assert by_path.seeds == list(range(3, 13)) and by_path.summary() == "500.00 +/- 0.00"
    text = repr(hubpg.evaluate(cartpole_run, episodes=100))
    assert short(text) and "500.00 +/- 0.00" in text and "500.0, 500.0" not in text
    assert "500.00 +/- 0.00" in by_path._repr_html_()


@pytest.fixture(scope="module")
def packaged(cartpole_run, tmp_path_factory):
    return hubpg.package(
        cartpole_run,
        out=tmp_path_factory.mktemp("pkg") / "hub",
        episodes=10,
        repo_name="alice/api-cartpole",
    )


def test_a_package_shows_its_score_claim_check_and_replay(packaged) -> None:
    assert packaged.evaluation.summary() == "500.00 +/- 0.00"
    assert packaged.claim_supported is True and packaged.claimed["mean_reward"] == 500.0
    assert packaged.video == packaged.package_dir / "replay.mp4"
    text = repr(packaged)
    assert short(text) and "500.00 +/- 0.00" in text and "claim supported" in text
    page = packaged._repr_html_()
    assert "500.00 +/- 0.00" in page and "claim supported" in page
    assert '<video controls loop muted width="320" src="data:video/mp4;base64,' in page
    assert json.loads(json.dumps(packaged.to_dict()))["n_episodes"] == 10


def test_package_options_are_keyword_only(cartpole_run, tmp_path) -> None:
    with pytest.raises(TypeError):
        hubpg.package(cartpole_run, tmp_path / "x")  # type: ignore[misc]
    with pytest.raises(TypeError):
        hubpg.package(cartpole_run, no_video=True)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- the Hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


def test_push_load_and_eval_and_leaderboard_round_trip(hub, packaged, tmp_path) -> None:
    repo = "alice/api-cartpole"
    pushed = hubpg.push(packaged, repo=repo, endpoint=hub.url, token=ALICE)
    assert pushed.url == f"{hub.url}/{repo}" and len(pushed.commit_sha) == 40
    assert short(repr(pushed)) and repo in repr(pushed) and ALICE not in repr(pushed)
    verified = hubpg.load_and_eval(
        repo, endpoint=hub.url, episodes=10, video=tmp_path / "replay.mp4"
    )
    assert verified.claim_supported is True and verified.revision == pushed.commit_sha
    assert short(repr(verified)) and "500.00 +/- 0.00" in repr(verified)
    page = verified._repr_html_()
    assert "500.00 +/- 0.00" in page and "<video" in page and "claim supported" in page
    assert verified.to_dict()["claimed"]["mean_reward"] == 500.0
    board = hubpg.leaderboard("CartPole-v1", endpoint=hub.url, progress=False)
    assert [row["repo_id"] for row in board.ranked] == [repo]
    assert short(repr(board)) and "1 ranked" in repr(board) and repo in board._repr_html_()


def test_push_uses_the_stored_login(hub, packaged, tmp_path, monkeypatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(ALICE)  # what huggingface_hub.notebook_login() / hf auth login store
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(token_file))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    pushed = hubpg.push(packaged, repo="alice/api-stored-login", endpoint=hub.url)
    assert pushed.repo_id == "alice/api-stored-login"


@pytest.mark.parametrize("bars_before", [True, False])
def test_progress_means_the_same_on_every_call(
    hub, packaged, tmp_path, capfd, monkeypatch, bars_before
):
    """Issue 29.7: package, push, load_and_eval, load and leaderboard take ``progress=``
    (train always did); ``False`` prints no bar and huggingface_hub's bar setting is as
    it was afterwards, whatever it was. (The setting is the test's to choose: the
    environment variable tests/localhub sets for the session would override it.)"""
    import importlib

    bars = importlib.import_module("huggingface_hub.utils.tqdm")  # the module, not the class
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    (enable_progress_bars if bars_before else disable_progress_bars)()
    try:
        repo = f"alice/api-progress-{bars_before}"
        calls = [
            lambda: hubpg.package(packaged, out=tmp_path / "again", episodes=3, progress=False),
            lambda: hubpg.push(packaged, repo=repo, endpoint=hub.url, token=ALICE, progress=False),
            lambda: hubpg.load_and_eval(repo, endpoint=hub.url, episodes=3, progress=False),
            lambda: hubpg.load(repo, endpoint=hub.url, progress=False),
            lambda: hubpg.leaderboard(
                "CartPole-v1", endpoint=hub.url, verify=True, workers=1, episodes=3, progress=False
            ),
        ]
        for call in calls:
            capfd.readouterr()
            call()
            assert capfd.readouterr().err == ""
            assert are_progress_bars_disabled() is not bars_before, calls.index(call)
    finally:
        enable_progress_bars()


def test_views_escape_what_came_from_outside() -> None:
    hostile = "<script>alert(1)</script>"
    row = {
        "rank": 1,
        "repo_id": f"eve/{hostile}",
        "claimed_mean": 1.0,
        "claimed_std": 0.0,
        "claimed_score": 1.0,
    }
    apart = {"rank": None, "repo_id": "eve/x", "problem": hostile}
    page = Leaderboard("CartPole-v1", [row, apart], False, "http://127.0.0.1:1")._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    report = {
        "repo_id": hostile,
        "revision": "a" * 40,
        "env_id": "CartPole-v1",
        "mean_reward": 1.0,
        "std_reward": 0.0,
        "n_episodes": 1,
        "episode_returns": [1.0],
        "episode_lengths": [1],
        "seeds": [0],
        "deterministic": False,
        "max_t": 500,
        "claimed": None,
        "claim_supported": None,
    }
    assert "<script>" not in Verified.of(report)._repr_html_()


# --------------------------------------------------------------------------- the package itself


def test_import_hubpg_is_light_and_lists_the_public_api() -> None:
    code = (
        "import sys, hubpg; assert 'torch' not in sys.modules; "
        "print(','.join(n for n in dir(hubpg) if not n.startswith('_')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = set(proc.stdout.strip().split(","))
    wanted = {"train", "evaluate", "package", "push", "load_and_eval", "leaderboard", "load"}
    assert wanted <= names and "annotations" not in names and "Any" not in names


@pytest.mark.parametrize(
    "name", ["train", "evaluate", "package", "push", "load_and_eval", "leaderboard"]
)
def test_each_public_function_documents_its_arguments_with_an_example(name) -> None:
    func = getattr(hubpg, name)
    doc = inspect.getdoc(func) or ""
    assert "Args:" in doc and "Example:" in doc and ">>> " in doc
    params = inspect.signature(func).parameters.values()
    options = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert options, name
    for p in options:
        assert f"{p.name}:" in doc, f"{name}: {p.name} undocumented"


def test_the_cli_train_is_a_skin_over_the_library(tmp_path) -> None:
    from cli_runner import run_cli

    args = ["--total-steps", "3000", "--num-envs", "8", "--eval-episodes", "4", "--seed", "5"]
    proc = run_cli("train", "CartPole-v1", *args, "--out", str(tmp_path / "cli"), "--json")
    assert proc.returncode == 0, proc.stderr
    run = hubpg.train("CartPole-v1", out=tmp_path / "lib", eval_episodes=4, seed=5, **TINY)
    cli = json.loads(proc.stdout)
    from hubpg.runfolder import clean_numbers  # --json drops float noise

    assert cli["steps"] == run.steps
    assert cli["evaluation"] == clean_numbers(run.evaluation.to_dict())
    from safetensors.numpy import load_file

    by_cli = load_file(tmp_path / "cli" / "model.safetensors")
    by_lib = load_file(tmp_path / "lib" / "model.safetensors")
    assert by_cli.keys() == by_lib.keys()
    assert all((by_cli[k] == by_lib[k]).all() for k in by_cli)
