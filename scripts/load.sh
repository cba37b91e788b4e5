#!/usr/bin/env bash
# `make load`: a bounded load test. Starts the local server (`make run`, own ports) and runs
# scripts/load-test.py against it: LOAD_CLIENTS clients (50) for LOAD_SECONDS (120).
# All requests come from 127.0.0.1, one caller: the per-caller limits, the number-block
# breaker and the daily SMS ceiling are raised (the environment wins over local/local.env)
# so that the limits under test are the per-destination ones, which the test checks exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-venv.sh local/requirements.txt
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export MOTO_PORT=$(free_port) PORT=$(free_port)
export CALLER_SEND_LIMIT=1000000 CALLER_FAILURE_LIMIT=1000000 SMS_BLOCK_MIN_SENDS=1000000 SMS_DAILY_LIMIT=10000000
# Codes in the create answers: the clients verify without reading the inbox for each.
export RETURN_OTP_CODE=true RUST_LOG=${RUST_LOG:-warn}
# moto serves one call at a time: under 50 clients a call waits its turn longer than the
# production SDK timeouts allow (shared/src/aws.rs). Scaled up here, and the request
# deadline with them; the figures below are the local stand-in's, not DynamoDB's.
export SDK_TIMEOUT_FACTOR=${SDK_TIMEOUT_FACTOR:-10} REQUEST_DEADLINE_MS=${REQUEST_DEADLINE_MS:-9500}
log=${LOAD_SERVER_LOG:-/tmp/load-server.log}
setsid scripts/run-local.sh >"$log" 2>&1 &
server=$!
trap 'kill -- -$server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$log"; exit 1; }
.venv/bin/python scripts/load-test.py --url "http://127.0.0.1:$PORT" \
  --clients "${LOAD_CLIENTS:-50}" --seconds "${LOAD_SECONDS:-120}"
