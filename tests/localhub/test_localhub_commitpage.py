"""The local Hub's commit pages, ``/NS/NAME/commit/SHA`` (issue 29.9): the leaderboard links
its rows there, which were 404s. Over real HTTP against a Hub the real client pushed to;
the HTML is parsed with the standard library."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

HOSTILE = "<script>alert('msg')</script><img src=x onerror=alert('img')>"


class Page(HTMLParser):
    """Start tags with their attributes, and the text of the page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def hrefs(self) -> set[str]:
        return {a["href"] for tag, a in self.tags if tag == "a" and a.get("href")}

    def rows(self) -> list[str]:
        return [" ".join(t.split()) for t in self.text if t.strip()]


def get(hub, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(hub.url + path, headers=headers, timeout=30)


@pytest.fixture
def two_commits(pushed, alice: HfApi) -> tuple[str, str, str]:
    """``alice/agent``: the pushed folder, then a commit that changes, adds and deletes."""
    repo_id, _, first = pushed
    info = alice.create_commit(
        repo_id,
        operations=[
            CommitOperationAdd("README.md", b"---\nlibrary_name: hubpg\n---\n# second\n"),
            CommitOperationAdd("notes/<b>new</b>.txt", b"hello"),
            CommitOperationDelete("learning_curve.png"),
        ],
        commit_message=f"Second {HOSTILE}",
        commit_description=f"Why:\n{HOSTILE}\nline two",
    )
    return repo_id, first, info.oid


def test_a_commit_page_shows_what_changed(hub, two_commits) -> None:
    repo_id, first, second = two_commits
    response = get(hub, f"/{repo_id}/commit/{second}")
    assert (
        response.status_code == 200
        and "script-src 'none'" in response.headers["content-security-policy"]
    )
    page = Page(response.text)
    text = "\n".join(page.rows())
    assert "1 added, 1 modified, 1 deleted" in text
    assert "added\nnotes/<b>new</b>.txt" in text and "modified\nREADME.md" in text
    assert "deleted\nlearning_curve.png" in text
    assert f"Second {HOSTILE}" in text and "line two" in text and second in text
    assert "alice committed on 20" in text and "UTC" in text
    hrefs = page.hrefs()
    assert f"/{repo_id}/resolve/{second}/notes/%3Cb%3Enew%3C/b%3E.txt" in hrefs
    assert f"/{repo_id}/resolve/{first}/learning_curve.png" in hrefs  # deleted: its last version
    assert f"/{repo_id}/commit/{first}" in hrefs and f"/{repo_id}/tree/{second}" in hrefs
    # every string is escaped: no script, no handler, no <b> element from user text
    assert not [t for t, _ in page.tags if t in ("script", "img", "b")]
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    added = get(hub, f"/{repo_id}/resolve/{second}/notes/%3Cb%3Enew%3C/b%3E.txt")
    assert added.content == b"hello"


def test_the_first_commit_adds_every_file_and_prefixes_resolve(hub, two_commits) -> None:
    repo_id, first, _ = two_commits
    text = "\n".join(Page(get(hub, f"/{repo_id}/commit/{first[:7]}").text).rows())
    assert "Push agent" in text and "0 deleted" in text and "added\nmodel.safetensors" in text
    history = Page(get(hub, f"/{repo_id}").text).hrefs()
    assert f"/{repo_id}/commit/{first}" in history  # the model page's history links here


def test_the_leaderboards_commit_links_resolve(hub, two_commits) -> None:
    """Before: every ``commit_url`` of a leaderboard row was a 404 on the local Hub."""
    from hubpg.page import build_site

    repo_id, _, second = two_commits
    row = {"repo_id": repo_id, "revision": second, "rank": None, "problem": "x"}
    protocol = {"env_id": "CartPole-v1", "episodes": 1, "seed": 0}
    protocol |= {"deterministic": False, "max_t": None}
    data = build_site([row], protocol=protocol, endpoint=hub.url, generated_at="2025-01-01")
    (link,) = [href for href in Page(data["html"]).hrefs() if "/commit/" in href]
    assert link == f"{hub.url}/{repo_id}/commit/{second}"
    assert httpx.get(link, timeout=30).status_code == 200


@pytest.mark.parametrize("rev", ["0" * 40, "nope", "0000000"])
def test_unknown_commits_are_html_404s(hub, pushed, rev) -> None:
    response = get(hub, f"/{pushed[0]}/commit/{rev}")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


def test_a_private_repos_commit_page_is_404_without_its_owners_token(hub, alice: HfApi) -> None:
    alice.create_repo("alice/hidden", private=True)
    sha = alice.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id="alice/hidden").oid
    assert get(hub, f"/alice/hidden/commit/{sha}").status_code == 404
    assert get(hub, f"/alice/hidden/commit/{sha}", token=hub.token("bob")).status_code == 404
    assert get(hub, f"/alice/hidden/commit/{sha}", token=hub.token("alice")).status_code == 200


@pytest.mark.slow
def test_a_hostile_commit_page_is_inert_in_chromium(page, hub, two_commits) -> None:
    repo_id, first, second = two_commits
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{hub.url}/{repo_id}/commit/{second}")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    assert page.locator("h2.commit-title").inner_text() == f"Second {HOSTILE}"
    assert page.locator("table.changes tr").count() == 3
    assert page.evaluate("() => document.querySelectorAll('script, img').length") == 0
    assert page.dialogs == [] and errors == []
    page.locator(f"a[href='/{repo_id}/commit/{first}']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/commit/{first}") and "Push agent" in page.content()
