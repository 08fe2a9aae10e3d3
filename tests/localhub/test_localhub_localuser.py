"""A bare ``hubpg hub serve`` can be pushed to (issue 29.2): it makes one local user with a
fresh token (kept, mode 0600, in the data folder and reused on the next start) and prints
the exact line to push with it; the real client pushes with that line over HTTP."""

from __future__ import annotations

import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from hubpg.localhub.localuser import FILE_NAME, default_name, local_user
from hubpg.localhub.testing import running_hub

HINT = re.compile(
    r"^Push to it with: HF_ENDPOINT=(http://127\.0\.0\.1:\d+) hubpg push "
    r"--repo ([\w.-]+)/MODEL_NAME --token (hf_local_[0-9a-f]{40})$"
)


def _serve(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """``hubpg hub serve --port 0 --data DATA`` as a user runs it; its first two lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hubpg.cli", "hub", "serve", "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    got: list[str] = []
    deadline = time.monotonic() + 60
    while len(got) < 2:
        try:
            got.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)).rstrip("\n"))
        except queue.Empty:
            process.kill()
            raise AssertionError(f"hub serve printed {got}: {process.stderr.read()}") from None
    return process, got


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    process.wait(20)
    return process.stderr.read()


@pytest.mark.slow
def test_a_bare_hub_serve_makes_a_user_and_the_printed_line_pushes(tmp_path, cartpole_run) -> None:
    data = tmp_path / "hubdata"
    process, lines = _serve(data, {"USER": "student"})
    try:
        assert lines[0].startswith("Local Hub serving on http://127.0.0.1:")
        match = HINT.match(lines[1])
        assert match, lines[1]
        url, name, token = match.groups()
        assert name == "student" and lines[0].split()[4] == url
        stored = data / FILE_NAME
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and token in stored.read_text()
        assert HfApi(endpoint=url, token=token).whoami()["name"] == "student"
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=url, token="hf_local_" + "0" * 40).whoami()
        # the printed line, as a student pastes it (MODEL_NAME filled in), in a folder
        # whose runs/ holds one run
        work = tmp_path / "work"
        shutil.copytree(cartpole_run, work / "runs" / cartpole_run.name)
        command = lines[1].split(": ", 1)[1].replace("MODEL_NAME", "my-cartpole")
        bin_dir = Path(sys.executable).parent
        pushed = subprocess.run(
            ["bash", "-c", f"{command} --episodes 3 --quiet"],
            cwd=work,
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert pushed.returncode == 0, pushed.stderr
        assert token not in pushed.stdout + pushed.stderr
        files = HfApi(endpoint=url).list_repo_files("student/my-cartpole")
        assert {"README.md", "model.safetensors", "config.json"} <= set(files)
    finally:
        stderr = _stop(process)
    assert token not in stderr and "Traceback" not in stderr
    # the next start on the same data reuses the user and its token
    process, again = _serve(data, {"USER": "someone-else"})
    try:
        assert HINT.match(again[1]).group(3) == token and "--repo student/" in again[1]
        url = HINT.match(again[1]).group(1)
        assert HfApi(endpoint=url, token=token).whoami()["name"] == "student"
    finally:
        _stop(process)


def test_the_module_entry_point_reuses_the_stored_user(tmp_path) -> None:
    data = tmp_path / "hubdata"
    name, token = local_user(data, name="carol")
    assert local_user(data) == (name, token) == ("carol", token)
    (data / FILE_NAME).chmod(0o644)
    with running_hub(data, users={}, subprocess=True) as hub:
        deadline = time.monotonic() + 10
        while "Push to it with" not in hub.stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"--repo carol/MODEL_NAME --token {token}" in hub.stdout
        assert HfApi(endpoint=hub.url, token=token).whoami()["name"] == "carol"
    assert stat.S_IMODE((data / FILE_NAME).stat().st_mode) == 0o600  # tightened again


def test_a_given_user_makes_no_local_user(tmp_path) -> None:
    with running_hub(tmp_path / "d", subprocess=True) as hub:  # alice and bob
        time.sleep(0.2)
    assert not (tmp_path / "d" / FILE_NAME).exists() and "Push to it" not in hub.stdout


@pytest.mark.parametrize(
    ("user", "expected"),
    [("student", "student"), ("", "local"), ("a b/c", "a-b-c"), ("--", "local")],
)
def test_the_local_user_is_named_after_user(monkeypatch, user, expected) -> None:
    monkeypatch.setenv("USER", user)
    if not user:
        monkeypatch.delenv("USER")
        monkeypatch.setattr("getpass.getuser", lambda: "")
    assert default_name() == expected


def test_a_damaged_user_file_is_one_clear_error(tmp_path) -> None:
    from hubpg.errors import ConfigError

    (tmp_path / FILE_NAME).write_text('{"name": "x", "token": "short"}')
    with pytest.raises(ConfigError, match="no valid token; delete it"):
        local_user(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "hubpg.cli", "hub", "serve", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no valid token" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
