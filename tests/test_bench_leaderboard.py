"""scripts/bench_leaderboard.py in its tiny mode: it runs, and prints both figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium_path

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_leaderboard_tiny_mode(cartpole_run) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "bench_leaderboard.py"),
            *("--models", "3", "--episodes", "5", "--rows", "50", "--run", str(cartpole_run)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
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
