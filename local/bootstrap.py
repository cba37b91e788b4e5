"""Creates, in a DynamoDB/SES protocol server, the table and e-mail identity exactly as
template.yaml defines them, so local runs and tests use the deployed shape.

Usage: python bootstrap.py --endpoint http://127.0.0.1:5000 --template ../template.yaml \
           --table-name verification-codes [--email-identity example.com]
"""

import argparse
import os
import sys

import boto3

# The one CloudFormation loader (scripts/lib/cfn.py). This file runs as `python local/bootstrap.py`
# from the root and is imported by local/moto_launcher.py: found from this file's folder.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "lib"))
from cfn import load_template  # noqa: E402


def _resources_of(template, kind):
    return [r.get("Properties", {}) for r in template.get("Resources", {}).values() if r.get("Type") == kind]


def _resolve(template, value):
    if isinstance(value, dict) and "Ref" in value:
        return template.get("Parameters", {}).get(value["Ref"], {}).get("Default")
    return value


def _clients(endpoint):
    kwargs = dict(
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    return boto3.client("dynamodb", **kwargs), boto3.client("sesv2", **kwargs)


def bootstrap(endpoint, template_path, table_name, email_identity=None):
    template = load_template(template_path)
    dynamodb, sesv2 = _clients(endpoint)
    (table,) = _resources_of(template, "AWS::DynamoDB::Table")
    if table_name not in dynamodb.list_tables()["TableNames"]:
        args = dict(
            TableName=table_name,
            AttributeDefinitions=table["AttributeDefinitions"],
            KeySchema=table["KeySchema"],
            BillingMode=table.get("BillingMode", "PAY_PER_REQUEST"),
        )
        stream = table.get("StreamSpecification")
        if stream:
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        dynamodb.create_table(**args)
        ttl = table.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    for identity in _resources_of(template, "AWS::SES::EmailIdentity"):
        name = email_identity or _resolve(template, identity["EmailIdentity"])
        existing = [i["IdentityName"] for i in sesv2.list_email_identities().get("EmailIdentities", [])]
        if name not in existing:
            sesv2.create_email_identity(EmailIdentity=name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--table-name", required=True)
    parser.add_argument("--email-identity")
    args = parser.parse_args()
    bootstrap(args.endpoint, args.template, args.table_name, args.email_identity)


if __name__ == "__main__":
    main()
