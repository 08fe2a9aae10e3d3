"""push / load-and-eval end to end: the CLI, the real huggingface_hub client, and the local Hub."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import threading
from pathlib import Path

import huggingface_hub.constants
import pytest
from cli_runner import run_cli
from huggingface_hub import HfApi

from hubpg.api import load, push
from hubpg.claims import claim_supported
from hubpg.errors import PickleRefusedError, RepoIdError, TokenError
from hubpg.localhub.testing import running_hub
from hubpg.repoid import validate_repo_id

ALICE, BOB = "hf_local_alice", "hf_local_bob"
# Direct HfApi calls below talk to the local Hub, which has no Xet (hubpg's own
# code switches Xet off by itself for loopback endpoints; the CLI tests check that).
huggingface_hub.constants.HF_HUB_DISABLE_XET = True


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


@pytest.fixture(scope="module")
def pushed(hub, cartpole_run, tmp_path_factory):
    """alice/Reinforce-CartPole-v1 pushed once through the CLI."""
    run = tmp_path_factory.mktemp("pushrun") / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    proc = run_cli(
        "push",
        str(run),
        "--repo",
        "alice/Reinforce-CartPole-v1",
        "--endpoint",
        hub.url,
        "--token",
        ALICE,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    return run, json.loads(proc.stdout)


def api(hub, token=ALICE) -> HfApi:
    return HfApi(endpoint=hub.url, token=token)


def test_push_uploads_the_package_in_one_commit(hub, pushed) -> None:
    run, report = pushed
    assert report["url"] == f"{hub.url}/alice/Reinforce-CartPole-v1"
    assert len(report["commit_sha"]) == 40
    files = set(api(hub).list_repo_files("alice/Reinforce-CartPole-v1"))
    assert {
        "model.safetensors",
        "config.json",
        "hyperparameters.json",
        "results.json",
        "replay.mp4",
        "README.md",
        "learning_curve.png",
    } <= files
    commits = api(hub).list_repo_commits("alice/Reinforce-CartPole-v1")
    assert commits[0].commit_id == report["commit_sha"]
    assert len(commits) == 2  # the repo's initial commit, then exactly one upload
    card = (run / "hub" / "README.md").read_text()
    assert "hubpg load-and-eval --repo alice/Reinforce-CartPole-v1" in card


def test_load_and_eval_reproduces_the_claim(hub, pushed) -> None:
    proc = run_cli(
        "load-and-eval", "--repo", "alice/Reinforce-CartPole-v1", "--endpoint", hub.url, "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in (
        "repo_id",
        "revision",
        "mean_reward",
        "std_reward",
        "n_episodes",
        "claimed",
        "claim_supported",
        "episode_returns",
        "seeds",
    ):
        assert key in report
    assert report["revision"] == pushed[1]["commit_sha"]
    assert report["mean_reward"] == 500.0 and report["claimed"]["mean_reward"] == 500.0
    assert report["claim_supported"] is True
    proc = run_cli(
        "load-and-eval",
        "--repo",
        "alice/Reinforce-CartPole-v1",
        "--endpoint",
        hub.url,
        "--episodes",
        "10",
    )
    assert "measured 500.00 +/- 0.00" in proc.stdout and "claim supported" in proc.stdout


def test_library_load_returns_policy_and_config(hub, pushed, cartpole_run) -> None:
    policy, config = load("alice/Reinforce-CartPole-v1", endpoint=hub.url)
    assert config.env_id == "CartPole-v1" and config.hidden == [16]
    from hubpg.policy import Policy

    local = Policy.load(cartpole_run)
    for key, value in local.state_dict().items():
        assert (policy.state_dict()[key] == value).all()


def test_second_push_is_a_second_commit_and_revision_loads_the_first(
    hub, cartpole_run, tmp_path
) -> None:
    repo = "alice/two-commits"
    first = push(cartpole_run, repo=repo, endpoint=hub.url, token=ALICE)
    other = tmp_path / "other"
    proc = run_cli(
        "train",
        "CartPole-v1",
        "--total-steps",
        "4000",
        "--num-envs",
        "8",
        "--target-return",
        "1e9",
        "--eval-episodes",
        "0",
        "--out",
        str(other),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    second = push(other, repo=repo, endpoint=hub.url, token=ALICE, episodes=20)
    assert second.commit_sha != first.commit_sha
    latest = json.loads(
        run_cli(
            "load-and-eval", "--repo", repo, "--endpoint", hub.url, "--episodes", "20", "--json"
        ).stdout
    )
    old = json.loads(
        run_cli(
            "load-and-eval",
            "--repo",
            repo,
            "--endpoint",
            hub.url,
            "--revision",
            first.commit_sha,
            "--episodes",
            "20",
            "--json",
        ).stdout
    )
    assert old["revision"] == first.commit_sha and latest["revision"] == second.commit_sha
    assert old["mean_reward"] == 500.0 and latest["mean_reward"] < 500.0


def test_push_to_a_new_branch_leaves_main_alone(hub, cartpole_run, tmp_path) -> None:
    repo = "alice/branches"
    first = push(cartpole_run, repo=repo, endpoint=hub.url, token=ALICE)
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    reports = []
    for message in ("first on the branch", "second on the branch"):  # creates, then reuses
        proc = run_cli(
            "push", str(run), "--repo", repo, "--endpoint", hub.url, "--token", ALICE,
            "--revision", "experiment", "--commit-message", message, "--json",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads(proc.stdout))
    assert [r["revision"] for r in reports] == ["experiment", "experiment"]
    # the second push finds the branch (409, exist_ok) and, with nothing changed, the
    # client makes no empty commit
    assert reports[0]["commit_sha"] == reports[1]["commit_sha"] != first.commit_sha
    refs = {b.name: b.target_commit for b in api(hub).list_repo_refs(repo).branches}
    assert refs == {"main": first.commit_sha, "experiment": reports[0]["commit_sha"]}
    history = [c.title for c in api(hub).list_repo_commits(repo, revision="experiment")]
    assert history[0] == "first on the branch" and len(history) == 3  # main's two + one
    assert len(api(hub).list_repo_commits(repo)) == 2
    on_branch = run_cli(
        "load-and-eval", "--repo", repo, "--endpoint", hub.url, "--revision", "experiment",
        "--episodes", "5", "--json",
    )  # fmt: skip
    assert on_branch.returncode == 0, on_branch.stderr
    assert json.loads(on_branch.stdout)["revision"] == reports[1]["commit_sha"]


def test_private_repos_are_visible_only_to_their_owner(hub, cartpole_run) -> None:
    push(cartpole_run, repo="alice/secret-agent", private=True, endpoint=hub.url, token=ALICE)
    assert api(hub).model_info("alice/secret-agent").private is True
    for token, expected in (([], 2), (["--token", BOB], 2), (["--token", ALICE], 0)):
        proc = run_cli(
            "load-and-eval",
            "--repo",
            "alice/secret-agent",
            "--endpoint",
            hub.url,
            "--episodes",
            "5",
            *token,
        )
        assert proc.returncode == expected, proc.stderr
        assert expected == 0 or "not found" in proc.stderr


@pytest.mark.parametrize(
    "token, message",
    [
        (None, "no Hugging Face token"),
        ("hf_wrong", "refused the token"),
        (BOB, "belongs to bob, who may not write to alice/"),
    ],
)
def test_missing_wrong_or_foreign_token_is_refused(hub, cartpole_run, token, message) -> None:
    args = [
        "push",
        str(cartpole_run),
        "--repo",
        "alice/Reinforce-CartPole-v1",
        "--endpoint",
        hub.url,
    ]
    proc = run_cli(*args, *(["--token", token] if token else []))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_unknown_repo_and_bad_repo_id(hub) -> None:
    proc = run_cli("load-and-eval", "--repo", "alice/no-such-model", "--endpoint", hub.url)
    assert proc.returncode == 2 and "repo alice/no-such-model not found" in proc.stderr
    proc = run_cli("push", "--repo", "not a repo id", "--endpoint", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "NAMESPACE/NAME" in proc.stderr
    with pytest.raises(RepoIdError):
        validate_repo_id("alice/../etc")


def test_a_repo_with_mismatched_weights_is_refused(hub, cartpole_run, tmp_path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(cartpole_run / "model.safetensors", folder)
    config = json.loads((cartpole_run / "config.json").read_text())
    config["hidden"] = [64, 64]
    (folder / "config.json").write_text(json.dumps(config))
    api(hub).create_repo("alice/mismatched")
    api(hub).upload_folder(repo_id="alice/mismatched", folder_path=str(folder))
    proc = run_cli("load-and-eval", "--repo", "alice/mismatched", "--endpoint", hub.url)
    assert proc.returncode == 2 and "does not match its config.json" in proc.stderr


def test_a_pickle_only_repo_is_refused_and_nothing_runs(hub, tmp_path) -> None:
    marker = tmp_path / "pwned"
    payload = b"\x80\x04\x95" + b"cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR."
    api(hub).create_repo("alice/course-pickle")
    api(hub).upload_file(
        path_or_fileobj=payload, path_in_repo="model.pt", repo_id="alice/course-pickle"
    )
    proc = run_cli("load-and-eval", "--repo", "alice/course-pickle", "--endpoint", hub.url)
    assert proc.returncode == 2
    assert "only as a pickle (model.pt)" in proc.stderr and "never" in proc.stderr
    assert not marker.exists()
    with pytest.raises(PickleRefusedError):
        load("alice/course-pickle", endpoint=hub.url)


def test_claims_beyond_the_standard_error_are_flagged() -> None:
    claimed = {"mean_reward": 500.0, "std_reward": 0.0, "n_episodes": 100}
    assert claim_supported(claimed, 499.5, 5.0, 100)
    assert not claim_supported(claimed, 450.0, 50.0, 100)
    course_style = {"mean_reward": 120.0, "std_reward": 60.0, "n_episodes": None}  # 10 episodes
    assert claim_supported(course_style, 80.0, 50.0, 100)
    assert not claim_supported(course_style, 30.0, 20.0, 100)


def test_the_token_never_appears_in_output_or_files(hub, cartpole_run, tmp_path) -> None:
    secret = "hf_local_carol_s3cr3t"
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    with running_hub(tmp_path / "data", users={secret: "carol"}) as own:
        outputs = []
        for args in (
            ["push", str(run), "--repo", "carol/agent", "--token", secret, "--private"],
            ["load-and-eval", "--repo", "carol/agent", "--token", secret, "--episodes", "5"],
            ["push", str(run), "--repo", "carol/agent", "--json"],
        ):
            proc = run_cli(
                *args,
                "--endpoint",
                own.url,
                cwd=tmp_path,
                env={"HF_TOKEN": secret} if "--token" not in args else None,
            )
            assert proc.returncode == 0, proc.stderr
            outputs += [proc.stdout, proc.stderr]
        proc = run_cli(
            "push",
            str(run),
            "--repo",
            "alice/x",
            "--token",
            secret,
            "--endpoint",
            own.url,
            "--debug",
            cwd=tmp_path,
        )
        outputs += [proc.stdout, proc.stderr]
    assert not any(secret in text for text in outputs)
    roots = [tmp_path, Path(os.environ["HF_HOME"])]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


class KillOnCommitProxy:
    """A TCP proxy in front of a subprocess Hub that SIGKILLs the server as soon as
    a commit request starts to pass through (after the LFS uploads)."""

    def __init__(self, target_url: str, server_pid: int) -> None:
        host_port = target_url.split("//", 1)[1]
        self.target = (host_port.split(":")[0], int(host_port.split(":")[1]))
        self.pid = server_pid
        self.killed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)

    def _pipe(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while data := src.recv(65536):
                if watch and b"/commit/" in tail + data and not self.killed.is_set():
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed.set()
                    break
                tail = data[-64:]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.slow
def test_server_killed_mid_upload_leaves_the_repo_unchanged(cartpole_run, tmp_path) -> None:
    data = tmp_path / "data"
    repo = "alice/interrupted"
    with running_hub(data, subprocess=True) as server:
        before = push(cartpole_run, repo=repo, endpoint=server.url, token=ALICE).commit_sha
        other = tmp_path / "other"
        shutil.copytree(cartpole_run, other, ignore=shutil.ignore_patterns("hub"))
        proxy = KillOnCommitProxy(server.url, server.process.pid)
        proc = run_cli(
            "push",
            str(other),
            "--repo",
            repo,
            "--endpoint",
            proxy.url,
            "--token",
            ALICE,
            "--commit-message",
            "should not land",
            "--episodes",
            "20",
        )
        proxy.close()
        assert proxy.killed.is_set()
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: push failed")
    assert "Traceback" not in proc.stderr
    with running_hub(data) as restarted:
        commits = HfApi(endpoint=restarted.url, token=ALICE).list_repo_commits(repo)
        assert commits[0].commit_id == before
        assert all(c.title != "should not land" for c in commits)


def test_push_needs_a_token_before_any_network_call(cartpole_run) -> None:
    with pytest.raises(TokenError):
        push(cartpole_run, repo="alice/x", endpoint="http://127.0.0.1:9", token=None)


def test_pixelcopter_round_trip_with_replay(hub, tmp_path) -> None:
    run = tmp_path / "runs" / "Pixelcopter-PLE-v0-reinforce-s1"
    proc = run_cli(
        "train",
        "Pixelcopter-PLE-v0",
        "--total-steps",
        "3000",
        "--num-envs",
        "8",
        "--max-t",
        "300",
        "--eval-episodes",
        "0",
        "--out",
        str(run),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    # no RUN_DIR: push takes the latest run under ./runs
    proc = run_cli(
        "push",
        "--repo",
        "alice/Reinforce-Pixelcopter-PLE-v0",
        "--endpoint",
        hub.url,
        "--token",
        ALICE,
        "--episodes",
        "10",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (run / "hub" / "replay.mp4").is_file()
    card = (run / "hub" / "README.md").read_text()
    assert "Pixelcopter-PLE-v0" in card and "CartPole-v1" not in card
    video = tmp_path / "again.mp4"
    proc = run_cli(
        "load-and-eval",
        "--repo",
        "alice/Reinforce-Pixelcopter-PLE-v0",
        "--endpoint",
        hub.url,
        "--episodes",
        "10",
        "--max-t",
        "300",
        "--video",
        str(video),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["env_id"] == "Pixelcopter-PLE-v0" and report["n_episodes"] == 10
    results = json.loads((run / "hub" / "results.json").read_text())
    assert report["episode_returns"] == results["episode_returns"]  # same seeds, same play
    assert video.stat().st_size > 1000


# --------------------------------------------------------------------------- issue 16: hardening


def _copy_run(cartpole_run: Path, dest: Path) -> Path:
    shutil.copytree(cartpole_run, dest, ignore=shutil.ignore_patterns("hub"))
    return dest


@pytest.mark.slow
def test_a_stalled_server_ends_every_command_with_timed_out(cartpole_run, tmp_path) -> None:
    """A SIGSTOP'd server: before, push, load-and-eval and leaderboard hung forever."""
    run = _copy_run(cartpole_run, tmp_path / "run")
    with running_hub(tmp_path / "data", subprocess=True) as server:
        push(run, repo="alice/stalled", endpoint=server.url, token=ALICE, episodes=5)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            for args in (
                ["push", str(run), "--repo", "alice/stalled", "--token", ALICE],
                ["load-and-eval", "--repo", "alice/stalled", "--episodes", "2"],
                ["leaderboard", "CartPole-v1"],
            ):
                # run_cli's own timeout (a hang) would fail the test with TimeoutExpired
                proc = run_cli(*args, "--endpoint", server.url, "--timeout", "0.5", timeout=120)
                assert proc.returncode == 1, (args, proc.stderr)
                last = proc.stderr.strip().splitlines()[-1]
                assert last.startswith("error: ") and "timed out" in last, (args, proc.stderr)
                assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr
        finally:
            os.kill(server.process.pid, signal.SIGCONT)


