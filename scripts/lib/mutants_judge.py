"""The verdict of a cargo-mutants run: fails on any survivor, and any timeout, not in the
accepted list. Usage: mutants_judge.py MUTANTS_OUT_DIR ACCEPTED_FILE

A line of the accepted list is cargo-mutants' description of a mutant without its line and
column ("path: replace ... with ..."), then " # " and the reason; line numbers move with every
edit, so mutants are compared without theirs. A timeout is listed only when the mutant can do
nothing but hang (a loop whose exit it removes): the tests notice it, by their timeout.
"""

import pathlib
import re
import sys


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
    for mutant in new:
        print(f"survived, not accepted: {mutant}")
    for mutant in hung:
        print(f"timed out, not accepted: {mutant}")
    return 1 if new or hung else 0


if __name__ == "__main__":
    sys.exit(main())
