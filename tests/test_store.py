"""The SQLite verification store: keys, WAL, corrupt files, concurrent writers, and
``hubpg leaderboard --verify`` evaluating only what the store does not hold."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import huggingface_hub.constants
import pytest
from cli_runner import run_cli
from huggingface_hub import HfApi

import hubpg.ranking.executors
from hubpg.api import push
from hubpg.errors import CorruptStoreError
from hubpg.localhub.testing import running_hub
from hubpg.ranking import leaderboard, verify_batch
from hubpg.store import (
    PROTOCOL_VERSION,
    VerificationKey,
    default_db_path,
    open_store,
)

huggingface_hub.constants.HF_HUB_DISABLE_XET = True
ENV = "CartPole-v1"
ALICE, BOB = "hf_local_alice", "hf_local_bob"
REPOS = ["alice/cartpole-a", "alice/cartpole-b", "bob/cartpole-c"]
EPISODES = 5
KEY = VerificationKey(
    endpoint="http://127.0.0.1:1",
    repo_id="alice/agent",
    revision="a" * 40,
    env_id=ENV,
    episodes=100,
    seed=0,
    max_t=500,
    actions="sampled",
)
RESULT = {
    "mean": 480.5,
    "std": 12.25,
    "n_episodes": 100,
    "claimed_n_episodes": 10,
    "verified_at": "2026-12-01T10:00:00+00:00",
}


# --------------------------------------------------------------------------- the store alone


def test_default_path_is_under_the_user_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "hubpg" / "verifications.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".cache" / "hubpg" / "verifications.sqlite"


def test_a_result_is_found_only_under_its_whole_key(tmp_path) -> None:
    path = tmp_path / "deep" / "store.sqlite"
    with open_store(path) as store:
        assert store.get(KEY) is None
        store.put(KEY, RESULT)
        assert store.get(KEY) == RESULT and store.count() == 1
        changes = {
            "endpoint": "http://127.0.0.1:2",
            "repo_id": "alice/other",
            "revision": "b" * 40,
            "env_id": "Pixelcopter-PLE-v0",
            "episodes": 10,
            "seed": 1,
            "max_t": 1000,
            "actions": "argmax",
            "legacy": True,
            "protocol": PROTOCOL_VERSION + 1,
        }
        assert set(changes) == {f.name for f in dataclasses.fields(KEY)}
        for name, value in changes.items():
            assert store.get(dataclasses.replace(KEY, **{name: value})) is None, name
        store.put(KEY, RESULT | {"mean": 490.0})  # a re-verification replaces the result
        assert store.get(KEY)["mean"] == 490.0 and store.count() == 1
        with pytest.raises(ValueError, match="non-finite"):
            store.put(dataclasses.replace(KEY, seed=7), RESULT | {"std": float("nan")})
    with open_store(path) as again:  # kept on disk
        assert again.get(KEY)["mean"] == 490.0
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some text\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["text", "garbled-header"],
)
def test_a_corrupt_file_is_a_clear_error_and_is_left_alone(tmp_path, content) -> None:
    path = tmp_path / "verifications.sqlite"
    path.write_bytes(content)
    with pytest.raises(CorruptStoreError) as caught, open_store(path):
        pass
    message = str(caught.value)
    assert str(path) in message and f"rm {path}" in message and "--db" in message
    assert "\n" not in message
    assert path.read_bytes() == content  # never silently replaced


def test_another_programs_sqlite_file_is_refused(tmp_path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE photos (name TEXT)")
    with pytest.raises(CorruptStoreError, match="not a readable hubpg store"), open_store(path):
        pass
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT name FROM sqlite_master").fetchall() == [("photos",)]


WRITER = textwrap.dedent(
    """
    import dataclasses, sys
    from hubpg.store import VerificationKey, open_store
    path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    key = VerificationKey("http://h", who + "/m", "a" * 40, "CartPole-v1", 100, 0, 500, "sampled")
    with open_store(path) as store:
        for i in range(n):
            store.put(dataclasses.replace(key, seed=i), {"mean": float(i), "std": 1.0,
                      "n_episodes": 100, "verified_at": "2026-12-01T00:00:00+00:00"})
    """
)


def test_concurrent_writers_keep_every_result(tmp_path) -> None:
    path = tmp_path / "shared.sqlite"
    n = 150
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, str(n)])
        for who in ("alice", "bob", "carol")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    with open_store(path) as store:
        assert store.count() == 3 * n
        for who in ("alice", "bob", "carol"):
            key = dataclasses.replace(KEY, endpoint="http://h", repo_id=f"{who}/m", seed=n - 1)
            assert store.get(key)["mean"] == float(n - 1)


# --------------------------------------------------------------------------- with the leaderboard


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hubdata") as server:
        yield server


@pytest.fixture
def models(hub, cartpole_run, tmp_path):
    # a copy: pushing packages the run (hub/), and the session's run is shared
    run = shutil.copytree(cartpole_run, tmp_path / "run", ignore=shutil.ignore_patterns("hub"))
    for repo in REPOS:
        token = ALICE if repo.startswith("alice/") else BOB
        push(run, repo=repo, endpoint=hub.url, token=token, episodes=5, video=False)
    return REPOS


@pytest.fixture
def evaluations(monkeypatch):
    """The repos verify_one evaluates in this process (``workers=1``), in order."""
    seen: list[str] = []

    def counting(tasks):
        seen.extend(task["repo_id"] for task in tasks)
        return verify_batch(tasks)

    monkeypatch.setattr(hubpg.ranking.executors, "verify_batch", counting)
    return seen


def _run(hub, db, **options):
    rows = leaderboard(
        ENV, endpoint=hub.url, verify=True, episodes=EPISODES, workers=1, db=db, **options
    )
    return {row["repo_id"]: row for row in rows}


def _measurement(row):
    return {k: v for k, v in row.items() if k not in ("verified", "verified_at")}


def test_a_second_verify_evaluates_nothing(hub, models, evaluations, tmp_path) -> None:
    db = tmp_path / "store.sqlite"
    first = _run(hub, db)
    assert sorted(evaluations) == REPOS
    assert {row["verified"] for row in first.values()} == {"now"}
    assert all(row["verified_at"] for row in first.values())
    evaluations.clear()
    second = _run(hub, db)
    assert evaluations == []
    for repo in REPOS:
        assert second[repo]["verified"] == "stored"
        assert second[repo]["verified_at"] == first[repo]["verified_at"]
        assert _measurement(second[repo]) == _measurement(first[repo])
        assert second[repo]["measured_n_episodes"] == EPISODES
        assert second[repo]["claimed_n_episodes"] == 5
    # --reverify ignores the store (and refreshes it)
    third = _run(hub, db, reverify=True)
    assert sorted(evaluations) == REPOS
    assert {row["verified"] for row in third.values()} == {"now"}
    # another protocol is another key: evaluated again
    evaluations.clear()
    _run(hub, db, seed=1)
    assert sorted(evaluations) == REPOS
    evaluations.clear()
    capped = _run(hub, db, max_t=50, deterministic=True)  # so are the cap and argmax actions
    assert sorted(evaluations) == REPOS
    assert all(row["measured_mean"] <= 50 for row in capped.values())
    with open_store(db) as store:
        assert store.count() == 3 * len(REPOS)


def test_a_new_commit_re_evaluates_that_model_only(hub, models, evaluations, tmp_path) -> None:
    db = tmp_path / "store.sqlite"
    before = _run(hub, db)
    evaluations.clear()
    api = HfApi(endpoint=hub.url, token=ALICE)
    api.upload_file(
        path_or_fileobj=b"# notes\n", path_in_repo="NOTES.md", repo_id="alice/cartpole-b"
    )
    after = _run(hub, db)
    assert evaluations == ["alice/cartpole-b"]
    assert after["alice/cartpole-b"]["verified"] == "now"
    assert after["alice/cartpole-b"]["revision"] != before["alice/cartpole-b"]["revision"]
    assert after["alice/cartpole-b"]["revision"] == api.model_info("alice/cartpole-b").sha
    assert {after[r]["verified"] for r in ("alice/cartpole-a", "bob/cartpole-c")} == {"stored"}


def test_a_failed_verification_is_not_stored(hub, models, tmp_path) -> None:
    api = HfApi(endpoint=hub.url, token=BOB)
    api.delete_file("config.json", repo_id="bob/cartpole-c")
    db = tmp_path / "store.sqlite"
    rows = _run(hub, db)
    assert rows["bob/cartpole-c"]["problem"].startswith("verification failed:")
    assert rows["bob/cartpole-c"]["verified"] is None
    with open_store(db) as store:
        assert store.count() == 2


def test_an_impossible_or_malformed_stored_row_is_measured_again(
    hub, models, evaluations, tmp_path, capfd
) -> None:
    db = tmp_path / "store.sqlite"
    first = _run(hub, db)
    evaluations.clear()
    edits = {
        "alice/cartpole-a": "std = -5, n_episodes = -1, mean = 500",  # ranked first as 505
        "alice/cartpole-b": "mean = 'abc'",
        "bob/cartpole-c": "mean = 600, std = 0",  # above CartPole's maximum return
    }
    connection = sqlite3.connect(db)
    with connection:
        for repo, change in edits.items():
            connection.execute(f"UPDATE verifications SET {change} WHERE repo_id = ?", (repo,))
    connection.close()
    capfd.readouterr()
    again = _run(hub, db)
    warnings = [line for line in capfd.readouterr().err.splitlines() if "warning:" in line]
    assert sorted(evaluations) == REPOS  # each treated as absent and measured again
    assert len(warnings) == 3 and all("measuring it again" in w for w in warnings)
    assert "std -5.0 is negative" in " ".join(warnings) or "n_episodes" in " ".join(warnings)
    for repo in REPOS:
        assert again[repo]["verified"] == "now"
        assert _measurement(again[repo]) == _measurement(first[repo])
    evaluations.clear()
    assert {row["verified"] for row in _run(hub, db).values()} == {"stored"}  # repaired
    assert evaluations == []


def test_a_store_that_is_not_a_regular_file_is_one_line_without_rm(hub, tmp_path) -> None:
    proc = run_cli("leaderboard", ENV, "--endpoint", hub.url, "--verify", "--db", "/dev/null")
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "is not a regular file" in proc.stderr and "rm " not in proc.stderr
    with pytest.raises(CorruptStoreError, match="not a regular file"), open_store(tmp_path):
        pass


@pytest.mark.slow
def test_concurrent_leaderboard_runs_keep_every_result(hub, models, evaluations, tmp_path) -> None:
    db = tmp_path / "store.sqlite"
    command = [sys.executable, "-m", "hubpg.cli", "leaderboard", ENV, "--endpoint", hub.url]
    command += ["--verify", "--episodes", str(EPISODES), "--workers", "1", "--db", str(db)]
    runs = [
        subprocess.Popen([*command, "--json", *extra], stdout=subprocess.PIPE, text=True)
        for extra in (["--seed", "0"], ["--seed", "1"])  # both write three results at once
    ]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    for output in outputs:
        assert {row["verified"] for row in json.loads(output)} == {"now"}
    with open_store(db) as store:
        assert store.count() == 2 * len(REPOS)
    for seed in (0, 1):
        rows = _run(hub, db, seed=seed)
        assert {row["verified"] for row in rows.values()} == {"stored"}
    assert evaluations == []


@pytest.mark.slow
def test_cli_verify_says_stored_and_a_corrupt_store_is_one_line(hub, models, tmp_path) -> None:
    db = tmp_path / "store.sqlite"
    args = ["leaderboard", ENV, "--endpoint", hub.url, "--verify", "--episodes", "5"]
    first = run_cli(*args, "--workers", "1", "--db", str(db), "--json")
    assert first.returncode == 0, first.stderr
    assert {row["verified"] for row in json.loads(first.stdout)} == {"now"}
    second = run_cli(*args, "--db", str(db))
    assert second.returncode == 0, second.stderr
    assert "evaluated now: 0, from the verification store: 3" in second.stderr
    assert all(repo in second.stdout for repo in REPOS)
    assert "verifying" not in second.stderr  # no model to evaluate, no progress bar
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 100)
    proc = run_cli(*args, "--db", str(bad))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("error: the verification store ") and f"rm {bad}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    # the default store lives under XDG_CACHE_HOME
    cache = tmp_path / "cache"
    proc = run_cli(*args, "--workers", "1", "--json", env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert (cache / "hubpg" / "verifications.sqlite").is_file()
