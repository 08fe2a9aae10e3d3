"""Course checkpoints (torch.save pickles) read without running them: hubpg.legacy,
`hubpg convert`, `load-and-eval --legacy`, `leaderboard --verify --legacy`.

The fixtures are written by tests/course_checkpoints.py, run as a script so its
classes live in ``__main__`` as a notebook's do: the course's own Policy classes
saved with torch.save, plus hostile files whose payload would touch a marker file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from hubpg.errors import ConfigError, LegacyCheckpointError, PickleRefusedError
from hubpg.legacy import (
    LEGACY_NAME,
    StandIn,
    check_torch_version,
    convert,
    load_checkpoint,
    read_checkpoint,
    scan_checkpoint,
)

HELPER = Path(__file__).with_name("course_checkpoints.py")
CARTPOLE, PIXELCOPTER = "CartPole-v1", "Pixelcopter-PLE-v0"
READABLE = {
    "cartpole": CARTPOLE,
    "pixelcopter": PIXELCOPTER,
    "sequential": CARTPOLE,
    "seq_attr": CARTPOLE,
    "state_dict": PIXELCOPTER,
    "old_state_dict": CARTPOLE,
    "cuda": CARTPOLE,
}
ALICE = "hf_local_alice"


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course's checkpoints, written by the course's classes in a ``__main__``."""
    out = tmp_path_factory.mktemp("course")
    marker = out.parent / f"{out.name}-PAYLOAD-RAN"
    proc = subprocess.run(
        [sys.executable, str(HELPER), str(out / "files"), str(marker)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    return out / "files"


def marker_of(course: Path) -> Path:
    return course.parent.parent / f"{course.parent.name}-PAYLOAD-RAN"


def expected(course: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    from safetensors.numpy import load_file

    data = load_file(str(course / f"{name}.expected.safetensors"))
    return data["obs"], data["probs"]


# --------------------------------------------------------------------------- reading


def test_the_course_pickle_names_the_notebook_globals(course) -> None:
    scan = scan_checkpoint(course / "cartpole.pt")
    assert scan.globals == ["__main__.Policy", "torch.nn.modules.linear.Linear"]
    assert scan.format == "zip" and scan.kind == "whole-module"
    assert scan_checkpoint(course / "Pixelcopter.pth").kind == "state-dict"


def test_a_course_model_loads_into_inert_stand_ins(course) -> None:
    obj = load_checkpoint(scan_checkpoint(course / "cartpole.pt"))
    assert isinstance(obj, StandIn) and type(obj).pickled_name == "__main__.Policy"
    assert list(vars(obj)["_modules"]) == ["fc1", "fc2"]
    assert set(vars(vars(obj)["_modules"]["fc1"])["_parameters"]) == {"weight", "bias"}
    assert [k for k in vars(StandIn) if not k.startswith("__")] == ["pickled_name", "kind"]
    assert not hasattr(StandIn, "__setstate__") and "__init__" not in vars(StandIn)


@pytest.mark.parametrize("name", sorted(READABLE))
def test_rebuilt_policy_gives_the_original_classes_probabilities(course, name) -> None:
    model = read_checkpoint(course / f"{name}.pt", env_id=READABLE[name])
    obs, probs = expected(course, name)
    np.testing.assert_allclose(model.policy.probs_numpy(obs), probs, rtol=1e-5, atol=1e-6)
    assert type(model.policy).__name__ == "Policy" and model.config.env_id == READABLE[name]


@pytest.mark.parametrize("name", ["cartpole", "pixelcopter", "seq_attr", "state_dict"])
def test_deterministic_evaluation_equals_the_original_episode_by_episode(course, name) -> None:
    from hubpg.evaluation import evaluate

    played = json.loads((course / f"{name}.episodes.json").read_text())
    model = read_checkpoint(course / f"{name}.pt", env_id=played["env_id"])
    result = evaluate(
        model.policy,
        episodes=len(played["returns"]),
        seed=0,
        deterministic=True,
        max_t=played["max_t"],
    )
    assert result.episode_returns == played["returns"]
    assert len(set(played["returns"])) > 1  # the episodes differ: a real comparison


def test_what_was_assumed_is_said(course) -> None:
    course_class = read_checkpoint(course / "pixelcopter.pt", env_id=PIXELCOPTER)
    assert course_class.config.hidden == [64, 128] and course_class.config.activation == "relu"
    assert any(
        "forward of __main__.Policy" in a and "fc1 -> fc2 -> fc3" in a for a in course_class.assumed
    )
    state_dict = read_checkpoint(course / "state_dict.pt", env_id=PIXELCOPTER)
    assert any("state dict" in a for a in state_dict.assumed)
    exact = read_checkpoint(course / "sequential.pt", env_id=CARTPOLE)
    assert exact.assumed == [] and "softmax at the end" in exact.architecture.layers[0]
    tanh = read_checkpoint(course / "seq_attr.pt", env_id=CARTPOLE)
    assert tanh.config.activation == "tanh" and tanh.config.hidden == [16, 16]
    assert any("one Sequential, net" in a for a in tanh.assumed)


def test_gpu_tags_load_on_the_cpu(course) -> None:
    with zipfile.ZipFile(course / "cuda.pt") as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"cuda:0" in pickled and b"cpu" not in pickled  # as Colab with a GPU saves it
    model = read_checkpoint(course / "cuda.pt", env_id=CARTPOLE)
    assert next(model.policy.parameters()).device.type == "cpu"


def test_env_sizes_must_match(course) -> None:
    with pytest.raises(LegacyCheckpointError, match="takes 4 observations.*has 7"):
        read_checkpoint(course / "cartpole.pt", env_id=PIXELCOPTER)


def test_the_size_cap_is_checked_before_reading(course) -> None:
    with pytest.raises(LegacyCheckpointError, match="over the 100-byte cap"):
        scan_checkpoint(course / "cartpole.pt", max_bytes=100)


def test_an_old_torch_is_refused() -> None:
    with pytest.raises(LegacyCheckpointError, match=">= 2.10"):
        check_torch_version("2.5.1")
    check_torch_version("2.10.0")


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("evil_system.pt", "needs the global posix.system"),
        ("evil_attribute.pt", "needs the global builtins.exec"),
        ("unknown_class.pt", "needs the global argparse.Namespace"),
        ("conv.pt", "needs the global torch.nn.modules.conv.Conv1d"),
        ("old_module.pt", "pre-1.6 format, which embeds the class's source code"),
        ("huge_view.pt", "claims more elements than it stores"),
        ("int_weights.pt", "dtype torch.int64, not a float type"),
        ("cyclic.pt", "used twice in the network"),
        ("fan_out.pt", "used twice in the network"),
        ("torchscript.pt", "TorchScript archive, which holds code"),
        ("leaky.pt", "LeakyReLU, which hubpg's policy does not have"),
    ],
)
def test_hostile_or_unreadable_files_are_refused_and_nothing_runs(course, name, message) -> None:
    with pytest.raises(LegacyCheckpointError, match=message):
        read_checkpoint(course / name, env_id=CARTPOLE)
    assert not marker_of(course).exists()


def test_the_hostile_fixtures_are_live(course, tmp_path) -> None:
    """The payloads are real: torch's full unpickler (never used by hubpg) runs them."""
    marker = tmp_path / "ran"
    subprocess.run(
        [sys.executable, str(HELPER), str(tmp_path / "again"), str(marker)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = f"import torch; torch.load({str(tmp_path / 'again' / 'evil_system.pt')!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert marker.exists()


def test_compressed_zip_records_are_refused(course, tmp_path) -> None:
    source = zipfile.ZipFile(course / "cartpole.pt")
    packed = tmp_path / "deflated.pt"
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info.filename))
    with pytest.raises(LegacyCheckpointError, match="compressed records"):
        scan_checkpoint(packed)


def test_not_a_checkpoint_is_refused(tmp_path) -> None:
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"hello, this is not a pickle")
    with pytest.raises(
        LegacyCheckpointError, match="not a pickle torch's weights-only loader reads"
    ):
        scan_checkpoint(junk)


