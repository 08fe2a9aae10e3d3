from __future__ import annotations

import json
import shutil

import imageio.v2 as iio
import pytest
from cli_runner import run_cli
from huggingface_hub import ModelCard

from hubpg.errors import PickleRefusedError, RepoIdError
from hubpg.packaging import assert_no_pickle, package


@pytest.fixture(scope="module")
def packaged(cartpole_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "hub"
    return package(cartpole_run, out, episodes=100, seed=0)


def test_package_holds_exactly_what_the_hub_gets(packaged) -> None:
    assert packaged.files == [
        "README.md",
        "agent.pt",
        "config.json",
        "hyperparameters.json",
        "learning_curve.png",
        "model.safetensors",
        "replay.mp4",
        "results.json",
    ]
    assert not [p for p in packaged.package_dir.parent.iterdir() if p.name.startswith(".")]
    assert set(packaged.timings) >= {"evaluation", "video", "card", "total"}


def test_results_json_records_how_the_score_was_measured(packaged) -> None:
    results = json.loads((packaged.package_dir / "results.json").read_text())
    assert results["env_id"] == "CartPole-v1"
    assert results["mean_reward"] == packaged.evaluation.mean_reward == 500.0
    assert results["n_evaluation_episodes"] == 100 and results["seeds"] == list(range(100))
    assert len(results["episode_returns"]) == len(results["episode_lengths"]) == 100
    assert results["deterministic"] is False
    assert results["eval_datetime"].endswith("+00:00")
    for key in ("hubpg_version", "torch_version", "gymnasium_version"):
        assert results[key]
    hyper = json.loads((packaged.package_dir / "hyperparameters.json").read_text())
    assert hyper["n_evaluation_episodes"] == 100 and hyper["env_id"] == "CartPole-v1"


def test_card_parses_back_with_the_same_score_and_only_its_own_env(packaged) -> None:
    card = ModelCard.load(packaged.package_dir / "README.md")
    results = json.loads((packaged.package_dir / "results.json").read_text())
    value = card.data.eval_results[0].metric_value
    assert value == f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    assert card.data.eval_results[0].dataset_type == "CartPole-v1"
    assert "CartPole-v1" in card.data.tags and "reinforce" in card.data.tags
    assert "Pixelcopter-PLE-v0" not in card.data.tags
    assert card.data.library_name == "hubpg"
    assert "replay.mp4" in card.text and "learning_curve.png" in card.text
    assert "hubpg load-and-eval" in card.text


def test_video_decodes_with_the_expected_frames_and_size(packaged) -> None:
    results = json.loads((packaged.package_dir / "results.json").read_text())
    reader = iio.get_reader(packaged.package_dir / "replay.mp4", format="FFMPEG")
    frames = [frame for frame in reader]
    meta = reader.get_meta_data()
    reader.close()
    assert len(frames) == results["episode_lengths"][0] + 1  # the reset frame, then one per step
    assert frames[0].shape == (400, 608, 3)
    assert min(frames[0].shape[:2]) >= 256
    assert meta["codec"] == "h264"


def test_package_contains_no_pickle(packaged) -> None:
    from hubpg.sniff import is_pickle, is_safetensors

    assert_no_pickle(packaged.package_dir)
    assert is_safetensors(packaged.package_dir / "model.safetensors")
    assert not [p.name for p in packaged.package_dir.iterdir() if is_pickle(p)]
    (packaged.package_dir / "model.pt").write_bytes(b"x")
    try:
        with pytest.raises(PickleRefusedError):
            assert_no_pickle(packaged.package_dir)
    finally:
        (packaged.package_dir / "model.pt").unlink()


def _broken_run(cartpole_run, tmp_path, kind: str):
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    weights = run / "model.safetensors"
    if kind == "missing":
        weights.unlink()
    elif kind == "corrupt":
        weights.write_bytes(weights.read_bytes()[:100])
    elif kind == "mismatch":
        config = json.loads((run / "config.json").read_text())
        config["hidden"] = [32]
        (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "model.safetensors not found"),
        ("corrupt", "not a valid safetensors file"),
        ("mismatch", "does not match its config.json"),
    ],
)
def test_broken_weights_fail_with_one_line_and_leave_no_folder(
    cartpole_run, tmp_path, kind, message
) -> None:
    run = _broken_run(cartpole_run, tmp_path, kind)
    proc = run_cli("package", str(run), "--out", str(tmp_path / "pkg"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("error: ") and message in lines[-1] and "Traceback" not in proc.stderr
    )
    assert not (tmp_path / "pkg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_failing_recording_stops_packaging_and_leaves_nothing(cartpole_run, tmp_path) -> None:
    proc = run_cli(
        "package",
        str(cartpole_run),
        "--out",
        str(tmp_path / "pkg"),
        "--episodes",
        "5",
        env={"IMAGEIO_FFMPEG_EXE": "/bin/false"},
    )
    assert proc.returncode == 1, proc.stderr
    assert "--no-video" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_frame_rate_is_refused_before_any_work(cartpole_run, tmp_path) -> None:
    proc = run_cli(
        "package", str(cartpole_run), "--out", str(tmp_path / "pkg"), "--video-fps", "-3"
    )
    assert proc.returncode == 2 and "--video-fps" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_package_without_video_and_existing_folder(cartpole_run, tmp_path) -> None:
    out = tmp_path / "pkg"
    proc = run_cli(
        "package",
        str(cartpole_run),
        "--out",
        str(out),
        "--no-video",
        "--episodes",
        "10",
        "--repo-name",
        "alice/Reinforce-CartPole-v1",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "replay.mp4" not in report["files"] and report["n_episodes"] == 10
    card = (out / "README.md").read_text()
    assert "alice/Reinforce-CartPole-v1" in card and "replay.mp4" not in card
    proc = run_cli("package", str(cartpole_run), "--out", str(out), "--no-video")
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    proc = run_cli(
        "package",
        str(cartpole_run),
        "--out",
        str(out),
        "--no-video",
        "--overwrite",
        "--episodes",
        "3",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "results.json").read_text())["n_evaluation_episodes"] == 3


def test_library_functions_stay_callable_after_their_modules_load() -> None:
    import inspect

    import hubpg
    import hubpg.packaging  # noqa: F401  (binds the submodule on the package)

    for name in ("package", "train", "evaluate", "load", "push", "leaderboard"):
        value = getattr(hubpg, name)
        assert inspect.isfunction(value) and value.__name__ == name, (name, value)


@pytest.mark.parametrize("name", ["Reinforce-CartPole-v1", "", "a/b/c"])
def test_a_repo_name_without_namespace_is_a_clear_error(cartpole_run, tmp_path, name) -> None:
    out = tmp_path / "hub"
    with pytest.raises(RepoIdError, match="NAMESPACE/NAME"):
        package(cartpole_run, out, episodes=2, video=False, repo_id=name)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_package_refuses_a_bare_repo_name(cartpole_run, tmp_path) -> None:
    out = tmp_path / "hub"
    args = ["package", str(cartpole_run), "--out", str(out), "--no-video", "--episodes", "2"]
    proc = run_cli(*args, "--repo-name", "Reinforce-CartPole-v1")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --repo-name 'Reinforce-CartPole-v1' has no namespace")
    assert "your-name/Reinforce-CartPole-v1" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_results_and_card_say_how_training_ended(packaged) -> None:
    results = json.loads((packaged.package_dir / "results.json").read_text())
    training = results["training"]
    assert training["stopped_on"] == "target_return" and training["steps"] > 0
    card = (packaged.package_dir / "README.md").read_text()
    assert f"Trained for {training['steps']:,} env steps (stopped on target_return)" in card


def test_a_run_cut_by_its_time_limit_says_so_on_the_card(tmp_path) -> None:
    from hubpg.config import TrainConfig
    from hubpg.reinforce import train

    run = tmp_path / "run"
    config = TrainConfig.for_env(
        "CartPole-v1", total_steps=10**9, time_limit=0.5, target_return=1e9, eval_episodes=0
    )
    train(config, run, progress=False)
    assert json.loads((run / "trainer_state.json").read_text())["stopped_on"] == "time_limit"
    card = package(run, tmp_path / "hub", episodes=2, video=False).package_dir / "README.md"
    assert "Training stopped on its time limit (--time-limit)" in card.read_text()


def test_agent_pt_is_torchscript_not_refused_as_a_pickle_and_skipped_for_frame_stacks(
    packaged, tmp_path
) -> None:
    from hubpg.agent import agent_line, agent_unsupported
    from hubpg.config import PolicyConfig
    from hubpg.sniff import is_pickle, is_torchscript_archive

    agent = packaged.package_dir / "agent.pt"
    assert is_torchscript_archive(agent) and not is_pickle(agent)
    renamed = tmp_path / "other.pt"  # only hubpg's agent.pt is let through
    renamed.write_bytes(agent.read_bytes())
    assert is_pickle(renamed)
    assert "sampled actions" in agent_line(packaged.package_dir)
    stacked = PolicyConfig("Pixelcopter-PLE-v0", 7, 2, frame_stack=4, frame_stride=2)
    assert "last 4 frames" in (agent_unsupported(stacked) or "")
