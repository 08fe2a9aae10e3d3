"""One card template, in the top-level model_cards/; the wheel ships it (resolved from
the hubpg/model_cards symlink) and an installed wheel renders a card from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hubpg.card import TEMPLATE_NAME, template_path

ROOT = Path(__file__).resolve().parents[1]

RENDER = """
import json, sys
from pathlib import Path
import hubpg, hubpg.card
root = Path(sys.argv[1]).resolve()
path = hubpg.card.template_path()
card = hubpg.card.render_card(
    env_id="CartPole-v1", mean_reward=500.0, std_reward=0.0, n_episodes=10,
    deterministic=False, seed=0, hyperparameters={"h_size": 16}, repo_id="alice/r",
)
print(json.dumps({
    "hubpg": str(Path(hubpg.__file__).resolve()), "template": str(path),
    "symlink": path.is_symlink() or path.parent.is_symlink(), "text": card.text,
}))
"""


def test_there_is_one_template_and_the_package_links_to_it() -> None:
    link = ROOT / "hubpg" / "model_cards"
    assert link.is_symlink() and os.readlink(link) == "../model_cards"
    copies = [p for p in ROOT.rglob(TEMPLATE_NAME) if not p.parent.is_symlink()]
    assert [p.relative_to(ROOT) for p in copies if ".venv" not in p.parts] == [
        Path("model_cards") / TEMPLATE_NAME
    ]
    assert template_path().resolve() == (ROOT / "model_cards" / TEMPLATE_NAME).resolve()


@pytest.mark.slow
def test_an_installed_wheel_renders_a_card(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "model_cards", src / "model_cards")
    shutil.copytree(
        ROOT / "hubpg",
        src / "hubpg",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            ".",
            "-w",
            str(wheels),
        ],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("hubpg-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert f"hubpg/model_cards/{TEMPLATE_NAME}" in archive.namelist()
        archive.extractall(site)
    shutil.rmtree(src)  # nothing may come from the source tree any more
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hubpg"].startswith(str(site.resolve()))
    assert out["template"].startswith(str(site.resolve())) and not out["symlink"]
    assert "500.00 +/- 0.00" in out["text"] and "hubpg load-and-eval --repo alice/r" in out["text"]
