#!/usr/bin/env bash
# `make bench` (not part of `make test`): for each function's release binary, cold start and
# peak RSS against a runtime-API stub and a fresh moto; the arm64 sizes as deployed; then the
# warm CPU time of each handler with AWS answered in process (criterion).
# ARM64=0 skips the arm64 build (9 min on 2 cores) and reports the last one, if any.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
scripts/lib/ensure-venv.sh local/requirements.txt .ci/requirements.txt

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
cargo build --release --quiet
# The baseline the cold starts are read against (shared/examples/empty_function.rs).
cargo build --release --quiet -p shared --example empty_function
echo "== cold start (x86_64 release binaries, exec -> first response)"
python bench/cold_start.py --runs "${RUNS:-20}"

echo "== start-up instructions (callgrind: exec -> first request, independent of the machine's load)"
python bench/init_instructions.py

echo "== arm64 size"
if [ "${ARM64:-1}" != 0 ]; then
  rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
  cargo lambda build --release --arm64 --quiet
fi
python bench/sizes.py || true

echo "== warm handler CPU time (criterion, AWS answered in process)"
cargo bench -p shared --bench handlers -- --noplot
