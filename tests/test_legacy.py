"""Course checkpoints (torch.save pickles) read without running them: hubpg.legacy,
`hubpg convert`, `load-and-eval --legacy`, `leaderboard --verify --legacy`.

The fixtures are written by tests/course_checkpoints.py, run as a script so its
classes live in ``__main__`` as a notebook's do: the course's own Policy classes
saved with torch.save, plus hostile files whose payload would touch a marker file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from hubpg.errors import (
    ConfigError,
    LegacyCheckpointError,
    LegacyReaderError,
    PickleRefusedError,
)
from hubpg.hub import HubTarget
from hubpg.legacy import (
    LEGACY_NAME,
    CheckpointScan,
    StandIn,
    check_torch_version,
    convert,
    load_checkpoint,
    read_checkpoint,
    scan_checkpoint,
)
from hubpg.verify import fetch

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


# --------------------------------------------------------------------------- students' variants
# Classes imported from the students' own modules (tests/course_checkpoints.py writes
# lib/reinforce.py, policy.py and the package mypkg/ and saves their modules).

STUDENTS = {
    "student_lib": (CARTPOLE, "lib.reinforce.Policy", "ReLU (the course's) between"),
    "student_dropout": (PIXELCOPTER, "policy.Policy", "dropout (Dropout, Identity) the identity"),
    "student_pkg": (CARTPOLE, "mypkg.nets.Policy", "applies its one Sequential, layers"),
}


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_a_students_own_module_plays_what_its_forward_plays(course, name) -> None:
    from hubpg.evaluation import evaluate

    env_id, cls, assumed = STUDENTS[name]
    model = read_checkpoint(course / f"{name}.pt", env_id=env_id)
    assert cls in model.scan.globals and any(cls in a and assumed in a for a in model.assumed)
    obs, probs = expected(course, name)
    np.testing.assert_allclose(model.policy.probs_numpy(obs), probs, rtol=1e-5, atol=1e-6)
    played = json.loads((course / f"{name}.episodes.json").read_text())
    result = evaluate(
        model.policy,
        episodes=len(played["returns"]),
        seed=0,
        deterministic=True,
        max_t=played["max_t"],
    )
    assert result.episode_returns == played["returns"] and len(set(played["returns"])) > 1


def test_a_state_dict_saved_as_model_pt_converts(course, tmp_path) -> None:
    out = tmp_path / "converted"
    proc = run_cli("convert", str(course / "student-state-dict" / "model.pt"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    evaluated = run_cli("evaluate", str(out), "--episodes", "5", "--deterministic", "--json")
    played = json.loads((course / "student_lib.episodes.json").read_text())
    assert json.loads(evaluated.stdout)["episode_returns"] == played["returns"]
    assert "state dict" in " ".join(json.loads((out / LEGACY_NAME).read_text())["assumed"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("student_two_activations.pt", "several activations (ReLU, Tanh)"),
        ("student_layernorm.pt", "needs the global torch.nn.modules.normalization.LayerNorm"),
        ("student_nested.pt", "'body' (mypkg.nets.Body), whose place in its forward hubpg"),
        ("class_value.pt", "uses the class lib.reinforce.Policy as a value"),
        ("not_a_module_state.pt", "a state without _modules and _parameters"),
        ("stateless_module.pt", "creates a lib.reinforce.Policy without giving it a module's"),
        ("called_class.pt", "creates __main__.Policy with arguments"),
        ("stdlib_class.pt", "needs the global subprocess.Popen"),
    ],
)
def test_what_hubpg_cannot_place_or_trust_stays_one_refusal(course, name, message) -> None:
    """The steps read_checkpoint's reading process takes, here in-process (the process
    itself is tested above)."""
    from hubpg.legacy import rebuild

    with pytest.raises(LegacyCheckpointError, match=re.escape(message)):
        rebuild(load_checkpoint(scan_checkpoint(course / name)), source=name)
    assert not marker_of(course).exists()


def test_a_students_live_module_from_their_own_module(course, monkeypatch) -> None:
    import importlib

    import torch

    from hubpg.legacy import read_module

    monkeypatch.syspath_prepend(str(course / "student-src"))
    nets = importlib.import_module("mypkg.nets")
    module = nets.Policy(4, 2, 8).eval()
    model = read_module(module, env_id=CARTPOLE)
    x = torch.randn(16, 4)
    with torch.no_grad():
        np.testing.assert_allclose(
            model.policy.probs_numpy(x.numpy()), module(x).numpy(), rtol=1e-5, atol=1e-6
        )
    assert model.module_class == "mypkg.nets.Policy"
    with pytest.raises(LegacyCheckpointError, match="'body' .*whose place in its forward"):
        read_module(nets.Nested(), env_id=CARTPOLE)


# --------------------------------------------------------------------------- crafted pickles
# Issue 28's reproductions, each run as a user runs it under a hard outer timeout
# and an address-space ceiling (inherited by every process the command starts):
# a regression fails here, it cannot hang CI or exhaust the machine.

BOUNDED_TIMEOUT_S = 120
BOUNDED_MEMORY_MIB = 2048  # the reader's interpreter and torch take about 650 MiB of it
_BOUNDED = """
import json, resource, subprocess, sys
ceiling = int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
try:
    proc = subprocess.run(sys.argv[3:], capture_output=True, text=True, timeout=float(sys.argv[2]))
    rc, err = proc.returncode, proc.stderr
