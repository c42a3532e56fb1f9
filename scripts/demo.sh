#!/usr/bin/env bash
# The README's first quick-start command: install vmat, then run the main job on a clip it generates.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/vmat demo "${1:-demo_out}"
