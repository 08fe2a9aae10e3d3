"""The server as a process: ready line, clean stops, bad options, and crashes mid-upload."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

from hubpg.localhub.testing import running_hub

READY = re.compile(r"^Local Hub serving on http://127\.0\.0\.1:(\d+) \(data: (.+)\)$")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_and_clean_stop(tmp_path: Path, sig: signal.Signals) -> None:
    with running_hub(tmp_path / "data", subprocess=True) as hub:
        assert (
            httpx.get(
                f"{hub.url}/api/whoami-v2", headers={"Authorization": "Bearer hf_local_bob"}
            ).json()["name"]
            == "bob"
        )
        hub.process.send_signal(sig)
        assert hub.process.wait(10) == 0
    lines = hub.stdout.splitlines()
    assert len(lines) == 1, lines
    match = READY.match(lines[0])
    assert match and hub.url.endswith(f":{match.group(1)}")
    assert Path(match.group(2)) == (tmp_path / "data").resolve()
    assert "Traceback" not in hub.stderr


def test_module_cli_ready_file_and_bad_options(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "hubpg.localhub", "--data", str(tmp_path), "--user", "no-colon"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: invalid user") and bad.stdout == ""
    ready = tmp_path / "ready.txt"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubpg.localhub",
            "--data",
            str(tmp_path / "d"),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = ready.read_text().strip()
        assert line.startswith(f"Local Hub serving on {url} ")
        port = url.rsplit(":", 1)[1]
        busy = subprocess.run(
            [sys.executable, "-m", "hubpg.localhub", "--port", port, "--data", str(tmp_path / "e")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert busy.returncode == 2 and "cannot listen" in busy.stderr
    finally:
        process.terminate()
        assert process.wait(10) == 0
        process.stdout.close()


def test_kill_between_lfs_upload_and_commit_leaves_repo_unchanged(
    tmp_path: Path, make_folder
) -> None:
    data = tmp_path / "data"
    uploaded = b"\x00uploaded, never committed" * 1000
    partial = b"\x00only half of me arrives" * 4000
    with running_hub(data, subprocess=True) as hub:
        api = HfApi(endpoint=hub.url, token=hub.token("alice"))
        api.create_repo("alice/crash")
        folder = make_folder(tmp_path / "v1")
        before = api.upload_folder(repo_id="alice/crash", folder_path=folder).oid
        # 1. an LFS object fully uploaded (PUT done) but not committed yet
        op = CommitOperationAdd("weights.bin", uploaded)
        api.preupload_lfs_files("alice/crash", additions=[op], free_memory=False)
        # 2. another LFS upload killed halfway through its PUT
        oid = hashlib.sha256(partial).hexdigest()
        batch = httpx.post(
            f"{hub.url}/alice/crash.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": oid, "size": len(partial)}]},
            headers={"Authorization": f"Bearer {hub.token('alice')}"},
        ).json()
        href = batch["objects"][0]["actions"]["upload"]["href"]
        gate = threading.Event()

        def body():
            yield partial[: len(partial) // 2]
            gate.wait(10)
            yield partial[len(partial) // 2 :]

        errors: list[BaseException] = []

        def put() -> None:
            try:
                httpx.put(
                    href, content=body(), headers={"Content-Length": str(len(partial))}, timeout=10
                )
            except httpx.HTTPError as exc:
                errors.append(exc)

        sender = threading.Thread(target=put)
        sender.start()
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size for p in (data / "tmp").glob("upload-*")):
            assert time.monotonic() < deadline, "the partial upload never reached the server"
            time.sleep(0.01)
        hub.process.kill()
        hub.process.wait(10)
        gate.set()
        sender.join(10)
        assert errors  # the client saw the connection die

    with running_hub(data) as again:
        api = HfApi(endpoint=again.url, token=again.token("alice"))
        assert api.model_info("alice/crash").sha == before
        assert "weights.bin" not in api.list_repo_files("alice/crash")
        assert len(api.list_repo_commits("alice/crash")) == 2
        assert not (data / "objects" / oid[:2] / oid).exists()  # the half upload was not kept
        batch = httpx.post(
            f"{again.url}/alice/crash.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": oid, "size": len(partial)}]},
            headers={"Authorization": f"Bearer {again.token('alice')}"},
        ).json()
        assert "actions" in batch["objects"][0]  # must be uploaded again
        # the finished upload survived: committing it now needs no new PUT
        after = api.create_commit("alice/crash", [op], commit_message="late commit").oid
        assert after != before
        path = hf_hub_download(
            "alice/crash",
            "weights.bin",
            endpoint=again.url,
            token=again.token("alice"),
            cache_dir=tmp_path / "c",
        )
        assert Path(path).read_bytes() == uploaded
        assert (
            Path(
                hf_hub_download(
                    "alice/crash", "config.json", endpoint=again.url, cache_dir=tmp_path / "c"
                )
            ).read_bytes()
            == (folder / "config.json").read_bytes()
        )
    assert os.listdir(data / "repos" / "alice") == ["crash"]
