#!/usr/bin/env python3
"""Checks every example (and default) in an OpenAPI 3.1 document against its schema.

What is checked:
- Media Type, Parameter and Header objects: `example` and each of `examples` (an Example
  Object's `value`, following a `$ref` into components/examples) against the object's
  `schema`, with JSON Schema 2020-12 (the dialect of OpenAPI 3.1): `$ref`s resolve into the
  whole document, formats are asserted (uuid, date-time, email, ...) and so is
  `contentEncoding: base64`. `example` and `examples` side by side are an error.
- JSON Schemas anywhere in the document (components and inline): each is a valid 2020-12
  schema that uses only known keywords (2020-12's, OpenAPI's, `x-`); its `examples` items, a
  deprecated `example` and a `default` validate against it.
- The YAML reads the same in every tool: no duplicated keys (PyYAML keeps the last one, js-yaml
  refuses the document), no unquoted YAML 1.1 booleans or numbers (`no`, `on`, `0755`, `1:30`:
  a bool or a number to PyYAML, a string or another number to YAML 1.2 parsers).
- Every example is plain JSON: YAML that read a value as a timestamp, or a non-string key,
  is an error (tools differ on such values; quote them).
- XML media types (`application/xml`, `text/xml`, `+xml`): an example given as a string must
  be well-formed XML. When the schema (after `$ref`s) carries `xml.name` / `xml.namespace`,
  the root element's local name / namespace must match, and when it is an object with
  `properties`, the root's child elements (or attributes, for `xml.attribute`) must be
  declared properties (by `xml.name` when a property has one) and the required ones present.
  A string example is also validated against the schema when the schema accepts strings
  (`type: string` for an XML body); an example given as a structure is validated as JSON.

Not checked: the types of values inside XML (DataContract writes `Code` by its name, for one),
element order, arrays and nesting in XML beyond the root's children, the content of non-JSON,
non-XML bodies beyond their schema (a text/csv example is a string), `externalValue`
examples (counted and reported), `$ref`s to other files, and formats the validator has no
checker for (listed when the document uses them).

Usage: scripts/ci/check_openapi.py [-v] [openapi.yaml]   -v lists each check; exit 1 on any error.
"""

import base64
import binascii
import datetime
import re
import sys
import xml.etree.ElementTree as ET

import jsonschema
import referencing
import referencing.exceptions
import yaml
from referencing.jsonschema import DRAFT202012

BASE = "urn:check-openapi:document"
XML_INSTANCE_NS = "http://www.w3.org/2001/XMLSchema-instance"

# JSON Schema keywords whose value is a schema, a list of schemas, or a map of them.
SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
              "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
SCHEMA_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAP = ("properties", "patternProperties", "$defs", "dependentSchemas")
# Every keyword of the 2020-12 vocabularies and OpenAPI 3.1's own. Any other key (bar `x-`) is
# ignored by validators and generators alike: a typo (`requried`), a 3.0 leftover
# (`nullable`) or a YAML slip (an unquoted comma inside `{ }` ends a value and makes a key).
KEYWORDS = set(SCHEMA_ONE + SCHEMA_LIST + SCHEMA_MAP) | {
    "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "$comment", "type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired", "title", "description", "default", "deprecated", "readOnly",
    "writeOnly", "examples", "format", "contentEncoding", "contentMediaType",
    "discriminator", "xml", "externalDocs", "example",
}


def pointer(parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def is_xml(media_type):
    essence = media_type.split(";")[0].strip().lower()
    return essence in ("application/xml", "text/xml") or essence.endswith("+xml")


def content_encoding(validator, encoding, instance, schema):
    if encoding == "base64" and isinstance(instance, str):
        try:
            base64.b64decode(instance, validate=True)
        except (binascii.Error, ValueError) as e:
            yield jsonschema.ValidationError(f"{instance!r} is not base64 ({e})")


Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"contentEncoding": content_encoding}
)


