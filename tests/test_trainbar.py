"""Training progress as a user sees it: through a real pipe (plain lines, no carriage
returns), through a real terminal (python's pty: a bar with one steps/s figure), a
bar that ends early saying why, and a resumed run saying where it resumes."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys

from cli_runner import run_cli

from hubpg.trainbar import LineProgress

SHORT = ["--total-steps", "40000", "--num-envs", "16", "--eval-episodes", "0"]
NO_TARGET = ["--target-return", "1e9"]


def test_piped_progress_is_plain_lines_without_carriage_returns(tmp_path) -> None:
    proc = run_cli("train", "CartPole-v1", "--out", str(tmp_path / "run"), *SHORT, *NO_TARGET)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("train CartPole-v1:")]
    assert lines and lines[-1].startswith("train CartPole-v1: 100% 40k/40k steps")
    assert all(line.count("steps/s") == 1 for line in lines)


def test_line_progress_writes_at_most_one_line_per_interval() -> None:
    out = io.StringIO()
    bar = LineProgress(total=1000, unit=" steps", desc="train X", stream=out, interval=3600)
    for _ in range(100):
        bar.update(10)
        bar.set_postfix_str("return 1.0  5 steps/s")
    assert out.getvalue() == ""  # the interval has not passed
    bar.close()
    assert out.getvalue() == "train X: 100% 1.00k/1.00k steps, return 1.0  5 steps/s\n"
    fast = LineProgress(total=10, desc="train X", stream=io.StringIO(), interval=0)
    fast.update(5)
    fast.update(5)
    fast.close()  # the last line already shows the end: not written twice
    assert fast.stream.getvalue() == "train X:  50% 5/10 steps\ntrain X: 100% 10/10 steps\n"


def _run_in_a_terminal(args: list[str], timeout: float = 240) -> tuple[int, str]:
    """Run ``hubpg ARGS`` with its stderr (and stdout) on a real pseudo-terminal of 160
    columns (a fresh pty has none, and tqdm then draws nothing)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubpg.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "160"},
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_a_bar_with_one_steps_per_second_figure(tmp_path) -> None:
    code, text = _run_in_a_terminal(
        ["train", "CartPole-v1", "--out", str(tmp_path / "run"), *SHORT, *NO_TARGET]
    )
    assert code == 0, text
    updates = [u for u in re.split(r"[\r\n]", text) if "train CartPole-v1:" in u and "|" in u]
    assert updates, text
    assert all(u.count("steps/s") <= 1 for u in updates), updates
    assert any(u.count("steps/s") == 1 for u in updates)


def test_a_bar_that_ends_early_says_why(tmp_path) -> None:
    proc = run_cli(
        "train",
        "CartPole-v1",
        "--out",
        str(tmp_path / "run"),
        *SHORT,
        "--target-return",
        "9",
        "--target-updates",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"train CartPole-v1: stopped at \d+% of the budget: target return reached \(every "
        r"episode of 1 batches in a row reached 9, confirmed on 100 held-out episodes\)",
        proc.stderr,
    ), proc.stderr


def test_a_resumed_run_says_where_it_resumes(tmp_path) -> None:
    run = tmp_path / "run"
    first = run_cli("train", "CartPole-v1", "--out", str(run), *SHORT[:1], "8000", *SHORT[2:])
    assert first.returncode == 0, first.stderr
    again = run_cli("train", "CartPole-v1", "--out", str(run), "--resume", "--total-steps", "16000")
    assert again.returncode == 0, again.stderr
    match = re.search(r"resuming \S+ from update (\d+) \(([\d,]+) steps", again.stderr)
    assert match, again.stderr
    assert int(match.group(1)) > 0 and int(match.group(2).replace(",", "")) >= 8000
