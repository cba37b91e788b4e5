"""Checks the functions as `sam local` runs them. scripts/ci/sam-local.sh runs this inside its
network namespace, with Docker, the base image, `sam build`'s output and moto ready:

  invoke     `sam local invoke` of every function with every sample event of it in events/,
             then a stream record moto made (a create with IsSync false) through the sender
  start-api  `sam local start-api` and a request for every route of template.yaml, as flows:
             a code sent, read from moto's inbox, then verified

Every answer is checked for its status (the same as scripts/ci/smoke-lambda.sh expects), its
body's shape (the family's members in order, CSV header, XML root, codes) and the messages
moto received while it ran (to whom, with which code). Ends with 'N passed, N failed'.

Usage: python scripts/ci/sam_local_check.py invoke|start-api [--moto URL] [--port N]
"""

import argparse
import base64
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from xml.etree import ElementTree

ENV_VARS = "local/sam-env.json"
SAM = ["sam", "local"]
SAM_OPTIONS = ["--env-vars", ENV_VARS, "--skip-pull-image"]
INVOKE_TIMEOUT_S = 180

C_CREATE = ["Id", "OtpIdReference", "ReferenceCode", "OtpCode", "RemainingExpirationSeconds", "GsmNumber",
            "ExceptionMessage", "Success", "Code"]
C_VERIFY = ["Success", "Code", "ExceptionMessage", "RemainingAttempts", "OtpIdReference", "GsmNumber"]
A_ENVELOPE = ["Total", "OpCode", "ErrorText", "RequestTime", "ResponseTime", "TotalExecutionTime", "CachedResponse",
              "Data", "Data2"]
A_USER = ["SessionTokens", "Device", "UserID", "Username", "UserPool", "ClientID", "Status", "Attributes", "Settings"]
B_GENERATED = ["channels", "confirmationId", "expiresInSeconds", "maskedEmailAddress", "maskedMobileNumber",
               "resendAfterSeconds"]
JSON, CSV, XML = "application/json; charset=utf-8", "text/csv; charset=utf-8", "application/xml; charset=utf-8"
CODE = re.compile(r"\b(\d{6})\b")


