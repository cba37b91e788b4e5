#!/usr/bin/env bash
# Checks openapi.yaml as integrators' tools see it: the reference OpenAPI 3.1 validator and
# every example against its schema (scripts/check-openapi.py). Needs only the package
# registries (pinned versions, installed on first run).
# Usage: scripts/check-openapi.sh [openapi.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
doc=${1:-openapi.yaml}
scripts/ensure-venv.sh local/requirements.txt .ci/requirements.txt

echo "--- openapi-spec-validator"
.venv/bin/openapi-spec-validator --schema 3.1 --validation-errors all "$doc"

echo "--- examples against their schemas"
.venv/bin/python scripts/check-openapi.py "$doc"
