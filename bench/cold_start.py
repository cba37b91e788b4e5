"""Cold start of a Lambda binary against a local Lambda runtime-API stub, the SDK on moto.

For each run: exec the binary, serve it one event, and time exec -> first `next` request
(init) and exec -> its response (cold start, AWS calls included); peak RSS is the process's
VmHWM when it answers. Prints the median and range over the runs.

Usage: python bench/cold_start.py BINARY EVENT [--runs 20] [--moto http://127.0.0.1:PORT]
The create events get a fresh GsmNumber per run, so no run meets another's rate limit.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


class Stub:
    def __init__(self):
        self.event = b"{}"
        self.pid = None
        self.t_next = None
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
                stub.t_next = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
                self.send_header("Content-Length", str(len(stub.event)))
                self.end_headers()
                self.wfile.write(stub.event)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if "/response" in self.path or "/error" in self.path:
                    stub.t_response = time.perf_counter()
                    stub.rss_kib = vm_hwm(stub.pid)
                    stub.response = body
                    stub.answered.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def vm_hwm(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def event_for_run(path, run):
    with open(path, encoding="utf-8") as handle:
        event = json.load(handle)
    body = event.get("body")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
            if "GsmNumber" in parsed:
                parsed["GsmNumber"] = f"+90532{os.getpid() % 1000:03d}{run:04d}"
                event["body"] = json.dumps(parsed)
        except ValueError:
            pass
    return json.dumps(event).encode()


def one_run(binary, event_path, run, env):
    stub = Stub()
    stub.event = event_for_run(event_path, run)
    server = ThreadingHTTPServer(("127.0.0.1", 0), stub.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}")
    t0 = time.perf_counter()
    process = subprocess.Popen([binary], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stub.pid = process.pid
    ok = stub.answered.wait(30)
    process.kill()
    process.wait()
    server.shutdown()
    if not ok:
        raise SystemExit(f"run {run}: no response within 30 s")
    status = json.loads(stub.response or b"{}").get("statusCode")
    return (stub.t_next - t0) * 1000, (stub.t_response - t0) * 1000, stub.rss_kib, status


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("event")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--moto", required=True)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(read_env_file(os.path.join(ROOT, "local", "local.env")))
    env.update(
        AWS_ENDPOINT_URL=args.moto,
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/bench",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
        RUST_LOG="warn",
    )
    runs = [one_run(args.binary, args.event, i, env) for i in range(args.runs)]
    statuses = sorted({r[3] for r in runs}, key=str)
    init = [r[0] for r in runs]
    cold = [r[1] for r in runs]
    rss = [r[2] for r in runs if r[2]]
    name = os.path.basename(os.path.dirname(args.binary)) or args.binary
    print(
        f"{name}: init median {statistics.median(init):.1f} ms ({min(init):.1f}-{max(init):.1f}), "
        f"cold start median {statistics.median(cold):.1f} ms ({min(cold):.1f}-{max(cold):.1f}), "
        f"peak RSS {max(rss) / 1024:.1f} MiB, statuses {statuses}, {args.runs} runs"
    )


if __name__ == "__main__":
    sys.exit(main())