@pytest.mark.slow
def test_verification_of_a_stalled_server_is_set_apart(cartpole_run, tmp_path) -> None:
    from hubpg.ranking import verify_one

    with running_hub(tmp_path / "data", subprocess=True) as server:
        push(cartpole_run, repo="alice/slow", endpoint=server.url, token=ALICE)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            task = {
                "repo_id": "alice/slow",
                "revision": None,
                "endpoint": server.url,
                "token": None,
                "env_id": "CartPole-v1",
                "episodes": 2,
                "seed": 0,
                "timeout": 0.5,
            }
            outcome = verify_one(task)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    assert "timed out" in outcome["problem"]


def test_timeout_is_validated_and_honours_huggingface_hub(monkeypatch) -> None:
    from hubpg.errors import ConfigError
    from hubpg.hub import DEFAULT_TIMEOUT_S, resolve_timeout

    monkeypatch.delenv("HF_HUB_DOWNLOAD_TIMEOUT", raising=False)
    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)
    assert resolve_timeout() == DEFAULT_TIMEOUT_S
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "7")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "45")
    assert resolve_timeout() == 45.0
    assert resolve_timeout(2) == 2.0
    for bad in (0, -1, float("nan"), float("inf"), "3", True):
        with pytest.raises(ConfigError):
            resolve_timeout(bad)


