"""Each Lambda function's execution role as the SAM translator deploys template.yaml (default
parameters), printed as JSON for shared/tests/api/permissions.rs, which holds every AWS call a
function makes against it:

  {"<FunctionLogicalId>": {"statements": [{"Effect", "Action": [...], "Resource": [...],
                                           "Condition": {...}}],
                           "managed": ["arn:...:policy/service-role/..."]}}

Resources and conditions are evaluated as check_template.py does: a resource's attribute
stands in as `<Name.Attribute>` (`<CodesTable.Arn>`), parameters and pseudo parameters by value.

Usage: python scripts/ci/function_roles.py [TEMPLATE]
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from cfn import load_template  # noqa: E402
from check_template import evaluate, of_type, translate  # noqa: E402


def as_list(value):
    return value if isinstance(value, list) else [value]


def roles(cfn):
    params = cfn["Parameters"]
    iam_roles = of_type(cfn, "AWS::IAM::Role")
    out = {}
    for fid, function in of_type(cfn, "AWS::Lambda::Function").items():
        role_id = function["Role"]["Fn::GetAtt"][0]
        role = iam_roles[role_id]
        statements = []
        for policy in role.get("Policies", []):
            for st in as_list(policy["PolicyDocument"]["Statement"]):
                statements.append({
                    "Effect": st["Effect"],
                    "Action": as_list(st["Action"]),
                    "Resource": [str(evaluate(r, params)) for r in as_list(st.get("Resource", []))],
                    "Condition": evaluate_tree(st.get("Condition", {}), params),
                })
        managed = [str(evaluate(arn, params)) for arn in role.get("ManagedPolicyArns", [])]
        out[fid] = {"statements": statements, "managed": managed}
    return out


def evaluate_tree(value, params):
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join"):
            return evaluate(value, params)
        return {k: evaluate_tree(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_tree(v, params) for v in value]
    return value


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "template.yaml")
    template = load_template(path)
    json.dump(roles(translate(template, {})), sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
