#!/usr/bin/env bash
# `make run`: moto (started here unless one listens on MOTO_PORT already), the table and SES
# identity of template.yaml, and every endpoint on http://127.0.0.1:PORT. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/lib/ensure-venv.sh local/requirements.txt
# local/local.env gives defaults; a variable already in the environment wins, as with dotenv
# tools (`RETURN_OTP_CODE=true make run`).
while IFS= read -r line; do
  [[ $line =~ ^([A-Z0-9_]+)=(.*)$ ]] || continue
  [[ -n ${!BASH_REMATCH[1]+set} ]] || export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
done <local/local.env
# A configured test application (docs/configuration.md, Test destinations): family B's `demo`
# answers +44 7700 900100 and +1 202 555 0100 with the code 135790, and family A every address
# on review.example.test, sending nothing. The environment wins here too.
# shellcheck source=scripts/lib/test-destinations.sh
. scripts/lib/test-destinations.sh
MOTO_PORT=${MOTO_PORT:-5000}
PORT=${PORT:-3000}
export PORT AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
cargo build --quiet -p local-server

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/${MOTO_PORT}") 2>/dev/null; then
  echo "using the moto server already listening on port ${MOTO_PORT}"
  .venv/bin/python local/bootstrap.py --endpoint "$AWS_ENDPOINT_URL" --template template.yaml --table-name "$TABLE_NAME"
else
  fifo=$(mktemp -u); mkfifo "$fifo"
  .venv/bin/python local/moto_launcher.py --port "$MOTO_PORT" --template template.yaml --table-name "$TABLE_NAME" >"$fifo" &
  pids+=($!)
  read -r ready <"$fifo" || { echo "moto did not start" >&2; exit 1; }
  rm -f "$fifo"
  echo "moto: ${ready} (DynamoDB, SNS, SES v2 at ${AWS_ENDPOINT_URL})"
fi

target/debug/local-server &
pids+=($!)
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then break; fi
  sleep 0.1
done
echo "ready: http://127.0.0.1:${PORT}  (inbox: http://127.0.0.1:${PORT}/_local/messages, metrics: http://127.0.0.1:${PORT}/_local/metrics)"
wait -n "${pids[@]}"
