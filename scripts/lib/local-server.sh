# shellcheck shell=bash
# Sourced (not run) by the scripts that test against the local server: scripts/ci/fuzz-api.sh,
# scripts/ci/dotnet-clients.sh, scripts/dev/load.sh. `start_local_server LOG` starts `make run`'s
# script on free ports in a process group of its own, stops that group when the calling script
# exits, and waits for /health (up to 5 minutes: the first start builds the server). It sets
# MOTO_PORT, PORT and LOCAL_URL. Settings exported before the call reach the server (the
# environment wins over local/local.env).

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_local_server() {
  local log=$1
  export MOTO_PORT PORT
  MOTO_PORT=$(free_port)
  PORT=$(free_port)
  LOCAL_URL="http://127.0.0.1:$PORT"
  setsid scripts/dev/run-local.sh >"$log" 2>&1 &
  local_server_pid=$!
  trap 'kill -- -$local_server_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 600); do
    curl -sf "$LOCAL_URL/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  cat "$log"
  echo "the local server did not answer $LOCAL_URL/health" >&2
  exit 1
}
