"""Who may see and write what, and the exceptions the real client raises for each refusal."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    BadRequestError,
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


@pytest.fixture
def private_repo(alice: HfApi, make_folder, tmp_path) -> str:
    alice.create_repo("alice/secret", private=True)
    alice.upload_folder(repo_id="alice/secret", folder_path=make_folder(tmp_path / "secret"))
    return "alice/secret"


def test_private_repo_only_visible_to_owner(
    alice: HfApi, bob: HfApi, anon: HfApi, private_repo: str, hub, cache_dir
) -> None:
    assert alice.model_info(private_repo).private is True
    for api in (bob, anon):
        with pytest.raises(RepositoryNotFoundError):
            api.model_info(private_repo)
        with pytest.raises(RepositoryNotFoundError):
            api.list_repo_files(private_repo)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(
            private_repo,
            "config.json",
            endpoint=hub.url,
            token=hub.token("bob"),
            cache_dir=cache_dir,
        )
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download(private_repo, endpoint=hub.url, token=False, cache_dir=cache_dir)
    assert "alice/secret" in {m.id for m in alice.list_models()}
    assert "alice/secret" not in {m.id for m in bob.list_models()}
    assert "alice/secret" not in {m.id for m in anon.list_models()}
    with pytest.raises(RepositoryNotFoundError):  # bob cannot even learn that it exists
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=private_repo)

    alice.update_repo_settings(private_repo, private=False)
    assert bob.model_info(private_repo).private is False


def test_wrong_or_missing_token(alice: HfApi, pushed, hub) -> None:
    repo_id = pushed[0]
    wrong = HfApi(endpoint=hub.url, token="hf_not_a_token")
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        wrong.whoami()
    with pytest.raises(HfHubHTTPError) as err:
        wrong.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert err.value.response.status_code == 401
    assert err.value.response.headers["X-Error-Message"]
    anon = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(HfHubHTTPError) as err:
        anon.create_repo("alice/anon")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        anon.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert err.value.response.status_code == 401
    assert anon.model_info(repo_id).id == repo_id  # public reads need no token


def test_other_namespace_is_forbidden(bob: HfApi, pushed) -> None:
    repo_id = pushed[0]
    for action in (
        lambda: bob.create_repo("alice/bobs"),
        lambda: bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id),
        lambda: bob.delete_repo(repo_id),
    ):
        with pytest.raises(HfHubHTTPError) as err:
            action()
        assert err.value.response.status_code == 403


def test_unknown_repo_file_and_revision(alice: HfApi, pushed, hub, cache_dir) -> None:
    repo_id = pushed[0]
    kw = {"endpoint": hub.url, "token": hub.token("alice"), "cache_dir": cache_dir}
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("alice/nope")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/nope", "config.json", **kw)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.bin", **kw)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="nobranch", **kw)
    with pytest.raises(RevisionNotFoundError):
        alice.model_info(repo_id, revision="0" * 40)
    with pytest.raises(RevisionNotFoundError):
        alice.list_repo_files(repo_id, revision="nobranch")
    assert not alice.file_exists(repo_id, "missing.bin")
    assert alice.file_exists(repo_id, "config.json")


def test_errors_carry_hub_headers(pushed, hub) -> None:
    repo_id = pushed[0]
    cases = {
        f"/api/models/{repo_id}/revision/nope": ("RevisionNotFound", 404),
        "/api/models/alice/nope": ("RepoNotFound", 404),
        f"/{repo_id}/resolve/main/nope.txt": ("EntryNotFound", 404),
        "/api/models/alice/bad..name": (None, 400),
        "/api/nowhere": (None, 404),
    }
    for path, (code, status) in cases.items():
        response = httpx.get(hub.url + path)
        assert response.status_code == status, path
        assert response.headers.get("X-Error-Code") == code, path
        assert response.headers["X-Error-Message"], path
    missing = httpx.head(f"{hub.url}/{repo_id}/resolve/main/nope.txt")
    assert missing.headers["X-Repo-Commit"] == pushed[2]


def test_bad_names_are_refused(alice: HfApi, hub) -> None:
    for name in ("a--b", "-lead", "x" * 97, "sp ace"):
        response = httpx.post(
            f"{hub.url}/api/repos/create",
            json={"name": name, "organization": "alice"},
            headers={"Authorization": f"Bearer {hub.token('alice')}"},
        )
        assert response.status_code == 400, name
    with pytest.raises(BadRequestError):
        alice.create_repo("alice/dataset-repo", repo_type="dataset")
