"""Writes the sample events in events/ (run: .venv/bin/python scripts/gen/make_events.py).

HTTP events are API Gateway HTTP API (payload 2.0) and REST API (1.0) shapes; the stream
events carry an OTP whose code (123456) is sealed with the local development key, exactly as
the create function seals it, so the sender test can open it.
"""

import base64
import hashlib
import hmac
import json
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EVENTS = os.path.join(ROOT, "events")
FIXTURES = os.path.join(ROOT, "shared", "tests", "fixtures")
LOCAL_SECRET = b"local-development-key-never-use-in-production"
USER = "3698b76f-a5c0-4b04-b579-bc084019fb95"
OTP_ID = "5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0"
CREATED_MS = 1795000000000
TIME_EPOCH = CREATED_MS


def http_v2(path, body, headers=None, method="POST", query=""):
    headers = {"content-type": "application/json", **(headers or {})}
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api-id",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "okhttp/4.12",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "22/Nov/2026:10:00:00 +0000",
            "timeEpoch": TIME_EPOCH,
        },
        "body": body,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&"))
    return event


def rest_v1(path, body, stage="prod"):
    return {
        "resource": path,
        "path": f"/{stage}{path}",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Accept-Language": "es-ES,es;q=0.9"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "Accept-Language": ["es-ES,es;q=0.9"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": stage,
            "requestId": "req-2",
            "requestTime": "22/Nov/2026:10:00:00 +0000",
            "requestTimeEpoch": TIME_EPOCH,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "okhttp/4.12"},
            "path": f"/{stage}{path}",
            "resourcePath": path,
            "httpMethod": "POST",
            "apiId": "api-id",
            "protocol": "HTTP/1.1",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def sealed_code(pk, code):
    key = hmac.new(LOCAL_SECRET, b"otp-seal-v1", hashlib.sha256).digest()
    nonce = bytes(range(12))
    aad = struct.pack(">I", 1) + pk.encode()
    return struct.pack(">I", 1) + nonce + AESGCM(key).encrypt(nonce, code.encode(), aad)


def code_hash(otp_id, code):
    key = hmac.new(LOCAL_SECRET, b"otp-hash-v1", hashlib.sha256).digest()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in ("2fa-sms-otp", otp_id, code):
        mac.update(struct.pack(">I", len(part)) + part.encode())
    return mac.digest()


def stream(event_name, image):
    pk = image["pk"]["S"]
    return {
        "Records": [
            {
                "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                "eventName": event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": CREATED_MS // 1000,
                    "Keys": {"pk": {"S": pk}, "sk": {"S": "OTP"}},
                    "NewImage": image,
                    "SequenceNumber": "111100000000000000000001",
                    "SizeBytes": 312,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": (
                    "arn:aws:dynamodb:us-east-1:123456789012:table/verification-codes/stream/2026-11-22T00:00:00.000"
                ),
            }
        ]
    }


def ttl_removal(pk, sk):
    """DynamoDB's TTL deleting an item: a REMOVE by the service itself (NEW_IMAGE: keys only)."""
    event = stream("REMOVE", {"pk": {"S": pk}})
    record = event["Records"][0]
    record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    record["dynamodb"]["Keys"] = {"pk": {"S": pk}, "sk": {"S": sk}}
    del record["dynamodb"]["NewImage"]
    record["dynamodb"]["SizeBytes"] = 64
    return event


