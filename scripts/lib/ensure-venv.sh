#!/usr/bin/env bash
# Creates .venv (or $VENV) and installs the pinned Python packages of the given requirement
# files, again only when one of them changed. Usage: [VENV=dir] scripts/lib/ensure-venv.sh FILE...
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$venv/.installed-$(cat "$@" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing Python packages from $* into $venv ..."
  requirements=()
  for file in "$@"; do requirements+=(-r "$file"); done
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
  touch "$stamp"
fi
