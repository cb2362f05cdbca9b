"""A function's first invocation in a fresh process, with AWS answered by canned responses.

Imported by the cold-start probe after the function's module (so botocore is already loaded and
this module's own import is part of the first request it measures, a few microseconds). Every
request still goes through botocore as in Lambda: parameters validated, serialized, signed,
traced, the response parsed; only the network is replaced, by a `before-send` hook on boto3's
default session that answers each operation with the smallest valid response.
"""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

CALLS: Counter[str] = Counter()


class _Body(io.BytesIO):
    """What botocore reads a response from: `stream()` for parsed bodies, `read()` for streamed ones."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _xml(operation: str, result: str) -> bytes:
    return f"<{operation}Response><{operation}Result>{result}</{operation}Result></{operation}Response>".encode()


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def _read(operation: str, request: Any, items: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """GetItem and BatchGetItem answered from the case's items (DynamoDB JSON)."""
    asked = json.loads(request.body)
    if operation == "GetItem":
        found = items.get(_key(asked["Key"]))
        return {"Item": found} if found else {}
    responses = {
        table: [items[_key(k)] for k in spec["Keys"] if _key(k) in items]
        for table, spec in asked["RequestItems"].items()
    }
    return {"Responses": responses, "UnprocessedKeys": {}}


def _answer(service: str, operation: str, request: Any, case: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of the answer to one request."""
    json_headers = {"Content-Type": "application/x-amz-json-1.0"}
    if service == "s3" and operation == "GetObject":
        raw_mail = case["raw_mail"].encode()
        return {"Content-Length": str(len(raw_mail)), "Content-Type": "message/rfc822"}, raw_mail
    if service == "s3":
        return {}, b""
    if service == "dynamodb" and operation in ("GetItem", "BatchGetItem"):
        items = {_key(item): item for item in case.get("items", [])}
        return json_headers, json.dumps(_read(operation, request, items)).encode()
    if service == "dynamodb":
        bodies: dict[str, Any] = {
            "BatchWriteItem": {"UnprocessedItems": {}},
            "Query": {"Items": [], "Count": 0, "ScannedCount": 0},
        }
        return json_headers, json.dumps(bodies.get(operation, {})).encode()
    if service in ("secretsmanager", "secrets-manager"):
        # The key that signs page links: any string does for a benchmark.
        body = {"ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench", "SecretString": "bench-key"}
        return json_headers, json.dumps(body).encode()
    if service == "scheduler":
        arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule/bench/bench"
        return {"Content-Type": "application/json"}, json.dumps({"ScheduleArn": arn}).encode()
    if service == "sns" and operation == "PublishBatch":
        form = parse_qs(request.body.decode() if isinstance(request.body, bytes) else str(request.body))
        ids = [v[0] for k, v in form.items() if k.endswith(".Id")]
        members = "".join(f"<member><Id>{i}</Id><MessageId>m-{i}</MessageId></member>" for i in ids)
        return {}, _xml(operation, f"<Successful>{members}</Successful><Failed/>")
    if service == "sns":
        return {}, _xml(operation, "<MessageId>bench</MessageId>")
    if service in ("ses", "email"):
        return {}, _xml(operation, "<MessageId>0102018c-bench-000000@eu-west-1.amazonses.com</MessageId>")
    raise AssertionError(f"no canned answer for {service}:{operation}")


def install(case: dict[str, Any]) -> None:
    """Answer every request of clients made from boto3's default session (the wiring's)."""
    import boto3
    from botocore.awsrequest import AWSResponse

    def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse:
        service, operation = event_name.split(".")[1:3]
        CALLS[f"{service}:{operation}"] += 1
        headers, body = _answer(service, operation, request, case)
        all_headers: Any = {"x-amzn-RequestId": "bench", **headers}
        return AWSResponse(request.url, 200, all_headers, _Body(body))

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    events: Any = boto3.DEFAULT_SESSION.events  # the stubs type handlers as returning None
    events.register("before-send", before_send)


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "support-desk-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:support-desk-bench"
    aws_request_id = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name = "/aws/lambda/support-desk-bench"
    log_stream_name = "2026/12/02/[$LATEST]0123456789abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def run(app: Any, case_file: str) -> Any:
    """Invoke `app.lambda_handler` once with the case's event; return what it answered.

    The AWS operations it made are written to stderr as one JSON line, for the bench to print.
    """
    case = json.loads(Path(case_file).read_text())
    install(case)
    result = app.lambda_handler(case["event"], Context())
    sys.stderr.write("CALLS " + json.dumps(dict(sorted(CALLS.items()))) + "\n")
    return result
