#!/usr/bin/env bash
# The whole test suite (lint + pytest, slow end-to-end tests included), in .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
ruff check .
ruff format --check .
exec python -m pytest "$@"
