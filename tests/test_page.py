"""The static leaderboard site: HTML, escaping, links, the JSON and Space README, atomic
writes, and the page itself in headless Chromium (sorting, search, no injected script)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil

import pytest
from markupsafe import escape

import hubpg
from hubpg.errors import LeaderboardSiteError
from hubpg.page import GENERATOR, build_site, claim_impossible, leaderboard_page
from hubpg.ranking import ROW_KEYS

ENDPOINT = "http://127.0.0.1:9"
SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40
HOSTILE = "<img src=x onerror=\"window.pwned=1;alert('pwned')\">"
HOSTILE_REPO = 'bob/"><script>window.pwned=2</script>'
PROTOCOL = {"env_id": "CartPole-v1", "episodes": 100, "seed": 0, "deterministic": False}


def row(repo_id: str, rank: int | None, **values):
    """A leaderboard row as :func:`hubpg.ranking.leaderboard` returns it."""
    base = dict.fromkeys(ROW_KEYS) | {"repo_id": repo_id, "rank": rank}
    return base | values


def measured(repo_id, rank, claimed, measured_mean, measured_std, sha, **extra):
    return row(
        repo_id,
        rank,
        claimed_mean=claimed[0],
        claimed_std=claimed[1],
        claimed_score=claimed[0] - claimed[1],
        claimed_n_episodes=extra.pop("claimed_n", 100),
        measured_mean=measured_mean,
        measured_std=measured_std,
        measured_score=measured_mean - measured_std,
        measured_n_episodes=100,
        claim_supported=extra.pop("supported", True),
        date="2026-11-30T09:00:00+00:00",
        revision=sha,
        verified=extra.pop("verified", "now"),
        verified_at=extra.pop("verified_at", "2026-12-01T10:00:00+00:00"),
        **extra,
    )


@pytest.fixture
def rows():
    return [
        measured("alice/cartpole-best", 1, (500.0, 0.0), 500.0, 0.0, SHA_A),
        measured("carol/cartpole-mid", 2, (300.0, 40.0), 310.0, 35.0, SHA_B, claimed_n=20),
        measured(
            "bob/cartpole-liar",
            3,
            (1000.0, 0.0),
            120.0,
            30.0,
            SHA_C,
            supported=False,
            claimed_n=None,
            verified="stored",
        ),
        row("bob/course-pickle", None, claimed_mean=480.0, claimed_std=20.0, problem="pickle"),
        row(HOSTILE_REPO, None, problem=f"card claims {HOSTILE}", revision="not-a-sha"),
    ]


def site_of(rows):
    return build_site(
        rows,
        protocol=PROTOCOL | {"max_t": 500},
        endpoint=ENDPOINT,
        generated_at="2026-12-01T10:05:00+00:00",
    )


# --------------------------------------------------------------------------- HTML


def test_every_row_is_on_the_page_with_its_links_and_verdict(rows) -> None:
    page = site_of(rows)["html"]
    assert page.count("<tr data-repo=") == len(rows)
    ranked = page.split('id="ranked"', 1)[1].split('id="apart"', 1)[0]
    assert [m for m in re.findall(r'data-repo="([^"]+)"', ranked)] == [
        "alice/cartpole-best",
        "carol/cartpole-mid",
        "bob/cartpole-liar",
    ]
    assert f'<a href="{ENDPOINT}/alice/cartpole-best">alice/cartpole-best</a>' in page
    assert f'href="{ENDPOINT}/carol/cartpole-mid/commit/{SHA_B}">bbbbbbb</a>' in page
    assert "500.00 +/- 0.00" in page and "310.00 +/- 35.00" in page and "275.00" in page
    assert "claim supported" in page
    # claimed_n_episodes: shown, "unknown" when the repo does not say
    assert '<td class="num" data-v="20.0">20</td>' in page
    assert '<td class="num" data-v="">unknown</td>' in page
    assert (
        '<span class="small">stored</span>' in page
        and ">this run</span>" in page
        and "2026-12-01 10:00" in page
    )
    # the header: env, protocol, version; the how-to paragraph
    assert "100 episodes (seeds\n0&ndash;99), sampled actions" in page
    assert "capped at 500 steps, maximum return 500" in page
    assert f"hubpg {hubpg.__version__}" in page and "How these numbers are measured" in page
    apart = page.split('id="apart"', 1)[1]
    assert "not verifiable: pickle" in apart and "480.00 +/- 20.00" in apart


def test_an_impossible_claim_is_flagged_on_the_page_and_in_the_json(rows) -> None:
    site = site_of(rows)
    assert "impossible claim: 1000.00 is above the maximum return 500" in site["html"]
    flags = {r["repo_id"]: r["claim_impossible"] for r in site["json"]["rows"]}
    assert flags["bob/cartpole-liar"] is True and flags["alice/cartpole-best"] is False
    assert claim_impossible({"claimed_mean": 500.0}, 500.0) is False
    assert claim_impossible({"claimed_mean": 500.5}, 500.0) is True
    assert claim_impossible({"claimed_mean": float("inf")}, None) is True
    assert claim_impossible({"claimed_mean": 1e9}, None) is False  # Pixelcopter: no bound


def test_card_values_and_repo_ids_are_escaped(rows) -> None:
    page = site_of(rows)["html"]
    assert HOSTILE not in page and "<script>window.pwned" not in page
    assert str(escape(f"card claims {HOSTILE}")) in page
    assert str(escape(HOSTILE_REPO)) in page
    assert "&lt;img src=x onerror=" in page
    assert page.count("<script>") == 1  # only the page's own
    # no commit link for a revision that is not a sha, and the repo link is percent-encoded
    assert "/commit/not-a-sha" not in page
    assert f'href="{ENDPOINT}/bob/%22%3E%3Cscript%3Ewindow.pwned%3D2%3C/script%3E"' in page


def test_the_csp_allows_exactly_the_inline_script_and_style(rows) -> None:
    page = site_of(rows)["html"]
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]

    def digest(text):
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1]
    assert f"script-src 'sha256-{digest(script)}'" in csp
    assert f"style-src 'sha256-{digest(style)}'" in csp
    assert "default-src 'none'" in csp
    assert not re.search(r"(src|href)=\"(https?:)?//(?!127\.0\.0\.1)", page)  # no CDN


def test_json_and_space_readme(rows) -> None:
    site = site_of(rows)
    data = site["json"]
    assert data["generator"] == GENERATOR and data["hubpg_version"] == hubpg.__version__
    assert data["protocol"]["episodes"] == 100 and data["max_return"] == 500.0
    assert [r["repo_id"] for r in data["rows"]] == [r["repo_id"] for r in rows]
    assert set(ROW_KEYS) <= set(data["rows"][0]) and data["rows"][2]["verified"] == "stored"
    readme = site["readme"]
    meta = readme.split("---\n")[1]
    assert "sdk: static\n" in meta and 'title: "CartPole-v1 verified leaderboard"' in meta
    assert "emoji: " in meta and "app_file: index.html" in meta


def test_non_finite_numbers_never_reach_the_json(rows, tmp_path) -> None:
    rows[3]["claimed_mean"] = float("inf")
    out = leaderboard_page(rows, tmp_path / "site", env_id="CartPole-v1", endpoint=ENDPOINT)
    text = (out / "leaderboard.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["rows"][3]["claimed_mean"] is None


# --------------------------------------------------------------------------- the folder


def test_the_site_is_written_atomically_and_replaces_only_an_earlier_site(
    rows, tmp_path, monkeypatch
) -> None:
    out = tmp_path / "site"
    assert leaderboard_page(rows, out, env_id="CartPole-v1", endpoint=ENDPOINT) == out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "index.html", "leaderboard.json"]
    first = (out / "index.html").read_text()
    # a rewrite that fails midway leaves the previous site as it was, and no temp folder
    import hubpg.page

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(hubpg.page, "write_json", broken)
    with pytest.raises(OSError, match="disk full"):
        leaderboard_page(rows[:1], out, env_id="CartPole-v1", endpoint=ENDPOINT)
    assert (out / "index.html").read_text() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    monkeypatch.undo()
    leaderboard_page(rows[:1], out, env_id="CartPole-v1", endpoint=ENDPOINT)
    assert (out / "index.html").read_text().count("<tr data-repo=") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    # a folder of something else is refused and left alone
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(LeaderboardSiteError, match="not a hubpg leaderboard site"):
        leaderboard_page(rows, mine, env_id="CartPole-v1", endpoint=ENDPOINT)
    assert (mine / "thesis.tex").read_text() == "precious"
    assert oct((out.stat().st_mode) & 0o777) == "0o755"


# --------------------------------------------------------------------------- in Chromium


def _many_rows(n: int):
    rows = []
    for i in range(n):
        mean = 100.0 + (i * 37) % 400
        rows.append(
            measured(
                f"{'alice' if i % 3 else 'bob'}/agent-{i:04d}",
                None,
                (mean + 5, 10.0),
                mean,
                float(i % 17),
                f"{i:040x}",
            )
        )
    rows.sort(key=lambda r: -r["measured_score"])
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    return rows


def _open(page, rows, tmp_path):
    out = leaderboard_page(rows, tmp_path / "site", env_id="CartPole-v1", endpoint=ENDPOINT)
    page.goto((out / "index.html").as_uri())
    return out


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{index}].textContent.trim())",
    )


def test_the_page_shows_sorts_and_filters_in_chromium(page, rows, tmp_path) -> None:
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _open(page, rows, tmp_path)
    assert _column(page, "ranked", 1) == [
        "alice/cartpole-best",
        "carol/cartpole-mid",
        "bob/cartpole-liar",
    ]
    assert len(_column(page, "apart", 0)) == 2
    page.click("#ranked th:nth-child(6) button")  # Score: best first
    assert _column(page, "ranked", 5) == ["500.00", "275.00", "90.00"]
    page.click("#ranked th:nth-child(6) button")  # again: worst first
    assert _column(page, "ranked", 5) == ["90.00", "275.00", "500.00"]
    assert page.get_attribute("#ranked th:nth-child(6)", "aria-sort") == "ascending"
    page.click("#ranked th:nth-child(2) button")  # Repo: alphabetical
    assert _column(page, "ranked", 1) == [
        "alice/cartpole-best",
        "bob/cartpole-liar",
        "carol/cartpole-mid",
    ]
    page.click("#ranked th:nth-child(4) button")  # claimed episodes: unknown stays last
    assert _column(page, "ranked", 3) == ["100", "20", "unknown"]
    page.fill("#search", "bob")
    assert _column(page, "ranked", 1) == ["bob/cartpole-liar"]
    assert _column(page, "apart", 0) == ["bob/course-pickle", HOSTILE_REPO]
    assert page.text_content("#count") == "3 of 5 models shown"
    page.fill("#search", "CAROL mid")
    assert _column(page, "ranked", 1) == ["carol/cartpole-mid"]
    assert _column(page, "apart", 0) == []
    page.fill("#search", "")
    assert len(_column(page, "ranked", 1)) == 3
    assert errors == []  # the CSP let the page's own script and style run, and nothing else


def test_a_hostile_card_value_does_not_run_in_chromium(page, rows, tmp_path) -> None:
    violations = []
    page.on("console", lambda msg: violations.append(msg.text))
    _open(page, rows, tmp_path)
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.dialogs == []
    assert page.locator("#apart img").count() == 0 and page.locator("body script").count() == 1
    reasons = _column(page, "apart", 2)
    assert f"not verifiable: card claims {HOSTILE}" in reasons  # shown as text
    assert _column(page, "apart", 0)[1] == HOSTILE_REPO


def test_the_page_fits_a_phone(page, rows, tmp_path) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    _open(page, rows, tmp_path)
    # the page itself does not scroll sideways: the wide tables scroll in their own box
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "14px"
    assert page.is_visible("#search")


def _course_sized_rows():
    """Rows as long as real course leaderboards have them: long user and repo names, a
    row of each verdict, stored and fresh verifications."""
    names = [
        "ThomasSimonini/Reinforce-CartPole-v1-deep-rl-course-unit4-final",
        "a-very-long-username-2024/reinforce-CartPole-v1-1000-episodes-lr-1e-2",
        "bob/cartpole",
    ]
    rows = [
        measured(
            name,
            i + 1,
            (500.0 - i, 0.0),
            480.0 - 100 * i,
            12.34,
            f"{i + 1:040x}",
            supported=i != 1,
            verified="stored" if i else "now",
            claim_problem="the measured mean is lower by more than chance allows",
        )
        for i, name in enumerate(names)
    ]
    rows.append(
        row(
            names[0] + "-sb3",
            None,
            claimed_mean=480.0,
            claimed_std=20.0,
            problem="not verifiable here: stable-baselines3",
            other_format="stable-baselines3",
            revision="d" * 40,
            date="2026-11-30T09:00:00+00:00",
        )
    )
    return rows


def test_the_page_fits_1280_pixels_and_every_column_is_visible(page, tmp_path) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    _open(page, _course_sized_rows(), tmp_path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for table in ("ranked", "apart"):
        # no table scrolls sideways in its box: the last column is not clipped
        box = page.evaluate(
            f"(() => {{ const s = document.querySelector('#{table}').parentElement;"
            " return [s.scrollWidth, s.clientWidth]; })()"
        )
        assert box[0] <= box[1], (table, box)
        right = page.evaluate(
            f"document.querySelector('#{table} thead th:last-child').getBoundingClientRect().right"
        )
        assert right <= 1280, (table, right)


@pytest.mark.slow
def test_a_thousand_rows_load_and_sort_in_chromium(page, tmp_path) -> None:
    rows = _many_rows(1000)
    _open(page, rows, tmp_path)
    assert page.locator("#ranked tbody tr").count() == 1000
    page.click("#ranked th:nth-child(5) button")  # measured mean, best first
    means = [float(v.split()[0]) for v in _column(page, "ranked", 4)]
    assert means == sorted(means, reverse=True)
    page.fill("#search", "bob/")
    assert len(_column(page, "ranked", 1)) == sum(r["repo_id"].startswith("bob/") for r in rows)


# --------------------------------------------------------------------------- the command


HOSTILE_CARD = """---
library_name: hubpg
tags:
- CartPole-v1
- reinforce
model-index:
- name: agent
  results:
  - task:
      type: reinforcement-learning
    dataset:
      name: "<img src=x onerror=alert(document.domain)>"
      type: "<img src=x onerror=alert(document.domain)>"
    metrics:
    - type: mean_reward
      value: 500.00 +/- 0.00