def test_convert_cli_refuses_in_one_line(course, tmp_path) -> None:
    proc = run_cli(
        "convert",
        str(course / "evil_attribute.pt"),
        "--out",
        str(tmp_path / "o"),
        "--env-id",
        CARTPOLE,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "builtins.exec" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker_of(course).exists() and not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- convert


def test_convert_writes_a_folder_hubpg_evaluates(course, tmp_path) -> None:
    repo = course / "repo-CartPole-v1"
    out = tmp_path / "converted"
    proc = run_cli("convert", str(repo / "model.pt"), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["env_id"] == CARTPOLE and report["kind"] == "whole-module"
    assert sorted(report["files"]) == sorted(
        ["config.json", "hyperparameters.json", "legacy.json", "model.safetensors", "results.json"]
    )
    legacy = json.loads((out / LEGACY_NAME).read_text())
    import hashlib

    assert legacy["sha256"] == hashlib.sha256((repo / "model.pt").read_bytes()).hexdigest()
    assert legacy["source_file"] == "model.pt" and legacy["assumed"]
    assert json.loads((out / "hyperparameters.json").read_text())["h_size"] == 16
    for path in out.iterdir():
        assert not path.read_bytes().startswith(b"\x80") and path.suffix not in (".pt", ".pth")
    evaluated = run_cli("evaluate", str(out), "--episodes", "5", "--deterministic", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    played = json.loads((course / "cartpole.episodes.json").read_text())
    assert json.loads(evaluated.stdout)["episode_returns"] == played["returns"]
    packaged = run_cli(
        "package", str(out), "--out", str(tmp_path / "pkg"), "--episodes", "3", "--no-video"
    )
    assert packaged.returncode == 0, packaged.stderr
    card = (tmp_path / "pkg" / "README.md").read_text()
    shipped = json.loads((tmp_path / "pkg" / LEGACY_NAME).read_text())
    assert shipped == legacy  # the package keeps where the model came from, and says so
    assert "from the course checkpoint `model.pt`" in card
    assert f"sha256 `{legacy['sha256'][:16]}`" in card and "Assumed by the conversion" in card
    again = run_cli("convert", str(repo / "model.pt"), "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (
        run_cli("convert", str(repo / "model.pt"), "--out", str(out), "--overwrite").returncode == 0
    )


def test_convert_without_an_env_asks_for_env_id(course, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--env-id"):
        convert(course / "pixelcopter.pt", out=tmp_path / "o")
    result = convert(course / "pixelcopter.pt", out=tmp_path / "o", env_id=PIXELCOPTER)
    assert result.model.config.hidden == [64, 128]


# --------------------------------------------------------------------------- the Hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    import huggingface_hub.constants

    from hubpg.localhub.testing import running_hub

    huggingface_hub.constants.HF_HUB_DISABLE_XET = True
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


@pytest.fixture(scope="module")
def course_repos(hub, course) -> dict[str, str]:
    """A course CartPole repo as push_to_hub makes it, and one with a hostile model.pt."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=ALICE)
    repo = course / "repo-CartPole-v1"
    api.create_repo("alice/Reinforce-CartPole-v1-course")
    good = api.upload_folder(repo_id="alice/Reinforce-CartPole-v1-course", folder_path=str(repo))
    api.create_repo("alice/Reinforce-CartPole-v1-hostile")
    api.upload_folder(
        repo_id="alice/Reinforce-CartPole-v1-hostile",
        folder_path=str(repo),
        ignore_patterns=["model.pt"],
    )
    api.upload_file(
        path_or_fileobj=str(course / "evil_attribute.pt"),
        path_in_repo="model.pt",
        repo_id="alice/Reinforce-CartPole-v1-hostile",
    )
    return {
        "good": "alice/Reinforce-CartPole-v1-course",
        "commit": good.oid,
        "hostile": "alice/Reinforce-CartPole-v1-hostile",
    }


def test_load_and_eval_refuses_a_pickle_and_names_legacy(hub, course_repos) -> None:
    proc = run_cli("load-and-eval", "--repo", course_repos["good"], "--endpoint", hub.url)
    assert proc.returncode == 2 and "--legacy" in proc.stderr and "never" in proc.stderr
    from hubpg.api import load

    with pytest.raises(PickleRefusedError, match="--legacy"):
        load(course_repos["good"], endpoint=hub.url)


def test_load_and_eval_legacy_reads_the_course_repo(hub, course, course_repos) -> None:
    proc = run_cli(
        "load-and-eval",
        "--repo",
        course_repos["good"],
        "--endpoint",
        hub.url,
        "--legacy",
        "--episodes",
        "5",
        "--deterministic",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    played = json.loads((course / "cartpole.episodes.json").read_text())
    assert report["episode_returns"] == played["returns"]
    assert report["legacy"]["source_file"] == "model.pt"
    assert report["legacy"]["revision"] == course_repos["commit"]
    assert any("forward of __main__.Policy" in a for a in report["legacy"]["assumed"])
    assert report["claimed"]["mean_reward"] == 500.0 and report["claim_supported"] is False
    import hubpg

    policy, config = hubpg.load(course_repos["good"], endpoint=hub.url, legacy=True)
    assert config.env_id == CARTPOLE and config.hidden == [16]


def test_convert_repo_records_repo_and_commit(hub, course_repos, tmp_path) -> None:
    proc = run_cli(
        "convert",
        "--repo",
        course_repos["good"],
        "--endpoint",
        hub.url,
        "--out",
        str(tmp_path / "c"),
    )
    assert proc.returncode == 0, proc.stderr
    legacy = json.loads((tmp_path / "c" / LEGACY_NAME).read_text())
    assert (
        legacy["repo_id"] == course_repos["good"] and legacy["revision"] == course_repos["commit"]
    )


def test_load_and_eval_legacy_refuses_the_hostile_repo_in_one_line(
    hub, course, course_repos
) -> None:
    proc = run_cli(
        "load-and-eval", "--repo", course_repos["hostile"], "--endpoint", hub.url, "--legacy"
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "builtins.exec" in proc.stderr and "nothing ran" in proc.stderr
    assert not marker_of(course).exists()


def test_the_size_cap_applies_before_downloading(hub, course_repos, tmp_path) -> None:
    with pytest.raises(LegacyCheckpointError, match="model.pt is .* over the 100-byte cap"):
        convert(repo_id=course_repos["good"], out=tmp_path / "c", endpoint=hub.url, max_bytes=100)


def test_leaderboard_verifies_course_repos_and_sets_the_hostile_apart(
    hub, course, course_repos
) -> None:
    from hubpg.ranking import leaderboard

    rows = leaderboard(CARTPOLE, endpoint=hub.url, verify=True, episodes=5, workers=1, legacy=True)
    by_repo = {row["repo_id"]: row for row in rows}
    good, hostile = by_repo[course_repos["good"]], by_repo[course_repos["hostile"]]
    assert good["rank"] == 1 and good["measured_n_episodes"] == 5
    assert good["measured_mean"] < 500.0 and good["claim_supported"] is False
    assert hostile["rank"] is None and "builtins.exec" in hostile["problem"]
    assert hostile["problem"].startswith("refused course checkpoint")
    assert not marker_of(course).exists()
    without = leaderboard(CARTPOLE, endpoint=hub.url, verify=True, episodes=5, workers=1)
    assert all(row["problem"] == "not verifiable: pickle" for row in without)


@pytest.mark.slow
def test_bench_legacy_runs_in_tiny_mode() -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_legacy.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--episodes", "2", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "legacy / safetensors" in proc.stdout
