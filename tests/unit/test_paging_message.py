"""The page: structure per protocol, subject rules, size cap and escaping of ticket text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from support_common.models import Priority, Requester, Status, Ticket, TicketType
from support_common.paging.escalation import PUBLISH_BATCH_BYTES, PUBLISH_BATCH_MAX
from support_common.paging.message import PAGE_MAX_BYTES, SUBJECT_MAX, build_page

DASHBOARD = "https://dashboard.example.com/"
NOW = datetime(2026, 11, 26, 9, 14, 3, 512000, tzinfo=UTC)


def ticket(**changes: Any) -> Ticket:
    base: dict[str, Any] = {
        "id": "INC-7KQ2XH",
        "type": TicketType.INCIDENT,
        "priority": Priority.URGENT,
        "status": Status.OPEN,
        "title": "Checkout returns 502",
        "description": "Every request to /checkout answers 502 since 09:12 UTC.",
        "channel": "dashboard",
        "tenant": "acme",
        "requester": Requester(email="alice@acme.example"),
        "environment": "production: shop.acme.example",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Ticket.model_validate({**base, **changes})


def bodies(page_message: str) -> dict[str, str]:
    parsed = json.loads(page_message)
    assert all(isinstance(v, str) for v in parsed.values())
    return parsed


def test_build_page_urgent_incident_has_body_per_protocol() -> None:
    # GIVEN an urgent incident
    # WHEN its level-2 page is built
    page = build_page(ticket(), 2, dashboard_url=DASHBOARD)
    # THEN the message is SNS's json structure with a body per protocol
    parts = bodies(page.message)
    assert {"default", "sms", "email", "https"} <= parts.keys()
    assert parts["sms"] == "URGENT L2 INC-7KQ2XH: Checkout returns 502"
    link = "https://dashboard.example.com/tickets/INC-7KQ2XH"
    for field in ("INC-7KQ2XH", "acme", "Checkout returns 502", "production: shop.acme.example", link):
        assert field in parts["email"]
    # AND the HTTPS body is a PagerDuty Events API v2 trigger
    event = json.loads(parts["https"])
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "INC-7KQ2XH"
    assert "routing_key" not in event
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["source"] == "production: shop.acme.example"
    assert event["payload"]["summary"].startswith("[URGENT] INC-7KQ2XH: Checkout returns 502")
    assert event["payload"]["custom_details"]["escalation_level"] == 2
    assert event["payload"]["custom_details"]["tenant"] == "acme"
    assert event["links"] == [{"href": link, "text": "Ticket INC-7KQ2XH"}]
    # AND subject and attributes follow the contract
    assert page.subject == "[URGENT] INC-7KQ2XH: Checkout returns 502"
    assert page.attributes == {
        "ticket_type": {"DataType": "String", "StringValue": "incident"},
        "priority": {"DataType": "String", "StringValue": "urgent"},
        "tenant": {"DataType": "String", "StringValue": "acme"},
        "escalation_level": {"DataType": "Number", "StringValue": "2"},
        "event_action": {"DataType": "String", "StringValue": "trigger"},
        "origin": {"DataType": "String", "StringValue": "desk"},
    }


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("Site down\r\nBcc: victim@example.com", id="crlf"),
        pytest.param("tab\tnul\x00bell\x07 del\x7f", id="controls"),
        pytest.param("line\u2028separator\u2029paragraph\u200bzero-width", id="unicode separators"),
        pytest.param("x" * 500, id="long"),
        pytest.param("Ünïcödé 服务器宕机 " * 20, id="long non-latin"),
    ],
)
def test_build_page_hostile_title_gives_printable_capped_subject(title: str) -> None:
    # GIVEN a title with line breaks, control characters or far too long
    # WHEN the page is built
    page = build_page(ticket(title=title), 1, dashboard_url=DASHBOARD)
    # THEN the subject is one printable line of at most 99 characters (SNS: "less than 100")
    assert len(page.subject) <= SUBJECT_MAX <= 100
    assert page.subject.isprintable()
    assert page.subject.startswith("[URGENT] INC-7KQ2XH: ")
    assert "\n" not in bodies(page.message)["sms"]


def test_build_page_huge_description_stays_under_batch_share() -> None:
    # GIVEN the largest description a ticket can hold, in 4-byte characters
    huge = "\U0001f525" * 20_000
    # WHEN the page is built
    page = build_page(ticket(description=huge, title="\U0001f525" * 200), 1, dashboard_url=DASHBOARD)
    # THEN it is far under SNS's 256 KiB, and ten of them fit one PublishBatch
    assert page.size <= PAGE_MAX_BYTES
    assert page.size * PUBLISH_BATCH_MAX <= PUBLISH_BATCH_BYTES
    email = bodies(page.message)["email"]
    assert email.rstrip().endswith("...")


def test_build_page_json_breaking_title_round_trips() -> None:
    # GIVEN a title made to break JSON (quotes, backslashes, braces, a fake key)
    title = 'x", "default": "pwned"} \\ \\" {"https": \'\''
    # WHEN the page is built
    page = build_page(ticket(title=title), 1, dashboard_url=DASHBOARD)
    # THEN the structure is intact and the title comes back exactly as typed
    parts = bodies(page.message)
    assert parts["default"].startswith("Urgent incident INC-7KQ2XH")
    event = json.loads(parts["https"])
    assert event["payload"]["custom_details"]["title"] == title
    assert json.loads(parts["sqs"])["title"] == title


def test_build_page_missing_environment_uses_tenant_as_source() -> None:
    # GIVEN an incident from email without an environment
    # WHEN the page is built
    page = build_page(ticket(environment=None, channel="email"), 1, dashboard_url=DASHBOARD)
    # THEN PagerDuty's source falls back to the tenant and the email says so
    parts = bodies(page.message)
    assert json.loads(parts["https"])["payload"]["source"] == "acme"
    assert "Environment: (not given)" in parts["email"]
