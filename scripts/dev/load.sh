#!/usr/bin/env bash
# `make load`: a bounded load test. Starts the local server (`make run`, own ports) and runs
# scripts/dev/load_test.py against it: LOAD_CLIENTS clients (50) for LOAD_SECONDS (120).
# All requests come from 127.0.0.1, one caller: the per-caller limits, the number-block
# breaker and the daily SMS ceiling are raised (the environment wins over local/local.env)
# so that the limits under test are the per-destination ones, which the test checks exactly.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/lib/ensure-venv.sh local/requirements.txt
export CALLER_SEND_LIMIT=1000000 CALLER_FAILURE_LIMIT=1000000 SMS_BLOCK_MIN_SENDS=1000000 SMS_DAILY_LIMIT=10000000
# Codes in the create answers: the clients verify without reading the inbox for each.
export RETURN_OTP_CODE=true RUST_LOG=${RUST_LOG:-warn}
# moto serves one call at a time: under 50 clients a call waits its turn longer than the
# production SDK timeouts allow (shared/src/aws/mod.rs). Scaled up here, and the request
# deadline with them; the figures below are the local stand-in's, not DynamoDB's.
export SDK_TIMEOUT_FACTOR=${SDK_TIMEOUT_FACTOR:-10} REQUEST_DEADLINE_MS=${REQUEST_DEADLINE_MS:-9500}
. scripts/lib/local-server.sh
start_local_server "${LOAD_SERVER_LOG:-/tmp/load-server.log}"
.venv/bin/python scripts/dev/load_test.py --url "$LOCAL_URL" \
  --clients "${LOAD_CLIENTS:-50}" --seconds "${LOAD_SECONDS:-120}"
