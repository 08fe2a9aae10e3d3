"""A pushed CartPole model's page in real headless Chromium: the card's score and
hyperparameter table, the replay video and the learning curve load, a hostile card's
scripts never run. A screenshot of the page is written under the test's tmp dir."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi

from hubpg.api import push
from hubpg.claims import parse_claim
from hubpg.runfolder import format_score

REPO = "alice/Reinforce-CartPole-v1"
HOSTILE = """---
tags: [CartPole-v1]
---
# Hostile

<script>window.__pwned = 'script'; alert('script')</script>
<img src="missing.png" onerror="window.__pwned = 'onerror'; alert('onerror')">
<svg><animate onbegin="alert('svg')" attributeName="x" dur="1s"></animate></svg>
<a href="javascript:window.__pwned='link'">click me</a>
<iframe srcdoc="<script>parent.alert('iframe')</script>"></iframe>
<details open ontoggle="alert('toggle')"><summary>s</summary></details>
"""


@pytest.fixture
def pushed_cartpole(hub, cartpole_run: Path, tmp_path: Path) -> tuple[str, Path]:
    """The session's CartPole run packaged (10 evaluation episodes) and pushed with hubpg."""
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    result = push(run, repo=REPO, endpoint=hub.url, token=hub.token("alice"), episodes=10)
    return result.commit_sha, result.package_dir


def _wait_for(page: Any, script: str) -> None:
    page.wait_for_function(script, timeout=30_000)


@pytest.mark.slow
def test_model_page_in_chromium(page: Any, hub, pushed_cartpole, tmp_path: Path) -> None:
    sha, package_dir = pushed_cartpole
    response = page.goto(f"{hub.url}/{REPO}")
    assert response is not None and response.status == 200

    claim = format_score(*parse_claim(package_dir / "README.md"))
    assert page.locator("dd.score").inner_text() == claim
    assert claim in page.locator("article.card").inner_text()

    table = page.locator("article.card table").filter(has_text="hyperparameter")
    assert table.locator("th").all_inner_texts() == ["hyperparameter", "value"]
    keys = set(table.locator("tbody tr td:first-child").all_inner_texts())
    hyperparameters = json.loads((package_dir / "hyperparameters.json").read_text())
    assert {"gamma", "lr"} <= keys and keys <= set(hyperparameters) | {"n_evaluation_episodes"}

    video = "article.card video"
    _wait_for(page, f"() => document.querySelector('{video}').readyState >= 1")
    assert page.eval_on_selector(video, "v => v.duration") > 0
    assert page.eval_on_selector(video, "v => v.currentSrc").endswith(
        f"/{REPO}/resolve/{sha}/replay.mp4"
    )
    image = "article.card img[src$='learning_curve.png']"
    _wait_for(page, f'() => document.querySelector("{image}").complete')
    assert page.eval_on_selector(image, "i => i.naturalWidth") > 0

    downloads = page.locator("table.files a").all_inner_texts()
    assert {"README.md", "model.safetensors", "replay.mp4", "learning_curve.png"} <= set(downloads)
    assert page.locator("ol.history li").count() == 2

    shot = tmp_path / "model-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert page.dialogs == []


def _assert_inert(page: Any, url: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    link = page.locator("article.card a", has_text="click me")
    assert link.get_attribute("href") is None  # nh3 removed the javascript: URL
    link.click()
    page.wait_for_timeout(300)  # let an onerror/ontoggle/animation fire, if any survived
    assert page.evaluate("() => window.__pwned") is None
    assert page.dialogs == []
    assert page.evaluate("() => document.querySelectorAll('script, iframe, svg').length") == 0
    assert "click me" in page.locator("article.card").inner_text()
    assert errors == []


@pytest.mark.slow
def test_hostile_card_scripts_never_run(page: Any, browser: Any, hub, alice: HfApi) -> None:
    alice.create_repo("alice/hostile")
    alice.upload_file(
        path_or_fileobj=HOSTILE.encode(), path_in_repo="README.md", repo_id="alice/hostile"
    )
    url = f"{hub.url}/alice/hostile"
    _assert_inert(page, url)
    # the sanitiser alone must be enough: again with the page's Content-Security-Policy off
    context = browser.new_context(bypass_csp=True)
    try:
        bare = context.new_page()
        bare.dialogs = []
        bare.on("dialog", lambda d: (bare.dialogs.append(d.message), d.dismiss()))
        _assert_inert(bare, url)
    finally:
        context.close()
