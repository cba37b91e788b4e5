#!/usr/bin/env bash
# Smoke test of the real Lambda binaries: `cargo lambda watch` emulates the Lambda runtime API
# and each file in events/ is invoked with `cargo lambda invoke`, the SDK pointed at moto.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
set -a; . local/local.env; set +a
# make run's test destinations (JSON: not in local.env, which shells source).
# shellcheck source=scripts/lib/test-destinations.sh
. scripts/lib/test-destinations.sh

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

fifo=$(mktemp -u); mkfifo "$fifo"
setsid .venv/bin/python local/moto_launcher.py --port 0 --template template.yaml --table-name "$TABLE_NAME" >"$fifo" &
pids+=($!)
read -r ready <"$fifo"; rm -f "$fifo"
moto="http://127.0.0.1:${ready#MOTO_READY port=}"

# cargo lambda's env-file parser refuses a value ending in "=" (base64) unless quoted.
envfile=$(mktemp); grep -E '^[A-Z0-9_]+=' local/local.env | sed -E "s/^([A-Z0-9_]+)=(.*)$/\1='\2'/" >"$envfile"
# The test destinations are JSON (commas: `--env-var` would split them), single-quoted here too.
for name in TEST_DESTINATION_CODE CNF_TEST_DESTINATIONS SIGNUP_TEST_DESTINATIONS; do
  printf "%s='%s'\n" "$name" "${!name}" >>"$envfile"
done
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid cargo lambda watch --ignore-changes -P "$port" \
  --env-file "$envfile" --env-var "AWS_ENDPOINT_URL=$moto" >/tmp/smoke-watch.log 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.5
done

# file -> expected statusCode (HTTP) or "stream" (no batch item failures expected)
declare -A expected=(
  [create-two-factor-sms-otp.json]=200
  [create-two-factor-sms-otp-async.json]=200
  [create-two-factor-sms-otp-rest-v1.json]=200
  [create-two-factor-sms-otp-seed-sample.json]=400
  [create-two-factor-sms-otp-malformed.json]=400
  [verify-two-factor-sms-otp.json]=404
  [verify-two-factor-sms-otp-wrong-code.json]=404
  [verify-two-factor-sms-otp-malformed.json]=400
  [cognito-send-confirm-code-request.json]=200
  [cognito-send-confirm-code-request-confirm.json]=400  # an address that never asked answers like a wrong code
  [cognito-send-confirm-code-request-seed-csv.json]=400
  [cognito-send-confirm-code-request-malformed.json]=400
  [cognito-send-confirm-code-request-xml.json]=200
  [cognito-send-confirm-code-request-format-csv.json]=200
  [cognito-send-confirm-code-request-xml-reply.json]=200
  [generate-cnf-code-not-user.json]=200
  [generate-cnf-code-not-user-seed-sample.json]=400
  [generate-cnf-code-not-user-malformed.json]=400
  [generate-cnf-code-not-user-test-number.json]=200  # a test number (run-local.sh's lists): nothing sent
  [validate-cnf-code-not-user.json]=404
  [validate-cnf-code-not-user-malformed.json]=400
  [two-factor-sms-sender-insert.json]=stream
  [two-factor-sms-sender-modify.json]=stream
  [two-factor-sms-sender-ttl-remove.json]=stream
)
passed=0
failed=0
for event in events/*.json; do
  name=$(basename "$event")
  case "$name" in
    create-two-factor-sms-otp*) fn=create-two-factor-sms-otp ;;
    verify-two-factor-sms-otp*) fn=verify-two-factor-sms-otp ;;
    two-factor-sms-sender*) fn=two-factor-sms-sender ;;
    cognito-send-confirm-code-request*) fn=cognito-send-confirm-code-request ;;
    generate-cnf-code-not-user*) fn=generate-cnf-code-not-user ;;
    validate-cnf-code-not-user*) fn=validate-cnf-code-not-user ;;
    *) echo "smoke: no function for $name"; failed=$((failed + 1)); continue ;;
  esac
  want=${expected[$name]:-}
  out=$(cargo lambda invoke "$fn" -P "$port" --data-file "$event" --output-format json 2>&1) || true
  got=$(printf '%s' "$out" | .venv/bin/python -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print("unparseable"); sys.exit()
if "statusCode" in d: print(d["statusCode"])
elif "batchItemFailures" in d: print("stream" if not d["batchItemFailures"] else "stream-failures")
else: print("unknown")')
  if [ "$got" = "$want" ]; then
    echo "smoke: ok   $fn <- $name ($got)"; passed=$((passed + 1))
  else
    echo "smoke: FAIL $fn <- $name: expected $want, got $got: $out"; failed=$((failed + 1))
  fi
done
count() { curl -s "$moto/_local/messages" | .venv/bin/python -c "import json,sys; print(sum(1 for m in json.load(sys.stdin) if m['channel']=='$1'))"; }
sms=$(count sms); email=$(count email)
echo "smoke: moto received $sms SMS and $email e-mails"
if [ "$sms" -ge 2 ]; then passed=$((passed + 1)); else echo "smoke: FAIL expected the synchronous creates to send SMS"; failed=$((failed + 1)); fi
if [ "$email" -ge 3 ]; then passed=$((passed + 1)); else echo "smoke: FAIL expected the sign-up sends to e-mail codes"; failed=$((failed + 1)); fi
if [ "$failed" -ne 0 ]; then tail -50 /tmp/smoke-watch.log; fi
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
