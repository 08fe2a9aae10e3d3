"""A Hugging Face Hub-compatible server on loopback, for offline use and tests (the real
``huggingface_hub`` client talks to it with Xet disabled; see ``docs/hub-api.md``).

:func:`create_app` builds the ASGI app, :func:`serve` runs it until Ctrl-C / SIGTERM,
:func:`running_hub` runs one for a test. Imports are lazy, so importing this is cheap.
"""

from __future__ import annotations

from typing import Any

from hubpg.localhub.validation import parse_user_spec

_LAZY = {
    "create_app": ("hubpg.localhub.app", "create_app"),
    "Limits": ("hubpg.localhub.web", "Limits"),
    "serve": ("hubpg.localhub.server", "serve"),
    "running_hub": ("hubpg.localhub.testing", "running_hub"),
    "RunningHub": ("hubpg.localhub.testing", "RunningHub"),
}

__all__ = ["parse_user_spec", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'hubpg.localhub' has no attribute {name!r}")
