"""The package's size per module: physical lines and code lines (lines that hold code:
not blank, not only a comment, not part of a docstring), for the working tree or a git
revision, and the change against a base revision.

    python scripts/package_size.py                      # the working tree
    python scripts/package_size.py --base c2afa51       # and the change since c2afa51
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "hubpg"
_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}


def docstring_lines(source: str) -> set[int]:
    """The line numbers of every module, class and function docstring in ``source``."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str) -> int:
    """How many lines of ``source`` hold code (docstrings, comments and blanks excluded)."""
    docs = docstring_lines(source)
    code: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            code.update(range(token.start[0], token.end[0] + 1))
    return len(code - docs)


def sources(revision: str | None) -> dict[str, str]:
    """Every ``.py`` file of the package: path -> text, at ``revision`` (None: on disk)."""
    if revision is None:
        return {
            str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
            for path in sorted((ROOT / PACKAGE).rglob("*.py"))
        }
    listing = _git("ls-tree", "-r", "--name-only", revision, PACKAGE).split()
    return {name: _git("show", f"{revision}:{name}") for name in listing if name.endswith(".py")}


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def sizes(revision: str | None) -> dict[str, tuple[int, int]]:
    """path -> (physical lines, code lines) of each module at ``revision``."""
    return {name: (text.count("\n"), code_lines(text)) for name, text in sources(revision).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default=None, help="a git revision (default: the working tree)")
    parser.add_argument("--base", default=None, help="a git revision to compare against")
    args = parser.parse_args()
    now = sizes(args.rev)
    base = sizes(args.base) if args.base else {}
    print(f"{'module':40} {'lines':>7} {'code':>7}" + (f" {'base':>7} {'code':>7}" if base else ""))
    for name in sorted(set(now) | set(base)):
        lines, code = now.get(name, (0, 0))
        row = f"{name:40} {lines:7d} {code:7d}"
        if base:
            row += " {:7d} {:7d}".format(*base.get(name, (0, 0)))
        print(row)
    total = (
        f"{'total':40} {sum(v[0] for v in now.values()):7d} {sum(v[1] for v in now.values()):7d}"
    )
    if base:
        total += f" {sum(v[0] for v in base.values()):7d} {sum(v[1] for v in base.values()):7d}"
    print(total)


if __name__ == "__main__":
    main()