except subprocess.TimeoutExpired:
    rc, err = "timed out", ""
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": rc, "stderr": err, "max_rss_mib": rss}))
"""


def run_bounded(*args: str) -> dict:
    """``hubpg ARGS`` under the ceiling and the timeout: its exit code, stderr, and
    the largest resident size any of its processes reached (MiB)."""
    proc = subprocess.run(
        [sys.executable, "-c", _BOUNDED, str(BOUNDED_MEMORY_MIB), str(BOUNDED_TIMEOUT_S)]
        + [sys.executable, "-m", "hubpg.cli", *args],
        capture_output=True,
        text=True,
        timeout=BOUNDED_TIMEOUT_S + 60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dag_key.pt", "nests tuples"),  # 2**60 in hash(): hung forever, Ctrl-C did not stop it
        ("bytearray.pt", "calls builtins.bytearray(...)"),  # 1.5 GB from 800 bytes
        ("tensor_alloc.pt", "calls torch.Tensor(...)"),  # 960 MB, then a config error
        ("tensor_alloc_old.pt", "calls torch.Tensor(...)"),  # the same, pre-1.6 format
        ("storage_lie_old.pt", "storage 0 is 500,000,000 float32 elements"),  # 2 GB allocated
        ("uninit.pt", "calls torch.Tensor(...)"),  # heap bytes converted with exit 0
        ("setitem_list.pt", "sets an item on a list (SETITEM)"),  # torch's boilerplate
    ],
)
def test_crafted_pickles_are_refused_before_anything_is_allocated(
    course, tmp_path, name, reason
) -> None:
    out = tmp_path / "o"
    got = run_bounded("convert", str(course / name), "--out", str(out), "--env-id", CARTPOLE)
    assert got["rc"] == 2, got
    assert got["stderr"].startswith(f"error: {name}") and got["stderr"].count("\n") == 1
    assert reason in got["stderr"] and "nothing ran" in got["stderr"]
    assert "Re-running" not in got["stderr"] and "Traceback" not in got["stderr"]
    assert got["max_rss_mib"] < 600, got  # the reader's torch alone is about 230 MiB
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("storage_lie.pt", "storage 0 is 500,000,000 float32 elements (2,000,000,000 bytes)"),
        ("called_class.pt", "creates __main__.Policy with arguments"),
        ("stdlib_class.pt", "needs the global subprocess.Popen"),
    ],
)
def test_the_scan_refuses_what_torch_save_never_writes(course, name, reason) -> None:
    with pytest.raises(LegacyCheckpointError, match=re.escape(reason)):
        scan_checkpoint(course / name)


def test_a_weights_only_refusal_gives_torchs_reason_not_its_boilerplate(course) -> None:
    """Below the scan: what torch's own unpickler says, its advice to re-run with
    weights_only=False stripped."""
    data = (course / "setitem_list.pt").read_bytes()
    scan = CheckpointScan(course / "setitem_list.pt", len(data), "", "zip", [], {}, data)
    with pytest.raises(LegacyCheckpointError) as info:
        load_checkpoint(scan)
    assert "Can only SETITEM for dict" in str(info.value)
    assert "Re-running" not in str(info.value) and "weights_only" not in str(info.value)


def _readers_of(unique: str) -> list[int]:
    """Pids of live processes reading a file named ``unique``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"hubpg.legacy.isolate" in cmdline and unique.encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_a_reader_past_its_deadline_or_memory_is_killed_in_one_line(course, tmp_path) -> None:
    import shutil
    import uuid

    import torch

    slow = tmp_path / f"deadline-{uuid.uuid4().hex}.pt"
    shutil.copy(course / "cartpole.pt", slow)
    with pytest.raises(LegacyReaderError, match=f"timed out reading {slow.name}") as info:
        read_checkpoint(slow, env_id=CARTPOLE, read_timeout=0.01)
    assert info.value.exit_code == 1 and str(info.value).count("\n") == 0
    assert _readers_of(slow.name) == []  # killed with its process group, and reaped
    wide = tmp_path / "wide.pt"  # a legitimate 1.7 MB model, more than a 1 MiB ceiling
    torch.save(
        torch.nn.Sequential(
            torch.nn.Linear(4, 60_000), torch.nn.ReLU(), torch.nn.Linear(60_000, 2)
        ),
        wide,
    )
    with pytest.raises(LegacyReaderError, match="exceeded 1 MiB reading wide.pt") as info:
        read_checkpoint(wide, env_id=CARTPOLE, memory_mib=1)
    assert info.value.exit_code == 1
    assert read_checkpoint(wide, env_id=CARTPOLE).config.hidden == [60_000]


