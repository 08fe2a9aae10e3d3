"""The README's commands work as written: every ```bash line is listed below with how
the test runs it (the README's own words plus small-budget options, or why it is
exercised elsewhere), the list is kept in sync with the README, and one slow test
runs them all in order, against the README's own `hubpg hub serve`."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: README command -> options appended for a small budget (click keeps the last value),
#: or a string saying where it is exercised instead.
COMMANDS: dict[str, list[str] | str] = {
    "bash scripts/demo.sh": "tests/test_scripts.py runs scripts/demo.py (demo.sh = setup + it)",
    "bash scripts/test.sh": "this suite itself (.ci/run)",
    "source .venv/bin/activate": "set-up only: these tests call hubpg from the test's Python",
    "hubpg hub serve --port 8080 --data hubdata --user alice:hf_local_alice": [],
    "hubpg train CartPole-v1 --seed 1": ["--eval-episodes", "5"],
    "hubpg train Pixelcopter-PLE-v0 --seed 1": [
        "--total-steps", "3000", "--num-envs", "32", "--eval-episodes", "2"],
    "hubpg train CartPole-v1 --num-envs 1 --episodes-per-update 1 --total-episodes 1000 "
    "--lr 1e-2 --gamma 1.0 --max-t 1000 --baseline none --target-return 1e9 "
    "--out runs/course-s1": ["--total-episodes", "20", "--eval-episodes", "2"],
    "hubpg train CartPole-v1 --config my-hyperparameters.yaml --out runs/mine": [
        "--total-steps", "2000", "--eval-episodes", "2"],
    "hubpg evaluate runs/CartPole-v1-reinforce-s1": [],
    "hubpg evaluate runs/Pixelcopter-PLE-v0-reinforce-s1 --episodes 100 --max-t 10000 --json": [
        "--episodes", "2"],
    "hubpg package runs/CartPole-v1-reinforce-s1 --repo-name alice/Reinforce-CartPole-v1": [
        "--episodes", "20"],
    "hubpg push runs/CartPole-v1-reinforce-s1 --repo alice/Reinforce-CartPole-v1": [],
    "hubpg push runs/CartPole-v1-reinforce-s1 --repo alice/Reinforce-CartPole-v1-private "
    "--private --endpoint http://127.0.0.1:8080 --token hf_local_alice": [],
    "hubpg load-and-eval --repo alice/Reinforce-CartPole-v1 --episodes 100": ["--episodes", "20"],
    "hubpg load-and-eval --repo alice/Reinforce-CartPole-v1 --revision main --json --video "
    "replay.mp4": ["--episodes", "5"],
    "hubpg load-and-eval --repo alice/Reinforce-CartPole-v1 --strict": ["--episodes", "20"],
    "hubpg leaderboard CartPole-v1 --top 20": [],
    "hubpg leaderboard CartPole-v1 --verify --workers 2 --json": ["--episodes", "5"],
    "hubpg leaderboard CartPole-v1 --tag reinforce": [],
    "hubpg leaderboard Pixelcopter-PLE-v0 --verify --ray local": ["--episodes", "2"],
    "hubpg convert model.pt --out converted": [],
    "hubpg convert --repo bob/Reinforce-CartPole-v1 --out converted-bob --revision main": [],
    "hubpg load-and-eval --repo bob/Reinforce-CartPole-v1 --legacy --json": ["--episodes", "5"],
    "hubpg leaderboard CartPole-v1 --verify --legacy": ["--episodes", "5"],
    "hubpg leaderboard CartPole-v1 --verify --html site/": ["--episodes", "5"],
    "hubpg leaderboard CartPole-v1 --verify --reverify --db lb.sqlite --html site/": [
        "--episodes", "5"],
    "python scripts/bench_legacy.py": "tests/test_legacy.py (tiny budget)",
    "HF_ENDPOINT=http://127.0.0.1:8080 hubpg push runs/CartPole-v1-reinforce-s1 --repo "
    "alice/test --token hf_local_alice": [],
    "python scripts/bench_train.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_envs.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_hub.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_leaderboard.py": "tests/test_board_scripts.py (tiny budget)",
    "python scripts/sweep_pixelcopter.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_pixelcopter.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_throughput.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_recipes.py": "tests/test_scripts.py (tiny budget)",
    "python scripts/bench_async.py": "tests/test_scripts.py (tiny budget)",
    "hubpg train Pendulum-v1 --seed 1": ["--total-steps", "2000", "--eval-episodes", "2"],
    "hubpg train LunarLander-v3 --seed 1": ["--total-steps", "2000", "--eval-episodes", "2"],
}  # fmt: skip


def readme_commands() -> list[str]:
    """Each command of the README's ```bash blocks, continuation lines joined, comments
    dropped, in order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(" ".join(words))
    return commands


