"""The leaderboard scripts in their tiny modes: the benchmark prints both figures, the
screenshot script writes a PNG of a verified page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium_path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``scripts/NAME ARGS`` and check it exits 0."""
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_bench_leaderboard_tiny_mode(cartpole_run) -> None:
    proc = _run_script(
        "bench_leaderboard.py",
        *("--models", "3", "--episodes", "5", "--rows", "50", "--run", str(cartpole_run)),
    )
    out = proc.stdout
    assert "3 models, 5 episodes each" in out
    first = float(re.search(r"first --verify \(empty store\): +([\d.]+) s", out)[1])
    second = re.search(r"second --verify \(all unchanged\): +([\d.]+) s +x([\d.]+) faster", out)
    assert first > 0 and float(second[1]) > 0 and float(second[2]) > 0
    if chromium_path() is None:
        assert "page timing skipped" in proc.stderr
    else:
        assert re.search(
            r"page of 50 rows in headless Chromium: load \d+ ms, click-sort \d+ ms", out
        )


@pytest.mark.slow
def test_bench_leaderboard_distinct_models_tiny_mode() -> None:
    proc = _run_script(
        "bench_leaderboard.py", *("--distinct", "6", "--episodes", "5", "--distinct-only")
    )
    out = proc.stdout
    assert "6 distinct repos, 5 episodes each" in out
    figures = re.search(r"whole command ([\d.]+) s: ([\d.]+) models/s, ([\d,]+) env steps/s", out)
    assert figures and float(figures[1]) > 0 and float(figures[2]) > 0
    assert re.search(r"raw batched CartPole-v1 env: [\d,]+ steps/s; ratio [\d.]+%", out)


@pytest.mark.slow
def test_screenshot_script_photographs_a_verified_page(cartpole_run, tmp_path) -> None:
    if chromium_path() is None:
        pytest.fail(
            "no chromium on this machine: run scripts/test.sh (it installs it) or apt-get install chromium"
        )
    out, site = tmp_path / "shot.png", tmp_path / "site"
    _run_script(
        "screenshot_leaderboard.py",
        *("--episodes", "5", "--run", str(cartpole_run), "--out", str(out)),
        *("--site", str(site)),
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    data = json.loads((site / "leaderboard.json").read_text())
    rows = {row["repo_id"]: row for row in data["rows"]}
    assert rows["alice/cartpole-1000"]["claim_impossible"] is True
    assert rows["bob/cartpole-best-ever"]["claim_supported"] is False
    assert rows["bob/Reinforce-CartPole-course"]["problem"] == "not verifiable: pickle"
