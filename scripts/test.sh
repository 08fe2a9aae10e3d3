#!/usr/bin/env bash
# The whole test suite (lint + pytest, slow end-to-end tests included), in .venv: the
# same suite CI runs. What the tests need outside Python is installed when missing
# (Debian's chromium for the page tests, EGL for the headless MuJoCo replays), never
# skipped; that takes root (apt-get), as on CI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (apt-get)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
ruff check .
ruff format --check .
# Two workers (CI has two cores), each test file on one of them (its module fixtures
# are built once); PYTEST_WORKERS=0 runs everything in this process.
exec python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
