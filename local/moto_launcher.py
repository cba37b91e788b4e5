"""Runs moto's DynamoDB/SNS/SES protocol server for local runs and tests.

Why not plain `moto_server`:
- moto applies a DynamoDB condition expression and its write without a lock, so two threads
  can both pass `attribute_not_exists(x)`. Real DynamoDB is atomic per item. Every AWS request
  here is served under one lock, which restores that guarantee; the service's concurrency
  tests then check the service's own conditions, not moto's thread scheduling.
- moto backs up every table a DynamoDB transaction names with `copy.deepcopy`, once per
  transaction item, stream records included: 10 ms per transaction on an empty table and
  growing with every write (40+ ms after a test run), which swamped every timing taken
  against it. Here the backup is of the items the transaction touches (and the stream's
  length); the outcome is the same, all or nothing (`_install_item_level_transaction_backup`).
- moto ignores `ClientRequestToken`; DynamoDB answers a repeated `TransactWriteItems` with
  the same token (within 10 minutes) as done, without applying it again, and the SDK sets
  one on every transaction, so an SDK retry of a transaction that took effect but whose
  answer was lost is harmless in AWS. Here too (`_idempotent_transaction`): the fault tests
  rely on it.
- moto checks an UpdateExpression's clause counts and overlapping paths again at every nested
  node of its syntax tree (each check walking the subtree below it: quadratic in the number
  of actions) and parses the same expression text anew on every call. Family A's user update
  has 20 SET actions: 17.5 ms of moto per send, 12.8 ms with the checks made once from the
  root (they see every clause there, so they refuse exactly what they refused) and the parsed
  tree reused (validation works on its own deep copy). `_install_update_expression_shortcuts`.
- The messages moto "delivered" are read back fast and in order from `GET /_local/messages`
  (moto's own /moto-api/data.json slows to seconds once a table has seen traffic).
- `GET /_local/served` says how many AWS requests were served and in how many milliseconds
  of moto's time, so a benchmark can tell its subject's time from the stand-in's.

Usage: python moto_launcher.py [--host 127.0.0.1] [--port 5000] [--exit-with-parent]
           [--template ../template.yaml --table-name NAME [--email-identity DOMAIN]]
Prints `MOTO_READY port=<n>` once listening (port 0 picks a free port) and, with --template,
once the table and e-mail identity of the template exist.
"""

import argparse
import contextlib
import datetime
import json
import logging
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from werkzeug.serving import make_server

logging.getLogger("werkzeug").setLevel(logging.ERROR)
_aws_lock = threading.Lock()
_inbox = []  # delivered messages, oldest first
_seen_sms = set()
_seen_email = set()
_transactions = {}  # ClientRequestToken -> (time, parameters, status, headers, body)
_TOKEN_LIFETIME_S = 600
# AWS requests served and the milliseconds spent serving them (under the lock): what
# bench/cold_start.py subtracts to tell the function's time from moto's.
_served = [0, 0.0]


@contextlib.contextmanager
def _serving():
    """One AWS request, served alone: under the lock, timed, its deliveries collected."""
    with _aws_lock:
        started = time.perf_counter()
        yield
        _collect_new_messages()
        _served[0] += 1
        _served[1] += (time.perf_counter() - started) * 1000


def _now_iso():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def _backends(backend_dict):
    for account in list(backend_dict.values()):
        yield from list(account.values())


def _collect_new_messages():
    """Called under the lock after every AWS request, so order and time are exact."""
    for backend in _backends(sns_backends):
        for message_id, (phone, text) in list(backend.sms_messages.items()):
            if message_id not in _seen_sms:
                _seen_sms.add(message_id)
                _inbox.append(
                    {"channel": "sms", "to": phone, "subject": None, "body": text, "sentAt": _now_iso()}
                )
    for backend in _backends(ses_backends):
        for message in list(backend.sent_messages):
            if message.id in _seen_email:
                continue
            _seen_email.add(message.id)
            destinations = getattr(message, "destinations", {}) or {}
            to = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(key, [])]
            _inbox.append(
                {
                    "channel": "email",
                    "to": ", ".join(to) if to else None,
                    "subject": getattr(message, "subject", None),
                    "body": getattr(message, "body", None) or getattr(message, "raw_data", None),
                    "sentAt": _now_iso(),
                }
            )


