"""hubpg: REINFORCE agents from training to a shared, verifiable model on the Hugging Face Hub.

The Python API mirrors the ``hubpg`` command (keyword-only options named as in the CLI):
``train``, ``evaluate``, ``package``, ``push``, ``load_and_eval``, ``leaderboard`` and
``convert`` return result objects (:class:`Trained`, :class:`Evaluated`, ...); ``load(repo)``
gives ``(Policy, PolicyConfig)`` without unpickling anything; ``push_to_hub`` is the Deep RL
course's function for a module you trained yourself, done safely (no pickle). Example::

    import hubpg
    run = hubpg.train("CartPole-v1", seed=1)        # 500.00 +/- 0.00
    pkg = hubpg.package(run, repo_name="alice/Reinforce-CartPole-v1")
    hubpg.push(pkg, repo="alice/Reinforce-CartPole-v1")
    hubpg.load_and_eval("alice/Reinforce-CartPole-v1")

``import hubpg`` registers ``Pixelcopter-PLE-v0`` with Gymnasium; torch and huggingface_hub
are imported only when used.
"""

from __future__ import annotations

from typing import Any

import hubpg.envs  # noqa: F401  (registers Pixelcopter-PLE-v0)

__version__ = "0.1.0"

_LAZY = {
    "train": ("hubpg.api", "train"),
    "evaluate": ("hubpg.api", "evaluate"),
    "package": ("hubpg.api", "package"),
    "push": ("hubpg.api", "push"),
    "push_to_hub": ("hubpg.course", "push_to_hub"),
    "load_and_eval": ("hubpg.api", "load_and_eval"),
    "leaderboard": ("hubpg.api", "leaderboard"),
    "load": ("hubpg.api", "load"),
    "leaderboard_page": ("hubpg.page", "leaderboard_page"),
    "convert": ("hubpg.api", "convert"),
    "Policy": ("hubpg.policy", "Policy"),
    "PolicyConfig": ("hubpg.config", "PolicyConfig"),
    "TrainConfig": ("hubpg.config", "TrainConfig"),
    "Trained": ("hubpg.results", "Trained"),
    "Evaluated": ("hubpg.results", "Evaluated"),
    "Packaged": ("hubpg.results", "Packaged"),
    "Pushed": ("hubpg.results", "Pushed"),
    "Verified": ("hubpg.results", "Verified"),
    "Converted": ("hubpg.results", "Converted"),
    "Leaderboard": ("hubpg.results", "Leaderboard"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'hubpg' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (what ``dir(hubpg)`` and ``help(hubpg)`` list)."""
    return sorted({*__all__, "__doc__", "__file__", "__name__", "__path__"})
