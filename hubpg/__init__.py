"""hubpg: REINFORCE agents from training to a shared, verifiable model on the Hugging Face Hub.

``import hubpg`` registers ``Pixelcopter-PLE-v0`` with Gymnasium. The heavy
parts (torch, huggingface_hub) are imported only when used.
"""

from __future__ import annotations

from typing import Any

import hubpg.envs  # noqa: F401  (registers Pixelcopter-PLE-v0)

__version__ = "0.1.0"

_LAZY = {
    "train": ("hubpg.reinforce", "train"),
    "evaluate": ("hubpg.evaluation", "evaluate"),
    "package": ("hubpg.packaging", "package"),
    "push": ("hubpg.hub", "push"),
    "load": ("hubpg.hub", "load"),
    "leaderboard": ("hubpg.ranking", "leaderboard"),
    "leaderboard_page": ("hubpg.page", "leaderboard_page"),
    "Policy": ("hubpg.policy", "Policy"),
    "PolicyConfig": ("hubpg.config", "PolicyConfig"),
    "TrainConfig": ("hubpg.config", "TrainConfig"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'hubpg' has no attribute {name!r}")
