"""No import circle among the card and claim modules (issue 25.4), imports inside functions
counted: the graph is read from every ``import`` statement of hubpg's source by ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hubpg"
#: The modules this check guards; any circle through one of them fails it.
GUARDED = frozenset(
    {
        "hubpg.card",
        "hubpg.cardmeta",
        "hubpg.cardsafe",
        "hubpg.claims",
        *(f"hubpg.localhub.{p.stem}" for p in (PACKAGE / "localhub").glob("*.py")),
        "hubpg.localhub",
    }
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """hubpg module -> the hubpg modules it imports anywhere (top level or in a function)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles_through(graph: dict[str, set[str]], start: str) -> list[list[str]]:
    """Every simple path start -> ... -> start (depth-first; the graph is small)."""
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt not in path and len(path) < 12:
                walk(nxt, [*path, nxt])

    walk(start, [start])
    return found


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # hubpg.card imports huggingface_hub lazily and hubpg.repoid inside render_card
    assert "hubpg.repoid" in graph["hubpg.card"]


def test_no_circle_runs_through_the_card_and_claim_modules() -> None:
    graph = import_graph()
    circles = {tuple(c) for m in sorted(GUARDED & set(graph)) for c in cycles_through(graph, m)}
    assert not circles, "\n".join(" -> ".join(c) for c in sorted(circles))


def test_card_and_claims_do_not_import_each_other() -> None:
    graph = import_graph()
    assert "hubpg.card" not in graph["hubpg.claims"]
    assert (
        "hubpg.card" not in graph["hubpg.cardmeta"]
        and "hubpg.claims" not in graph["hubpg.cardmeta"]
    )
