"""Builds API Gateway HTTP API (payload 2.0) events from the real samples in tests/events/."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from tests.conftest import load_event

ALICE = {"email": "alice@acme.example", "custom:tenant": "acme", "cognito:groups": "[customers]"}
BOB = {"email": "bob@acme.example", "custom:tenant": "acme"}
MALLORY = {"email": "mallory@globex.example", "custom:tenant": "globex"}
ONCALL = {"email": "oncall@support.example.com", "cognito:groups": "[support]"}


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    claims: dict[str, str] | None = ALICE,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """A payload 2.0 event as API Gateway sends it after the JWT authorizer let it through."""
    event = load_event("apigw_http_create_ticket")
    route = path
    for prefix, name in (("/tickets/", "ticket_id"), ("/contacts/", "address"), ("/ack/", "token")):
        if path.startswith(prefix):
            rest = path[len(prefix) :].split("/", 1)
            route = prefix + "{" + name + "}" + ("/" + rest[1] if len(rest) > 1 else "")
            event["pathParameters"] = {name: rest[0]}
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = query
    if claims is None:
        del event["requestContext"]["authorizer"]
        del event["headers"]["authorization"]
    else:
        base = event["requestContext"]["authorizer"]["jwt"]["claims"]
        for key in ("custom:tenant", "cognito:groups", "email"):
            base.pop(key, None)
        base.update(claims)
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    if raw_body is not None:
        event["body"] = raw_body
    elif body is None:
        event.pop("body", None)
        event["headers"].pop("content-type", None)
        event["headers"].pop("content-length", None)
    else:
        event["body"] = json.dumps(body)
    if "body" in event:
        event["headers"]["content-length"] = str(len(event["body"].encode()))
    return event
