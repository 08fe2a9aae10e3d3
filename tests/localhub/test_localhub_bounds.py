"""Bounded, linear, concurrent requests (issue 16 A.4) and true 400s for odd input (B.11)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import signal
import threading
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from hubpg.localhub.lfs import TicketBook
from hubpg.localhub.routes_repos import folder_oids, tree_items
from hubpg.localhub.storage import (
    AddFile,
    DeleteFolder,
    FileEntry,
    InvalidOperationError,
    apply_operations,
)
from hubpg.localhub.testing import running_hub
from hubpg.localhub.validation import MAX_PATH_DEPTH, path_problem
from hubpg.localhub.web import Limits


def auth(hub, user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token(user)}"}


def ndjson(*items: dict) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def header(**extra) -> dict:
    return {"key": "header", "value": {"summary": "raw commit", "description": "", **extra}}


def add(path: str, content: bytes = b"x") -> dict:
    encoded = base64.b64encode(content).decode()
    return {"key": "file", "value": {"path": path, "content": encoded, "encoding": "base64"}}


def post_commit(hub, repo_id: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/api/models/{repo_id}/commit/main",
        content=body,
        headers={**auth(hub), "Content-Type": "application/x-ndjson"},
        timeout=60,
    )


# ------------------------------------------------------------------ B.11: true 400s


def test_nul_bytes_integer_parent_and_deep_json_are_400(alice: HfApi, pushed, hub) -> None:
    repo_id, _, sha = pushed
    cases = {
        "NUL in a path": (ndjson(header(), add("a\u0000b.txt")), "control characters"),
        "integer parentCommit": (ndjson(header(parentCommit=12345), add("a.txt")), "parentCommit"),
        "list parentCommit": (ndjson(header(parentCommit=["a"]), add("a.txt")), "parentCommit"),
        "integer description": (ndjson(header(description=5), add("a.txt")), "description"),
        "deep NDJSON": (b"[" * 200_000 + b"]" * 200_000 + b"\n", "nested too deeply"),
    }
    for name, (body, message) in cases.items():
        response = post_commit(hub, repo_id, body)
        assert response.status_code == 400, name
        assert message in response.json()["error"], name
        assert message in response.headers["X-Error-Message"], name
    deep = b'{"name": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    for url, method in (
        (f"{hub.url}/api/repos/create", "POST"),
        (f"{hub.url}/api/models/{repo_id}/paths-info/main", "POST"),
        (f"{hub.url}/api/models/{repo_id}/preupload/main", "POST"),
        (f"{hub.url}/{repo_id}.git/info/lfs/objects/batch", "POST"),
    ):
        response = httpx.request(
            method, url, content=deep, headers={**auth(hub), "Content-Type": "application/json"}
        )
        assert response.status_code == 400, url
        assert "nested too deeply" in response.json()["error"], url
    response = httpx.post(
        f"{hub.url}/api/models/{repo_id}/paths-info/main", json={"paths": [["README.md"]]}
    )
    assert response.status_code == 400 and "list of strings" in response.json()["error"]
    for target in (f"/{repo_id}/resolve/main/a%00b", f"/api/models/{repo_id}/tree/main/a%00b"):
        response = httpx.get(hub.url + target)
        assert response.status_code == 400 and "control characters" in response.json()["error"]
    with pytest.raises(ValueError, match="control characters"):  # the client sees the reason
        alice.upload_file(path_or_fileobj=b"x", path_in_repo="a\u0000b.txt", repo_id=repo_id)
    assert alice.model_info(repo_id).sha == sha


# ------------------------------------------------------------------ A.4: bounds


def test_paths_too_deep_are_refused() -> None:
    assert path_problem("/".join(["d"] * MAX_PATH_DEPTH)) is None
    assert "deeper" in path_problem("/".join(["d"] * (MAX_PATH_DEPTH + 1)))


def test_commit_file_and_folder_limits(tmp_path: Path) -> None:
    limits = Limits(max_repo_files=4, max_repo_folders=2, max_batch_objects=3, max_paths=3)
    with running_hub(tmp_path / "data", limits=limits) as hub:
        HfApi(endpoint=hub.url, token=hub.token("alice")).create_repo("alice/small")
        too_many_ops = ndjson(header(), *(add(f"f{i}.txt") for i in range(5)))
        assert "Too many operations" in post_commit(hub, "alice/small", too_many_ops).text
        too_many_files = ndjson(header(), *(add(f"f{i}.txt") for i in range(4)))
        response = post_commit(hub, "alice/small", too_many_files)  # + .gitattributes = 5
        assert response.status_code == 400 and "the limit is 4" in response.json()["error"]
        folders = ndjson(header(), add("a/x"), add("b/x"), add("c/x"))
        response = post_commit(hub, "alice/small", folders)
        assert response.status_code == 400 and "more than 2 folders" in response.json()["error"]
        assert post_commit(hub, "alice/small", ndjson(header(), add("a/b/x"))).status_code == 200
        objects = [{"oid": "a" * 64, "size": 1}] * 4
        response = httpx.post(
            f"{hub.url}/alice/small.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": objects},
            headers=auth(hub),
        )
        assert response.status_code == 400 and "limit is 3" in response.json()["error"]
        response = httpx.post(
            f"{hub.url}/api/models/alice/small/paths-info/main",
            json={"paths": ["a", "b", "c", "d"]},
        )
        assert response.status_code == 400 and "limit is 3" in response.json()["error"]


def test_listings_are_paged_and_the_client_follows(tmp_path: Path, make_folder) -> None:
    with running_hub(tmp_path / "data", limits=Limits(page_items=3, card_page_items=2)) as hub:
        api = HfApi(endpoint=hub.url, token=hub.token("alice"))
        api.create_repo("alice/paged")
        for i in range(3):
            api.create_repo(f"alice/other{i}")
        operations = [
            CommitOperationAdd(path_in_repo=f"d{i % 2}/f{i}.txt", path_or_fileobj=b"%d" % i)
            for i in range(6)
        ]
        api.create_commit("alice/paged", operations, commit_message="six files")
        raw = httpx.get(f"{hub.url}/api/models/alice/paged/tree/main?recursive=true")
        assert len(raw.json()) == 3 and 'rel="next"' in raw.headers["Link"]
        everything = list(api.list_repo_tree("alice/paged", recursive=True))
        assert len(everything) == 1 + 6 + 2  # .gitattributes, six files, two folders
        assert len({item.path for item in everything}) == 9
        assert len(list(api.list_models(author="alice"))) == 4
        assert len(httpx.get(f"{hub.url}/api/models?cardData=true").json()) == 2
        assert len(list(api.list_models(author="alice", cardData=True))) == 4
        assert len(list(api.list_repo_commits("alice/paged"))) == 2
        bad = httpx.get(f"{hub.url}/api/models/alice/paged/tree/main?cursor=-1")
        assert bad.status_code == 400 and "cursor" in bad.json()["error"]


def test_ticket_book_drops_expired_and_stays_bounded() -> None:
    book = TicketBook(lifetime_s=3600, max_tickets=10)
    secrets = [book.issue("alice/r", "a" * 64, i) for i in range(25)]
    assert len(book) == 10
    assert book.peek(secrets[0]) is None and book.peek(secrets[-1]).size == 24
    expired = TicketBook(lifetime_s=-1)
    for i in range(5):
        expired.issue("alice/r", "a" * 64, i)
    assert len(expired) == 1  # each issue dropped the expired ones before it


def test_one_batch_of_many_objects_gets_one_ticket_each(alice: HfApi, pushed, hub) -> None:
    objects = [{"oid": hashlib.sha256(b"%d" % i).hexdigest(), "size": 10 + i} for i in range(1000)]
    response = httpx.post(
        f"{hub.url}/{pushed[0]}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": objects},
        headers=auth(hub),
        timeout=60,
    )
    answers = response.json()["objects"]
    hrefs = {a["actions"]["upload"]["href"] for a in answers}
    assert len(answers) == len(hrefs) == 1000


def test_folder_oids_are_git_like_and_consistent() -> None:
    def entry(data: bytes) -> FileEntry:
        return FileEntry.regular(data)

    files = {"a/b/c.txt": entry(b"1"), "a/d.txt": entry(b"2"), "e.txt": entry(b"3")}
    oids = folder_oids(files)
    assert set(oids) == {"", "a", "a/b"}
    changed = folder_oids({**files, "a/b/c.txt": entry(b"changed")})
    assert changed["a/b"] != oids["a/b"] and changed["a"] != oids["a"]
    assert folder_oids({**files, "e.txt": entry(b"other")})["a"] == oids["a"]
    items = tree_items(files, "", recursive=True)
    assert [i["path"] for i in items] == ["a", "a/b", "a/b/c.txt", "a/d.txt", "e.txt"]
    assert {i["path"]: i["oid"] for i in items if i["type"] == "directory"} == {
        "a": oids["a"],
        "a/b": oids["a/b"],
    }
    assert [i["path"] for i in tree_items(files, "a", recursive=False)] == ["a/b", "a/d.txt"]
    assert tree_items(files, "e.txt", recursive=False) is None


def test_apply_operations_on_deep_wide_trees() -> None:
    files = {
        f"d{i}/" + "/".join(["s"] * 30) + f"/f{i}": FileEntry.regular(b"x") for i in range(300)
    }
    result = apply_operations({}, [AddFile(p, e) for p, e in files.items()], max_folders=300 * 31)
    assert len(result) == 300
    with pytest.raises(InvalidOperationError, match="folders"):
        apply_operations({}, [AddFile(p, e) for p, e in files.items()], max_folders=300 * 31 - 1)
    kept = apply_operations(
        result, [DeleteFolder("d7"), AddFile("d7/new", FileEntry.regular(b"y"))]
    )
    assert "d7/new" in kept and not any(p.startswith("d7/s") for p in kept)
    with pytest.raises(InvalidOperationError, match="both a file and a folder"):
        apply_operations(result, [AddFile("d3", FileEntry.regular(b"z"))])
    with pytest.raises(InvalidOperationError, match="both a file and a folder"):
        apply_operations({"a": FileEntry.regular(b"1")}, [AddFile("a/b", FileEntry.regular(b"2"))])


# ------------------------------------------------------------------ A.4: one slow request


def test_a_slow_request_does_not_block_the_others(hub, alice: HfApi, pushed) -> None:
    store = hub._server.config.app.state.hub.store
    release, entered = threading.Event(), threading.Event()
    real = store.list_repos

    def slow_list_repos():
        entered.set()
        assert release.wait(30)
        return real()

    store.list_repos = slow_list_repos
    results: list[int] = []
    slow = threading.Thread(
        target=lambda: results.append(httpx.get(f"{hub.url}/api/models", timeout=60).status_code)
    )
    slow.start()
    try:
        assert entered.wait(30)
        # while the listing is stuck inside its handler, other requests are answered (the
        # timeout only turns a regression into a failure instead of a hang)
        whoami = httpx.get(f"{hub.url}/api/whoami-v2", headers=auth(hub), timeout=20)
        assert whoami.json()["name"] == "alice"
        info = httpx.get(f"{hub.url}/api/models/{pushed[0]}", headers=auth(hub), timeout=20)
        assert info.json()["sha"] == pushed[2]
        assert not results
    finally:
        release.set()
        slow.join(60)
        store.list_repos = real
    assert results == [200]


def test_sigterm_is_honoured_while_a_request_is_stuck(tmp_path: Path) -> None:
    with running_hub(tmp_path / "data", subprocess=True) as hub:
        HfApi(endpoint=hub.url, token=hub.token("alice")).create_repo("alice/r")
        sent, stop = threading.Event(), threading.Event()

        def stalled_body():
            yield ndjson(header())[:10]
            sent.set()
            stop.wait(60)  # never sends the rest while the server is asked to stop

        def client() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    f"{hub.url}/api/models/alice/r/commit/main",
                    content=stalled_body(),
                    headers={**auth(hub), "Content-Type": "application/x-ndjson"},
                    timeout=60,
                )

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        try:
            assert sent.wait(30)
            hub.process.send_signal(signal.SIGTERM)
            assert hub.process.wait(30) == 0  # the guard turns a hang into a failure
        finally:
            stop.set()
            thread.join(60)
        assert "graceful shutdown" in hub.stderr  # uvicorn says it cancelled the stuck request
