#!/usr/bin/env bash
# The README's second quick-start command: install vmat with its test dependencies, then run the tests.
# Slow, Ray, browser and GPU tests are left out by default; pass pytest arguments to change that (e.g. -m slow).
# A second run skips the install (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,decord,app
if [ "$#" -eq 0 ]; then
  set -- -m "not slow and not ray and not gpu and not browser"
fi
exec .venv/bin/python -m pytest "$@"
