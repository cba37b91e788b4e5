# Sourced by scripts/dev/mutants.sh (`make mutants`) and scripts/ci/mutants-diff.sh (CI): one
# pinned cargo-mutants, one list of the security core, one set of test arguments and one
# verdict, so a developer's run and CI's mutate and test the same way.
# shellcheck shell=bash

MUTANTS_VERSION=27.0.0

# Installs the pinned cargo-mutants unless it is already there (a build of ~1 min).
mutants_install() {
  if [ "$(cargo mutants --version 2>/dev/null | awk '{print $2}')" != "$MUTANTS_VERSION" ]; then
    cargo install --locked cargo-mutants --version "$MUTANTS_VERSION"
  fi
}

# The core's paths and globs (.cargo/mutants-core.txt), into the array `core`.
mutants_core() {
  core=()
  local line
  while IFS= read -r line; do
    line=${line%%#*}
    line=${line//[[:space:]]/}
    [ -n "$line" ] && core+=("$line")
  done < .cargo/mutants-core.txt
}

# cargo-mutants over `shared` with the given selection (--file ..., --in-diff ...), its output
# in $1; then the verdict. The tests are the library's and the `api` binary's (the NAT binary
# and the benches are left out: slow, and they test no core line alone).
mutants_run() {
  local out=$1
  shift
  rm -rf "$out"
  local status=0
  # Each mutant's rebuild is incremental (CI turns incremental builds off for its one-off builds).
  # The `api` tests mostly wait (moto, stalls, pauses: ~9 s of CPU in ~40 s on 2 threads), so
  # they run on 4 threads (~25 s; at 12 one moto is overloaded and tests time out), and
  # MUTANTS_JOBS=2 tests one mutant while the next builds (each job has its own moto).
  RUST_TEST_THREADS=${MUTANTS_TEST_THREADS:-4} CARGO_INCREMENTAL=1 cargo mutants --package shared "$@" \
    --jobs "${MUTANTS_JOBS:-1}" --output "$out" --timeout-multiplier 3 -- --lib --test api || status=$?
  # cargo-mutants exits 2 when mutants survived, 3 on timeouts: judged against the list.
  if [ "$status" -ne 0 ] && [ "$status" -ne 2 ] && [ "$status" -ne 3 ]; then
    echo "cargo mutants failed ($status)"
    return "$status"
  fi
  mutants_judge "$out"
}

# Fails on any survivor not in .cargo/mutants-accepted.txt, and on any timeout.
mutants_judge() {
  python3 scripts/lib/mutants_judge.py "$1/mutants.out" .cargo/mutants-accepted.txt
}