def test_ctrl_c_ends_the_reader_with_the_command(course, tmp_path) -> None:
    import shutil
    import signal
    import time
    import uuid

    source = tmp_path / f"interrupted-{uuid.uuid4().hex}.pt"
    shutil.copy(course / "cartpole.pt", source)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubpg.cli", "convert", str(source), "--out", str(tmp_path / "o")]
        + ["--env-id", CARTPOLE],
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C's default handling, as in a terminal (a suite run in the background
        # would pass SIGINT on as ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (readers := _readers_of(source.name)) and proc.poll() is None:
            assert time.monotonic() < deadline, "the reader never started"
            time.sleep(0.01)
        assert readers, "the command ended before its reader was seen"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip() == "error: interrupted.", err
    deadline = time.monotonic() + 10
    while _readers_of(source.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _readers_of(source.name) == []
    assert not (tmp_path / "o").exists()


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
    """A course CartPole repo as push_to_hub makes it, and two with a hostile model.pt."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=ALICE)
    repo = course / "repo-CartPole-v1"
    api.create_repo("alice/Reinforce-CartPole-v1-course")
    good = api.upload_folder(repo_id="alice/Reinforce-CartPole-v1-course", folder_path=str(repo))
    for name, payload in (("hostile", "evil_attribute.pt"), ("hanging", "dag_key.pt")):
        api.create_repo(f"alice/Reinforce-CartPole-v1-{name}")
        api.upload_folder(
            repo_id=f"alice/Reinforce-CartPole-v1-{name}",
            folder_path=str(repo),
            ignore_patterns=["model.pt"],
        )
        api.upload_file(
            path_or_fileobj=str(course / payload),
            path_in_repo="model.pt",
            repo_id=f"alice/Reinforce-CartPole-v1-{name}",
        )
    return {
        "good": "alice/Reinforce-CartPole-v1-course",
        "commit": good.oid,
        "hostile": "alice/Reinforce-CartPole-v1-hostile",
        "hanging": "alice/Reinforce-CartPole-v1-hanging",  # a 2**60 hash() before issue 28
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


def test_the_size_cap_applies_before_downloading(hub, course_repos) -> None:
    with pytest.raises(LegacyCheckpointError, match="model.pt is .* over the 100-byte cap"):
        fetch(course_repos["good"], target=HubTarget(hub.url), legacy=True, max_bytes=100)


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
    hanging = by_repo[course_repos["hanging"]]
    assert hanging["rank"] is None and "nests tuples" in hanging["problem"]
    assert not marker_of(course).exists()
    without = leaderboard(CARTPOLE, endpoint=hub.url, verify=True, episodes=5, workers=1)
    assert all(row["problem"] == "not verifiable: pickle" for row in without)


def test_another_librarys_model_is_named_with_or_without_legacy(hub, tmp_path) -> None:
    """A stable-baselines3 repo (as huggingface_sb3's package_to_hub lays it out) and a
    CleanRL one are named as such: no advice to pass --legacy, no dead end."""
    import zipfile

    from huggingface_hub import HfApi

    sb3 = tmp_path / "sb3"
    (sb3 / "ppo-CartPole-v1").mkdir(parents=True)
    with zipfile.ZipFile(sb3 / "ppo-CartPole-v1.zip", "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", b"PK")
    (sb3 / "ppo-CartPole-v1" / "data").write_text("{}")
    (sb3 / "ppo-CartPole-v1" / "policy.pth").write_bytes(b"PK")
    (sb3 / "config.json").write_text('{"policy_class": "ActorCriticPolicy"}')
    (sb3 / "results.json").write_text('{"mean_reward": 500.0, "std_reward": 0.0}')
    cleanrl = tmp_path / "cleanrl"
    cleanrl.mkdir()
    (cleanrl / "dqn.cleanrl_model").write_bytes(b"PK")
    (cleanrl / "dqn.py").write_text("# the training script\n")
    api = HfApi(endpoint=hub.url, token=ALICE)
    for repo, folder in (("alice/ppo-CartPole-v1", sb3), ("alice/dqn-CartPole-v1", cleanrl)):
        api.create_repo(repo)
        api.upload_folder(repo_id=repo, folder_path=str(folder))
    for repo, library in (
        ("alice/ppo-CartPole-v1", "a stable-baselines3 model (ppo-CartPole-v1.zip)"),
        ("alice/dqn-CartPole-v1", "a CleanRL model (dqn.cleanrl_model)"),
    ):
        for legacy in ([], ["--legacy"]):
            proc = run_cli("load-and-eval", "--repo", repo, "--endpoint", hub.url, *legacy)
            assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
            assert f"{repo} holds {library}" in proc.stderr
            assert "hubpg verifies REINFORCE policies (safetensors or course checkpoints)" in (
                proc.stderr
            )
            assert "--legacy" not in proc.stderr


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


# --------------------------------------------------------------------------- live modules


def test_a_live_module_is_rebuilt_by_the_same_rules_without_pickling(tmp_path) -> None:
    """hubpg.legacy.read_module: the student's own module object, in their process."""
    import torch
    from course_checkpoints import CartPolePolicy, PixelcopterPolicy, SequentialPolicy

    from hubpg.legacy import read_module

    torch.manual_seed(3)
    obs = torch.randn(32, 4)
    for module, env_id in [
        (CartPolePolicy(4, 2, 16), CARTPOLE),
        (SequentialPolicy(4, 2, 8), CARTPOLE),
        (
            torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)),
            CARTPOLE,
        ),
        (PixelcopterPolicy(7, 2, 8), PIXELCOPTER),
    ]:
        model = read_module(module, env_id=env_id)
        x = obs if env_id == CARTPOLE else torch.randn(32, 7) * 30
        with torch.no_grad():
            theirs = module(x)
            if not torch.allclose(theirs.sum(dim=1), torch.ones(32)):
                theirs = torch.softmax(theirs, dim=1)  # a module that ends with logits
        np.testing.assert_allclose(
            model.policy.probs_numpy(x.numpy()), theirs.numpy(), rtol=1e-5, atol=1e-6
        )
        cls = type(module)
        assert model.scan is None and model.module_class == f"{cls.__module__}.{cls.__qualname__}"
        report = model.report()
        assert report["kind"] == "live-module" and report["env_id"] == env_id
        with torch.no_grad():  # a copy: changing the module later does not change the policy
            next(module.parameters()).add_(1.0)
        assert not torch.equal(next(model.policy.parameters()), next(module.parameters()))


def test_a_live_module_hubpg_cannot_rebuild_is_refused_in_one_line() -> None:
    import torch

    from hubpg.legacy import read_module

    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Linear(2, 2))
    with pytest.raises(LegacyCheckpointError, match="Conv1d, which hubpg cannot rebuild"):
        read_module(conv, env_id=CARTPOLE)
    with pytest.raises(LegacyCheckpointError, match="not a torch.nn.Module"):
        read_module({"fc1.weight": torch.zeros(2, 4)}, env_id=CARTPOLE)
    with pytest.raises(LegacyCheckpointError, match="takes 4 observations.*has 7"):
        read_module(torch.nn.Sequential(torch.nn.Linear(4, 2)), env_id=PIXELCOPTER)
