#!/usr/bin/env bash
# CI's lint step, runnable by hand: ruff (pinned in .ci/requirements.txt, rules in ruff.toml)
# over every Python file, shellcheck at warning level over every shell script (shellcheck from
# Debian's packages, installed here when missing), and the dead-link check of README.md and
# docs/*.md (scripts/ci/check_links.py). Runs all three and fails if any failed.
# Usage: scripts/ci/lint.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/lib/ensure-venv.sh local/requirements.txt .ci/requirements.txt
if ! command -v shellcheck >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq shellcheck >/dev/null
fi

# Every tracked shell script: *.sh, and the ones without the suffix that say so on line 1.
shell=()
while IFS= read -r file; do
  case "$file" in
    *.sh) shell+=("$file") ;;
    *) [ -f "$file" ] && head -1 "$file" | grep -qE '^#!.*\b(ba)?sh\b' && shell+=("$file") ;;
  esac
done < <(git ls-files)

failed=()
checks=()
check() {
  local name=$1
  shift
  echo "--- $name"
  checks+=("$name")
  "$@" || failed+=("$name")
}
check "ruff check (Python)" .venv/bin/ruff check .
check "shellcheck -S warning (${#shell[@]} scripts)" shellcheck -S warning "${shell[@]}"
check "links in README.md and docs/" .venv/bin/python scripts/ci/check_links.py
# The shared crate's modules and their submodules depend on each other one way only.
check "no module cycles in shared/src" .venv/bin/python scripts/ci/module_graph.py --depth 2 --check --quiet

if [ ${#failed[@]} -gt 0 ]; then
  printf 'lint: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "lint: ${#checks[@]} passed, 0 failed"
