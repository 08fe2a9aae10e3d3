"""Every script under scripts/ runs, on a tiny budget (the table below is kept in sync
with the folder by a test), and the repository names no package registry."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"

#: script -> its tiny-budget arguments (what each prints is the script's own business;
#: the test checks it finishes with status 0 and prints something).
TINY_ARGS: dict[str, list[str]] = {
    "bench_envs.py": ["--seconds", "0.05", "--envs", "2"],
    "bench_async.py": ["--envs", "Pendulum-v1", "--num-envs", "2", "--steps", "10"],
    "bench_hub.py": ["--repeats", "1", "--episodes", "2"],
    "bench_recipes.py": ["--envs", "Pendulum-v1", "--seeds", "1", "--total-steps", "2000",
                         "--out", "recipes"],
    "bench_pixelcopter.py": ["--seeds", "1", "--jobs", "1", "--total-steps", "2000",
                             "--episodes", "2"],
    "bench_train.py": ["--seeds", "1", "--skip-course"],
    "demo.py": [],
    "bench_throughput.py": ["--steps", "20000", "--raw-envs", "64", "--raw-seconds", "0.2",
                            "--rounds", "1"],
    "sweep_pixelcopter.py": ["--steps", "20000", "--seeds", "1", "--only", "default"],
    "package_size.py": ["--base", "HEAD"],
}  # fmt: skip
#: Shell scripts are parsed (bash -n), not run: setup_env.sh installs into a venv,
#: test.sh runs this suite, demo.sh is setup_env.sh + demo.py (run above).
SHELL_SCRIPTS = ("demo.sh", "setup_env.sh", "test.sh")
#: Scripts whose tiny runs are tested with closer checks of their output elsewhere.
COVERED_ELSEWHERE = {
    "bench_legacy.py": "tests/test_legacy.py",
    "check_lower_bounds.py": "tests/test_dependencies.py",
    "bench_leaderboard.py": "tests/test_board_scripts.py",
    "screenshot_leaderboard.py": "tests/test_board_scripts.py",
}
#: Scripts that cannot run in this branch yet, with the reason.
NOT_YET: dict[str, str] = {}
SLOW = set(TINY_ARGS) - {"bench_envs.py", "package_size.py"}  # each takes 10-70 s here


def test_every_script_has_a_tiny_mode_here() -> None:
    present = sorted(p.name for p in SCRIPTS.iterdir() if p.suffix in (".py", ".sh"))
    assert present == sorted([*TINY_ARGS, *SHELL_SCRIPTS, *COVERED_ELSEWHERE])


def _params():
    for name, args in TINY_ARGS.items():
        marks = [pytest.mark.slow] if name in SLOW else []
        if name in NOT_YET:
            marks.append(pytest.mark.xfail(reason=NOT_YET[name], strict=False))
        yield pytest.param(name, args, marks=marks, id=name)


@pytest.mark.parametrize(("name", "args"), list(_params()))
def test_script_runs_on_a_tiny_budget(name, args, tmp_path) -> None:
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HUBPG_DEMO_DIR": str(tmp_path / "demo"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("HF_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), proc.stderr[-3000:]


@pytest.mark.parametrize("name", SHELL_SCRIPTS)
def test_shell_scripts_parse(name) -> None:
    proc = subprocess.run(["bash", "-n", str(SCRIPTS / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_no_package_registry_is_named_in_the_repository() -> None:
    hosts = ["pypi" + ".org", "download." + "pytorch.org", "files." + "pythonhosted.org"]
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for rel in filter(None, tracked):
        path = ROOT / rel.decode()
        if not path.is_file() or path.is_symlink():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore").lower()
        found += [f"{rel.decode()}: {host}" for host in hosts if host in text]
    assert found == []
    setup = (SCRIPTS / "setup_env.sh").read_text()
    assert "--index-url" not in setup and "torch==2.13.0" in setup


def _package_size_module():
    spec = importlib.util.spec_from_file_location("package_size", SCRIPTS / "package_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_size_counts_code_lines_apart_from_prose() -> None:
    package_size = _package_size_module()
    source = '''"""Module doc,
on two lines."""

# a comment
def f(x):
    """Its doc."""
    y = (x +
         1)  # trailing comment

    return y
'''
    assert package_size.code_lines(source) == 4  # def, the two lines of y, return
    sizes = package_size.sizes(None)
    on_disk = sorted((ROOT / "hubpg").rglob("*.py"))
    assert len(sizes) == len(on_disk)
    assert sum(lines for lines, _ in sizes.values()) == sum(
        p.read_text().count("\n") for p in on_disk
    )
    assert all(0 < code <= lines for lines, code in sizes.values() if lines > 40)