def test_load_leaves_huggingface_hub_global_state_as_it_was(hub, pushed, monkeypatch) -> None:
    """Before, one hubpg.load() switched progress bars (and Xet) off for good."""
    import importlib

    from huggingface_hub.utils import _http as hf_http
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    # the test suite may disable bars by the environment, which has priority
    monkeypatch.setattr(
        importlib.import_module("huggingface_hub.utils.tqdm"), "HF_HUB_DISABLE_PROGRESS_BARS", None
    )
    factory = hf_http._GLOBAL_CLIENT_FACTORY
    xet = huggingface_hub.constants.HF_HUB_DISABLE_XET
    huggingface_hub.constants.HF_HUB_DISABLE_XET = False
    enable_progress_bars()
    try:
        load("alice/Reinforce-CartPole-v1", endpoint=hub.url)
        assert not are_progress_bars_disabled()
        assert huggingface_hub.constants.HF_HUB_DISABLE_XET is False
        assert hf_http._GLOBAL_CLIENT_FACTORY is factory
        disable_progress_bars()
        load("alice/Reinforce-CartPole-v1", endpoint=hub.url)
        assert are_progress_bars_disabled()
    finally:
        huggingface_hub.constants.HF_HUB_DISABLE_XET = xet
        disable_progress_bars()


