#!/usr/bin/env bash
# Runs every cargo fuzz target (request parsers: JSON, XML, format negotiation) for a bounded
# time each. Usage: scripts/dev/fuzz-parsers.sh [SECONDS_PER_TARGET]   (default 60)
# cargo-fuzz drives libFuzzer through rustc's -Z flags; RUSTC_BOOTSTRAP lets the machine's
# stable toolchain accept them (no nightly can be fetched here).
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "== $target"
  cargo fuzz run "$target" --sanitizer none "corpus/$target" -- -max_total_time="${1:-60}" -max_len=8192
done
