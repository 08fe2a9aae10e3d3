"""Fixtures for the local Hub tests: a running hub and real ``huggingface_hub`` clients.

The client reads ``HF_HUB_DISABLE_XET`` and friends at import, so they are set
here before anything imports it; the constants are also patched afterwards in
case another test module imported ``huggingface_hub`` first.
"""

from __future__ import annotations

import os
import tempfile

_HF_HOME = tempfile.mkdtemp(prefix="hubpg-localhub-hfhome-")
for _key, _value in {
    "HF_HUB_DISABLE_XET": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HOME": _HF_HOME,
    "HF_HUB_CACHE": os.path.join(_HF_HOME, "hub"),
}.items():
    os.environ.setdefault(_key, _value)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import huggingface_hub.constants  # noqa: E402
import pytest  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402

from hubpg.localhub.testing import RunningHub, running_hub  # noqa: E402

huggingface_hub.constants.HF_HUB_DISABLE_XET = True
huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY = True

CARD = """---
library_name: hubpg
tags:
- CartPole-v1
- reinforce
- reinforcement-learning
model-index:
- name: Reinforce-CartPole-v1
  results:
  - task:
      type: reinforcement-learning
      name: reinforcement-learning
    dataset:
      name: CartPole-v1
      type: CartPole-v1
    metrics:
    - type: mean_reward
      value: 500.00 +/- 0.00
      name: mean_reward
      verified: false
---
# Reinforce agent playing CartPole-v1
"""


def write_model_folder(folder: Path, seed: int = 0, card: str = CARD) -> Path:
    """A folder like the one hubpg pushes: card, safetensors, mp4, png and JSON files."""
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(card)
    (folder / "model.safetensors").write_bytes(
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + rng.randbytes(300_000)
    )
    (folder / "replay.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom" + rng.randbytes(100_000))
    (folder / "learning_curve.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + rng.randbytes(5_000))
    (folder / "config.json").write_text(
        f'{{"env_id": "CartPole-v1", "h_size": 16, "seed": {seed}}}'
    )
    (folder / "results.json").write_text(
        f'{{"mean_reward": 500.0, "std_reward": 0.0, "seed": {seed}}}'
    )
    return folder


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A local Hub (thread mode) with users alice and bob."""
    with running_hub(tmp_path / "hubdata") as running:
        yield running


@pytest.fixture
def alice(hub: RunningHub) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub.token("alice"))


@pytest.fixture
def bob(hub: RunningHub) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub.token("bob"))


@pytest.fixture
def anon(hub: RunningHub) -> HfApi:
    return HfApi(endpoint=hub.url, token=False)


@pytest.fixture
def make_folder():
    """The :func:`write_model_folder` helper, as a fixture (test files cannot import conftest)."""
    return write_model_folder


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def pushed(alice: HfApi, tmp_path: Path) -> tuple[str, Path, str]:
    """``alice/agent`` with one commit of a model folder: ``(repo_id, folder, commit sha)``."""
    folder = write_model_folder(tmp_path / "push")
    alice.create_repo("alice/agent")
    info = alice.upload_folder(
        repo_id="alice/agent", folder_path=folder, commit_message="Push agent"
    )
    return "alice/agent", folder, info.oid