def _install_item_level_transaction_backup():
    import copy

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _TablesUncopied:
        """Stands in for the `copy` module inside moto's DynamoDB models during a
        transaction: tables are not copied (their touched items are, below); anything
        else is copied as before."""

        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    original = DynamoDBBackend.transact_write_items

    def touched_keys(backend, transact_items):
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            key = op.get("Item") or op.get("Key")
            if table is None or not key or table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_value = DynamoType(key[table.range_key_attr])
            yield table, hash_value, range_value

    def restore(table, hash_value, range_value, item):
        # Straight into the item store: a rollback writes no stream record (the records
        # the transaction wrote are cut off below).
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item

    def transact_write_items(self, transact_items):
        # Requests are served one at a time under _aws_lock, so nobody sees the
        # intermediate state, as in DynamoDB.
        saved = [
            (table, h, r, copy.deepcopy(table.get_item(h, r))) for table, h, r in touched_keys(self, transact_items)
        ]
        streams = {id(t): (t.stream_shard, len(t.stream_shard.items)) for t, _, _, _ in saved if t.stream_shard}
        dynamodb_models.copy = _TablesUncopied
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, item in reversed(saved):
                restore(table, h, r, item)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            dynamodb_models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items


def _install_update_expression_shortcuts():
    import functools

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    def from_the_root_only(validator):
        check, every_node = validator._processing_map, validator.traverse

        def traverse(self, node):
            # The root's clauses are all of the expression's clauses: a nested node's are a
            # subset, so checking them again can refuse nothing the root's check let through.
            if not isinstance(node, self.nodes_to_be_processed()):
                return every_node(self, node)
            for processor in check(self).values():
                processor(node)
            return node

        validator.traverse = traverse

    from_the_root_only(validators.ActionCountValidator)
    from_the_root_only(validators.OverlappingPathsValidator)

    parse = UpdateExpressionParser.make.__func__

    @functools.lru_cache(maxsize=512)
    def parsed(expression):
        # Shared between calls: moto's validators deep-copy the tree before changing it.
        return parse(UpdateExpressionParser, expression)

    UpdateExpressionParser.make = classmethod(lambda cls, expression: parsed(expression))


def _idempotent_transaction(environ, run):
    """Serves a TransactWriteItems under DynamoDB's idempotency rule: a token seen in the
    last 10 minutes with the same parameters gets the first call's successful answer again,
    unapplied; with other parameters, IdempotentParameterMismatchException. Called under
    _aws_lock. `run(environ)` -> (status, headers, body) serves a request through moto."""
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        request = json.loads(raw or b"{}")
    except ValueError:
        return run(environ)
    token = request.pop("ClientRequestToken", None)
    if not token:
        return run(environ)
    now = time.monotonic()
    for old in [t for t, entry in _transactions.items() if now - entry[0] > _TOKEN_LIFETIME_S]:
        del _transactions[old]
    seen = _transactions.get(token)
    if seen is not None:
        if seen[1] != request:
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "ClientRequestToken reused with different parameters",
                }
            ).encode()
            return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], body
        return seen[2], seen[3], seen[4]
    status, headers, body = run(environ)
    if status.startswith("200"):
        _transactions[token] = (now, request, status, headers, body)
    return status, headers, body


class LauncherApp:
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_local/messages":
            with _aws_lock:
                body = json.dumps(_inbox).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/_local/health":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        if path == "/_local/served":
            with _aws_lock:
                body = json.dumps({"requests": _served[0], "ms": _served[1]}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("HTTP_X_AMZ_TARGET") == "DynamoDB_20120810.TransactWriteItems":
            with _serving():
                status, headers, body = _idempotent_transaction(environ, self._run)
            start_response(status, headers)
            return [body]
        with _serving():
            # Drain the body inside the lock: moto reads it lazily.
            chunks = list(self.moto(environ, start_response))
        return chunks

    def _run(self, environ):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.moto(environ, capture))
        return captured["status"], captured["headers"], body


def _exit_when_orphaned(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--exit-with-parent", action="store_true")
    parser.add_argument("--template")
    parser.add_argument("--table-name")
    parser.add_argument("--email-identity")
    args = parser.parse_args()
    _install_item_level_transaction_backup()
    _install_update_expression_shortcuts()
    if args.exit_with_parent:
        threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    server = make_server(args.host, args.port, LauncherApp(), threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.template:
        from bootstrap import bootstrap

        bootstrap(f"http://127.0.0.1:{server.server_port}", args.template, args.table_name, args.email_identity)
    print(f"MOTO_READY port={server.server_port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
