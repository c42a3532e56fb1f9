#!/usr/bin/env bash
# The README's second quick-start command: install vmat with its test dependencies, then run the tests.
# Slow, Ray and GPU tests are left out by default; pass pytest arguments to change that (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,decord]"
if [ "$#" -eq 0 ]; then
  set -- -m "not slow and not ray and not gpu"
fi
exec .venv/bin/python -m pytest "$@"
