"""Cold start of each Lambda binary against a local Lambda runtime-API stub, the SDK on moto.

For each run: exec the binary, serve it one event, and time exec -> its first `next` request
(init) and exec -> its response (cold start, its AWS calls included); peak RSS is the
process's VmHWM when it answers. "exec" is the moment `bench/exec_stamp.c` calls execv (it
writes the clock to a pipe first), so Python's own spawn (~1.2 ms here) is not counted; the
first request is timed when the stub accepts its connection, before Python spends ~0.3 ms
starting a thread and parsing it. `bench/floor.c`, a C program that only fetches the event
and answers "{}", is timed the same way first: the floor of this machine and stub (exec,
dynamic loading, two loopback connections).

The cold start includes moto's time serving the function's AWS calls, which is moto's (a
Python emulator: 1-13 ms a call here, where DynamoDB takes a few ms in a region), not the
function's; the launcher counts it (`GET /_local/served`) and each line says how much of the
median it was and what is left: the function's own start and request, the loopback hops.

Each function runs its success path with real data: the create runs' OTPs
(RETURN_OTP_CODE=true here) are what the verify runs verify, the codes family B sends (read
from moto's inbox) are what the validate runs validate. The stream
sender gets the sample record of events/ (see Plan.sender).

Usage: python bench/cold_start.py [--runs 20] [--bin target/release] [--moto URL]
Without --moto a fresh moto server is started (a long-lived one slows down as it fills).
"""

import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
USER = "3698b76f-a5c0-4b04-b579-bc084019fb95"


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