---
# hostile
"""


@pytest.mark.slow
def test_the_command_writes_the_site_of_a_real_hub(page, cartpole_run, tmp_path) -> None:
    import huggingface_hub.constants
    from cli_runner import run_cli
    from huggingface_hub import HfApi

    from hubpg.api import push
    from hubpg.localhub.testing import running_hub

    huggingface_hub.constants.HF_HUB_DISABLE_XET = True
    site, db = tmp_path / "site", tmp_path / "store.sqlite"
    with running_hub(tmp_path / "hubdata") as hub:
        run = shutil.copytree(cartpole_run, tmp_path / "run", ignore=shutil.ignore_patterns("hub"))
        push(run, repo="alice/cartpole", endpoint=hub.url, token="hf_local_alice", video=False)
        bob = HfApi(endpoint=hub.url, token="hf_local_bob")
        bob.create_repo("bob/hostile")
        bob.upload_file(
            path_or_fileobj=HOSTILE_CARD.encode(), path_in_repo="README.md", repo_id="bob/hostile"
        )
        args = ["leaderboard", "CartPole-v1", "--endpoint", hub.url, "--verify"]
        args += ["--episodes", "10", "--workers", "1", "--db", str(db), "--html", str(site)]
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert f"leaderboard site written to {site}/" in proc.stderr
        assert "alice/cartpole" in proc.stdout  # the table is still printed
        refused = run_cli("leaderboard", "CartPole-v1", "--endpoint", hub.url, "--html", "x")
        assert refused.returncode == 2 and "--html needs --verify" in refused.stderr
    data = json.loads((site / "leaderboard.json").read_text())
    rows = {row["repo_id"]: row for row in data["rows"]}
    assert rows["alice/cartpole"]["rank"] == 1 and rows["alice/cartpole"]["verified"] == "now"
    assert rows["alice/cartpole"]["measured_n_episodes"] == 10
    assert data["protocol"] == {
        "env_id": "CartPole-v1",
        "episodes": 10,
        "seed": 0,
        "deterministic": False,
        "max_t": 500,
    }
    assert "<img" in rows["bob/hostile"]["problem"]  # kept as the card says, in JSON
    text = (site / "index.html").read_text()
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(document.domain)&gt;" in text
    assert f'href="{hub.url}/alice/cartpole/commit/{rows["alice/cartpole"]["revision"]}"' in text
    page.goto((site / "index.html").as_uri())
    assert page.dialogs == [] and page.locator("img").count() == 0
    assert "onerror=alert(document.domain)" in page.text_content("#apart")
    assert "sdk: static" in (site / "README.md").read_text()
