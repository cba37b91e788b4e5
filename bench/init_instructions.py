"""Instructions each function's release binary runs from exec to its first request for an
event, counted by valgrind's callgrind: a figure that does not move with the machine's load,
unlike bench/cold_start.py's milliseconds, so a change of a few hundred microseconds of
start-up shows clearly. The runtime API points at a closed port, so each process starts,
asks for its first event, fails to connect and exits; the count is start-up plus that exit.

Usage: python bench/init_instructions.py [--bin target/release]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from cold_start import function_env  # noqa: E402

FUNCTIONS = [
    "create-two-factor-sms-otp",
    "verify-two-factor-sms-otp",
    "generate-cnf-code-not-user",
    "validate-cnf-code-not-user",
    "cognito-send-confirm-code-request",
    "two-factor-sms-sender",
]


def instructions(binary, env):
    """Instructions callgrind counted for one run of `binary`."""
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", binary],
        env=env, capture_output=True, text=True, timeout=120,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if not found:
        raise SystemExit(f"{binary}: no count from callgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind not found: no instruction counts")
        return 0
    env = function_env("http://127.0.0.1:1")
    env.update(AWS_LAMBDA_RUNTIME_API="127.0.0.1:1")
    rows = [("empty lambda_http function", os.path.join(args.bin, "examples", "empty_function"))]
    rows += [(name, os.path.join(args.bin, name)) for name in FUNCTIONS]
    for name, binary in rows:
        if os.path.exists(binary):
            print(f"{name:36s} {instructions(binary, env) / 1e6:5.2f} M instructions to the first request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
