"""The verdict of a cargo-mutants run: fails on any survivor, and any timeout, not in the
accepted list. Usage: mutants_judge.py MUTANTS_OUT_DIR ACCEPTED_FILE

A line of the accepted list is cargo-mutants' description of a mutant without its line and
column ("path: replace ... with ..."), then " # " and the reason; line numbers move with every
edit, so mutants are compared without theirs. A timeout is listed only when the mutant can do
nothing but hang (a loop whose exit it removes): the tests notice it, by their timeout.
"""

import json
import pathlib
import re
import sys

# Tests that can fail on a healthy tree under load (moto timeouts, 503s): a mutant caught by
# these alone may be a flake counted as a catch, to be looked at (or rerun on an idle machine).
# The last two are races of many requests seen answering 503 while another job built.
LOAD_SENSITIVE = (
    "faults::",
    "races::",
    "contention::",
    "ceilings::",
    "guards::when_unknown_addresses_are_confirmed",
    "idempotency::when_10_",
)


def key(line: str) -> str:
    """ "path:line:col: what" -> "path: what"."""
    return re.sub(r"^([^:]+):\d+:\d+:", r"\1:", line.strip())


def main() -> int:
    out, accepted_file = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

    def read(name: str) -> list[str]:
        path = out / f"{name}.txt"
        return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    accepted = {
        key(line.split(" # ")[0])
        for line in accepted_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    missed, timeouts = read("missed"), read("timeout")
    new = [m for m in missed if key(m) not in accepted]
    hung = [m for m in timeouts if key(m) not in accepted]
    counts = {name: len(read(name)) for name in ("caught", "missed", "unviable", "timeout")}
    print(
        f"mutants: caught {counts['caught']}, missed {counts['missed']} ({counts['missed'] - len(new)} accepted), "
        f"unviable {counts['unviable']}, timeouts {counts['timeout']} ({counts['timeout'] - len(hung)} accepted)"
    )
    for mutant, failed in caught_only_by_load_sensitive_tests(out):
        print(f"note: caught only by tests that can fail under load, check it: {mutant} ({', '.join(failed)})")
    for mutant in new:
        print(f"survived, not accepted: {mutant}")
    for mutant in hung:
        print(f"timed out, not accepted: {mutant}")
    return 1 if new or hung else 0


def caught_only_by_load_sensitive_tests(out: pathlib.Path) -> list[tuple[str, list[str]]]:
    """The caught mutants whose failing tests are all in LOAD_SENSITIVE, with those tests."""
    outcomes = out / "outcomes.json"
    if not outcomes.exists():
        return []
    found = []
    for outcome in json.loads(outcomes.read_text()).get("outcomes", []):
        scenario = outcome.get("scenario")
        if outcome.get("summary") != "CaughtMutant" or not isinstance(scenario, dict):
            continue
        log = out / outcome["log_path"]
        failed = re.findall(r"^test (\S+) \.\.\. FAILED", log.read_text(errors="replace"), re.M) if log.exists() else []
        if failed and all(test.startswith(LOAD_SENSITIVE) for test in failed):
            found.append((scenario["Mutant"]["name"], failed))
    return found


if __name__ == "__main__":
    sys.exit(main())
