"""A bounded load test of the local server (`make load`; scripts/dev/load.sh starts the server).

N clients (threads, one keep-alive connection each) for a fixed time, every endpoint mixed
with bad input, then checks:
- no answer is a 5xx (and none is anything the action does not expect);
- every accepted send's message is in the inbox exactly once: one SMS per accepted family C
  create (synchronous or not, the stream sender included), one SMS and one e-mail per
  accepted family B generate, one e-mail per accepted family A send; nothing else;
- every limit is exact under concurrency: bursts of concurrent requests at one destination
  get exactly the limit accepted (C MaxSMSCount, B and A's resend gap), and a code that
  failed its attempts refuses the right one.

Usage: python scripts/dev/load_test.py --url http://127.0.0.1:3000 [--clients 50] [--seconds 120]
Prints throughput and latency percentiles per endpoint; exits 1 on any broken check.
"""

import argparse
import collections
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

CREATE = "/api/TwoFactor/CreateTwoFactorSmsOtp"
VERIFY = "/api/TwoFactor/VerifyTwoFactorSmsOtp"
GENERATE = "/api/Auth/1/1/GenerateCnfCodeNotUser"
VALIDATE = "/api/Auth/1/1/ValidateCnfCodeNotUser"
SIGNUP = "/CognitoSendConfirmCodeRequest"
USER = "3698b76f-a5c0-4b04-b579-bc084019fb95"
RUN = random.randrange(10**6)  # keeps destinations of repeated runs on one moto apart


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = collections.defaultdict(list)  # endpoint -> seconds
        self.statuses = collections.Counter()  # (endpoint, status)
        self.expected = collections.Counter()  # destination -> messages that must arrive
        self.problems = []
        self.limit_checks = collections.Counter()
        self.next = 0

    def unique(self):
        with self.lock:
            self.next += 1
            return self.next

    def record(self, endpoint, status, seconds):
        with self.lock:
            self.latencies[endpoint].append(seconds)
            self.statuses[(endpoint, status)] += 1

    def expect(self, destination, count=1):
        with self.lock:
            self.expected[destination] += count

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(text)