def test_push_refuses_symlinks_and_pickles_in_the_package(hub, cartpole_run, tmp_path) -> None:
    from hubpg.errors import UploadRefusedError

    run = _copy_run(cartpole_run, tmp_path / "run")
    package = push(run, repo="alice/links", endpoint=hub.url, token=ALICE, episodes=5).package_dir
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    (package / "notes.txt").symlink_to(secret)
    proc = run_cli(
        "push", str(package), "--repo", "alice/links", "--endpoint", hub.url, "--token", ALICE
    )
    assert proc.returncode == 2 and "symbolic link" in proc.stderr, proc.stderr
    (package / "notes.txt").unlink()
    (package / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UploadRefusedError, match="pickle"):
        push(package, repo="alice/links", endpoint=hub.url, token=ALICE)
    (package / "extra.pkl").unlink()
    (package / "notes.dat").write_bytes(b"\x80\x04K\x01.")  # a pickle by content (hubpg.sniff)
    with pytest.raises(UploadRefusedError, match="pickle"):
        push(package, repo="alice/links", endpoint=hub.url, token=ALICE)
    (package / "notes.dat").unlink()
    files = {f.rfilename for f in api(hub).model_info("alice/links").siblings}
    assert "notes.txt" not in files and "extra.pkl" not in files and "model.safetensors" in files