class Checker:
    def __init__(self, doc, verbose=False):
        self.doc = doc
        self.verbose = verbose
        resource = DRAFT202012.create_resource(doc)
        self.registry = referencing.Registry().with_resource(BASE, resource)
        self.errors = []
        self.checked = 0
        self.external = []
        self.seen = set()
        self.formats_used = set()

    def error(self, where, message):
        self.errors.append(f"{pointer(where)}: {message}")

    def resolve(self, node, depth=0):
        """Follows local `$ref`s (an Example Object, a schema's top) to what they point at."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 20:
            ref = node["$ref"]
            if not ref.startswith("#"):
                return None
            node = self.lookup(ref)
            depth += 1
        return node

    def lookup(self, ref):
        node = self.doc
        for part in ref[2:].split("/") if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def validate(self, schema_at, instance, where, what, count=True):
        """Validates instance against the schema found at JSON pointer schema_at."""
        self.checked += count
        if not plain_json(instance, where, self.error):
            return
        validator = Validator(
            {"$ref": BASE + pointer(schema_at)},
            registry=self.registry,
            format_checker=Validator.FORMAT_CHECKER,
        )
        if self.verbose:
            print(f"  {what} at {pointer(where)} against {pointer(schema_at)}")
        try:
            errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        except referencing.exceptions.Unresolvable as e:
            self.error(where, f"{what}: cannot check, $ref {getattr(e, 'ref', '?')!r} does not resolve")
            return
        for e in errors:
            at = "".join(f"[{p!r}]" for p in e.absolute_path)
            # Under oneOf/anyOf, say why each branch failed.
            branches = "".join(
                f"\n    branch {list(sub.schema_path)[0]}"
                + "".join(f"[{p!r}]" for p in sub.absolute_path) + f": {sub.message}"
                for sub in e.context or []
            )
            self.error(where, f"{what}{at}: {e.message}{branches}")

    # -- OpenAPI objects ------------------------------------------------------------------

    def walk(self, node, where):
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.walk(item, where + [i])
            return
        if not isinstance(node, dict):
            return
        # YAML anchors make one object appear under several paths: check it once.
        if id(node) in self.seen:
            return
        self.seen.add(id(node))
        if where != ["components"] and ("schema" in node or "example" in node or "examples" in node):
            self.check_examples(node, where)
        for key, value in node.items():
            if key == "schema":
                self.walk_schema(value, where + [key])
            elif key == "schemas" and where == ["components"]:
                for name, schema in value.items():
                    self.walk_schema(schema, where + [key, name])
            elif key in ("example", "examples") or str(key).startswith("x-"):
                continue  # data, not OpenAPI objects
            else:
                self.walk(value, where + [key])

    def check_examples(self, node, where):
        media_type = where[-1] if len(where) >= 2 and where[-2] == "content" else None
        if "example" in node and "examples" in node:
            self.error(where, "has both `example` and `examples` (mutually exclusive)")
        values = []
        if "example" in node:
            values.append((node["example"], where + ["example"]))
        for name, example in (node.get("examples") or {}).items():
            at = where + ["examples", name]
            target = self.resolve(example)
            if not isinstance(target, dict):
                self.error(at, f"Example Object does not resolve: {example!r}")
            elif "value" in target:
                values.append((target["value"], at + ["value"]))
            elif "externalValue" in target:
                self.external.append(pointer(at))
            else:
                self.error(at, "Example Object has neither `value` nor `externalValue`")
        if not values:
            return
        if "schema" not in node:
            if media_type is None:  # a Parameter or Header with `content` has no examples here
                return
            for _, at in values:
                self.error(at, f"example for {media_type} has no schema to check it against")
            return
        for value, at in values:
            if media_type and is_xml(media_type) and isinstance(value, str):
                self.check_xml(value, node["schema"], where + ["schema"], at)
            else:
                self.validate(where + ["schema"], value, at, "example")

    def check_xml(self, text, schema, schema_at, where):
        self.checked += 1
        if self.verbose:
            print(f"  XML example at {pointer(where)} against {pointer(schema_at)}")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            self.error(where, f"XML example is not well-formed: {e}")
            return
        resolved = self.resolve(schema)
        if not isinstance(resolved, dict):
            return
        if accepts_string(resolved):
            self.validate(schema_at, text, where, "XML example as a string", count=False)
        namespace, local = split_tag(root.tag)
        xml = resolved.get("xml") or {}
        if "name" in xml and local != xml["name"]:
            self.error(where, f"XML root element is <{local}>, the schema's xml.name is {xml['name']!r}")
        if "namespace" in xml and namespace != xml["namespace"]:
            self.error(
                where, f"XML root namespace is {namespace!r}, the schema's xml.namespace is {xml['namespace']!r}"
            )
        properties = resolved.get("properties")
        if not isinstance(properties, dict):
            return
        element_names, attribute_names = {}, {}
        for prop, sub in properties.items():
            sub_xml = (self.resolve(sub) or {}).get("xml") or {}
            names = attribute_names if sub_xml.get("attribute") else element_names
            names[sub_xml.get("name", prop)] = prop
        present = set()
        for child in root:
            child_local = split_tag(child.tag)[1]
            if child_local not in element_names:
                self.error(where, f"XML element <{child_local}> is not a property of the schema")
            else:
                present.add(element_names[child_local])
        for attribute in root.attrib:
            attribute_ns, attribute_local = split_tag(attribute)
            if attribute_ns == XML_INSTANCE_NS:
                continue
            if attribute_local in attribute_names:
                present.add(attribute_names[attribute_local])
        for prop in resolved.get("required") or []:
            if prop not in present:
                self.error(where, f"XML example lacks the required property {prop!r}")

    # -- JSON Schemas ---------------------------------------------------------------------

    def walk_schema(self, schema, where):
        if not isinstance(schema, dict):
            return  # true/false schemas
        if id(schema) in self.seen:
            return
        self.seen.add(id(schema))
        try:
            Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            self.error(where, f"not a valid 2020-12 schema: {e.message}")
        for key in schema:
            if key not in KEYWORDS and not str(key).startswith("x-"):
                self.error(where, f"{key!r} is not a JSON Schema or OpenAPI keyword (ignored by every tool)")
        if isinstance(schema.get("format"), str):
            self.formats_used.add(schema["format"])
        examples = schema.get("examples")
        if examples is not None:
            if not isinstance(examples, list):
                self.error(where + ["examples"], "a schema's `examples` is an array")
            else:
                for i, value in enumerate(examples):
                    self.validate(where, value, where + ["examples", i], "example")
        for key in ("example", "default"):
            if key in schema:
                self.validate(where, schema[key], where + [key], key)
        for key in SCHEMA_ONE:
            if key in schema:
                self.walk_schema(schema[key], where + [key])
        for key in SCHEMA_LIST:
            for i, sub in enumerate(schema.get(key) or []):
                self.walk_schema(sub, where + [key, i])
        for key in SCHEMA_MAP:
            for name, sub in (schema.get(key) or {}).items():
                self.walk_schema(sub, where + [key, name])


def accepts_string(schema):
    types = schema.get("type")
    if types is None:
        return False  # an object schema in all but name: the XML text is not its instance
    return "string" in (types if isinstance(types, list) else [types])


def split_tag(tag):
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return None, tag


def plain_json(value, where, error):
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        error(where, f"YAML read {value!r} as a timestamp, not a string: quote it")
        return False
    if isinstance(value, dict):
        ok = True
        for key, item in value.items():
            if not isinstance(key, str):
                error(where, f"key {key!r} is not a string: quote it")
                ok = False
            ok = plain_json(item, where + [str(key)], error) and ok
        return ok
    if isinstance(value, list):
        return all([plain_json(item, where + [i], error) for i, item in enumerate(value)])
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    error(where, f"{type(value).__name__} {value!r} is not a JSON value")
    return False


class StrictLoader(yaml.SafeLoader):
    """Refuses YAML that tools read differently. PyYAML (and so openapi-spec-validator) keeps
    the last of duplicated keys; js-yaml, under openapi-typescript and Redocly, refuses the
    document: a merge of two branches that both add `headers:` or a status produces exactly
    that. PyYAML also reads YAML 1.1 plain scalars (`no`, `on`, `0755`, `1_000`, `1:30`) as
    booleans and numbers where YAML 1.2 parsers read strings or other numbers (country code
    NO, say)."""

    duplicates = []
    ambiguous = []

    def construct_scalar(self, node):
        if node.style is None and (
            (node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"))
            or (
                node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
                and (re.search(r"[_:]", node.value) or re.fullmatch(r"[-+]?0[0-7]+|[-+]?0b[01]+", node.value))
            )
        ):
            self.ambiguous.append(
                f"line {node.start_mark.line + 1}: {node.value!r} is a {node.tag.rsplit(':', 1)[1]} "
                "to PyYAML (YAML 1.1) and reads otherwise in YAML 1.2 parsers: quote it"
            )
        return super().construct_scalar(node)

    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(f"line {line}: key {key!r} repeats the one on line {seen[key]}")
            else:
                seen[key] = line
        return super().construct_mapping(node, deep)


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    path = args[0] if args else "openapi.yaml"
    with open(path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=StrictLoader)
    for line in StrictLoader.ambiguous:
        print(f"{path}: {line}")
    for line in StrictLoader.duplicates:
        print(f"{path}: {line} (tools differ on duplicated keys: remove one)")
    if StrictLoader.ambiguous or StrictLoader.duplicates:
        return 1
    dialect = doc.get("jsonSchemaDialect")
    if dialect not in (
        None,
        "https://spec.openapis.org/oas/3.1/dialect/base",
        "https://json-schema.org/draft/2020-12/schema",
    ):
        print(f"{path}: jsonSchemaDialect {dialect!r}: this check knows only 2020-12")
        return 1
    checker = Checker(doc, verbose)
    checker.walk(doc, [])
    unchecked = sorted(checker.formats_used - set(Validator.FORMAT_CHECKER.checkers))
    for line in checker.errors:
        print(f"{path}: {line}")
    if checker.external:
        print(f"{path}: not checked (externalValue): {', '.join(checker.external)}")
    if unchecked:
        print(f"{path}: formats used without a checker (not asserted): {', '.join(unchecked)}")
    print(f"{path}: {checker.checked} examples and defaults checked, {len(checker.errors)} errors")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())
