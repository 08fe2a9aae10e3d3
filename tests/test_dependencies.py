"""The declared dependencies are the truth: every third-party module hubpg imports (at
the top or inside a function) belongs to a distribution pyproject.toml declares, and the
lowest declared versions work (scripts/check_lower_bounds.py, run here)."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
import subprocess
import sys
import tempfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]


def _imported_modules() -> dict[str, set[str]]:
    """Top-level module imported -> the hubpg files importing it (absolute imports)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / "hubpg").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                found.setdefault(top, set()).add(path.relative_to(REPO_ROOT).as_posix())
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distributions pyproject.toml declares for users (dependencies and extras but dev)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = {k: v for k, v in project["optional-dependencies"].items() if k != "dev"}
    specs = [*project["dependencies"], *(spec for group in extras.values() for spec in group)]
    return {_normalise(re.match(r"[A-Za-z0-9_.-]+", spec).group(0)) for spec in specs}


def test_every_imported_distribution_is_declared() -> None:
    third_party = {
        module: files
        for module, files in _imported_modules().items()
        if module not in sys.stdlib_module_names and module != "hubpg"
    }
    assert "torch" in third_party and "huggingface_hub" in third_party  # the scan works
    owners = packages_distributions()
    declared = _declared()
    undeclared = {
        module: sorted(files)
        for module, files in third_party.items()
        if not {_normalise(d) for d in owners.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_no_private_huggingface_hub_name_is_used() -> None:
    """Only huggingface_hub's public API (issue 25): no ``_private`` module or name, and
    not the HTTP library under it (whichever it is, hubpg reaches it through the client)."""
    used = []
    for path in sorted((REPO_ROOT / "hubpg").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "huggingface_hub"
            ):
                parts = [*node.module.split("."), *(alias.name for alias in node.names)]
                used += [f"{path.name}: {node.module}" for part in parts if part.startswith("_")]
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                modules.append(getattr(node, "module", None) or "")
                used += [
                    f"{path.name}: {m}" for m in modules if m.split(".")[0] in ("httpx", "httpx2")
                ]
    assert not used, used


@pytest.mark.slow
def test_the_lowest_declared_versions_push_and_load_and_eval() -> None:
    """A venv with exactly the lowest declared huggingface-hub, gymnasium and torch runs
    the Hub round trip through `hubpg hub serve` (scripts/check_lower_bounds.py). The
    venv is kept per set of bounds (about 1 GB, minutes to build the first time, since
    torch is in it) and reused by later runs; the server's data and the run are new."""
    script = REPO_ROOT / "scripts" / "check_lower_bounds.py"
    spec = importlib.util.spec_from_file_location("check_lower_bounds", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pins = " ".join(sorted(module.lower_bounds().values())) + sys.version
    workdir = Path(tempfile.gettempdir()) / (
        "hubpg-lower-bounds-" + hashlib.sha256(pins.encode()).hexdigest()[:12]
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(workdir)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "round trip ok" in proc.stdout, proc.stdout[-3000:]
