"""Push and pull through the real huggingface_hub client against the local Hub."""

from __future__ import annotations

from pathlib import Path

import httpx
import huggingface_hub.constants
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    ModelCard,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import RepositoryNotFoundError

FILES = {
    "README.md",
    "model.safetensors",
    "replay.mp4",
    "learning_curve.png",
    "config.json",
    "results.json",
}


def test_whoami(alice: HfApi, bob: HfApi) -> None:
    assert alice.whoami()["name"] == "alice"
    assert bob.whoami()["name"] == "bob"


def test_create_repo_and_exist_ok(alice: HfApi, hub) -> None:
    url = alice.create_repo("alice/new")
    assert url == f"{hub.url}/alice/new"
    assert url.repo_id == "alice/new"
    assert alice.create_repo("alice/new", exist_ok=True) == url
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as err:
        alice.create_repo("alice/new")
    assert err.value.response.status_code == 409
    # a new repo has a first commit with .gitattributes, like the Hub
    assert alice.list_repo_files("alice/new") == [".gitattributes"]


def test_create_branch_from_main_or_a_revision(alice: HfApi, bob: HfApi) -> None:
    repo = "alice/branchy"
    alice.create_repo(repo)
    first = alice.list_repo_commits(repo)[0].commit_id
    alice.upload_file(path_or_fileobj=b"two", path_in_repo="two.txt", repo_id=repo)
    alice.create_branch(repo, branch="dev")
    alice.create_branch(repo, branch="old", revision=first)
    alice.create_branch(repo, branch="dev", exist_ok=True)
    refs = {b.name: b.target_commit for b in alice.list_repo_refs(repo).branches}
    assert refs["dev"] == refs["main"] != first and refs["old"] == first
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as err:
        alice.create_branch(repo, branch="dev")
    assert err.value.response.status_code == 409
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as err:
        alice.create_branch(repo, branch="new", revision="no-such-branch")
    assert err.value.response.status_code == 404
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as err:
        alice.create_branch(repo, branch=".hidden")
    assert err.value.response.status_code == 400
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as err:
        bob.create_branch(repo, branch="bobs")
    assert err.value.response.status_code == 403
    alice.upload_file(path_or_fileobj=b"dev", path_in_repo="dev.txt", repo_id=repo, revision="dev")
    assert "dev.txt" in alice.list_repo_files(repo, revision="dev")
    assert "dev.txt" not in alice.list_repo_files(repo)


def test_upload_folder_one_commit_and_model_info(alice: HfApi, pushed) -> None:
    repo_id, folder, sha = pushed
    commits = alice.list_repo_commits(repo_id)
    assert [c.title for c in commits] == ["Push agent", "initial commit"]
    assert commits[0].commit_id == sha and commits[0].authors == ["alice"]

    info = alice.model_info(repo_id, files_metadata=True)
    assert info.id == repo_id and info.sha == sha and info.private is False
    assert info.author == "alice" and info.last_modified is not None and info.created_at is not None
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == FILES | {".gitattributes"}
    for name in FILES:
        assert siblings[name].size == (folder / name).stat().st_size
    for name in ("model.safetensors", "replay.mp4", "learning_curve.png"):
        assert siblings[name].lfs is not None and siblings[name].lfs.size == siblings[name].size
    for name in ("README.md", "config.json", "results.json"):
        assert siblings[name].lfs is None
    assert info.card_data.library_name == "hubpg"
    assert info.card_data.eval_results[0].metric_value == "500.00 +/- 0.00"
    assert set(info.tags) >= {"hubpg", "CartPole-v1", "reinforce"}
    assert sorted(alice.list_repo_files(repo_id)) == sorted(FILES | {".gitattributes"})

    tree = {f.path: f for f in alice.list_repo_tree(repo_id, recursive=True)}
    assert tree["model.safetensors"].lfs.sha256 == siblings["model.safetensors"].lfs.sha256
    assert tree["config.json"].blob_id == siblings["config.json"].blob_id
    paths = alice.get_paths_info(repo_id, ["config.json", "model.safetensors", "nope"])
    assert [(p.path, p.lfs is not None) for p in paths] == [
        ("config.json", False),
        ("model.safetensors", True),
    ]


