"""The model card's "Without hubpg" snippet runs where hubpg cannot be imported (issue
29.8): a model is pushed to the local Hub, its README.md is downloaded over HTTP, and the
card's first Python block runs in ``python -I`` with the worktree off ``sys.path`` and a
meta-path finder that refuses ``hubpg``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALICE = "hf_local_alice"

#: Runs the snippet with hubpg made unimportable (the venv may hold an editable install).
HARNESS = """
import importlib.util, os, sys
ROOT = {root!r}

class NoHubpg:
    def find_spec(self, name, path=None, target=None):
        if name == "hubpg" or name.startswith("hubpg."):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoHubpg())
sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != ROOT]
try:
    import hubpg  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("hubpg is importable: the test would prove nothing")
exec(compile(open(sys.argv[1]).read(), "card-snippet", "exec"), {{"__name__": "__main__"}})
assert not any(m == "hubpg" or m.startswith("hubpg.") for m in sys.modules)
"""


def first_python_block(card: str) -> str:
    """The card's first fenced ```python block."""
    match = re.search(r"^```python\n(.*?)^```$", card, re.S | re.M)
    assert match, "the card has no python block"
    return match.group(1)


@pytest.mark.slow
def test_the_cards_snippet_plays_an_episode_without_hubpg(cartpole_run, tmp_path) -> None:
    from huggingface_hub import hf_hub_download

    import hubpg
    from hubpg.localhub.testing import running_hub

    repo = "alice/snippet-cartpole"
    with running_hub(tmp_path / "hubdata") as hub:
        run = shutil.copytree(cartpole_run, tmp_path / "run", ignore=shutil.ignore_patterns("hub"))
        hubpg.push(run, repo=repo, endpoint=hub.url, token=ALICE, episodes=3)
        card = Path(
            hf_hub_download(repo, "README.md", endpoint=hub.url, cache_dir=tmp_path / "cache")
        ).read_text(encoding="utf-8")
        snippet = first_python_block(card)
        assert "hubpg" not in snippet and f'repo_id = "{repo}"' in snippet
        (tmp_path / "snippet.py").write_text(snippet)
        (tmp_path / "harness.py").write_text(HARNESS.format(root=str(ROOT)))
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "HF_"))
        }
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HUB_DISABLE_XET="1",
            HF_HOME=str(tmp_path / "hf-home"),
            HF_HUB_DISABLE_TELEMETRY="1",
        )
        proc = subprocess.run(
            [sys.executable, "-I", str(tmp_path / "harness.py"), str(tmp_path / "snippet.py")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    returns = re.findall(r"^episode return: (\S+)$", proc.stdout, re.M)
    assert len(returns) == 1, proc.stdout
    # the default recipe plays CartPole to its 500-step limit; a miswired network
    # (wrong layer order, scaling or frames) falls within a few dozen steps
    assert float(returns[0]) >= 400.0, proc.stdout
