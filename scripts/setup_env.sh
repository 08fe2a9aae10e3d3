#!/usr/bin/env bash
# Create (or reuse) .venv and install hubpg with its dev tools. Sourced by demo.sh and test.sh.
# torch: the CPU build. `pip install torch==2.13.0` takes a local wheel where the machine has
# one; otherwise PyTorch's CPU index is used (a bare `pip install torch` would pull CUDA).
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
  probe="$(mktemp -d)"
  if "${PIP[@]}" download --no-index --no-deps -d "$probe" torch==2.13.0 >/dev/null 2>&1; then
    "${PIP[@]}" install torch==2.13.0  # this machine has the CPU wheel locally
  else
    "${PIP[@]}" install torch --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
  fi
  rm -rf "$probe"
fi
if ! "$VENV/bin/python" -c "import hubpg, pytest, ruff, httpx, ray, playwright" 2>/dev/null \
   || [ "$ROOT/pyproject.toml" -nt "$VENV/.hubpg-installed" ]; then
  echo "setup: installing hubpg and its dependencies" >&2
  "${PIP[@]}" install -e "$ROOT[dev,ray]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -c "import hubpg" && touch "$VENV/.hubpg-installed"
fi
export PATH="$VENV/bin:$PATH"