def test_push_private_onto_a_public_repo_makes_it_private(hub, cartpole_run, tmp_path) -> None:
    run = _copy_run(cartpole_run, tmp_path / "run")
    push(run, repo="alice/goes-private", endpoint=hub.url, token=ALICE, episodes=5)
    assert api(hub, token=BOB).model_info("alice/goes-private").private is False
    proc = run_cli(
        "push",
        str(run),
        "--repo",
        "alice/goes-private",
        "--private",
        "--endpoint",
        hub.url,
        "--token",
        ALICE,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["made_private"] is True
    assert "now private" in proc.stderr
    assert api(hub).model_info("alice/goes-private").private is True
    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        api(hub, token=BOB).model_info("alice/goes-private")


def test_a_400_shows_the_servers_message(hub, cartpole_run, tmp_path) -> None:
    run = _copy_run(cartpole_run, tmp_path / "run")
    package = push(
        run, repo="alice/bad-path", endpoint=hub.url, token=ALICE, episodes=5
    ).package_dir
    (package / "a\tb.txt").write_text("a tab is a control character")
    proc = run_cli(
        "push", str(package), "--repo", "alice/bad-path", "--endpoint", hub.url, "--token", ALICE
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "control characters" in last and "retry later" not in last, last
    assert "unexpected" not in last


def test_a_file_too_large_for_the_server_gets_its_message(cartpole_run, tmp_path) -> None:
    from hubpg.localhub.web import Limits

    run = _copy_run(cartpole_run, tmp_path / "run")
    with running_hub(tmp_path / "data", limits=Limits(max_lfs_bytes=64 * 1024)) as small:
        package = push(
            run, repo="alice/big", endpoint=small.url, token=ALICE, episodes=5
        ).package_dir
        # binary (a NUL in the first 512 bytes), so an LFS file: random bytes lack one 13% of runs
        (package / "big.dat").write_bytes(bytes(range(256)) * 1024)
        proc = run_cli(
            "push", str(package), "--repo", "alice/big", "--endpoint", small.url, "--token", ALICE
        )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: push failed") and "unexpected" not in last, last
    assert not list(package.glob("*.tmp*")) and not list(package.glob(".*tmp*"))


def test_a_full_disk_is_reported_as_a_full_disk() -> None:
    import errno

    from hubpg.errors import HubError
    from hubpg.hub import hub_errors

    with pytest.raises(HubError, match="no space left"), hub_errors("download", "a/b", "x", False):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/cache/blob")
        except OSError as exc:
            raise RuntimeError("Error while downloading") from exc


def test_server_killed_before_push_gives_a_one_line_error(cartpole_run, tmp_path) -> None:
    run = _copy_run(cartpole_run, tmp_path / "run")
    with running_hub(tmp_path / "data", subprocess=True) as server:
        url = server.url
    proc = run_cli("push", str(run), "--repo", "alice/x", "--endpoint", url, "--token", ALICE)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: push failed") and "unexpected" not in last, last


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"hidden": [20000, 20000]}, "does not match its config.json"),
        ({"hidden": "1234"}, "list of whole numbers"),
        ({"hidden": ["abc"]}, "whole number"),
        ({"hidden": [4.5]}, "whole number"),
        ({"obs_dim": "4"}, "whole number"),
        ({"obs_clip": float("nan")}, "finite"),
        ({"obs_scale": [float("inf")] * 4}, "finite"),
        ({"obs_dim": 5}, "observations"),
    ],
)
def test_hostile_config_json_is_refused_before_building(
    hub, cartpole_run, tmp_path, config, match
) -> None:
    from hubpg.errors import ConfigError, WeightsError

    run = _copy_run(cartpole_run, tmp_path / "run")
    package = push(run, repo="alice/hostile-config", endpoint=hub.url, token=ALICE, episodes=5)
    data = json.loads((package.package_dir / "config.json").read_text())
    data.update(config)
    api(hub).upload_file(
        path_or_fileobj=json.dumps(data).encode(),
        path_in_repo="config.json",
        repo_id="alice/hostile-config",
    )
    with pytest.raises((ConfigError, WeightsError), match=match):
        load("alice/hostile-config", endpoint=hub.url)