def test_the_list_matches_the_readme() -> None:
    assert sorted(set(readme_commands())) == sorted(COMMANDS)


def test_the_scripts_the_readme_names_exist() -> None:
    for command in COMMANDS:
        for word in command.split():
            if word.startswith("scripts/"):
                assert (ROOT / word).is_file(), word


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.pop("HF_TOKEN", None)
    return env


def _course_model(tmp_path: Path, url: str) -> None:
    """What the README's legacy commands read: a course checkpoint (made by the course's
    own classes) as ./model.pt with its JSON files, and pushed as bob/Reinforce-CartPole-v1."""
    import shutil

    import huggingface_hub.constants
    from huggingface_hub import HfApi

    out = tmp_path / "course"
    helper = ROOT / "tests" / "course_checkpoints.py"
    proc = subprocess.run(
        [sys.executable, str(helper), str(out), str(tmp_path / "PAYLOAD-RAN")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    repo = out / "repo-CartPole-v1"
    for path in repo.iterdir():
        if path.name != "README.md":
            shutil.copy(path, tmp_path / path.name)
    huggingface_hub.constants.HF_HUB_DISABLE_XET = True  # the local Hub has no Xet
    api = HfApi(endpoint=url, token="hf_local_bob")
    api.create_repo("bob/Reinforce-CartPole-v1")
    api.upload_folder(repo_id="bob/Reinforce-CartPole-v1", folder_path=str(repo))


def _start_readme_hub(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The README's `hubpg hub serve` on a free port (8080 may be taken here)."""
    words = shlex.split("hubpg hub serve --port 8080 --data hubdata --user alice:hf_local_alice")
    ready = tmp_path / "hub-url"
    args = [*words[1:], "--port", "0", "--ready-file", str(ready), "--user", "bob:hf_local_bob"]
    server = subprocess.Popen(
        [sys.executable, "-m", "hubpg.cli", *args], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    for _ in range(600):
        if ready.is_file() and ready.read_text().strip():
            return server, ready.read_text().strip()
        if server.poll() is not None:
            raise AssertionError(f"hub serve exited: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    server.kill()
    raise AssertionError("hub serve did not start")


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path) -> None:
    env = _env(tmp_path)
    (tmp_path / "my-hyperparameters.yaml").write_text("lr: 0.01\nhidden: [32]\nseed: 3\n")
    server, url = _start_readme_hub(tmp_path, env)
    _course_model(tmp_path, url)
    env["HF_ENDPOINT"] = url  # as the README's last block sets it
    env["HF_TOKEN"] = "hf_local_alice"  # the README's "or HF_TOKEN"
    failures = []
    try:
        for command in readme_commands():
            extra = COMMANDS[command]
            if isinstance(extra, str) or command.startswith("hubpg hub serve"):
                continue
            words = shlex.split(command.replace("http://127.0.0.1:8080", url))
            if "=" in words[0]:
                words = words[1:]  # HF_ENDPOINT=..., already in env
            assert words[0] == "hubpg", command
            proc = subprocess.run(
                [sys.executable, "-m", "hubpg.cli", *words[1:], *extra],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                failures.append(f"{command}: exit {proc.returncode}: {proc.stderr[-500:]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert failures == []
    assert (tmp_path / "runs" / "course-s1" / "model.safetensors").is_file()
    assert (tmp_path / "runs" / "mine" / "model.safetensors").is_file()
    assert (tmp_path / "replay.mp4").stat().st_size > 0
    assert (tmp_path / "converted" / "model.safetensors").is_file()
    assert (tmp_path / "converted-bob" / "model.safetensors").is_file()