def function_env(endpoint):
    """What Lambda and local/local.env give a function, the SDK pointed at `endpoint`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(read_env_file(os.path.join(ROOT, "local", "local.env")))
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/bench",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
        RUST_LOG="warn",
    )
    return env


def load_event(name):
    with open(os.path.join(ROOT, "events", name), encoding="utf-8") as handle:
        return json.load(handle)


def with_body(event, body):
    event = copy.deepcopy(event)
    event["body"] = json.dumps(body)
    return event


class Stub:
    """The Lambda runtime API, for one invocation."""

    def __init__(self, event):
        self.event = json.dumps(event).encode()
        self.pid = None
        self.t_first_request = None
        self.t_response = None
        self.rss_kib = None
        self.response = None
        self.answered = threading.Event()
        self.served = False

    def handler(stub):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if stub.served:
                    # The process is done for this run; hold it until it is killed.
                    stub.answered.wait(30)
                    time.sleep(30)
                    return
                stub.served = True
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"
                )
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
                self.send_header("Content-Length", str(len(stub.event)))
                self.end_headers()
                self.wfile.write(stub.event)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if "/response" in self.path or "/error" in self.path:
                    stub.t_response = monotonic()
                    stub.rss_kib = vm_hwm(stub.pid)
                    stub.response = body
                    stub.answered.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def monotonic():
    """The clock exec_stamp writes (CLOCK_MONOTONIC, seconds)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def vm_hwm(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class StubServer(ThreadingHTTPServer):
    """Notes when the first connection is accepted: the runtime's first `next` request."""

    def __init__(self, stub):
        super().__init__(("127.0.0.1", 0), stub.handler())
        self.stub = stub

    def verify_request(self, request, client_address):
        if self.stub.t_first_request is None:
            self.stub.t_first_request = monotonic()
        return True


def build_helpers():
    """Compiles bench/exec_stamp.c and bench/floor.c into target/bench (cc, once)."""
    out = os.path.join(ROOT, "target", "bench")
    os.makedirs(out, exist_ok=True)
    built = {}
    for name in ("exec_stamp", "floor"):
        source, binary = os.path.join(HERE, f"{name}.c"), os.path.join(out, name)
        if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(source):
            subprocess.run(["cc", "-O2", "-o", binary, source], check=True)
        built[name] = binary
    return built


def served_ms(moto):
    """Milliseconds moto has spent serving AWS requests so far (local/moto_launcher.py)."""
    with urllib.request.urlopen(f"{moto}/_local/served", timeout=10) as response:
        return json.load(response)["ms"]


def invoke(binary, event, env, exec_stamp, moto=None):
    """One cold start: returns (init ms, cold ms, peak RSS KiB, the handler's answer, ms of
    the cold start that moto spent serving the function's AWS calls)."""
    moto_before = served_ms(moto) if moto else 0.0
    stub = Stub(event)
    server = StubServer(stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}")
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [exec_stamp, str(write_end), binary],
            env=run_env,
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as stamp:
        t_exec = float(stamp.read() or "nan")
    stub.pid = process.pid
    ok = stub.answered.wait(30)
    process.kill()
    process.wait()
    server.shutdown()
    server.server_close()
    if not ok:
        raise SystemExit(f"{binary}: no response within 30 s")
    return (
        (stub.t_first_request - t_exec) * 1000,
        (stub.t_response - t_exec) * 1000,
        stub.rss_kib,
        json.loads(stub.response or b"{}"),
        served_ms(moto) - moto_before if moto else 0.0,
    )


def status_of(answer):
    if not answer:
        return "{}"
    if "statusCode" in answer:
        return answer["statusCode"]
    return "stream ok" if not answer.get("batchItemFailures") else "stream failures"


def body_of(answer):
    try:
        return json.loads(answer.get("body") or "{}")
    except ValueError:
        return {}


def inbox_code(moto, destination):
    with urllib.request.urlopen(f"{moto}/_local/messages", timeout=10) as response:
        messages = json.load(response)
    for message in reversed(messages):
        if destination in (message.get("to") or ""):
            found = re.search(r"\b(\d{4,8})\b", message.get("body") or "")
            if found:
                return found.group(1)
    raise SystemExit(f"no code sent to {destination}")


class Plan:
    """Events for each function, each run's event built from earlier runs' results."""

    def __init__(self, moto):
        self.moto = moto
        self.otps = []
        self.confirmations = []
        self.prefix = f"{os.getpid() % 1000:03d}"

    def phone(self, run, family):
        return f"+90532{family}{self.prefix[:2]}{run:04d}"

    def create(self, run):
        event = load_event("create-two-factor-sms-otp.json")
        body = json.loads(event["body"])
        body.update(GsmNumber=self.phone(run, 1), UserId=USER, IsSync=True)
        return with_body(event, body)

    def after_create(self, run, answer):
        body = body_of(answer)
        self.otps.append((body.get("OtpIdReference"), body.get("OtpCode")))

    def verify(self, run):
        otp_id, code = self.otps[run]
        return with_body(
            load_event("verify-two-factor-sms-otp.json"), {"UserId": USER, "OtpIdReference": otp_id, "OtpCode": code}
        )

    def generate(self, run):
        national = self.phone(run, 9).removeprefix("+90")
        body = {"applicationId": "demo", "internationalPrefix": "90", "mobileNumber": national, "language": "en"}
        return with_body(load_event("generate-cnf-code-not-user.json"), body)

    def after_generate(self, run, answer):
        payload = body_of(answer).get("response") or {}
        self.confirmations.append((payload.get("confirmationId"), inbox_code(self.moto, self.phone(run, 9))))

    def validate(self, run):
        confirmation_id, code = self.confirmations[run]
        body = {"applicationId": "demo", "confirmationId": confirmation_id, "confirmationCode": code, "language": "en"}
        return with_body(load_event("validate-cnf-code-not-user.json"), body)

    def signup(self, run):
        body = {"EmailAddress": f"bench-{self.prefix}-{run}@example.com"}
        return with_body(load_event("cognito-send-confirm-code-request.json"), body)

    def sender(self, run):
        # The sample INSERT record: its OTP is not in the table, so this times start-up,
        # decoding and one DynamoDB call, not an SMS.
        return load_event("two-factor-sms-sender-insert.json")


def median_line(name, results):
    init = [r[0] for r in results]
    cold = [r[1] for r in results]
    rss = [r[2] for r in results if r[2]]
    moto = [r[4] for r in results]
    own = [r[1] - r[4] for r in results]
    statuses = sorted({str(status_of(r[3])) for r in results})
    return (
        f"{name:36s} init {statistics.median(init):5.1f} ms ({min(init):.1f}-{max(init):.1f})   "
        f"cold start {statistics.median(cold):5.1f} ms ({min(cold):.1f}-{max(cold):.1f})   "
        f"of which moto {statistics.median(moto):4.1f} ms, the rest {statistics.median(own):4.1f} ms   "
        f"peak RSS {max(rss) / 1024:4.1f} MiB   statuses {','.join(statuses)}"
    )


def start_moto(table):
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "local", "moto_launcher.py"),
            "--port",
            "0",
            "--exit-with-parent",
            "--template",
            os.path.join(ROOT, "template.yaml"),
            "--table-name",
            table,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("MOTO_READY port="):
            return process, f"http://127.0.0.1:{line.strip().split('=')[1]}"
    raise SystemExit("moto did not start")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    parser.add_argument("--moto")
    args = parser.parse_args()
    moto_process = None
    moto = args.moto
    if not moto:
        moto_process, moto = start_moto(read_env_file(os.path.join(ROOT, "local", "local.env"))["TABLE_NAME"])
    env = function_env(moto)
    env.update(RETURN_OTP_CODE="true")
    plan = Plan(moto)
    steps = [
        ("create-two-factor-sms-otp", plan.create, plan.after_create),
        ("verify-two-factor-sms-otp", plan.verify, None),
        ("generate-cnf-code-not-user", plan.generate, plan.after_generate),
        ("validate-cnf-code-not-user", plan.validate, None),
        ("cognito-send-confirm-code-request", plan.signup, None),
        ("two-factor-sms-sender", plan.sender, None),
    ]
    helpers = build_helpers()
    print(f"{args.runs} cold starts per function; moto at {moto}; binaries in {args.bin}")
    floor = [invoke(helpers["floor"], {}, env, helpers["exec_stamp"]) for _ in range(args.runs)]
    print(median_line("floor (bench/floor.c)", floor), flush=True)
    empty = os.path.join(args.bin, "examples", "empty_function")
    if os.path.exists(empty):
        event = load_event("create-two-factor-sms-otp.json")
        baseline = [invoke(empty, event, env, helpers["exec_stamp"]) for _ in range(args.runs)]
        print(median_line("empty lambda_http function", baseline), flush=True)
    # BENCH_ONLY=create-two-factor-sms-otp,verify-two-factor-sms-otp: those functions only.
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    try:
        for name, event_for, after in steps:
            if only and name not in only:
                continue
            binary = os.path.join(args.bin, name)
            results = []
            for run in range(args.runs):
                result = invoke(binary, event_for(run), env, helpers["exec_stamp"], moto)
                if after:
                    after(run, result[3])
                results.append(result)
            print(median_line(name, results), flush=True)
    finally:
        if moto_process:
            moto_process.kill()


if __name__ == "__main__":
    sys.exit(main())
