"""On-call acknowledges from the page, end to end: a plain HTTP client opens the page's link."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import PageCollector, RunningStack, http, wait_for

pytestmark = pytest.mark.e2e

ASYNC_TIMEOUT = 30.0


def _open(url: str, method: str) -> tuple[int, dict[str, str], str]:
    """The link as a phone's browser opens it: no token, a form POST for the button."""
    data = b"" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _action(message: dict[str, Any]) -> str:
    return str(message["MessageAttributes"].get("event_action", {}).get("Value", ""))


def _urgent(stack: RunningStack, token: str) -> str:
    created = http(
        stack,
        "POST",
        "/tickets",
        token=token,
        body={
            "type": "incident",
            "priority": "urgent",
            "title": f"Checkout down {uuid.uuid4().hex[:8]}",
            "description": "Every checkout answers 502.",
            "environment": "production",
        },
    )
    assert created.status == 201, created.body
    return str(created.body["id"])


def test_ack_link_from_page_acknowledges_and_stands_down(
    stack: RunningStack, customer_token: str, support_token: str, pages: PageCollector
) -> None:
    # GIVEN an urgent incident whose page arrived on the pager queue
    ticket_id = _urgent(stack, customer_token)
    [page] = wait_for("the page", lambda: pages.for_ticket(ticket_id), timeout=ASYNC_TIMEOUT)
    link = json.loads(page["Message"])["ack_url"]
    assert link.startswith(f"{stack.api_url}/ack/")
    # WHEN the link is opened with a plain HTTP client (GET)
    status, headers, html = _open(link, "GET")
    # THEN a confirm page with one button answers, and the ticket is still open
    assert status == 200 and "Acknowledge</button>" in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert http(stack, "GET", f"/tickets/{ticket_id}", token=support_token).body["status"] == "open"
    # WHEN the button is pressed (POST to the same URL)
    status, _, html = _open(link, "POST")
    # THEN the ticket is acknowledged
    assert status == 200 and "Acknowledged" in html
    assert http(stack, "GET", f"/tickets/{ticket_id}", token=support_token).body["status"] == "acknowledged"
    # AND the stand-down reaches the pager queue
    standdown = wait_for(
        "the stand-down",
        lambda: [m for m in pages.for_ticket(ticket_id) if _action(m) == "acknowledge"],
        timeout=ASYNC_TIMEOUT,
    )
    assert standdown[0]["Subject"].startswith(f"[ACKNOWLEDGED] {ticket_id}")
    # AND the link says so when pressed again
    assert "Already acknowledged" in _open(link, "POST")[2]


def test_pagerduty_webhook_with_stack_secret_resolves(
    stack: RunningStack, customer_token: str, support_token: str, pages: PageCollector
) -> None:
    # GIVEN a paged urgent incident, and the webhook secret stack.json gives scripts
    ticket_id = _urgent(stack, customer_token)
    wait_for("the page", lambda: pages.for_ticket(ticket_id), timeout=ASYNC_TIMEOUT)
    secret = stack.info["pagerduty_webhook_secret"]
    body = json.dumps(
        {
            "event": {
                "id": uuid.uuid4().hex,
                "event_type": "incident.resolved",
                "resource_type": "incident",
                "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "agent": {"summary": "Tenex Engineer"},
                "data": {"type": "incident", "incident_key": ticket_id},
            }
        }
    ).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{stack.api_url}/integrations/pagerduty",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": signature},
    )
    # WHEN PagerDuty's signed webhook is posted
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    # THEN the ticket is resolved and the stand-down goes out
    assert answer == {"status": "resolved"}
    assert http(stack, "GET", f"/tickets/{ticket_id}", token=support_token).body["status"] == "resolved"
    wait_for(
        "the resolve stand-down",
        lambda: [m for m in pages.for_ticket(ticket_id) if _action(m) == "resolve"],
        timeout=ASYNC_TIMEOUT,
    )
