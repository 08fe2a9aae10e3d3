"""Unit tests of the storage layer, the validators and the upload-mode rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hubpg.errors import ConfigError
from hubpg.localhub import parse_user_spec, storage
from hubpg.localhub.lfs import TicketBook, upload_mode
from hubpg.localhub.storage import (
    AddFile,
    DeleteFile,
    DeleteFolder,
    EntryMissingError,
    FileEntry,
    InvalidOperationError,
    ParentMismatchError,
    RepoExistsError,
    RevisionMissingError,
    Store,
    apply_operations,
    git_blob_sha1,
)
from hubpg.localhub.validation import name_problem, path_problem


def test_git_blob_sha1_matches_git() -> None:
    assert git_blob_sha1(b"Hello, World!") == "b45ef6fec89518d314f546fd6c3025367b721684"
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_validators() -> None:
    for good in ("alice", "my-model_v1.2", "A" * 96):
        assert name_problem(good) is None, good
    for bad in ("", "a--b", "a..b", "-a", "a.", "a/b", "a b", "é", "A" * 97):
        assert name_problem(bad) is not None, bad
    for good in ("README.md", "a/b/c.json", "x..y.txt", ".gitattributes"):
        assert path_problem(good) is None, good
    for bad in ("", "/abs", "../x", "a/../b", "a\\b", "a//b", "a/", "./a", ".git/config", "a\x00b"):
        assert path_problem(bad) is not None, bad


def test_parse_user_spec() -> None:
    assert parse_user_spec("alice:hf_abc:def") == ("alice", "hf_abc:def")
    for bad in ("alice", "alice:", ":tok", "bad name:tok", "alice:has space"):
        with pytest.raises(ConfigError):
            parse_user_spec(bad)


def test_upload_mode() -> None:
    assert upload_mode("README.md", 100, b"---\ntags: []\n") == "regular"
    assert upload_mode("config.json", 100, b'{"a": 1}') == "regular"
    assert upload_mode("model.safetensors", 100, b"{}") == "lfs"
    assert upload_mode("replay.MP4", 100, b"abc") == "lfs"
    assert upload_mode("curve.png", 100, b"abc") == "lfs"
    assert upload_mode("data.raw", 100, b"ab\x00c") == "lfs"
    assert upload_mode("notes.txt", 11 * 1024 * 1024, b"text") == "lfs"
    assert upload_mode("empty.bin", 0, b"") == "regular"


def test_tickets_are_one_time() -> None:
    book = TicketBook()
    secret = book.issue("a/b", "0" * 64, 3)
    assert book.peek(secret).repo_id == "a/b"
    assert book.redeem(secret).repo_id == "a/b"
    assert book.peek(secret) is None
    assert book.redeem(secret) is None
    expired = TicketBook(lifetime_s=-1).issue("a/b", "0" * 64, 3)
    assert TicketBook().redeem(expired) is None


def test_apply_operations() -> None:
    a, b = FileEntry.regular(b"a"), FileEntry.regular(b"b")
    files = apply_operations({}, [AddFile("x/y.txt", a), AddFile("z.txt", b)])
    assert set(files) == {"x/y.txt", "z.txt"}
    assert apply_operations(files, [DeleteFolder("x/")]) == {"z.txt": b}
    assert apply_operations(files, [DeleteFile("z.txt")]) == {"x/y.txt": a}
    with pytest.raises(EntryMissingError):
        apply_operations(files, [DeleteFile("nope")])
    with pytest.raises(EntryMissingError):
        apply_operations(files, [DeleteFolder("nope")])
    with pytest.raises(InvalidOperationError):
        apply_operations(files, [AddFile("x", b)])  # a file where folder x is
    with pytest.raises(InvalidOperationError):
        apply_operations(files, [AddFile("z.txt/w", b)])


def test_store_commits_and_history(tmp_path: Path) -> None:
    store = Store(tmp_path)
    meta = store.create_repo("alice/r", owner="alice", private=False)
    with pytest.raises(RepoExistsError):
        store.create_repo("alice/r", owner="alice", private=False)
    first = meta.branches["main"]
    data = b"hello"
    store.put_blob(data)
    new = store.commit(
        "alice/r",
        "main",
        [AddFile("h.txt", FileEntry.regular(data))],
        title="t",
        message="",
        author="alice",
    )
    meta = store.require_repo("alice/r")
    assert store.resolve(meta, "main") == new.id == meta.commits[-1]
    assert store.resolve(meta, new.id[:7]) == new.id
    with pytest.raises(RevisionMissingError):
        store.resolve(meta, "dev")
    assert [c.id for c in store.history(meta, new.id)] == [new.id, first]
    with pytest.raises(ParentMismatchError):
        store.commit(
            "alice/r", "main", [], title="t", message="", author="alice", parent_commit=first
        )
    with pytest.raises(InvalidOperationError):  # content never stored
        missing = FileEntry.lfs_object(hashlib.sha256(b"zz").hexdigest(), 2)
        store.commit(
            "alice/r", "main", [AddFile("w.bin", missing)], title="t", message="", author="alice"
        )
    assert store.require_repo("alice/r").branches["main"] == new.id


def test_crash_while_committing_leaves_repo_unchanged(tmp_path: Path, monkeypatch) -> None:
    store = Store(tmp_path)
    head = store.create_repo("alice/r", owner="alice", private=False).branches["main"]
    store.put_blob(b"x")
    real = storage._write_json

    def crash_on_repo_json(path: Path, data) -> None:
        if path.name == "repo.json":
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(storage, "_write_json", crash_on_repo_json)
    with pytest.raises(OSError):
        store.commit(
            "alice/r",
            "main",
            [AddFile("x", FileEntry.regular(b"x"))],
            title="t",
            message="",
            author="alice",
        )
    monkeypatch.undo()
    meta = Store(tmp_path).require_repo("alice/r")
    assert meta.branches["main"] == head and meta.commits == [head]
    assert list((tmp_path / "repos" / "alice" / "r").glob(".*.tmp*")) == []


def test_delete_repo_frees_the_name(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create_repo("alice/r", owner="alice", private=True)
    store.delete_repo("alice/r")
    assert store.get_repo("alice/r") is None and store.list_repos() == []
    assert store.create_repo("alice/r", owner="alice", private=False).private is False
