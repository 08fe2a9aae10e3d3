"""The package's layers (issue 25): no import circle between hubpg's modules, imports
inside functions included; the CLI imports from hubpg only api, errors, options,
results and localhub; the transport (hub.py) imports no workflow."""

from __future__ import annotations

import ast
from pathlib import Path

import hubpg

PACKAGE = Path(hubpg.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The hubpg modules ``path`` imports, anywhere in the file (TYPE_CHECKING blocks,
    which never run, left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != "hubpg":
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """hubpg module -> the hubpg modules it imports (the package root left out: every
    module is imported through it)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The import circles of ``graph``: its strongly connected components of more than
    one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_workflow_and_transport_layers_are_in_no_import_circle() -> None:
    """Circles elsewhere (card <-> claims, legacy's) are other parts of issue 25; none may
    run through the layers: transport, workflow, results, CLI."""
    layers = {"hubpg.hub", "hubpg.verify", "hubpg.api", "hubpg.cli", "hubpg.results"}
    for circle in circles(import_graph()):
        assert not (circle & layers), sorted(circle)


def test_the_cli_imports_only_the_layers_above_the_domain() -> None:
    allowed = {"hubpg.api", "hubpg.errors", "hubpg.options", "hubpg.results"}
    found = import_graph()["hubpg.cli"]
    assert {m for m in found if not m.startswith("hubpg.localhub")} <= allowed, found


def test_the_transport_imports_no_workflow() -> None:
    found = import_graph()["hubpg.hub"]
    workflow = {
        "hubpg.api",
        "hubpg.verify",
        "hubpg.packaging",
        "hubpg.legacy",
        "hubpg.evaluation",
        "hubpg.policy",
        "hubpg.claims",
        "hubpg.card",
        "hubpg.results",
    }
    assert not (found & workflow), found & workflow


def test_the_verify_pipeline_is_written_once() -> None:
    """Only verify.py downloads-and-rebuilds a model for a check."""
    callers = [
        name
        for name, path in (
            (_module_name(p), p) for p in PACKAGE.rglob("*.py") if p.name != "verify.py"
        )
        if "policy_from_files(" in path.read_text(encoding="utf-8")
    ]
    assert callers == [], callers
