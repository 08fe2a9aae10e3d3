"""Hostile or broken requests: bad content, path traversal, malformed payloads, huge bodies."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from hubpg.localhub.testing import running_hub
from hubpg.localhub.web import Limits


def auth(hub, user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token(user)}"}


def ndjson(*items: dict) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def header(summary: str = "raw commit") -> dict:
    return {"key": "header", "value": {"summary": summary, "description": ""}}


def post_commit(hub, repo_id: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/api/models/{repo_id}/commit/main",
        content=body,
        headers={**auth(hub), "Content-Type": "application/x-ndjson"},
    )


def lfs_batch(hub, repo_id: str, oid: str, size: int) -> dict:
    response = httpx.post(
        f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic"],
            "objects": [{"oid": oid, "size": size}],
        },
        headers=auth(hub),
    )
    response.raise_for_status()
    return response.json()["objects"][0]


def files_outside(root: Path, data_dir: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and data_dir not in p.parents]


def test_lfs_put_with_wrong_content_is_rejected(alice: HfApi, pushed, hub) -> None:
    repo_id, _, sha = pushed
    good = b"\x00good content" * 100
    oid = hashlib.sha256(good).hexdigest()
    action = lfs_batch(hub, repo_id, oid, len(good))
    href = action["actions"]["upload"]["href"]
    assert "Authorization" not in action["actions"]["upload"].get("header", {})
    bad = good[:-1] + b"!"
    response = httpx.put(href, content=bad)  # same size, other bytes
    assert response.status_code == 400 and "sha256" in response.headers["X-Error-Message"]
    commit = ndjson(
        header(),
        {
            "key": "lfsFile",
            "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(good)},
        },
    )
    assert post_commit(hub, repo_id, commit).status_code == 400
    assert alice.model_info(repo_id).sha == sha
    assert not (hub.data_dir / "objects" / oid[:2] / oid).exists()

    short = lfs_batch(hub, repo_id, oid, len(good))["actions"]["upload"]["href"]
    assert httpx.put(short, content=good[:10]).status_code == 400  # wrong size
    retry = lfs_batch(hub, repo_id, oid, len(good))["actions"]
    assert httpx.put(retry["upload"]["href"], content=good).status_code == 200
    assert httpx.put(retry["upload"]["href"], content=good).status_code == 403  # used up
    verify = httpx.post(
        retry["verify"]["href"], json={"oid": oid, "size": len(good)}, headers=auth(hub)
    )
    assert verify.status_code == 200
    assert "actions" not in lfs_batch(hub, repo_id, oid, len(good))  # already stored
    assert post_commit(hub, repo_id, commit).status_code == 200
    assert "w.bin" in alice.list_repo_files(repo_id)


def test_lfs_objects_are_per_repo(alice: HfApi, pushed, hub) -> None:
    """Knowing a sha256 is not enough to commit someone else's LFS object."""
    repo_id, _, _ = pushed
    lfs_oid = alice.model_info(repo_id, files_metadata=True)
    sha = next(s.lfs.sha256 for s in lfs_oid.siblings if s.rfilename == "model.safetensors")
    bob = HfApi(endpoint=hub.url, token=hub.token("bob"))
    bob.create_repo("bob/copy")
    body = ndjson(
        header(),
        {"key": "lfsFile", "value": {"path": "stolen.safetensors", "algo": "sha256", "oid": sha}},
    )
    response = httpx.post(
        f"{hub.url}/api/models/bob/copy/commit/main",
        content=body,
        headers={**auth(hub, "bob"), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 400
    assert "actions" in lfs_batch_for(hub, "bob", "bob/copy", sha, 10)


def lfs_batch_for(hub, user: str, repo_id: str, oid: str, size: int) -> dict:
    response = httpx.post(
        f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": size}]},
        headers=auth(hub, user),
    )
    return response.json()["objects"][0]


@pytest.mark.parametrize(
    "path",
    [
        "../../escape.txt",
        "/etc/escape.txt",
        "a/../../escape.txt",
        "a\\..\\escape.txt",
        "a//b.txt",
        "./x.txt",
        ".git/config",
        "",
    ],
)
def test_path_traversal_in_commit_is_refused(
    alice: HfApi, pushed, hub, tmp_path: Path, path: str
) -> None:
    repo_id, _, sha = pushed
    content = base64.b64encode(b"owned").decode()
    body = ndjson(
        header(), {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}}
    )
    response = post_commit(hub, repo_id, body)
    assert response.status_code == 400
    assert response.headers["X-Error-Message"]
    assert alice.model_info(repo_id).sha == sha
    assert not any(p.name == "escape.txt" for p in tmp_path.parent.rglob("escape.txt"))
    preupload = httpx.post(
        f"{hub.url}/api/models/{repo_id}/preupload/main",
        json={"files": [{"path": path, "sample": content, "size": 5}]},
        headers=auth(hub),
    )
    assert preupload.status_code == 400


def test_path_traversal_in_urls_is_refused(pushed, hub) -> None:
    repo_id = pushed[0]
    # httpx would normalise '..' away: send the raw target
    with httpx.Client() as client:
        for target in (
            f"/{repo_id}/resolve/main/%2E%2E/%2E%2E/repo.json",
            f"/{repo_id}/resolve/main/a%5Cb",
        ):
            request = client.build_request("GET", hub.url)
            request.url = request.url.copy_with(raw_path=target.encode())
            response = client.send(request)
            assert response.status_code == 400, target


@pytest.mark.parametrize(
    "body",
    [
        b"this is not json\n",
        b'{"key": "header"}\n',  # no value
        ndjson({"key": "file", "value": {"path": "a.txt", "content": ""}}),  # no header first
        ndjson(header(), {"key": "file", "value": {"path": "a.txt", "content": "!!notbase64"}}),
        ndjson(header(), {"key": "explode", "value": {}}),
        ndjson(header(), header()),
        ndjson({"key": "header", "value": {"summary": ""}}),
        b"[1, 2, 3]\n",
        b"",
    ],
)
def test_malformed_ndjson_is_400(alice: HfApi, pushed, hub, body: bytes) -> None:
    repo_id, _, sha = pushed
    response = post_commit(hub, repo_id, body)
    assert response.status_code == 400
    assert response.headers["X-Error-Message"]
    assert alice.model_info(repo_id).sha == sha


def test_malformed_json_is_400(hub) -> None:
    response = httpx.post(
        f"{hub.url}/api/repos/create",
        content=b"{nope",
        headers={**auth(hub), "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.headers["X-Error-Message"]


def test_oversize_bodies_get_413(tmp_path: Path) -> None:
    limits = Limits(max_lfs_bytes=4_000, max_commit_bytes=3_000, max_json_bytes=2_000)
    with running_hub(tmp_path / "data", limits=limits) as hub:
        api = HfApi(endpoint=hub.url, token=hub.token("alice"))
        api.create_repo("alice/small")
        sha = api.model_info("alice/small").sha
        big = base64.b64encode(b"x" * 5_000).decode()
        body = ndjson(header(), {"key": "file", "value": {"path": "big.txt", "content": big}})
        assert post_commit(hub, "alice/small", body).status_code == 413

        def chunks():  # no Content-Length: counted while streaming
            yield body[:1000]
            yield body[1000:]

        assert post_commit(hub, "alice/small", chunks()).status_code == 413
        response = httpx.post(
            f"{hub.url}/api/repos/create",
            json={"name": "n" * 10, "pad": "p" * 5000},
            headers=auth(hub),
        )
        assert response.status_code == 413 and response.headers["X-Error-Message"]

        data = b"\x00" * 3_000
        action = lfs_batch(hub, "alice/small", hashlib.sha256(data).hexdigest(), len(data))
        response = httpx.put(action["actions"]["upload"]["href"], content=b"\x00" * 50_000)
        assert response.status_code == 413
        huge = lfs_batch(hub, "alice/small", "a" * 64, 10_000)
        assert huge["error"]["code"] == 413
        with pytest.raises(ValueError, match="LFS batch API returned errors"):
            api.upload_file(
                path_or_fileobj=b"\x00" * 10_000, path_in_repo="w.bin", repo_id="alice/small"
            )
        assert api.model_info("alice/small").sha == sha
        assert files_outside(tmp_path, tmp_path / "data") == []


def test_xet_is_refused_with_advice(alice: HfApi, pushed, hub) -> None:
    response = httpx.get(
        f"{hub.url}/api/models/{pushed[0]}/xet-write-token/main", headers=auth(hub)
    )
    assert (
        response.status_code == 501 and "HF_HUB_DISABLE_XET" in response.headers["X-Error-Message"]
    )
