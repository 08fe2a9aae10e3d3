#!/usr/bin/env bash
# The main job, offline, end to end: local Hub, train, package, push, load back, evaluate.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
exec python "$ROOT/scripts/demo.py" "$@"
