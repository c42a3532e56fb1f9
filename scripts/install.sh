#!/usr/bin/env bash
# Install vmat (editable) into .venv with the extras named in $1 (comma-separated, e.g. "test,ray"), and
# nothing when that is already done: .venv/.vmat-installed records the hash of pyproject.toml, the torch
# spec and the extras installed, so a second run costs a second.
#
# torch comes first, from VMAT_TORCH (default: torch==2.13.0, this machine's local CPU wheel; any other spec
# pulls the CUDA build here). The package itself asks only for torch>=2.4, which pip then leaves alone.
# VMAT_TORCH= (empty) skips that step, e.g. where the right torch is already in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
torch_spec="${VMAT_TORCH-torch==2.13.0}"
stamp=.venv/.vmat-installed

[ -x .venv/bin/python ] || python3 -m venv .venv
key="$(cat pyproject.toml <(echo "$torch_spec") | sha256sum | cut -c1-16)"
done_key= done_extras=
[ -f "$stamp" ] && read -r done_key done_extras < "$stamp"
if [ "$done_key" = "$key" ]; then
  missing=0
  for extra in ${extras//,/ }; do
    [[ ",$done_extras," == *",$extra,"* ]] || missing=1
  done
  [ "$missing" = 0 ] && exit 0
else
  done_extras=
fi
# Keep what an earlier run installed with the same pyproject: pip removes nothing, so the stamp says so too.
all="$(echo "${done_extras},${extras}" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
[ -z "$torch_spec" ] || .venv/bin/python -m pip install -q "$torch_spec"
.venv/bin/python -m pip install -q -e ".${all:+[$all]}"
echo "$key $all" > "$stamp"
