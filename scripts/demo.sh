#!/usr/bin/env bash
# The README's first quick-start command: install vmat, then run the main job on a clip it generates.
# A second run skips the install (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/vmat demo -o "${1:-demo_out}"
