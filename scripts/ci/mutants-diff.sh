#!/usr/bin/env bash
# CI's mutation testing (`make mutants DIFF=1` runs the same): cargo-mutants over the lines of
# the security core (.cargo/mutants-core.txt) changed since the commit in .cargo/mutants-base
# (`--in-diff`), committed or not. Fails on any survivor or timeout that
# .cargo/mutants-accepted.txt does not list, so a change to the core cannot land with new survivors.
#
# Bounded: with no change to the core it says so and stops (a `git diff`, no install, ~0.1 s);
# with more mutants than fit CI's ~10 minutes (MUTANTS_DIFF_MAX) it refuses, and the author
# runs them locally: `make mutants-bump` (BUMP=1) runs them however many, and on a pass moves
# the base to HEAD, to be committed with the change.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/lib/mutants.sh
. scripts/lib/mutants.sh
# On 2 cores: ~3 min for cargo-mutants' own build of the tree and its unmutated test run, then
# ~50 s a mutant that survives (~12 s one a unit test catches) (docs/development.md, Mutation
# testing): 8 mutants are at most ~10 minutes.
max=${MUTANTS_DIFF_MAX:-8}
bump=${BUMP:-}

base=$(grep -v '^#' .cargo/mutants-base | tr -d '[:space:]')
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "mutants: the base commit $base (.cargo/mutants-base) is not in this clone: a shallow clone needs" \
    "its history (git fetch --unshallow); after a squash or a rebase, set it to a commit of this history"
  exit 1
fi
mutants_core
if [ -n "$bump" ] && ! git diff --quiet HEAD -- "${core[@]}"; then
  echo "mutants: commit the changes to the security core first: the base moves to HEAD, which must hold" \
    "exactly what was tested"
  exit 1
fi
diff=target/mutants-diff.patch
mkdir -p target
git diff --find-renames --no-ext-diff --no-color "$base" -- "${core[@]}" >"$diff"
if [ ! -s "$diff" ]; then
  echo "mutants: no change to the security core since ${base:0:12} (.cargo/mutants-base): nothing to mutate"
  exit 0
fi
echo "mutants: the security core changed since ${base:0:12}:"
git diff --no-ext-diff --no-color --stat "$base" -- "${core[@]}" | sed 's/^/  /'

mutants_install
scripts/lib/ensure-venv.sh local/requirements.txt
mutants=$(cargo mutants --package shared --in-diff "$diff" --list)
count=$(grep -c . <<<"$mutants" || true)
echo "mutants: $count in the changed lines"
if [ -n "$mutants" ]; then sed 's/^/  /' <<<"$mutants"; fi
if [ "$count" -eq 0 ]; then
  echo "mutants: the changes hold no code that can be mutated"
elif [ -z "$bump" ] && [ "$count" -gt "$max" ]; then
  echo "mutants: $count mutants are more than CI's $max (~10 minutes). Run them locally with" \
    "\`make mutants-bump\`: it runs every mutant in the changes since ${base:0:12} and, when none" \
    "survives unaccepted, moves .cargo/mutants-base to HEAD; commit that file with the change."
  exit 1
else
  mutants_run target/mutants-diff --in-diff "$diff"
fi
if [ -n "$bump" ]; then
  head=$(git rev-parse HEAD)
  sed -i "s/^$base\$/$head/" .cargo/mutants-base
  echo "mutants: .cargo/mutants-base moved to ${head:0:12}: commit it"
fi