def otp_image(otp_id, phone, delivery, sealed):
    pk = f"OTP#{otp_id}"
    image = {
        "pk": {"S": pk},
        "sk": {"S": "OTP"},
        "uid": {"S": USER},
        "dest": {"S": phone},
        "h": {"B": base64.b64encode(code_hash(otp_id, "123456")).decode()},
        "kv": {"N": "1"},
        "ref": {"S": "KMTX"},
        "nid": {"N": "2147400097"},
        "prof": {"N": "1"},
        "lang": {"S": "es"},
        "cat": {"N": str(CREATED_MS)},
        "exp": {"N": str(CREATED_MS + 180_000)},
        "ttl": {"N": str(CREATED_MS // 1000 + 180 + 86400)},
        "att": {"N": "0"},
        "matt": {"N": "5"},
        "dlv": {"S": delivery},
    }
    if sealed:
        image["sct"] = {"B": base64.b64encode(sealed_code(pk, "123456")).decode()}
    return image


def write(name, event):
    with open(os.path.join(EVENTS, name), "w", encoding="utf-8") as handle:
        json.dump(event, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def main():
    create = "/api/TwoFactor/CreateTwoFactorSmsOtp"
    verify = "/api/TwoFactor/VerifyTwoFactorSmsOtp"

    def body(**kw):
        return json.dumps({"UserId": USER, "TwoFactorConfigurationId": 1, **kw})

    write(
        "create-two-factor-sms-otp.json",
        http_v2(
            create,
            body(
                GsmNumber="+905321234567",
                MaxSMSCount=5,
                MaxSMSInterval=300,
                OtpExpirationPeriod=180,
                IsSync=True,
                Source="mobile-app",
            ),
        ),
    )
    write(
        "create-two-factor-sms-otp-async.json",
        http_v2(
            create, body(GsmNumber="+5491123456789", IsSync=False, Source="web"), {"accept-language": "es-AR,es;q=0.9"}
        ),
    )
    seed = (
        '{\n"UserId": "3698b76f-a5c0-4b04-b579-bc084019fb95",\n"GsmNumber": "sample string 2",\n'
        '"TwoFactorConfigurationId": 3,\n"MaxSMSCount": 4,\n"MaxSMSInterval": 5,\n"OtpExpirationPeriod": 6,\n'
        '"IsSync": true,\n"Source": "sample string 7"\n}'
    )
    write("create-two-factor-sms-otp-seed-sample.json", http_v2(create, seed))
    write(
        "create-two-factor-sms-otp-malformed.json",
        http_v2(create, '{"UserId": "3698b76f-a5c0-4b04-b579-bc084019fb95", "GsmNumber": '),
    )
    write("create-two-factor-sms-otp-rest-v1.json", rest_v1(create, body(GsmNumber="+34612345678", IsSync=True)))

    def verify_body(code):
        return json.dumps({"UserId": USER, "OtpIdReference": OTP_ID, "OtpCode": code})

    write("verify-two-factor-sms-otp.json", http_v2(verify, verify_body("123456")))
    write("verify-two-factor-sms-otp-wrong-code.json", http_v2(verify, verify_body("654321")))
    write("verify-two-factor-sms-otp-malformed.json", http_v2(verify, "not json"))
    signup = "/CognitoSendConfirmCodeRequest"
    write("cognito-send-confirm-code-request.json", http_v2(signup, json.dumps({"EmailAddress": "ana@example.com"})))
    write(
        "cognito-send-confirm-code-request-confirm.json",
        http_v2(signup, json.dumps({"EmailAddress": "confirm.me@example.com", "ConfirmationCode": "123456"})),
    )
    write(
        "cognito-send-confirm-code-request-seed-csv.json",
        http_v2(
            signup,
            '{"EmailAddress":"String","ConfirmationCode":"String"}',
            {"content-type": "text/csv", "accept": "text/csv"},
        ),
    )
    write("cognito-send-confirm-code-request-malformed.json", http_v2(signup, '{"EmailAddress": "ana@exa'))
    write(
        "cognito-send-confirm-code-request-xml.json",
        http_v2(
            signup + ".xml",
            "<CognitoSendConfirmCodeRequest><EmailAddress>xml.client@example.com</EmailAddress></CognitoSendConfirmCodeRequest>",
            {"content-type": "application/xml"},
        ),
    )
    write(
        "cognito-send-confirm-code-request-format-csv.json",
        http_v2(signup, json.dumps({"EmailAddress": "csv.client@example.com"}), query="format=csv"),
    )
    # A ServiceStack client's predefined route, its DTOs in ServiceStack's namespace.
    write(
        "cognito-send-confirm-code-request-xml-reply.json",
        http_v2(
            "/xml/reply/CognitoSendConfirmCodeRequest",
            '<CognitoSendConfirmCodeRequest xmlns="http://schemas.servicestack.net/types"><EmailAddress>servicestack.client@example.com</EmailAddress></CognitoSendConfirmCodeRequest>',
            {"content-type": "application/xml", "accept": "application/json"},
        ),
    )
    generate = "/api/Auth/1/1/GenerateCnfCodeNotUser"
    validate = "/api/Auth/1/1/ValidateCnfCodeNotUser"
    write(
        "generate-cnf-code-not-user.json",
        http_v2(
            generate,
            json.dumps(
                {
                    "applicationId": "demo-encrypted",
                    "internationalPrefix": "54",
                    "mobileNumber": "91123456789",
                    "emailAddress": "ana.gomez@tienda.online",
                    "language": "es",
                    "applicationVersion": "5.2.0",
                    "applicationOS": "ANDROID",
                    "deviceAltId": "7f9c2ba4e88f827d",
                    "ipAddress": "203.0.113.7",
                    "latitude": "-34.6037",
                    "longitude": "-58.3816",
                    "auditInfo": {
                        "ipAddress": "203.0.113.7",
                        "latitude": "-34.6037",
                        "longitude": "-58.3816",
                        "countryCode": "AR",
                    },
                    "additionalParameters": {"campaign": "spring"},
                },
                ensure_ascii=False,
            ),
        ),
    )
    seed_b = open(os.path.join(FIXTURES, "seed-generate-cnf-code-not-user.json"), encoding="utf-8").read()
    write("generate-cnf-code-not-user-seed-sample.json", http_v2(generate, seed_b))
    write("generate-cnf-code-not-user-malformed.json", http_v2(generate, '{"applicationId": "demo", "emailAddress": '))
    write(
        "validate-cnf-code-not-user.json",
        http_v2(
            validate,
            json.dumps(
                {
                    "applicationId": "demo",
                    "confirmationId": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
                    "confirmationCode": "123456",
                    "language": "es",
                }
            ),
        ),
    )
    write("validate-cnf-code-not-user-malformed.json", http_v2(validate, "<not json>"))
    sender_id = "9d4f6a1e-2b7c-4e3a-8f5d-0c1b2a3d4e5f"
    write(
        "two-factor-sms-sender-insert.json", stream("INSERT", otp_image(sender_id, "+5491123456789", "pending", True))
    )
    write("two-factor-sms-sender-modify.json", stream("MODIFY", otp_image(sender_id, "+5491123456789", "sent", False)))
    write("two-factor-sms-sender-ttl-remove.json", ttl_removal(f"OTPW#{sender_id}", "WATCH"))


if __name__ == "__main__":
    main()
