"""template.yaml as CloudFormation reads it: the one YAML loader for its short tags, shared by
every script that loads the template (scripts/ci/check_template.py, scripts/ci/function_roles.py,
scripts/ci/routes_of.py, scripts/ci/sam_local_check.py, scripts/ci/sam-local.sh, local/bootstrap.py).

Each short tag becomes its long form: `!Ref X` -> {"Ref": "X"}, `!Condition C` ->
{"Condition": "C"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]}, `!Sub ...` ->
{"Fn::Sub": ...}, and so on for every other `!Name` -> {"Fn::Name": ...}.

Import it with this folder on sys.path (`sys.path.insert(0, <repo>/scripts/lib)`, then
`from cfn import load_template`): the scripts run from more than one folder.
"""

import yaml


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, !GetAtt a.b ...) in their long form."""


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Condition" if suffix == "Condition" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path):
    """The template at `path`, its short tags in their long form."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CfnLoader)
