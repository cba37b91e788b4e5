"""Every route the configuration files name, printed as JSON for shared/tests/routes.rs, which
holds them against the one table in code (shared/src/edge/routes.rs):

  {"router":   [{"path", "method", "function"}],          Cargo.toml's cargo lambda watch router
   "template": [{"path", "method", "function", "binary", "event"}],
                                                          template.yaml's HttpApi/Api events
                                                          (function: the logical id; binary: its
                                                          Metadata.BuildProperties.Binary)
   "authorized": ["/api/TwoFactor/..."],                  the Api's DefinitionBody paths (the
                                                          routes that carry family C's authorizer)
   "openapi":  [{"path", "method"}]}                      openapi.yaml's paths (its anchors and
                                                          aliases resolved)

Python reads these files for the test because PyYAML with scripts/lib/cfn.py already reads the
template's short tags (!Ref, !Sub...) and no TOML or YAML crate is in Cargo.lock.

Usage: python scripts/ci/routes_of.py [REPOSITORY_ROOT]
"""

import json
import os
import sys
import tomllib

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from cfn import load_template  # noqa: E402

# OpenAPI's Path Item keys that are operations (the others: summary, parameters, servers...).
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def router(root):
    with open(os.path.join(root, "Cargo.toml"), "rb") as handle:
        cargo = tomllib.load(handle)
    table = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return [
        {"path": path, "method": target["method"], "function": target["function"]}
        for path, targets in table.items()
        for target in targets
    ]


def template(root):
    cfn = load_template(os.path.join(root, "template.yaml"))
    routes, authorized = [], []
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::Serverless::HttpApi":
            authorized += list(resource["Properties"].get("DefinitionBody", {}).get("paths", {}))
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        for event_id, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] not in ("HttpApi", "Api"):
                continue
            props = event.get("Properties", {})
            routes.append({
                "path": props.get("Path"),
                "method": props.get("Method"),
                "function": logical_id,
                "binary": binary,
                "event": event_id,
            })
    return routes, authorized


def openapi(root):
    with open(os.path.join(root, "openapi.yaml"), encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    return [
        {"path": path, "method": method}
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    ]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..")
    routes, authorized = template(root)
    json.dump(
        {"router": router(root), "template": routes, "authorized": authorized, "openapi": openapi(root)},
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
