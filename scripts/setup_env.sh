#!/usr/bin/env bash
# Create (or reuse) .venv and install hubpg with its dev tools. Sourced by demo.sh and test.sh.
# torch: `pip install torch==2.13.0` from pip's configured index (this machine's index serves
# the CPU build); no package index is named here, so pip.conf / PIP_INDEX_URL decide.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HUBPG_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup: installing torch (CPU build)" >&2
  "${PIP[@]}" install torch==2.13.0
fi
if ! "$VENV/bin/python" -c "import hubpg, pytest, xdist, ruff, httpx, ray, playwright, Box2D, mujoco" 2>/dev/null \
   || [ "$ROOT/pyproject.toml" -nt "$VENV/.hubpg-installed" ]; then
  echo "setup: installing hubpg and its dependencies" >&2
  "${PIP[@]}" install -e "$ROOT[dev,ray]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -c "import hubpg" && touch "$VENV/.hubpg-installed"
fi
export PATH="$VENV/bin:$PATH"
