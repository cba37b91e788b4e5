#!/usr/bin/env bash
# `make mutants` (not part of `make test`): mutation testing of the security core with
# cargo-mutants, pinned and installed here. Every viable mutant must be caught by a test, or be
# listed in .cargo/mutants-accepted.txt with the reason it may survive; the run fails on any
# other survivor. FILES="shared/src/store/guards/*.rs ..." runs over a part of the core.
#
# Each mutant rebuilds `shared` and relinks the `api` test binary (~30 s on 2 cores) before its
# tests (~40 s): the whole core is hours. The tests are the library's and the `api` binary's
# (the NAT binary and the benches are left out: slow, and they test no core line alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
version=27.0.0
if [ "$(cargo mutants --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  cargo install --locked cargo-mutants --version "$version"
fi
scripts/lib/ensure-venv.sh local/requirements.txt

# The verifying paths are each family's deciding half (verify, validate, confirm) and its
# writing half (the store's accepting conditions and what a cancellation means).
core="shared/src/store/guards/*.rs shared/src/store/idempotency.rs shared/src/domain/caller.rs shared/src/domain/ids.rs shared/src/store/attempts.rs
shared/src/domain/crypto.rs shared/src/domain/codes.rs shared/src/store/dynamo.rs shared/src/edge/failure.rs shared/src/twofactor/verify.rs
shared/src/twofactor/store.rs shared/src/preregistration/validate.rs shared/src/preregistration/store.rs
shared/src/preregistration/channels.rs shared/src/signup/confirm.rs shared/src/signup/store.rs"
args=()
for file in ${FILES:-$core}; do args+=(--file "$file"); done
out=target/mutants
rm -rf "$out"
status=0
cargo mutants --package shared "${args[@]}" --output "$out" --timeout-multiplier 3 -- --lib --test api || status=$?
# cargo-mutants exits 2 when mutants survived, 3 on timeouts: judged below against the list.
if [ "$status" -ne 0 ] && [ "$status" -ne 2 ] && [ "$status" -ne 3 ]; then
  echo "cargo mutants failed ($status)"; exit "$status"
fi
python3 - "$out/mutants.out" .cargo/mutants-accepted.txt <<'PY'
import pathlib, re, sys
out, accepted_file = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def key(line):  # "path:line:col: what" -> "path: what" (line numbers move with every edit)
    return re.sub(r"^([^:]+):\d+:\d+:", r"\1:", line.strip())
read = lambda name: [l for l in (out / name).read_text().splitlines() if l.strip()] if (out / name).exists() else []
accepted = {key(l.split(" # ")[0]) for l in accepted_file.read_text().splitlines() if l.strip() and not l.startswith("#")}
missed = read("missed.txt")
new = [m for m in missed if key(m) not in accepted]
counts = {n: len(read(f"{n}.txt")) for n in ("caught", "missed", "unviable", "timeout")}
print(f"mutants: caught {counts['caught']}, missed {counts['missed']} ({counts['missed'] - len(new)} accepted), "
      f"unviable {counts['unviable']}, timeouts {counts['timeout']}")
for m in new:
    print(f"survived, not accepted: {m}")
sys.exit(1 if new or counts["timeout"] else 0)
PY
