"""Shared fixtures. Environment variables are set before any test imports
huggingface_hub (it reads them at import)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hubpg-test-hfhome-"))
os.environ.setdefault("MPLBACKEND", "Agg")
# The default verification store lives under XDG_CACHE_HOME: never the user's own.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="hubpg-test-cache-")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CartPole-v1 run folder trained with the default recipe (about a second)."""
    from hubpg.config import TrainConfig
    from hubpg.reinforce import train

    run_dir = tmp_path_factory.mktemp("runs") / "CartPole-v1-reinforce-s1"
    train(TrainConfig.for_env("CartPole-v1", seed=1), run_dir, progress=False)
    return run_dir


from browser import browser, page  # noqa: E402,F401  (fixtures for page tests)