def test_downloads_are_byte_identical(alice: HfApi, pushed, hub, cache_dir: Path) -> None:
    repo_id, folder, sha = pushed
    token = hub.token("alice")
    for name in FILES:
        path = hf_hub_download(repo_id, name, endpoint=hub.url, token=token, cache_dir=cache_dir)
        assert Path(path).read_bytes() == (folder / name).read_bytes(), name
    snapshot = Path(
        snapshot_download(repo_id, endpoint=hub.url, token=token, cache_dir=cache_dir / "snap")
    )
    assert snapshot.name == sha
    for name in FILES:
        assert (snapshot / name).read_bytes() == (folder / name).read_bytes(), name
    local = Path(
        snapshot_download(repo_id, endpoint=hub.url, token=token, local_dir=cache_dir / "dir")
    )
    assert (local / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


def test_head_reports_real_length_and_etags(pushed, hub) -> None:
    repo_id, folder, sha = pushed
    for name, lfs in (("config.json", False), ("model.safetensors", True)):
        response = httpx.head(f"{hub.url}/{repo_id}/resolve/main/{name}")
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == (folder / name).stat().st_size
        assert response.headers["x-repo-commit"] == sha
        assert response.headers["etag"].startswith('"')
        assert ("x-linked-etag" in response.headers) is lfs
    ranged = httpx.get(
        f"{hub.url}/{repo_id}/resolve/main/config.json", headers={"Range": "bytes=2-5"}
    )
    assert (
        ranged.status_code == 206 and ranged.content == (folder / "config.json").read_bytes()[2:6]
    )
    beyond = httpx.get(
        f"{hub.url}/{repo_id}/resolve/main/config.json", headers={"Range": "bytes=9999-"}
    )
    assert beyond.status_code == 416 and beyond.headers["X-Error-Message"]


def test_second_commit_keeps_old_revision(
    make_folder, alice: HfApi, pushed, hub, cache_dir: Path, tmp_path
) -> None:
    repo_id, folder, first = pushed
    changed = make_folder(tmp_path / "v2", seed=1)
    second = alice.upload_folder(repo_id=repo_id, folder_path=changed, commit_message="v2").oid
    assert second != first
    assert alice.model_info(repo_id).sha == second
    token = hub.token("alice")
    old = hf_hub_download(
        repo_id, "config.json", revision=first, endpoint=hub.url, token=token, cache_dir=cache_dir
    )
    new = hf_hub_download(
        repo_id, "config.json", endpoint=hub.url, token=token, cache_dir=cache_dir
    )
    assert Path(old).read_bytes() == (folder / "config.json").read_bytes()
    assert Path(new).read_bytes() == (changed / "config.json").read_bytes()
    short = hf_hub_download(
        repo_id,
        "replay.mp4",
        revision=first[:7],
        endpoint=hub.url,
        token=token,
        cache_dir=cache_dir,
    )
    assert Path(short).read_bytes() == (folder / "replay.mp4").read_bytes()
    snap = Path(
        snapshot_download(
            repo_id, revision=first, endpoint=hub.url, token=token, cache_dir=cache_dir
        )
    )
    assert (snap / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert alice.model_info(repo_id, revision=first).sha == first


def test_unchanged_files_are_skipped_and_deletes_work(alice: HfApi, pushed) -> None:
    repo_id, folder, first = pushed
    again = alice.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="same")
    assert again.oid == first  # the client saw identical oids in preupload: no commit
    info = alice.create_commit(
        repo_id,
        [CommitOperationDelete("replay.mp4"), CommitOperationAdd("sub/dir/notes.txt", b"hello")],
        commit_message="delete and add",
        parent_commit=first,
    )
    files = alice.list_repo_files(repo_id)
    assert "replay.mp4" not in files and "sub/dir/notes.txt" in files
    top = {f.path for f in alice.list_repo_tree(repo_id)}
    assert "sub" in top and "sub/dir/notes.txt" not in top
    assert [f.path for f in alice.list_repo_tree(repo_id, path_in_repo="sub/dir")] == [
        "sub/dir/notes.txt"
    ]
    alice.create_commit(repo_id, [CommitOperationDelete("sub/")], commit_message="rm folder")
    assert not any(f.startswith("sub/") for f in alice.list_repo_files(repo_id))
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as err:  # stale parent -> 412
        alice.create_commit(
            repo_id,
            [CommitOperationAdd("x.txt", b"x")],
            commit_message="late",
            parent_commit=info.oid,
        )
    assert err.value.response.status_code == 412


def test_list_models(make_folder, alice: HfApi, bob: HfApi, pushed, tmp_path) -> None:
    other_card = "---\nlibrary_name: hubpg\ntags: [Pixelcopter-PLE-v0, reinforce]\n---\n"
    bob.create_repo("bob/copter")
    bob.upload_folder(
        repo_id="bob/copter",
        folder_path=make_folder(tmp_path / "copter", card=other_card),
        commit_message="copter",
    )
    bob.create_repo("bob/empty")
    ids = lambda models: sorted(m.id for m in models)  # noqa: E731
    assert ids(alice.list_models(filter="CartPole-v1")) == ["alice/agent"]
    assert ids(alice.list_models(filter=["reinforce", "hubpg"])) == ["alice/agent", "bob/copter"]
    assert ids(alice.list_models(filter=["reinforce", "Pixelcopter-PLE-v0"])) == ["bob/copter"]
    assert ids(alice.list_models(search="COPT")) == ["bob/copter"]
    assert ids(alice.list_models(author="bob")) == ["bob/copter", "bob/empty"]
    assert len(list(alice.list_models(limit=1))) == 1
    [agent] = alice.list_models(filter="CartPole-v1", cardData=True)
    assert agent.card_data is not None
    assert agent.card_data.eval_results[0].dataset_type == "CartPole-v1"


def test_model_card_validate_and_load(pushed, hub, monkeypatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(
        huggingface_hub.constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        hub.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    repo_id, folder, _ = pushed
    card = ModelCard((folder / "README.md").read_text())
    card.validate()
    bad = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": "---\ntags: [a\n---\n"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["message"]
    loaded = ModelCard.load(repo_id, token=hub.token("alice"))
    assert loaded.data.tags == ["CartPole-v1", "reinforce", "reinforcement-learning"]


def test_invalid_card_yaml_fails_before_upload(make_folder, alice: HfApi, tmp_path) -> None:
    alice.create_repo("alice/badcard")
    folder = make_folder(tmp_path / "bad", card="---\ntags: [oops\n---\n")
    with pytest.raises(ValueError, match="Invalid metadata"):
        alice.upload_folder(repo_id="alice/badcard", folder_path=folder)
    assert alice.list_repo_files("alice/badcard") == [".gitattributes"]


def test_delete_repo(alice: HfApi, pushed) -> None:
    repo_id, _, _ = pushed
    alice.delete_repo(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        alice.delete_repo(repo_id)
    alice.delete_repo(repo_id, missing_ok=True)
    alice.create_repo(repo_id)  # the name is free again, with a fresh history
    assert len(alice.list_repo_commits(repo_id)) == 1


def test_upload_then_snapshot_round_trip(make_folder, alice: HfApi, hub, tmp_path) -> None:
    # (how long it takes is measured by scripts/bench_hub.py, never asserted here)
    folder = make_folder(tmp_path / "timed")
    alice.create_repo("alice/timed")
    alice.upload_folder(repo_id="alice/timed", folder_path=folder)
    got = Path(
        snapshot_download(
            "alice/timed", endpoint=hub.url, token=hub.token("alice"), cache_dir=tmp_path / "c"
        )
    )
    sent = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    back = {p.relative_to(got): p.read_bytes() for p in got.rglob("*") if p.is_file()}
    assert sent and {name: back.get(name) for name in sent} == sent
    assert set(back) - set(sent) <= {Path(".gitattributes")}  # the repo's own


def test_concurrent_commits_on_same_parent(alice: HfApi, pushed) -> None:
    from concurrent.futures import ThreadPoolExecutor

    repo_id, _, first = pushed

    def commit(i: int):
        try:
            return alice.create_commit(
                repo_id,
                [CommitOperationAdd(f"c{i}.txt", f"{i}".encode())],
                commit_message=f"c{i}",
                parent_commit=first,
            ).oid
        except huggingface_hub.errors.HfHubHTTPError as exc:
            return exc.response.status_code

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(commit, range(4)))
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1 and results.count(412) == 3
    assert alice.model_info(repo_id).sha == winners[0]
