"""The local Hub's HTML pages: the listing, model pages, revisions, 404s and hostile cards.

Requests go over real HTTP to a running local Hub whose repos were pushed with the
real ``huggingface_hub`` client; the HTML is parsed with the standard library.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from hubpg.localhub.cardhtml import relative_url_rewriter, render_card_html
from hubpg.localhub.pages import MAX_RENDERED_CARD_BYTES, human_size, short_date

HOSTILE_CARD = """---
library_name: <b>lib</b>
tags:
- <script>alert('tag')</script>
- CartPole-v1
model-index:
- name: x
  results:
  - task: {type: reinforcement-learning}
    dataset: {name: "<img src=x onerror=alert('env')>", type: "<img src=x onerror=alert('env')>"}
    metrics:
    - {type: mean_reward, value: "1.00 +/- 0.00", name: mean_reward}
---
# Hostile <script>alert('h1')</script>

<script>alert('script')</script>
<img src="x" onerror="alert('onerror')">
<svg onload="alert('svg')"><circle r="1"/></svg>
<iframe src="https://example.com/"></iframe>
<a href="javascript:alert('link')">raw link</a> [md link](javascript:alert('md'))
<a href=" JaVaScRiPt:alert('mixed')">mixed case</a>
<p style="background:url(javascript:alert('style'))" onclick="alert('click')">styled</p>
<form action="https://example.com/"><input name="q"></form>
<style>body { display: none }</style>
"""


class Elements(HTMLParser):
    """Every start tag of a document, with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.items: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.items if name == tag]


def get(hub, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(hub.url + path, headers=headers, timeout=30)


def push_card(api: HfApi, repo_id: str, card: str, **create) -> str:
    api.create_repo(repo_id, exist_ok=True, **create)
    info = api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id)
    return info.oid