class Answer:
    """What a function answered: an HTTP response (API Gateway's shape) or a stream batch's result."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, {k.lower(): v for k, v in headers.items()}, body

    @classmethod
    def of_invoke(cls, text):
        out = json.loads(text)
        if "statusCode" not in out:
            return cls("stream" if out.get("batchItemFailures") == [] else f"stream {out}", {}, "")
        headers = dict(out.get("headers") or {})
        headers.update({k: ", ".join(v) for k, v in (out.get("multiValueHeaders") or {}).items()})
        body = out.get("body") or ""
        if out.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return cls(out["statusCode"], headers, body)

    def json(self):
        return json.loads(self.body)


class Checks:
    def __init__(self, moto):
        self.moto, self.passed, self.failed = moto, 0, 0

    def inbox(self):
        with urllib.request.urlopen(f"{self.moto}/_local/messages", timeout=10) as response:
            return json.load(response)

    def record(self, what, problems, seconds, detail=""):
        if problems:
            self.failed += 1
            print(f"sam-local: FAIL {what} ({seconds:.1f} s): {'; '.join(problems)}")
            if detail:
                print("\n".join(f"    {line}" for line in detail.splitlines()[-30:]))
        else:
            self.passed += 1
            print(f"sam-local: ok   {what} ({seconds:.1f} s)")
        sys.stdout.flush()

    def run(self, what, status, call, check=None):
        """call() -> (Answer, detail); check(answer, new_messages) -> problems."""
        before = len(self.inbox())
        started = time.monotonic()
        try:
            answer, detail = call()
        except Exception as err:  # noqa: BLE001 - any failure to get an answer fails this check
            self.record(what, [f"no answer: {err}"], time.monotonic() - started)
            return None, []
        seconds = time.monotonic() - started
        messages = self.inbox()[before:]
        problems = [] if answer.status == status else [f"status {answer.status}, expected {status}"]
        if not problems and check:
            try:
                problems = check(answer, messages)
            except Exception as err:  # noqa: BLE001 - a body the check cannot read fails it
                problems = [f"unreadable answer ({type(err).__name__}: {err}): {answer.body[:300]}"]
        self.record(f"{what} -> {answer.status}", problems, seconds, detail if problems else "")
        return answer, messages


# --- shapes -------------------------------------------------------------------------------

def members(obj, expected, where="body"):
    return [] if list(obj) == expected else [f"{where} members {list(obj)}, expected {expected}"]


def content_type(answer, expected):
    got = answer.headers.get("content-type")
    return [] if got == expected else [f"content-type {got!r}, expected {expected!r}"]


def no_message(_answer, messages):
    return [f"unexpected messages: {messages}"] if messages else []


def one_message(messages, channel, to):
    mine = [m for m in messages if m["channel"] == channel and m["to"] == to]
    if len(mine) != 1 or len(messages) != 1:
        return None, [f"expected one {channel} to {to}, moto received {messages}"]
    codes = CODE.findall(mine[0]["body"] or "")
    return (codes[0] if codes else None), ([] if codes else [f"no 6-digit code in {mine[0]['body']!r}"])


def c_create(success, code, sms_to=None):
    def check(answer, messages):
        body = answer.json()
        problems = content_type(answer, JSON) + members(body, C_CREATE)
        if (body["Success"], body["Code"]) != (success, code):
            problems.append(f"Success/Code {body['Success']}/{body['Code']}, expected {success}/{code}")
        if sms_to is None:
            return problems + no_message(answer, messages)
        sent, found = one_message(messages, "sms", sms_to)
        if sent and body["ReferenceCode"] not in messages[0]["body"]:
            found.append(f"the SMS does not carry the reference {body['ReferenceCode']}")
        return problems + found

    return check


def c_verify(success, code, gsm=None):
    def check(answer, messages):
        body = answer.json()
        problems = content_type(answer, JSON) + members(body, C_VERIFY) + no_message(answer, messages)
        if (body["Success"], body["Code"], body["GsmNumber"]) != (success, code, gsm):
            problems.append(f"Success/Code/GsmNumber {body['Success']}/{body['Code']}/{body['GsmNumber']}, "
                            f"expected {success}/{code}/{gsm}")
        return problems

    return check


def a_json(op_code, status=None, email_to=None):
    def check(answer, messages):
        body = answer.json()
        problems = content_type(answer, JSON) + members(body, A_ENVELOPE) + a_body(body, op_code, status)
        return problems + a_messages(messages, email_to)

    return check


def a_body(body, op_code, status):
    problems = [] if body["OpCode"] == op_code else [f"OpCode {body['OpCode']}, expected {op_code}"]
    if status is None:
        return problems + ([] if body["Data"] is None else ["Data on an error"])
    return problems + members(body["Data"], A_USER, "Data") + (
        [] if body["Data"]["Status"] == status else [f"Status {body['Data']['Status']}, expected {status}"])


def a_messages(messages, email_to):
    if email_to is None:
        return no_message(None, messages)
    return one_message(messages, "email", email_to)[1]


def a_csv(op_code, status=None, email_to=None):
    def check(answer, messages):
        lines = answer.body.splitlines()
        problems = content_type(answer, CSV)
        if lines[0] != ",".join(A_ENVELOPE):
            return problems + [f"CSV header {lines[0]!r}"]
        row = dict(zip(A_ENVELOPE, next(csv.reader(lines[1:])), strict=True))
        body = {"OpCode": int(row["OpCode"]), "Data": json.loads(row["Data"]) if row["Data"] else None}
        return problems + a_body(body, op_code, status) + a_messages(messages, email_to)

    return check


def a_xml(namespace, op_code, email_to):
    def check(answer, messages):
        root = ElementTree.fromstring(answer.body.encode())
        problems = content_type(answer, XML)
        if root.tag != f"{{{namespace}}}CognitoSendConfirmCodeResponse":
            problems.append(f"XML root {root.tag}")
        got = root.findtext(f"{{{namespace}}}OpCode")
        if got != str(op_code):
            problems.append(f"OpCode {got}, expected {op_code}")
        return problems + a_messages(messages, email_to)

    return check


def b_error(message=None, model_state=False):
    def check(answer, messages):
        body = answer.json()
        problems = content_type(answer, JSON) + members(body, ["Message", "ModelState"] if model_state else ["Message"])
        if message and body["Message"] != message:
            problems.append(f"Message {body['Message']!r}, expected {message!r}")
        return problems + no_message(answer, messages)

    return check


def b_key():
    with open(ENV_VARS, encoding="utf-8") as handle:
        return base64.b64decode(json.load(handle)["Parameters"]["CNF_APP_KEY"])


def b_generated(answer, messages, mobile, email, encrypted):
    """The generate payload (decrypted with the env file's key when encrypted) and the codes
    sent: one by SMS and one by e-mail, each its own (docs/api.md, Family B: a code per channel)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    body = answer.json()
    problems = content_type(answer, JSON)
    if encrypted:
        problems += members(body, ["encryptedData"])
        blob = base64.b64decode(body["encryptedData"])
        payload = json.loads(AESGCM(b_key()).decrypt(blob[:12], blob[12:], None))
    else:
        problems += members(body, ["encryptedData", "response"])
        payload = body["response"]
    problems += members(payload, B_GENERATED, "payload")
    if payload["channels"] != ["SMS", "EMAIL"]:
        problems.append(f"channels {payload['channels']}")
    sms = [m for m in messages if m["channel"] == "sms" and m["to"] == mobile]
    mail = [m for m in messages if m["channel"] == "email" and m["to"] == email]
    if len(sms) != 1 or len(mail) != 1 or len(messages) != 2:
        return payload, {}, problems + [f"expected an SMS to {mobile} and an e-mail to {email}: {messages}"]
    codes = {}
    for channel, message in (("sms", sms[0]), ("email", mail[0])):
        found = set(CODE.findall(message["body"]))
        if len(found) == 1:
            codes[channel] = found.pop()
        else:
            problems.append(f"not one code in the {channel}: {message['body']!r}")
    return payload, codes, problems


def b_test_number(answer, messages, masked):
    """A test number's code: stored under the fixed code, sent by no channel (docs/configuration.md)."""
    body = answer.json()
    problems = content_type(answer, JSON) + members(body, ["encryptedData", "response"])
    payload = body.get("response") or {}
    problems += members(payload, B_GENERATED, "payload")
    if payload.get("channels") != ["SMS"] or payload.get("maskedMobileNumber") != masked:
        problems.append(f"channels {payload.get('channels')}, masked {payload.get('maskedMobileNumber')!r}")
    return problems + (["a test number was sent a message"] if messages else [])


def stream_ok(answer, messages):
    return no_message(answer, messages)


# --- sam local invoke ---------------------------------------------------------------------

# The sample events and what each must answer (statuses as scripts/ci/smoke-lambda.sh expects).
EVENTS = {
    "create-two-factor-sms-otp.json": (200, c_create(True, 1000, sms_to="+905321234567")),
    "create-two-factor-sms-otp-async.json": (200, c_create(True, 1000)),  # the SMS goes by the stream
    "create-two-factor-sms-otp-rest-v1.json": (200, c_create(True, 1000, sms_to="+34612345678")),
    "create-two-factor-sms-otp-seed-sample.json": (400, c_create(False, 4002)),
    "create-two-factor-sms-otp-malformed.json": (400, c_create(False, 4001)),
    # The sample OTP id is not in the table.
    "verify-two-factor-sms-otp.json": (404, c_verify(False, 4003)),
    "verify-two-factor-sms-otp-wrong-code.json": (404, c_verify(False, 4003)),
    "verify-two-factor-sms-otp-malformed.json": (400, c_verify(False, 4001)),
    "cognito-send-confirm-code-request.json": (200, a_json(0, "UNCONFIRMED", "ana@example.com")),
    # An address that never asked answers like a wrong code.
    "cognito-send-confirm-code-request-confirm.json": (400, a_json(1002)),
    "cognito-send-confirm-code-request-seed-csv.json": (400, a_csv(1001)),
    "cognito-send-confirm-code-request-malformed.json": (400, a_json(1001)),
    "cognito-send-confirm-code-request-xml.json": (
        200, a_xml("http://schemas.datacontract.org/2004/07/Cdn.Api", 0, "xml.client@example.com")),
    "cognito-send-confirm-code-request-format-csv.json": (200, a_csv(0, "UNCONFIRMED", "csv.client@example.com")),
    "cognito-send-confirm-code-request-xml-reply.json": (
        200, a_xml("http://schemas.servicestack.net/types", 0, "servicestack.client@example.com")),
    "generate-cnf-code-not-user.json": (
        200, lambda a, m: b_generated(a, m, "+5491123456789", "ana.gomez@tienda.online", encrypted=True)[2]),
    "generate-cnf-code-not-user-seed-sample.json": (400, b_error("The request is invalid.", model_state=True)),
    "generate-cnf-code-not-user-malformed.json": (400, b_error("The request is invalid.", model_state=True)),
    # A test number of `demo` (local/sam-env.json): answered, nothing sent.
    "generate-cnf-code-not-user-test-number.json": (200, lambda a, m: b_test_number(a, m, "+44 7*** ****00")),
    "validate-cnf-code-not-user.json": (404, b_error()),
    "validate-cnf-code-not-user-malformed.json": (400, b_error("The request is invalid.", model_state=True)),
    # The OTP they name is not in the table: nothing to send, no failure to report.
    "two-factor-sms-sender-insert.json": ("stream", stream_ok),
    "two-factor-sms-sender-modify.json": ("stream", stream_ok),
    "two-factor-sms-sender-ttl-remove.json": ("stream", stream_ok),
}


def load_template():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from cfn import load_template as load

    return load("template.yaml")


def functions_by_binary():
    template = load_template()
    return {
        r["Metadata"]["BuildProperties"]["Binary"]: fid
        for fid, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def sam_invoke(function, event_path):
    done = subprocess.run([*SAM, "invoke", function, "-e", event_path, *SAM_OPTIONS],
                          capture_output=True, text=True, timeout=INVOKE_TIMEOUT_S, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"sam local invoke exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    return Answer.of_invoke(lines[-1]), done.stderr


def stream_event_of_latest_insert(moto, mobile):
    """The table's stream record of the last pending OTP for `mobile`, as Lambda delivers it."""
    import boto3

    # moto takes any credentials; SAM's own environment has none (scripts/ci/sam-local.sh).
    client = {"endpoint_url": moto, "region_name": "us-east-1", "aws_access_key_id": "testing",
              "aws_secret_access_key": "testing"}
    streams = boto3.client("dynamodbstreams", **client)
    table = boto3.client("dynamodb", **client).describe_table(TableName="verification-codes")["Table"]
    arn = table["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    pending = [r for r in records if r["eventName"] == "INSERT" and "sct" in r["dynamodb"].get("NewImage", {})
               and r["dynamodb"]["NewImage"].get("dest", {}).get("S") == mobile]
    if not pending:
        raise RuntimeError(f"no pending OTP for {mobile} in the table's stream ({len(records)} records)")

    def wire(value):
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: wire(v) for k, v in value.items()}
        if isinstance(value, list):
            return [wire(v) for v in value]
        if hasattr(value, "timestamp"):
            return int(value.timestamp())
        return value

    return {"Records": [{**wire(pending[-1]), "eventSourceARN": arn}]}


def invoke_all(checks):
    functions = functions_by_binary()
    events = sorted(os.listdir("events"))
    covered = set()
    answers = {}
    for name in events:
        binary = max((b for b in functions if name.startswith(b + "-") or name == b + ".json"), key=len, default=None)
        if binary is None or name not in EVENTS:
            checks.record(f"events/{name}", ["no function or no expected answer for it"], 0)
            continue
        covered.add(binary)
        status, check = EVENTS[name]
        answers[name], _ = checks.run(f"{functions[binary]} <- events/{name}", status,
                                      lambda b=binary, n=name: sam_invoke(functions[b], f"events/{n}"), check)
    for name in sorted(set(EVENTS) - set(events)):
        checks.record(f"events/{name}", ["expected, but not in events/"], 0)
    for binary in sorted(set(functions) - covered):
        checks.record(functions[binary], ["no sample event in events/"], 0)

    # The asynchronous create's SMS: its record from moto's stream through the sender, as the
    # template's event source mapping would deliver it.
    created = answers.get("create-two-factor-sms-otp-async.json")
    reference = created.json()["ReferenceCode"] if created and created.status == 200 else "?"

    def sender():
        event = stream_event_of_latest_insert(checks.moto, "+5491123456789")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(event, handle)
        try:
            return sam_invoke(functions["two-factor-sms-sender"], handle.name)
        finally:
            os.unlink(handle.name)

    def sent(_answer, messages):
        _, problems = one_message(messages, "sms", "+5491123456789")
        if not problems and reference not in messages[0]["body"]:
            problems.append(f"the SMS does not carry the reference {reference}")
        return problems

    checks.run(f"{functions['two-factor-sms-sender']} <- the stream record of the IsSync=false create",
               "stream", sender, sent)


# --- sam local start-api ------------------------------------------------------------------

def template_routes():
    template = load_template()
    return sorted(
        e["Properties"]["Path"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
        for e in (r["Properties"].get("Events") or {}).values()
        if e["Type"] == "HttpApi"
    )


def start_api(checks, port):
    with tempfile.TemporaryFile("w+") as log:
        # LAZY: one container per function, kept warm, so requests after the first reach a
        # function that has already answered one (as on Lambda).
        api = subprocess.Popen([*SAM, "start-api", "--port", str(port), "--warm-containers", "LAZY", *SAM_OPTIONS],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(api, port)
            requests_through_routes(checks, f"http://127.0.0.1:{port}")
        except Exception as err:  # noqa: BLE001 - reported with the server's own output
            checks.record("sam local start-api", [str(err)], 0)
        finally:
            # SAM stops its warm containers on SIGINT (its Ctrl-C).
            os.killpg(api.pid, signal.SIGINT)
            try:
                api.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(api.pid, signal.SIGKILL)
                api.wait()
        if checks.failed:
            log.seek(0)
            print("sam-local: start-api's output:\n" + "\n".join(f"    {x}" for x in log.read().splitlines()[-60:]))


def wait_for_port(process, port):
    started = time.monotonic()
    while time.monotonic() - started < 120:
        if process.poll() is not None:
            raise RuntimeError(f"sam local start-api exited {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                print(f"sam-local: start-api listening after {time.monotonic() - started:.1f} s")
                return
        time.sleep(0.5)
    raise RuntimeError("sam local start-api did not listen within 120 s")


def http(base, method, path, body=None, headers=None):
    def call():
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as response:
                return Answer(response.status, dict(response.headers), response.read().decode()), ""
        except urllib.error.HTTPError as err:
            return Answer(err.code, dict(err.headers), err.read().decode()), ""

    return call


def requests_through_routes(checks, base):
    routes = set()

    def request(route, what, method, path, status, check, body=None, headers=None):
        routes.add(route)
        return checks.run(f"{method} {path} ({what})", status, http(base, method, path, body, headers), check)

    # Family C: create, verify with the code from the SMS, another path, a wrong method.
    user, gsm = "3698b76f-a5c0-4b04-b579-bc084019fb95", "+905321234567"
    create = {"UserId": user, "GsmNumber": gsm, "TwoFactorConfigurationId": 1, "IsSync": True}
    route = "/api/TwoFactor/CreateTwoFactorSmsOtp"
    answer, messages = request(route, "SMS sent", "POST", route, 200, c_create(True, 1000, sms_to=gsm), create)
    code = CODE.findall(messages[0]["body"])[0] if answer and messages else "000000"
    otp = answer.json()["OtpIdReference"] if answer and answer.status == 200 else "unknown"
    route = "/api/TwoFactor/VerifyTwoFactorSmsOtp"
    request(route, "the SMS's code", "POST", route, 200, c_verify(True, 1000, gsm),
            {"UserId": user, "OtpIdReference": otp, "OtpCode": code})
    request("/api/TwoFactor/{proxy+}", "unknown path", "POST", "/api/TwoFactor/NoSuchOperation", 404,
            c_verify(False, 4001), {})
    request("/api/TwoFactor/CreateTwoFactorSmsOtp", "wrong method", "GET", "/api/TwoFactor/CreateTwoFactorSmsOtp",
            405, c_create(False, 4001))

    # Family B: a plain application's code by SMS and e-mail, validated by its confirmation id.
    mobile, email = ("54", "91123456780"), "sam.local@tienda.online"
    route = "/api/Auth/1/1/GenerateCnfCodeNotUser"
    generated = {}

    def generate_check(answer, messages):
        payload, codes, problems = b_generated(answer, messages, "+" + "".join(mobile), email, encrypted=False)
        generated.update(payload=payload, codes=codes)
        return problems

    request(route, "SMS and e-mail sent", "POST", route, 200, generate_check,
            {"applicationId": "demo", "internationalPrefix": mobile[0], "mobileNumber": mobile[1],
             "emailAddress": email, "language": "en"})

    def validated(answer, messages):
        body = answer.json()
        problems = content_type(answer, JSON) + members(body, ["encryptedData", "response"])
        problems += no_message(answer, messages)
        want = {"confirmationId": generated.get("payload", {}).get("confirmationId"), "valid": True}
        return problems + ([] if body["response"] == want else [f"response {body['response']}, expected {want}"])

    route = "/api/Auth/1/1/ValidateCnfCodeNotUser"
    confirmation = {"applicationId": "demo", "confirmationId": generated.get("payload", {}).get("confirmationId", ""),
                    "language": "en"}
    codes = generated.get("codes") or {}
    request(route, "the SMS's code", "POST", route, 200, validated,
            {**confirmation, "confirmationCode": codes.get("sms", "000000")})
    # Either channel's code validates the confirmationId, once: the e-mail's is then used.
    request(route, "the e-mail's code, after", "POST", route, 409, b_error(),
            {**confirmation, "confirmationCode": codes.get("email", "000000")})
    request("/api/Auth/1/1/{proxy+}", "unknown path", "POST", "/api/Auth/1/1/NoSuchOperation", 404, b_error(), {})

    # Family A: every route, each a new address; the first address confirmed with its code.
    address = "sam.local@example.com"
    route = "/CognitoSendConfirmCodeRequest"
    _, messages = request(route, "e-mail sent", "POST", route, 200, a_json(0, "UNCONFIRMED", address),
                          {"EmailAddress": address})
    code = CODE.findall(messages[0]["body"])[0] if messages else "000000"
    route = "/CognitoSendConfirmCodeRequest.json"
    request(route, "the e-mail's code", "POST", route, 200, a_json(0, "CONFIRMED"),
            {"EmailAddress": address, "ConfirmationCode": code})
    # Answers in XML are in DataContract's namespace unless the request was XML in another.
    xml_body = "<CognitoSendConfirmCodeRequest><EmailAddress>{}</EmailAddress></CognitoSendConfirmCodeRequest>"
    datacontract = "http://schemas.datacontract.org/2004/07/Cdn.Api"
    xml_headers = {"Content-Type": "application/xml"}
    for route, answer_check, to, body, headers in [
        ("/CognitoSendConfirmCodeRequest.xml", a_xml, "sam.xml@example.com", xml_body, xml_headers),
        ("/CognitoSendConfirmCodeRequest.csv", a_csv, "sam.csv@example.com", None, None),
        ("/json/reply/CognitoSendConfirmCodeRequest", a_json, "sam.json.reply@example.com", None, None),
        ("/xml/reply/CognitoSendConfirmCodeRequest", a_xml, "sam.xml.reply@example.com", None, None),
        ("/csv/reply/CognitoSendConfirmCodeRequest", a_csv, "sam.csv.reply@example.com", None, None),
    ]:
        check = answer_check(datacontract, 0, to) if answer_check is a_xml else answer_check(0, "UNCONFIRMED", to)
        payload = body.format(to) if body else {"EmailAddress": to}
        request(route, "e-mail sent", "POST", route, 200, check, payload, headers)

    missing = sorted(set(template_routes()) - routes)
    checks.record("every route of template.yaml requested", [f"not requested: {missing}"] if missing else [], 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["invoke", "start-api"])
    parser.add_argument("--moto", default="http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    # A background job of a script starts with SIGINT ignored, and SAM would inherit that:
    # start-api is stopped with SIGINT (its Ctrl-C), after which it removes its containers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    checks = Checks(args.moto)
    if args.mode == "invoke":
        invoke_all(checks)
    else:
        start_api(checks, args.port)
    print(f"{args.mode}: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
