"""Checks what template.yaml promises about its doors, keys, alarms, metrics and dashboard, on the CloudFormation
that the SAM translator makes of it, with the template's conditions evaluated for a few
parameter sets (the defaults, TwoFactorAuth=JWT, a test stage).

Usage: python scripts/ci/check_template.py [TEMPLATE]   (exit 1 and one line per broken promise)
"""

import copy
import json
import logging
import os
import re
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samtranslator.translator.transform import transform  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from cfn import load_template  # noqa: E402

logging.getLogger("samtranslator").setLevel(logging.ERROR)

FAMILY_C = "/api/TwoFactor/"
FUNCTION = "AWS::Lambda::Function"
# The only context variables an access-log line may carry: who, which route, how it went.
ACCESS_LOG_REQUIRED = {
    "$context.requestId",
    "$context.identity.sourceIp",
    "$context.routeKey",
    "$context.status",
    "$context.responseLatency",
    "$context.integrationLatency",
    "$context.integrationErrorMessage",
    "$context.error.message",
}
ACCESS_LOG_FORBIDDEN = re.compile(r"body|query|header|path|input", re.IGNORECASE)
NO_VALUE = object()


class _NoManagedPolicies:
    def load(self):
        return {}


PSEUDO = {"AWS::StackName": "stack", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def evaluate(v, params, variables=None):
    """The value of an intrinsic function with these parameter values; a resource's Ref or
    attribute stands in as `<Name>` / `<Name.Attribute>`."""
    variables = variables or {}
    if isinstance(v, (str, int, float)):
        return v
    if isinstance(v, list):
        return [evaluate(x, params, variables) for x in v]
    (fn, arg), = v.items()
    if fn == "Ref":
        return params.get(arg, PSEUDO.get(arg, f"<{arg}>"))
    if fn == "Fn::GetAtt":
        return "<" + ".".join(arg) + ">"
    if fn == "Fn::Join":
        return arg[0].join(str(x) for x in evaluate(arg[1], params, variables))
    if fn == "Fn::Split":
        return str(evaluate(arg[1], params, variables)).split(arg[0])
    if fn == "Fn::Select":
        return evaluate(arg[1], params, variables)[int(arg[0])]
    if fn == "Fn::Sub":
        text, own = (arg, {}) if isinstance(arg, str) else arg
        names = {k: evaluate(x, params, variables) for k, x in own.items()}

        def name(match):
            key = match.group(1)
            if key in names:
                return str(names[key])
            if "." in key:
                return f"<{key}>"
            return str(evaluate({"Ref": key}, params))

        return re.sub(r"\$\{([^}!]+)\}", name, text)
    raise ValueError(f"intrinsic function {fn}")


def translate(template, overrides):
    """The template as CloudFormation would deploy it with these parameter values."""
    params = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    params.update(overrides)
    template = copy.deepcopy(template)
    # As `sam validate` does: code that `sam build` would upload stands in as an S3 location.
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    cfn = transform(template, dict(params), _NoManagedPolicies())
    conditions = {}

    def condition(name):
        if name not in conditions:
            conditions[name] = truth(cfn["Conditions"][name])
        return conditions[name]

    def truth(expr):
        (fn, arg), = expr.items()
        if fn == "Fn::Equals":
            return value(arg[0]) == value(arg[1])
        if fn == "Fn::Not":
            return not truth(arg[0])
        if fn == "Fn::And":
            return all(truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(truth(a) for a in arg)
        if fn == "Condition":
            return condition(arg)
        raise ValueError(f"condition function {fn}")

    def value(v):
        if isinstance(v, dict) and set(v) == {"Ref"} and v["Ref"] in params:
            return params[v["Ref"]]
        if isinstance(v, dict) and set(v) == {"Condition"}:
            return condition(v["Condition"])
        if isinstance(v, dict) and set(v) <= {"Fn::Select", "Fn::Split", "Fn::Sub", "Fn::Join"}:
            return evaluate(v, params)
        return resolve(v)

    def resolve(v):
        if isinstance(v, dict):
            if set(v) == {"Fn::If"}:
                name, yes, no = v["Fn::If"]
                return resolve(yes if condition(name) else no)
            if v == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            out = {k: resolve(x) for k, x in v.items()}
            return {k: x for k, x in out.items() if x is not NO_VALUE}
        if isinstance(v, list):
            return [x for x in (resolve(x) for x in v) if x is not NO_VALUE]
        return v

    resources = {
        rid: resolve(r) for rid, r in cfn["Resources"].items() if "Condition" not in r or condition(r["Condition"])
    }
    return {"Parameters": params, "Resources": resources}


def of_type(cfn, kind):
    return {rid: r.get("Properties", {}) for rid, r in cfn["Resources"].items() if r["Type"] == kind}


def http_api_body(cfn):
    (body,) = [p["Body"] for p in of_type(cfn, "AWS::ApiGatewayV2::Api").values()]
    return body


def route_security(cfn):
    """path -> the security requirement of its (ANY) method, or None."""
    body = http_api_body(cfn)
    assert "security" not in body, "the API has a document-wide security requirement"
    return {
        path: method.get("security")
        for path, item in body["paths"].items()
        for method in item.values()
        if isinstance(method, dict)
    }


def check_doors(cfn, expected):
    body = http_api_body(cfn)
    schemes = body.get("components", {}).get("securitySchemes", {})
    errors = []
    security = route_security(cfn)
    family_c = {p for p in security if p.startswith(FAMILY_C)}
    if family_c != {FAMILY_C + "CreateTwoFactorSmsOtp", FAMILY_C + "VerifyTwoFactorSmsOtp", FAMILY_C + "{proxy+}"}:
        errors.append(f"family C routes are {sorted(family_c)}")
    if len(schemes) != 1:
        errors.append(f"{expected}: expected exactly one security scheme, found {sorted(schemes)}")
    for path in sorted(security):
        requirement = security[path]
        if not path.startswith(FAMILY_C):
            if requirement:
                errors.append(f"{path} is not public: {requirement}")
            continue
        names = [name for r in requirement or [] for name in r]
        if len(names) != 1 or names[0] not in schemes:
            errors.append(f"{path}: no single authorizer ({requirement})")
            continue
        scheme = schemes[names[0]]
        scopes = requirement[0][names[0]]
        if expected == "IAM" and scheme.get("x-amazon-apigateway-authtype") != "awsSigv4":
            errors.append(f"{path}: expected the IAM (SigV4) authorizer, got {scheme}")
        if expected == "IAM" and scopes:
            errors.append(f"{path}: scopes {scopes} on the IAM authorizer (API Gateway takes them from JWTs only)")
        # The audience alone admits every token the issuer makes for it (an app's, a user's):
        # family C requires the backend-only scope as well.
        if expected == "JWT" and scopes != [{"Ref": "TwoFactorJwtScope"}]:
            errors.append(f"{path}: the JWT authorizer requires scopes {scopes}, not the TwoFactorJwtScope parameter")
        if expected == "JWT":
            authorizer = scheme.get("x-amazon-apigateway-authorizer", {})
            jwt = authorizer.get("jwtConfiguration", {})
            if authorizer.get("type") != "jwt" or jwt.get("issuer") != {"Ref": "TwoFactorJwtIssuer"} or not jwt.get(
                "audience"
            ):
                errors.append(
                    f"{path}: expected the JWT authorizer of the issuer and audience parameters, got {scheme}"
                )
    return errors


def check_access_logs(cfn):
    errors = []
    stages = of_type(cfn, "AWS::ApiGatewayV2::Stage")
    for sid, stage in stages.items():
        settings = stage.get("AccessLogSettings") or {}
        if not settings.get("DestinationArn") or not settings.get("Format"):
            errors.append(f"{sid}: no access log settings")
            continue
        try:
            fields = json.loads(settings["Format"])
        except ValueError:
            errors.append(f"{sid}: the access log format is not one JSON object")
            continue
        variables = set(fields.values())
        if not ACCESS_LOG_REQUIRED <= variables:
            errors.append(f"{sid}: access logs lack {sorted(ACCESS_LOG_REQUIRED - variables)}")
        for v in sorted(variables):
            if ACCESS_LOG_FORBIDDEN.search(v):
                errors.append(f"{sid}: access logs carry {v}")
        destination = settings["DestinationArn"].get("Fn::GetAtt", [None])[0]
        group = of_type(cfn, "AWS::Logs::LogGroup").get(destination)
        if group is None or not group.get("RetentionInDays") or not group.get("KmsKeyId"):
            errors.append(f"{sid}: access logs go to {destination}, not a log group with retention and KMS")
    if not stages:
        errors.append("no HTTP API stage")
    return errors


TABLE_METRICS = "AWS/DynamoDB"


def check_alarms(cfn):
    errors = []
    topics = set(of_type(cfn, "AWS::SNS::Topic"))
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    # The stream-fed sender: the function of the event source mapping.
    sender = [m["FunctionName"]["Ref"] for m in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()]
    queues = set(of_type(cfn, "AWS::SQS::Queue"))

    def dimension(alarm):
        return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}

    wanted = {
        "SMS spend (AWS/SNS SMSMonthToDateSpentUSD)": lambda a: (
            a.get("Namespace") == "AWS/SNS"
            and a.get("MetricName") == "SMSMonthToDateSpentUSD"
            and isinstance(a.get("Threshold"), dict)
        ),
        "failure queue depth": lambda a: (
            a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and dimension(a).get("QueueName", {}).get("Fn::GetAtt", [None])[0] in queues
        ),
        "sender iterator age": lambda a: (
            a.get("MetricName") == "IteratorAge"
            and dimension(a).get("FunctionName") == {"Ref": sender[0] if sender else None}
        ),
        "sender errors": lambda a: (
            a.get("MetricName") == "Errors"
            and dimension(a).get("FunctionName") == {"Ref": sender[0] if sender else None}
        ),
        "the table's transaction conflicts": lambda a: (
            a.get("Namespace") == "AWS/DynamoDB"
            and a.get("MetricName") == "TransactionConflict"
            and dimension(a).get("TableName") == {"Ref": "CodesTable"}
        ),
        "the table's throttled reads and writes": lambda a: sorted(
            (ns, name, d.get("TableName", {}).get("Ref")) for ns, name, d, _ in metric_stats(a)
        )
        == [(TABLE_METRICS, name, "CodesTable") for name in ("ReadThrottleEvents", "WriteThrottleEvents")],
    }
    for name, matches in wanted.items():
        found = [aid for aid, a in alarms.items() if matches(a)]
        if not found:
            errors.append(f"no alarm on {name}")
    for aid, alarm in alarms.items():
        actions = alarm.get("AlarmActions", [])
        if not actions or any(a.get("Ref") not in topics for a in actions):
            errors.append(f"{aid} does not notify the alarm topic: {actions}")
    return errors


# The request metrics (shared/src/ops/metrics.rs): one namespace per stack, in every function.
METRICS_NAMESPACE = {"Fn::Sub": "VerificationCodes/${AWS::StackName}"}


def metric_stats(alarm):
    """The metrics an alarm reads: (namespace, name, dimensions, statistic) of each."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        stat = alarm.get("ExtendedStatistic") or alarm.get("Statistic")
        return [(alarm.get("Namespace"), alarm["MetricName"], dims, stat)]
    out = []
    for query in alarm.get("Metrics", []):
        stat = query.get("MetricStat")
        if stat:
            metric = stat["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            out.append((metric.get("Namespace"), metric["MetricName"], dims, stat.get("Stat")))
    return out


def expression(alarm):
    returned = [q for q in alarm.get("Metrics", []) if q.get("ReturnData", True) and "Expression" in q]
    return returned[0]["Expression"] if len(returned) == 1 else None


def check_metrics(cfn):
    """The functions publish under one namespace; the alarms and the dashboard read it."""
    errors = []
    params = cfn["Parameters"]
    functions = of_type(cfn, FUNCTION)
    for fid, fn in functions.items():
        namespace = fn.get("Environment", {}).get("Variables", {}).get("METRICS_NAMESPACE")
        if namespace != METRICS_NAMESPACE:
            errors.append(f"{fid}: METRICS_NAMESPACE is {namespace!r}, not {METRICS_NAMESPACE}")
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    ours = lambda stats: all(ns == METRICS_NAMESPACE for ns, *_ in stats)  # noqa: E731

    def find(description, matches):
        found = [aid for aid, a in alarms.items() if matches(a, metric_stats(a))]
        if not found:
            errors.append(f"no alarm on {description}")
        return found

    find(
        "number-block refusals",
        lambda a, m: (
            ours(m)
            and [(n, d) for _, n, d, _ in m] == [("Refusals", {"Rule": "NumberBlock"})]
            and a.get("Threshold") == 0
            and a.get("ComparisonOperator") == "GreaterThanThreshold"
        ),
    )
    find(
        "the 5xx rate",
        lambda a, m: (
            ours(m)
            and sorted(n for _, n, d, _ in m if not d) == ["Requests", "ServerErrors"]
            and "/ requests" in (expression(a) or "")
            and isinstance(a.get("Threshold"), dict)
        ),
    )
    find(
        "contention retries per request",
        lambda a, m: (
            ours(m)
            and sorted(n for _, n, d, _ in m if not d) == ["ContentionRetries", "Requests"]
            and "/ requests" in (expression(a) or "")
        ),
    )
    find(
        "test destinations past their daily uses",
        lambda a, m: ours(m) and [(n, d) for _, n, d, _ in m] == [("TestDestinationOverLimit", {})],
    )
    find("p99 latency", lambda a, m: ours(m) and m and m[0][1] == "Latency" and m[0][3] == "p99" and not m[0][2])
    watched = [c for c in params["WatchedCountries"].split(",") if c]
    conversion = {}
    for aid, alarm in alarms.items():
        stats = metric_stats(alarm)
        if not ours(stats) or sorted(n for _, n, _, _ in stats) != ["CodesSent", "Verified"]:
            continue
        countries = {evaluate(d.get("Country"), params) for _, _, d, _ in stats}
        text = evaluate(expression(alarm) or "", params)
        guard = f"sent >= {params['ConversionAlarmMinSends']}"
        if len(countries) != 1 or guard not in text or "FILL(verified, 0) / sent" not in text:
            errors.append(f"{aid}: conversion of one country with a minimum-sends guard, not {countries} {text!r}")
        threshold = alarm.get("Threshold")
        if alarm.get("ComparisonOperator") != "LessThanThreshold" or threshold != {"Ref": "ConversionAlarmPercent"}:
            errors.append(f"{aid}: does not alarm below ConversionAlarmPercent")
        conversion.update(dict.fromkeys(countries, aid))
    if sorted(conversion) != sorted(watched):
        errors.append(f"conversion alarms for {sorted(conversion)}, watched countries {watched}")

    dashboards = of_type(cfn, "AWS::CloudWatch::Dashboard")
    if len(dashboards) != 1:
        return errors + [f"expected one dashboard, found {sorted(dashboards)}"]
    ((did, dashboard),) = dashboards.items()
    try:
        body = json.loads(evaluate(dashboard["DashboardBody"], params))
    except (ValueError, KeyError, TypeError) as e:
        return errors + [f"{did}: the body is not JSON once substituted: {e}"]
    namespace = evaluate(METRICS_NAMESPACE, params)
    metrics, searches = [], []
    for widget in body.get("widgets", []):
        for row in widget.get("properties", {}).get("metrics", []):
            options = row[-1] if row and isinstance(row[-1], dict) else {}
            if "expression" in options:
                searches.append(options["expression"])
            else:
                names = [x for x in row if not isinstance(x, dict)]
                metrics.append(
                    (names[0], names[1], tuple(names[2:]), options.get("stat") or widget["properties"].get("stat"))
                )
    wanted = {
        "SMS codes sent by country": any(f'{{{namespace},Country}} MetricName="CodesSent"' in e for e in searches),
        "refusals by rule": any(f'{{{namespace},Rule}} MetricName="Refusals"' in e for e in searches),
        "5xx answers": (namespace, "ServerErrors", (), "Sum") in metrics,
        "delivery failures": (namespace, "DeliveryFailures", (), "Sum") in metrics,
        "latency p50, p90, p99": all((namespace, "Latency", (), p) in metrics for p in ("p50", "p90", "p99")),
        "SMS spend": ("AWS/SNS", "SMSMonthToDateSpentUSD", (), "Maximum") in metrics,
        "overall conversion": "100*FILL(va,0)/sa" in searches,
    }
    for country in watched:
        sent = (namespace, "CodesSent", ("Country", country), "Sum")
        verified = (namespace, "Verified", ("Country", country), "Sum")
        wanted[f"conversion of {country}"] = sent in metrics and verified in metrics
    for name, present in wanted.items():
        if not present:
            errors.append(f"{did}: no {name}")
    for ns, *_ in metrics:
        if ns.startswith("VerificationCodes") and ns != namespace:
            errors.append(f"{did}: reads namespace {ns}, the functions write {namespace}")
    return errors


def check_functions(cfn, stage, returns_code):
    errors = []
    for fid, fn in of_type(cfn, FUNCTION).items():
        if not isinstance(fn.get("ReservedConcurrentExecutions"), (dict, int)):
            errors.append(f"{fid} has no ReservedConcurrentExecutions")
        env = fn.get("Environment", {}).get("Variables", {})
        allow = env.get("ALLOW_TEST_CODES")
        if stage == "test" and allow != "true":
            errors.append(f"{fid}: ALLOW_TEST_CODES is {allow!r} on a test stage")
        if stage != "test" and allow is not None:
            errors.append(f"{fid}: ALLOW_TEST_CODES is set on stage {stage}")
        code = env.get("RETURN_OTP_CODE")
        if returns_code and code != "true":
            errors.append(f"{fid}: RETURN_OTP_CODE is {code!r} though asked for on a test stage")
        if stage != "test" and code not in (None, "false"):
            errors.append(f"{fid}: RETURN_OTP_CODE is {code!r} on stage {stage}")
        if "demo" in json.dumps(env).lower():
            errors.append(f"{fid}: a demo application in its environment")
        errors += check_otp_keys(cfn, fid, env.get("OTP_KEYS"))
        errors += check_test_destinations(fid, env)
        errors += check_logging(fid, fn, env)
    return errors


# Below INFO, lambda_runtime logs each raw event (codes, numbers); the code caps the runtime
# and the SDK at INFO (shared/src/ops/logging.rs), and the template keeps the application there.
LOG_LEVELS_ALLOWED = {"INFO", "WARN", "ERROR", "FATAL"}


def check_logging(fid, fn, env):
    """JSON logs through LoggingConfig, at INFO or above; no hand-set log variables."""
    errors = []
    logging_config = fn.get("LoggingConfig", {})
    if logging_config.get("LogFormat") != "JSON":
        errors.append(f"{fid}: LoggingConfig.LogFormat is {logging_config.get('LogFormat')!r}, not JSON")
    for level in ("ApplicationLogLevel", "SystemLogLevel"):
        if logging_config.get(level) not in LOG_LEVELS_ALLOWED:
            errors.append(f"{fid}: LoggingConfig.{level} is {logging_config.get(level)!r}")
    if "LogGroup" not in logging_config:
        errors.append(f"{fid}: LoggingConfig has no LogGroup")
    for name in ("RUST_LOG", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"):
        if name in env:
            errors.append(f"{fid}: sets {name} by hand (LoggingConfig decides)")
    return errors


# shared/src/twofactor/config.rs: the sender gives up on an OTP at its SMS_DELIVERY_ATTEMPTS-th refused
# send, meant to be the stream mapping's last try (its first and MaximumRetryAttempts more).
DEFAULT_SMS_DELIVERY_ATTEMPTS = 4


def check_sms_delivery_attempts(cfn):
    errors = []
    functions = of_type(cfn, FUNCTION)
    for mid, mapping in of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        target = mapping.get("FunctionName", {})
        fid = target.get("Ref") if isinstance(target, dict) else None
        env = functions.get(fid, {}).get("Environment", {}).get("Variables", {})
        attempts = int(env.get("SMS_DELIVERY_ATTEMPTS", DEFAULT_SMS_DELIVERY_ATTEMPTS))
        retries = mapping.get("MaximumRetryAttempts")
        if retries is None or attempts != int(retries) + 1:
            errors.append(f"{mid}: MaximumRetryAttempts {retries} but the sender gives up after {attempts} sends")
    return errors


def check_otp_keys(cfn, fid, value):
    """OTP_KEYS is `N:{{resolve:secretsmanager:${OtpKeyVNSecret}:SecretString}}`, one secret per version."""
    if not (isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str)):
        return [f"{fid}: OTP_KEYS is not one Fn::Sub of secret references: {value!r}"]
    entries = value["Fn::Sub"].split(",")
    pattern = re.compile(r"^(\d+):\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString\}\}$")
    secrets = of_type(cfn, "AWS::SecretsManager::Secret")
    errors, versions, used = [], [], []
    for entry in entries:
        m = pattern.match(entry)
        if not m:
            errors.append(f"{fid}: OTP_KEYS entry {entry!r} is not version:secret-reference")
            continue
        version, secret = m.groups()
        versions.append(version)
        used.append(secret)
        if secret not in secrets or secret != f"OtpKeyV{version}Secret":
            errors.append(f"{fid}: OTP_KEYS version {version} reads {secret}, not the secret OtpKeyV{version}Secret")
    if len(set(versions)) != len(versions) or len(set(used)) != len(used):
        errors.append(f"{fid}: OTP_KEYS repeats a version or a secret: {value['Fn::Sub']}")
    return errors


TEST_CODE = {"Fn::Sub": "{{resolve:secretsmanager:${TestDestinationCodeSecret}:SecretString}}"}
TEST_LISTS = ("CNF_TEST_DESTINATIONS", "SIGNUP_TEST_DESTINATIONS")


def check_test_destinations(fid, env):
    """The fixed code of test destinations comes from its secret, never the template's text, and
    every function given a list of them has it."""
    errors = []
    code = env.get("TEST_DESTINATION_CODE")
    if code is not None and code != TEST_CODE:
        errors.append(f"{fid}: TEST_DESTINATION_CODE is not the secret reference {TEST_CODE}: {code!r}")
    for name in TEST_LISTS:
        if name in env and code is None:
            errors.append(f"{fid}: {name} without TEST_DESTINATION_CODE")
    return errors


def _actions(statement):
    a = statement.get("Action", [])
    return a if isinstance(a, list) else [a]


def _principals(statement):
    p = statement.get("Principal", {})
    out = []
    for kind in ("AWS", "Service"):
        v = p.get(kind, []) if isinstance(p, dict) else [p]
        out += [(kind, x) for x in (v if isinstance(v, list) else [v])]
    return out


def _service(principal):
    return principal.get("Fn::Sub", "") if isinstance(principal, dict) else str(principal)


def _allows(statement, action):
    return statement.get("Effect") == "Allow" and any(
        re.fullmatch(a.replace("*", ".*"), action, re.IGNORECASE) for a in _actions(statement)
    )


def check_keys(cfn):
    errors = []
    keys = of_type(cfn, "AWS::KMS::Key")
    functions = of_type(cfn, FUNCTION)
    roles = {json.dumps({"Fn::GetAtt": [f"{fid}Role", "Arn"]}) for fid in functions}
    for fid, fn in functions.items():
        if fn.get("Role") != {"Fn::GetAtt": [f"{fid}Role", "Arn"]}:
            errors.append(f"{fid} does not run as {fid}Role (the role the key policy names)")
    env_keys = {json.dumps(f.get("KmsKeyArn")) for f in functions.values()}
    if len(env_keys) != 1 or "null" in env_keys:
        errors.append(f"the functions' environments are not all under one key: {env_keys}")
    for kid, key in keys.items():
        if key.get("EnableKeyRotation") is not True:
            errors.append(f"{kid}: key rotation is off")
        is_env_key = json.dumps({"Fn::GetAtt": [kid, "Arn"]}) in env_keys
        decrypters = set()
        for st in key.get("KeyPolicy", {}).get("Statement", []):
            for action in ("kms:Decrypt", "kms:CreateGrant"):
                if not _allows(st, action):
                    continue
                condition = st.get("Condition", {})
                for kind, who in _principals(st):
                    text = json.dumps(who)
                    if text in roles and action == "kms:Decrypt":
                        decrypters.add(text)
                    elif kind == "Service" and _service(who).startswith(("logs.", "cloudwatch.")):
                        if is_env_key:
                            errors.append(f"{kid}: {who} may {action} the functions' environment")
                        elif _service(who).startswith("logs.") and (
                            "kms:EncryptionContext:aws:logs:arn" not in json.dumps(condition)
                        ):
                            errors.append(f"{kid}: CloudWatch Logs may use the key for any log group")
                    elif kind == "AWS" and ":root" in text and "kms:ViaService" in json.dumps(condition):
                        if is_env_key and action == "kms:Decrypt":
                            errors.append(
                                f"{kid}: the account may decrypt the functions' environment ({st.get('Sid')})"
                            )
                        if (
                            action == "kms:CreateGrant"
                            and is_env_key
                            and "kms:GrantIsForAWSResource" not in json.dumps(condition)
                        ):
                            errors.append(f"{kid}: the account may grant itself the environment key")
                    else:
                        errors.append(f"{kid}: {who} may {action} ({st.get('Sid')})")
        if is_env_key and decrypters != roles:
            errors.append(f"{kid}: decrypted by {sorted(decrypters)}, not exactly the function roles {sorted(roles)}")
    if not keys:
        errors.append("no customer-managed KMS key")
    return errors


# Variables only local runs give a value: `sam local --env-vars local/sam-env.json` overrides
# only the variables a template declares, so the template may declare these, as AWS::NoValue
# (absent from every deployed function: the translated template is checked too), and no more.
LOCAL_ONLY = ("ALLOW_LOCAL_SECRETS", "AWS_ENDPOINT_URL")


def check_local_only(template):
    errors = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in LOCAL_ONLY:
                    if value != {"Ref": "AWS::NoValue"}:
                        errors.append(f"the template sets {key} ({path}/{key})")
                else:
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")
        elif isinstance(node, str):
            errors.extend(f"the template names {name} in a value ({path})" for name in LOCAL_ONLY if name in node)

    walk(template, "")
    return errors


TEST_DESTINATIONS = {
    "TestDestinationCodeSecret": "verification/test-destination-code",
    "CnfTestDestinations": '{"mobile-app":{"expires":"2027-06-30","numbers":["+12025550123"]}}',
    "SignupTestDestinations": '{"expires":"2027-06-30","emailDomain":"review.example.com"}',
}


def check_test_code_wiring(cfn, configured):
    """With test destinations, every function has the code (family C's verify reads the profiles'
    lists too) and the lists reach family B's two functions and family A's; without, none has."""
    errors = []
    functions = of_type(cfn, FUNCTION)
    for fid, fn in functions.items():
        env = fn.get("Environment", {}).get("Variables", {})
        if ("TEST_DESTINATION_CODE" in env) != configured:
            errors.append(f"{fid}: TEST_DESTINATION_CODE {'missing' if configured else 'set with no secret named'}")
    variables = {fid: fn.get("Environment", {}).get("Variables", {}) for fid, fn in functions.items()}
    lists = {name: sorted(fid for fid, env in variables.items() if name in env) for name in TEST_LISTS}
    expected = {
        "CNF_TEST_DESTINATIONS": ["GenerateCnfCodeNotUserFunction", "ValidateCnfCodeNotUserFunction"],
        "SIGNUP_TEST_DESTINATIONS": ["CognitoSendConfirmCodeRequestFunction"],
    }
    for name, fids in lists.items():
        want = expected[name] if configured else []
        if fids != want:
            errors.append(f"{name} reaches {fids}, not {want}")
    return errors


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "template.yaml")
    template = load_template(path)
    errors = check_local_only(template)
    default_apps = str(template["Parameters"].get("CnfApplications", {}).get("Default", ""))
    if "demo" in default_apps.lower():
        errors.append(f"the default CnfApplications has a demo application: {default_apps}")

    jwt = {"TwoFactorAuth": "JWT", "TwoFactorJwtIssuer": "https://issuer.example", "TwoFactorJwtAudience": "backend"}
    cases = [
        ("defaults", {}, "IAM", "prod", False),
        ("JWT", jwt, "JWT", "prod", False),
        ("prod asking for codes", {"ReturnOtpCode": "true"}, "IAM", "prod", False),
        ("test stage", {"Stage": "test"}, "IAM", "test", False),
        ("test stage returning codes", {"Stage": "test", "ReturnOtpCode": "true"}, "IAM", "test", True),
        ("no watched country", {"WatchedCountries": ""}, "IAM", "prod", False),
        ("one watched country", {"WatchedCountries": "TR"}, "IAM", "prod", False),
        ("four watched countries", {"WatchedCountries": "AR,BR,MX,TR"}, "IAM", "prod", False),
        ("test destinations", TEST_DESTINATIONS, "IAM", "prod", False),
    ]
    for name, overrides, auth, stage, returns_code in cases:
        cfn = translate(template, overrides)
        found = check_test_code_wiring(cfn, name == "test destinations")
        found += check_doors(cfn, auth) + check_functions(cfn, stage, returns_code)
        found += [f"{name} in the translated template" for name in LOCAL_ONLY if name in json.dumps(cfn)]
        if name == "defaults":
            found += check_access_logs(cfn) + check_alarms(cfn) + check_keys(cfn) + check_sms_delivery_attempts(cfn)
        found += check_metrics(cfn)
        errors += [f"[{name}] {e}" for e in found]
    for e in errors:
        print(f"template check: {e}", file=sys.stderr)
    if errors:
        return 1
    print(
        f"template check: {path}: doors, test switches, OTP keys, logging, KMS keys, access logs, alarms, "
        "metrics and dashboard as promised"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