def test_garbage_claims_get_the_right_verdict(hub, cartpole_run, tmp_path) -> None:
    """Before: 800 +/- 100 on CartPole-v1 with n = 1 was "claim supported", a card
    claiming Acrobot-v1 was checked against the CartPole run, and counts of -10,
    Infinity, a list or deep nesting crashed."""
    from hubpg.api import load_and_eval

    repo = "alice/garbage-claims"
    run = _copy_run(cartpole_run, tmp_path / "run")
    card = push(run, repo=repo, endpoint=hub.url, token=ALICE, episodes=5).package_dir / "README.md"
    text = card.read_text()

    def upload(name: str, content: str) -> None:
        api(hub).upload_file(path_or_fileobj=content.encode(), path_in_repo=name, repo_id=repo)

    claim = re.search(r"value: (\S+ \+/- \S+)", text).group(1)
    upload("README.md", text.replace(claim, "800.00 +/- 100.00"))
    upload("results.json", json.dumps({"n_evaluation_episodes": 1}))
    report = load_and_eval(repo, endpoint=hub.url, episodes=5).to_dict()
    assert report["claim_supported"] is False and "maximum return 500" in report["claim_problem"]
    upload("README.md", text.replace(claim, "500.00 +/- 0.00").replace("CartPole-v1", "Acrobot-v1"))
    report = load_and_eval(repo, endpoint=hub.url, episodes=5).to_dict()
    assert report["claim_supported"] is False and "Acrobot-v1" in report["claim_problem"]
    upload("README.md", text)
    for count in ("-10", "Infinity", "[1, 2]", "[" * 3000 + "]" * 3000, "9" * 401):
        upload("results.json", '{"n_evaluation_episodes": ' + count + "}")
        report = load_and_eval(repo, endpoint=hub.url, episodes=5).to_dict()
        assert report["claimed"]["n_episodes"] is None, count[:20]
        assert report["claim_supported"] is True
    proc = run_cli(
        "load-and-eval", "--repo", repo, "--endpoint", hub.url, "--json", "--episodes", "5"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Infinity" not in proc.stdout and "NaN" not in proc.stdout
    assert json.loads(proc.stdout)["claimed"]["n_episodes"] is None


def test_a_cache_that_cannot_be_written_is_not_an_unreachable_endpoint(
    hub, pushed, tmp_path
) -> None:
    """Before: a full HF cache was reported as "could not reach the endpoint". The CLI
    runs with a 1 KiB file-size limit (SIGXFSZ ignored, so writes fail with EFBIG)."""
    import resource
    import subprocess
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "hubpg.cli", "load-and-eval", "--repo"]
        + ["alice/Reinforce-CartPole-v1", "--endpoint", hub.url, "--episodes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: download failed") and "HF_HUB_CACHE" in last, last
    assert "could not reach" not in last and "unexpected" not in last
