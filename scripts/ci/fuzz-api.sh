#!/usr/bin/env bash
# Fuzzes the HTTP API against openapi.yaml with schemathesis: the local server (same handlers
# as the Lambdas) on moto, every operation with generated valid and invalid inputs. Fails on
# any 5xx, any answer whose status, content type or body the document does not describe, or
# a request that takes longer than the timeout (a hang).
# Usage: scripts/ci/fuzz-api.sh [MAX_EXAMPLES]   (default 40 per operation and phase)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/lib/ensure-venv.sh local/requirements.txt .ci/requirements.txt
. scripts/lib/local-server.sh
start_local_server /tmp/fuzz-api-server.log
report=$(mktemp -d)
set +e
.venv/bin/schemathesis run openapi.yaml --url "$LOCAL_URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --max-examples "${1:-40}" --request-timeout 10 --seed 20261122 \
  --no-color --report ndjson --report-dir "$report" --suppress-health-check all
status=$?
set -e
echo "schemathesis: exit $status, report in $report"
exit $status