class Client:
    def __init__(self, base, stats):
        parsed = urllib.parse.urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.stats = stats
        self.conn = None

    def post(self, path, body, headers=None, endpoint=None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        data = data.encode() if isinstance(data, str) else data
        headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            started = time.monotonic()
            try:
                self.conn.request("POST", path, body=data, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
            except (ConnectionError, http.client.HTTPException, OSError):
                # A keep-alive connection the server closed: once more on a new one.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            took = time.monotonic() - started
            self.stats.record(endpoint or path.split("?")[0], response.status, took)
            if response.status >= 500:
                self.stats.problem(f"{response.status} from {path}: {text[:300]}")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            return response.status, parsed, response.getheader("Retry-After")
        raise RuntimeError("unreachable")

    def get(self, path):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, json.loads(body)


def turkish_mobile(stats):
    return f"+90532{(RUN * 7 + stats.unique()) % 10**7:07d}"


def argentine_mobile(stats):
    return f"9115{(RUN * 7 + stats.unique()) % 10**7:07d}"


def address(stats):
    return f"load{RUN}-{stats.unique()}@load.test"


class Inbox:
    """The local inbox, read again when a code is not there yet."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.messages = []

    def code_for(self, destination, wait=10.0):
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                found = [m for m in self.messages if m["to"] == destination]
                if found:
                    return re.search(r"\b(\d{6})\b", found[-1]["body"] or "").group(1)
                if time.monotonic() - self.read_at > 0.5:
                    _, self.messages = self.client.get("/_local/messages")
                    self.read_at = time.monotonic()
                    continue
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)


def expect(stats, what, got, wanted):
    if got not in wanted:
        stats.problem(f"{what}: got {got}, expected one of {wanted}")
        return False
    return True


# --- actions: each one request or a short conversation, with what it must answer --------


def c_create_and_verify(c, stats, inbox):
    phone = turkish_mobile(stats)
    sync = random.random() < 0.5
    status, body, _ = c.post(
        CREATE, {"UserId": USER, "GsmNumber": phone, "TwoFactorConfigurationId": 1, "IsSync": sync}
    )
    if not expect(stats, f"create (sync={sync})", status, {200}):
        return
    stats.expect(phone)
    otp = body["OtpIdReference"]
    code = body.get("OtpCode")  # RETURN_OTP_CODE=true locally: no inbox read needed
    if random.random() < 0.3:
        wrong = "000000" if code != "000000" else "111111"
        status, body, _ = c.post(VERIFY, {"UserId": USER, "OtpIdReference": otp, "OtpCode": wrong})
        expect(stats, "verify, wrong code", (status, body and body.get("Code")), {(400, 4005)})
    status, body, _ = c.post(VERIFY, {"UserId": USER, "OtpIdReference": otp, "OtpCode": code})
    expect(stats, "verify", (status, body and body.get("Code")), {(200, 1000)})


def c_limit_burst(c, stats, pool_clients):
    """6 concurrent creates at one number allowing 3: exactly 3 accepted."""
    phone = turkish_mobile(stats)
    body = {"UserId": USER, "GsmNumber": phone, "TwoFactorConfigurationId": 1, "IsSync": True, "MaxSMSCount": 3}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda cl: cl.post(CREATE, body), pool_clients[:6]))
    accepted = sum(1 for s, _, _ in answers if s == 200)
    refused = sum(1 for s, b, _ in answers if s == 429 and b and b.get("Code") == 4000)
    if (accepted, refused) != (3, 3):
        stats.problem(f"C MaxSMSCount=3 burst: {accepted} accepted, {refused} refused")
    stats.expect(phone, accepted)
    stats.limit_checks["C MaxSMSCount"] += 1


def c_attempts(c, stats, inbox):
    """5 wrong codes, then the right one is refused (4006)."""
    phone = turkish_mobile(stats)
    status, body, _ = c.post(
        CREATE, {"UserId": USER, "GsmNumber": phone, "TwoFactorConfigurationId": 1, "IsSync": True}
    )
    if not expect(stats, "create", status, {200}):
        return
    stats.expect(phone)
    otp, code = body["OtpIdReference"], body["OtpCode"]
    wrong = "000000" if code != "000000" else "111111"
    for i in range(5):
        status, body, _ = c.post(VERIFY, {"UserId": USER, "OtpIdReference": otp, "OtpCode": wrong})
        want = {(400, 4005)} if i < 4 else {(400, 4005), (429, 4006)}
        expect(stats, f"wrong code {i + 1}", (status, body and body.get("Code")), want)
    status, body, _ = c.post(VERIFY, {"UserId": USER, "OtpIdReference": otp, "OtpCode": code})
    expect(stats, "right code after 5 failures", (status, body and body.get("Code")), {(429, 4006)})
    stats.limit_checks["C attempts"] += 1


def b_generate_and_validate(c, stats, inbox):
    mobile, email = argentine_mobile(stats), address(stats)
    status, body, _ = c.post(
        GENERATE,
        {
            "applicationId": "demo",
            "internationalPrefix": "54",
            "mobileNumber": mobile,
            "emailAddress": email,
            "language": "en",
        },
    )
    if not expect(stats, "generate", status, {200}):
        return
    stats.expect(f"+54{mobile}")
    stats.expect(email)
    confirmation = body["response"]["confirmationId"]
    if random.random() < 0.5:
        return
    code = inbox.code_for(email)
    if code is None:
        stats.problem("no e-mail for a generate within 10 s")
        return
    status, body, _ = c.post(
        VALIDATE, {"applicationId": "demo", "confirmationId": confirmation, "confirmationCode": code}
    )
    expect(stats, "validate", status, {200})


def b_gap_burst(c, stats, pool_clients):
    """4 concurrent generates at one address: the 30 s resend gap lets exactly 1 through."""
    email = address(stats)
    body = {"applicationId": "demo", "emailAddress": email, "language": "en"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda cl: cl.post(GENERATE, body), pool_clients[:4]))
    accepted = sum(1 for s, _, _ in answers if s == 200)
    refused = sum(1 for s, _, _ in answers if s == 429)
    if (accepted, refused) != (1, 3):
        stats.problem(f"B resend-gap burst: {accepted} accepted, {refused} refused")
    stats.expect(email, accepted)
    stats.limit_checks["B resend gap"] += 1


def a_send_and_confirm(c, stats, inbox):
    email = address(stats)
    status, body, _ = c.post(SIGNUP, {"EmailAddress": email})
    if not expect(stats, "sign-up send", (status, body and body.get("OpCode")), {(200, 0)}):
        return
    stats.expect(email)
    if random.random() < 0.5:
        return
    code = inbox.code_for(email)
    if code is None:
        stats.problem("no e-mail for a sign-up within 10 s")
        return
    status, body, _ = c.post(SIGNUP, {"EmailAddress": email, "ConfirmationCode": code})
    expect(stats, "confirm", (status, body and body.get("OpCode")), {(200, 0)})


def a_gap_burst(c, stats, pool_clients):
    email = address(stats)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda cl: cl.post(SIGNUP, {"EmailAddress": email}), pool_clients[:4]))
    accepted = sum(1 for s, _, _ in answers if s == 200)
    refused = sum(1 for s, b, _ in answers if s == 429 and b and b.get("OpCode") == 1005)
    if (accepted, refused) != (1, 3):
        stats.problem(f"A resend-gap burst: {accepted} accepted, {refused} refused")
    stats.expect(email, accepted)
    stats.limit_checks["A resend gap"] += 1


BAD = [
    (CREATE, '{"UserId": "not-a-uuid", "GsmNumber": "12", "TwoFactorConfigurationId": 1}', {400}),
    (CREATE, '{"UserId": "3698b76f-a5c0-4b04-b579-bc084019fb95", "GsmNumber": ', {400}),
    (VERIFY, "not json", {400}),
    (VERIFY, json.dumps({"UserId": USER, "OtpIdReference": str(uuid.UUID(int=7)), "OtpCode": "123456"}), {404}),
    (GENERATE, '{"applicationId": "demo", "emailAddress": "not an address"}', {400}),
    (GENERATE, '{"applicationId": "nobody", "emailAddress": "x@load.test"}', {401}),
    (VALIDATE, "<not json>", {400}),
    (SIGNUP, '{"EmailAddress": "ana@exa', {400}),
    (SIGNUP + "?format=csv", '{"EmailAddress": ""}', {400}),
]


def bad_input(c, stats, inbox):
    path, body, wanted = random.choice(BAD)
    status, _, _ = c.post(path, body, endpoint=path.split("?")[0] + " (bad input)")
    expect(stats, f"bad input to {path}", status, wanted)


ACTIONS = [
    (c_create_and_verify, 30),
    (b_generate_and_validate, 20),
    (a_send_and_confirm, 20),
    (bad_input, 20),
    (c_attempts, 4),
]
BURSTS = [(c_limit_burst, 2), (b_gap_burst, 2), (a_gap_burst, 2)]


def client_loop(base, stats, inbox, until, index):
    c = Client(base, stats)
    helpers = [Client(base, stats) for _ in range(6)]
    actions = ACTIONS + BURSTS
    weights = [w for _, w in actions]
    bursts = {a for a, _ in BURSTS}
    rng = random.Random(index)
    while time.monotonic() < until:
        action = rng.choices([a for a, _ in actions], weights)[0]
        try:
            if action in bursts:
                action(c, stats, helpers)
            else:
                action(c, stats, inbox)
        except Exception as error:  # a broken connection or answer: a problem, not a crash
            stats.problem(f"{action.__name__}: {type(error).__name__}: {error}")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--drain-seconds", type=float, default=60)
    args = parser.parse_args()
    stats = Stats()
    reader = Client(args.url, stats)
    inbox = Inbox(reader)
    _, before = reader.get("/_local/messages")
    started = time.monotonic()
    until = started + args.seconds
    threads = [
        threading.Thread(target=client_loop, args=(args.url, stats, inbox, until, i), daemon=True)
        for i in range(args.clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    # The stream sender delivers asynchronous SMS a little later: wait until all arrived.
    skip = len(before)
    deadline = time.monotonic() + args.drain_seconds
    while True:
        _, messages = reader.get("/_local/messages")
        got = collections.Counter(m["to"] for m in messages[skip:])
        missing = {d: n for d, n in stats.expected.items() if got[d] < n}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    drained = time.monotonic() - started - elapsed
    for destination in set(got) | set(stats.expected):
        if got[destination] != stats.expected[destination]:
            stats.problem(f"{destination}: {got[destination]} messages, {stats.expected[destination]} accepted sends")

    total = sum(stats.statuses.values())
    print(f"load: {args.clients} clients, {elapsed:.0f} s, {total} requests, {total / elapsed:.1f} req/s")
    print(f"{'endpoint':58} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for endpoint, values in sorted(stats.latencies.items()):
        p50, p90, p99 = (percentile(values, p) * 1000 for p in (0.5, 0.9, 0.99))
        print(f"{endpoint:58} {len(values):6d} {p50:8.0f} {p90:8.0f} {p99:8.0f} {max(values) * 1000:8.0f}")
    every = [v for values in stats.latencies.values() for v in values]
    print(
        f"{'all':58} {len(every):6d} {percentile(every, 0.5) * 1000:8.0f} {percentile(every, 0.9) * 1000:8.0f} "
        f"{percentile(every, 0.99) * 1000:8.0f} {max(every or [0]) * 1000:8.0f}"
    )
    by_status = collections.Counter()
    for (_, status), n in stats.statuses.items():
        by_status[status] += n
    print("statuses:", dict(sorted(by_status.items())))
    print("5xx:", sum(n for s, n in by_status.items() if s >= 500))
    print(
        f"messages: {sum(got.values())} received, {sum(stats.expected.values())} expected "
        f"(async SMS drained {drained:.1f} s after the load)"
    )
    print("limit checks:", dict(stats.limit_checks))
    if stats.problems:
        print(f"PROBLEMS ({len(stats.problems)} shown):")
        for p in stats.problems:
            print("  " + p)
        return 1
    print("load: no 5xx, every accepted send's message exactly once, every limit exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
