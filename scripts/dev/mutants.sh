#!/usr/bin/env bash
# `make mutants` (not part of `make test`): mutation testing of the security core
# (.cargo/mutants-core.txt) with cargo-mutants, pinned and installed here. Every viable mutant
# must be caught by a test, or be listed in .cargo/mutants-accepted.txt with the reason it may
# survive; the run fails on any other survivor and on any timeout.
#
#   make mutants                          the whole core (hours)
#   FILES="shared/src/store/guards/*.rs" make mutants
#                                         a part of it
#   make mutants DIFF=1                   exactly CI's step: the core's changes since
#                                         .cargo/mutants-base (scripts/ci/mutants-diff.sh)
#   make mutants-bump                     those changes, however many, then the base moved to HEAD
#
# Each mutant rebuilds `shared` and relinks the `api` test binary before its tests: ~50 s on
# 2 cores (docs/development.md, Mutation testing).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -n "${DIFF:-}" ] || [ -n "${BUMP:-}" ]; then
  exec scripts/ci/mutants-diff.sh
fi
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/lib/mutants.sh
. scripts/lib/mutants.sh
mutants_install
scripts/lib/ensure-venv.sh local/requirements.txt
if [ -n "${FILES:-}" ]; then
  read -r -a core <<<"$FILES"
else
  mutants_core
fi
args=()
for file in "${core[@]}"; do args+=(--file "$file"); done
mutants_run target/mutants "${args[@]}"
