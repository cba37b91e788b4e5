#!/usr/bin/env bash
# Checks openapi.yaml as integrators' tools see it: the reference OpenAPI 3.1 validator, every
# example against its schema (scripts/ci/check_openapi.py), and a TypeScript client generated
# from it with openapi-typescript compiling under `tsc --strict` together with
# clients/typescript/check.ts, which uses one request and answer of each family. Runs all three
# and fails if any failed. Needs only the package registries (pinned versions, installed on
# first run and when a pin changes).
# Usage: scripts/ci/check-openapi.sh [openapi.yaml]
set -euo pipefail
absolute=$(realpath "${1:-openapi.yaml}")
cd "$(dirname "$0")/../.."
doc=$(realpath --relative-base=. "$absolute")
scripts/lib/ensure-venv.sh local/requirements.txt .ci/requirements.txt
command -v npm >/dev/null || { echo "check-openapi: needs Node.js and npm (the machine's 20.x)" >&2; exit 1; }
(
  cd clients/typescript
  stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
)

failed=()
check() {
  local name=$1
  shift
  echo "--- $name"
  "$@" || failed+=("$name")
}
# `set -e` does not hold in a function called left of `||`: chain with &&.
typescript() (
  cd clients/typescript &&
    node_modules/.bin/openapi-typescript "$absolute" --output generated/api.ts &&
    node_modules/.bin/tsc --project tsconfig.json &&
    echo "generated/api.ts and check.ts compile"
)

check "openapi-spec-validator (OpenAPI 3.1)" \
  .venv/bin/openapi-spec-validator --schema 3.1 --validation-errors all "$doc"
check "examples against their schemas" .venv/bin/python scripts/ci/check_openapi.py "$doc"
check "TypeScript types (openapi-typescript) under tsc --strict" typescript

if [ ${#failed[@]} -gt 0 ]; then
  printf 'check-openapi: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "check-openapi: 3 passed, 0 failed"