def test_index_lists_public_models_newest_first(hub, alice: HfApi, bob: HfApi) -> None:
    push_card(bob, "bob/zzz-older", "---\ntags: [Pixelcopter-PLE-v0]\n---\n# old\n")
    push_card(alice, "alice/agent-newer", "---\ntags: [CartPole-v1]\n---\n# new\n")
    push_card(alice, "alice/secret", "---\ntags: [x]\n---\n# private\n", private=True)
    response = get(hub, "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = [a["href"] for a in Elements(response.text).all("a")]
    assert "/alice/agent-newer" in links and "/bob/zzz-older" in links
    assert links.index("/alice/agent-newer") < links.index("/bob/zzz-older")
    assert "alice/secret" not in response.text
    assert "alice/secret" not in get(hub, "/", token=hub.token("bob")).text
    assert "/alice/secret" in get(hub, "/", token=hub.token("alice")).text  # the API's rule


def test_index_search_filters_by_id_and_tag(hub, alice: HfApi) -> None:
    push_card(alice, "alice/copter", "---\ntags: [Pixelcopter-PLE-v0]\n---\n")
    push_card(alice, "alice/pole", "---\ntags: [CartPole-v1]\n---\n")
    by_tag = get(hub, "/?search=pixelcopter").text
    assert "/alice/copter" in by_tag and "/alice/pole" not in by_tag
    by_id = get(hub, "/?search=alice+pole").text
    assert "/alice/pole" in by_id and "/alice/copter" not in by_id
    none = get(hub, "/?search=%3Cscript%3Ex")
    assert none.status_code == 200
    assert "<script>x" not in none.text and "&lt;script&gt;x" in none.text
    search_box = Elements(none.text).all("input")[0]
    assert search_box["name"] == "search" and search_box["value"] == "<script>x"


def test_model_page_shows_card_summary_files_and_history(hub, pushed) -> None:
    repo_id, folder, sha = pushed
    response = get(hub, f"/{repo_id}")
    assert response.status_code == 200
    html = response.text
    assert "500.00 +/- 0.00" in html and "CartPole-v1" in html and "hubpg" in html
    assert "<h1>Reinforce agent playing CartPole-v1</h1>" in html  # the card's Markdown
    downloads = {a["href"] for a in Elements(html).all("a") if "download" in a}
    for path in ("README.md", "model.safetensors", "replay.mp4", "config.json"):
        url = f"/{repo_id}/resolve/{sha}/{path}"
        assert url in downloads
        assert httpx.get(hub.url + url).content == (folder / path).read_bytes()
    size = (folder / "model.safetensors").stat().st_size
    assert f'title="{size} bytes"' in html and human_size(size) in html
    assert "Push agent" in html and sha[:7] in html and "initial commit" in html
    assert f'href="/{repo_id}/tree/{sha}"' in html
    row = get(hub, "/").text
    assert f'href="/{repo_id}"' in row and "500.00 +/- 0.00" in row and "CartPole-v1" in row


def test_card_media_and_links_resolve_to_the_revision(hub, alice: HfApi, tmp_path: Path) -> None:
    card = (
        '---\ntags: [x]\n---\n<video src="replay.mp4" controls></video>\n\n'
        "![curve](./learning_curve.png) [config](config.json) [top](#top) "
        "[out](../../bob/other/resolve/main/x) [web](https://example.com/page)\n"
    )
    sha = push_card(alice, "alice/media", card)
    alice.upload_file(
        path_or_fileobj=b"\x00" * 64, path_in_repo="replay.mp4", repo_id="alice/media"
    )
    html = get(hub, f"/alice/media/tree/{sha}").text
    card_html = html[html.index('<article class="card">') :]
    base = f"/alice/media/resolve/{sha}/"
    elements = Elements(card_html)
    assert [v["src"] for v in elements.all("video")] == [base + "replay.mp4"]
    assert [i["src"] for i in elements.all("img")] == [base + "learning_curve.png"]
    hrefs = [a.get("href") for a in elements.all("a")]
    assert base + "config.json" in hrefs and "#top" in hrefs and "https://example.com/page" in hrefs
    assert not any(h and "bob/other" in h for h in hrefs)  # ../ never leaves the repo
    assert get(hub, base + "README.md").text == card


def test_tree_pages_show_each_revision(hub, alice: HfApi) -> None:
    first = push_card(alice, "alice/revs", "---\ntags: [x]\n---\n# first card\n")
    second = push_card(alice, "alice/revs", "---\ntags: [x]\n---\n# second card\n")
    alice.create_branch("alice/revs", branch="old", revision=first)
    main = get(hub, "/alice/revs").text
    assert "second card" in main and "first card" not in main
    assert get(hub, "/alice/revs/tree/main").text.count("second card") == 1
    at_first = get(hub, f"/alice/revs/tree/{first[:7]}").text
    assert "first card" in at_first and f"resolve/{first}/README.md" in at_first
    assert second[:7] not in at_first  # the history shown is the revision's
    old = get(hub, "/alice/revs/tree/old").text
    assert "first card" in old and 'href="/alice/revs/tree/old" class="current"' in old


@pytest.mark.parametrize(
    "path",
    ["/alice/nothing", "/nobody/agent", "/alice/agent/tree/nope", "/alice/agent/tree/0000000"],
)
def test_missing_repos_and_revisions_are_html_404s(hub, pushed, path: str) -> None:
    response = get(hub, path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404</h1>" in response.text


def test_private_repo_page_is_404_without_its_owners_token(hub, alice: HfApi) -> None:
    push_card(alice, "alice/hidden", "---\ntags: [x]\n---\n# top secret card\n", private=True)
    for token in (None, hub.token("bob")):
        response = get(hub, "/alice/hidden", token=token)
        assert response.status_code == 404
        assert "top secret card" not in response.text
        assert get(hub, "/alice/hidden/tree/main", token=token).status_code == 404
    owner = get(hub, "/alice/hidden", token=hub.token("alice"))
    assert owner.status_code == 200 and "top secret card" in owner.text and "private" in owner.text
    assert get(hub, "/alice/hidden", token="hf_wrong").status_code == 401


def test_invalid_repo_id_is_a_400_page(hub) -> None:
    response = get(hub, "/al..ice/agent")
    assert response.status_code == 400 and "<h1>400</h1>" in response.text


def test_hostile_card_never_reaches_the_page(hub, alice: HfApi) -> None:
    push_card(alice, "alice/hostile", HOSTILE_CARD)
    for path in ("/alice/hostile", "/"):
        response = get(hub, path)
        assert response.status_code == 200
        elements = Elements(response.text)
        tags = [tag for tag, _ in elements.items]
        for forbidden in ("script", "iframe", "svg", "circle"):
            assert forbidden not in tags, (path, forbidden)
        assert tags.count("style") == 1 and tags.count("form") == 1  # the page's own
        assert len(elements.all("input")) == 1  # the search box
        for tag, attrs in elements.items:
            assert not [name for name in attrs if name.startswith("on")], (path, tag, attrs)
            assert "style" not in attrs, (path, tag)
            for name in ("href", "src", "action"):
                value = (attrs.get(name) or "").strip().lower()
                assert not value.startswith(("javascript:", "data:text")), (path, tag, value)
        assert "display: none" not in response.text
        policy = response.headers["content-security-policy"]
        assert "script-src 'none'" in policy and "default-src 'none'" in policy
    page = get(hub, "/alice/hostile").text
    assert "&lt;script&gt;alert(&#39;tag&#39;)&lt;/script&gt;" in page  # tag shown as text
    assert "&lt;b&gt;lib&lt;/b&gt;" in page and "&lt;img src=x onerror" in page
    assert "1.00 +/- 0.00" in page
    assert "raw link" in page and "styled" in page  # the text stays, the payload goes


def test_card_too_large_to_render_gets_a_download_link(hub, alice: HfApi) -> None:
    body = "<div>" * (MAX_RENDERED_CARD_BYTES // 5 + 1)  # would cost nh3 seconds per view
    sha = push_card(alice, "alice/huge", "---\ntags: [CartPole-v1]\n---\n" + body)
    response = get(hub, "/alice/huge")
    assert response.status_code == 200
    assert "too large to render" in response.text and "<div><div>" not in response.text
    assert f"/alice/huge/resolve/{sha}/README.md" in response.text
    assert "CartPole-v1" in response.text  # the metadata is still summarised


def test_api_routes_keep_their_answers(hub, pushed) -> None:
    repo_id, _, sha = pushed
    listing = get(hub, "/api/models")
    assert listing.headers["content-type"].startswith("application/json")
    assert [m["id"] for m in listing.json()] == [repo_id]
    assert get(hub, f"/api/models/{repo_id}").json()["sha"] == sha
    wrong_method = get(hub, "/api/repos/create")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("application/json")
    unknown = get(hub, "/api/nothing-here")
    assert unknown.status_code == 404 and unknown.json() == {
        "error": "Not found: GET /api/nothing-here"
    }
    assert httpx.post(hub.url + f"/{repo_id}", timeout=30).status_code == 405


def test_relative_url_rewriter() -> None:
    rewrite = relative_url_rewriter("a/b", "c" * 40)
    base = f"/a/b/resolve/{'c' * 40}/"
    assert rewrite("replay.mp4") == base + "replay.mp4"
    assert rewrite("./sub/../img%20one.png?x=1#y") == base + "img%20one.png?x=1#y"
    assert rewrite("#anchor") == "#anchor"
    assert rewrite("/other/repo") == "/other/repo"
    assert rewrite("../escape") is None and rewrite("..") is None and rewrite(".") is None


def test_render_card_html_keeps_tables_and_video() -> None:
    html = render_card_html(
        '| hyperparameter | value |\n| --- | --- |\n| gamma | 0.99 |\n\n<video src="v.mp4" '
        'controls autoplay loop muted playsinline onplay="x()"></video>',
        repo_id="a/b",
        commit_id="f" * 40,
    )
    assert "<th>hyperparameter</th>" in html and "<td>0.99</td>" in html
    assert f'<video src="/a/b/resolve/{"f" * 40}/v.mp4" controls="" autoplay=""' in html
    assert "onplay" not in html


def test_human_size_and_short_date() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 1234, 300_042, 12_345_678)] == [
        "0 B",
        "999 B",
        "1 kB",
        "1.23 kB",
        "300 kB",
        "12.3 MB",
    ]
    assert short_date("2024-01-31T12:05:09.000Z") == "2024-01-31 12:05 UTC"
    assert short_date("garbage") == "garbage"
