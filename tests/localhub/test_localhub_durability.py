"""What must survive power loss is fsynced, and a damaged repo.json never costs history
(issue 16 B.9)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from hubpg.localhub.storage import AddFile, FileEntry, Store


def commit_text(store: Store, repo_id: str, path: str, data: bytes) -> str:
    store.put_blob(data)
    return store.commit(
        repo_id,
        "main",
        [AddFile(path, FileEntry.regular(data))],
        title=path,
        message="",
        author="alice",
    ).id


def test_objects_commits_and_repo_json_are_fsynced(tmp_path: Path, monkeypatch) -> None:
    store = Store(tmp_path)
    store.create_repo("alice/r", owner="alice", private=False)
    synced: list[str] = []
    real = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    commit_id = commit_text(store, "alice/r", "notes.txt", b"survive me")
    repo_dir = str(tmp_path.resolve() / "repos" / "alice" / "r")
    blob = store.blob_path(FileEntry.regular(b"survive me").sha256)
    # the temp files are renamed after their fsync: match them by folder and name
    assert any(Path(p).parent == blob.parent and blob.name in Path(p).name for p in synced)
    assert any(f"{repo_dir}/commits/.{commit_id}.json." in p for p in synced)
    assert any(p.startswith(f"{repo_dir}/.repo.json.") for p in synced)
    assert repo_dir in synced and f"{repo_dir}/commits" in synced and str(blob.parent) in synced


def test_empty_repo_json_sets_the_repo_aside_and_keeps_history(tmp_path: Path, caplog) -> None:
    store = Store(tmp_path)
    store.create_repo("alice/r", owner="alice", private=False)
    commit_text(store, "alice/r", "a.txt", b"1")
    commit_text(store, "alice/r", "b.txt", b"2")
    repo_json = tmp_path / "repos" / "alice" / "r" / "repo.json"
    repo_json.write_bytes(b"")  # what a power loss can leave
    with caplog.at_level(logging.WARNING, logger="hubpg.localhub"):
        assert store.get_repo("alice/r") is None
    [aside] = list((tmp_path / "damaged").iterdir())
    assert len(list((aside / "commits").glob("*.json"))) == 3
    [record] = [r for r in caplog.records if r.name == "hubpg.localhub"]
    message = record.getMessage()
    assert "alice/r" in message and "is empty" in message and str(aside) in message
    assert store.list_repos() == []
    fresh = store.create_repo("alice/r", owner="alice", private=False)
    assert len(fresh.commits) == 1
    assert len(list((aside / "commits").glob("*.json"))) == 3  # the old history is untouched


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"id": "alice/r"}'])
def test_damaged_repo_json_over_http(hub, alice: HfApi, content: bytes) -> None:
    alice.create_repo("alice/r")
    alice.create_repo("alice/ok")
    (hub.data_dir / "repos" / "alice" / "r" / "repo.json").write_bytes(content)
    response = httpx.get(f"{hub.url}/api/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()] == ["alice/ok"]
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("alice/r")
    alice.create_repo("alice/r")
    assert len(list(alice.list_repo_commits("alice/r"))) == 1
    assert len(list((hub.data_dir / "damaged").iterdir())) == 1


def test_leftover_folder_without_repo_json_is_kept_on_create(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create_repo("alice/r", owner="alice", private=False)
    commit_text(store, "alice/r", "a.txt", b"1")
    (tmp_path / "repos" / "alice" / "r" / "repo.json").unlink()
    assert store.get_repo("alice/r") is None  # a reader never moves a folder it cannot judge
    assert not (tmp_path / "damaged").exists()
    store.create_repo("alice/r", owner="alice", private=False)
    [aside] = list((tmp_path / "damaged").iterdir())
    assert len(list((aside / "commits").glob("*.json"))) == 2


def test_damaged_commit_file_is_a_clear_500(hub, alice: HfApi, caplog) -> None:
    alice.create_repo("alice/r")
    sha = alice.model_info("alice/r").sha
    (hub.data_dir / "repos" / "alice" / "r" / "commits" / f"{sha}.json").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="hubpg.localhub"):
        response = httpx.get(f"{hub.url}/api/models/alice/r")
    assert response.status_code == 500
    assert "damaged" in response.json()["error"] and sha in response.headers["X-Error-Message"]
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    alice.create_repo("alice/ok")
    assert [m.id for m in alice.list_models()] == ["alice/ok"]  # one damaged repo breaks no listing
