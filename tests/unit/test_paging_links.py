"""Acknowledgement links and reply codes, the pages that carry them, and the stand-downs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from itertools import product
from typing import Any

import pytest
from support_common.models import TRIAGE_TENANT, AckChannel, Priority, Requester, Status, Ticket, TicketType
from support_common.pagelinks import AckToken, InvalidToken, PageSigner, ack_url
from support_common.paging.decision import Action
from support_common.paging.message import SMS_MAX, AckInfo, build_page
from support_common.paging.standdown import build_standdown
from support_common.repository.ticket_items import paging_flag
from support_common.ticket_rules import round_changes

NOW = datetime(2026, 11, 26, 9, 14, 3, 512000, tzinfo=UTC)
KEY = b"k" * 64
# The default execute-api URL is the longest base a page carries.
API = "https://a1b2c3d4e5.execute-api.ap-southeast-2.amazonaws.com/prod"


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
        "environment": "production",
        "created_at": NOW,
        "updated_at": NOW,
        "page_round": 1,
    }
    return Ticket.model_validate({**base, **changes})


def signer(key: bytes = KEY) -> PageSigner:
    return PageSigner(lambda: key)


# --- tokens --------------------------------------------------------------------------------


def test_page_signer_token_round_trips_and_names_its_page() -> None:
    # GIVEN a token for round 2, level 3, valid for an hour
    expires = int(time.time()) + 3600
    text = signer().sign(AckToken("INC-7KQ2XH", 2, 3, expires))
    # WHEN it is verified
    token = signer().verify(text, now=time.time())
    # THEN it names exactly that page, and it is short enough for an SMS with its URL
    assert token == AckToken("INC-7KQ2XH", 2, 3, expires)
    assert len(text) <= 60
    assert text.replace(".", "").replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="mac changed"),
        pytest.param(lambda t: t.split(".")[0] + ".", id="mac missing"),
        pytest.param(lambda t: "x" + t, id="payload changed"),
        pytest.param(lambda t: "not-a-token", id="garbage"),
        pytest.param(lambda t: t + "." + t, id="two dots"),
        pytest.param(lambda t: "A" * 500 + "." + "B" * 22, id="too long"),
    ],
)
def test_page_signer_tampered_token_is_forged(tamper: Any) -> None:
    # GIVEN a valid token, tampered with
    text = tamper(signer().sign(AckToken("INC-7KQ2XH", 1, 1, int(time.time()) + 60)))
    # WHEN it is verified
    # THEN it is refused as forged
    with pytest.raises(InvalidToken) as caught:
        signer().verify(text, now=time.time())
    assert caught.value.reason == "forged"


def test_page_signer_other_ticket_payload_with_old_mac_is_forged() -> None:
    # GIVEN the MAC of one ticket's token put on another ticket's payload
    one = signer().sign(AckToken("INC-7KQ2XH", 1, 1, int(time.time()) + 60))
    other = signer().sign(AckToken("INC-AAAAAA", 1, 1, int(time.time()) + 60))
    spliced = other.split(".")[0] + "." + one.split(".")[1]
    # WHEN it is verified
    # THEN it is forged
    with pytest.raises(InvalidToken, match="forged"):
        signer().verify(spliced, now=time.time())


def test_page_signer_token_of_another_key_is_forged() -> None:
    # GIVEN a token signed with another stack's key
    text = signer(b"other" * 13).sign(AckToken("INC-7KQ2XH", 1, 1, int(time.time()) + 60))
    # WHEN this stack verifies it
    # THEN it is forged
    with pytest.raises(InvalidToken, match="forged"):
        signer().verify(text, now=time.time())


def test_page_signer_expired_token_is_expired() -> None:
    # GIVEN a token that expired a second ago
    text = signer().sign(AckToken("INC-7KQ2XH", 1, 1, int(time.time()) - 1))
    # WHEN it is verified
    # THEN it is refused as expired
    with pytest.raises(InvalidToken) as caught:
        signer().verify(text, now=time.time())
    assert caught.value.reason == "expired"


def test_page_signer_reply_code_is_per_round_and_six_digits() -> None:
    # GIVEN the reply codes of two rounds of one ticket
    first, second = signer().reply_code("INC-7KQ2XH", 1), signer().reply_code("INC-7KQ2XH", 2)
    # THEN each is six digits, verifies for its own round only
    assert first.isdigit() and len(first) == 6
    assert signer().reply_code_valid("INC-7KQ2XH", 1, first)
    assert not signer().reply_code_valid("INC-7KQ2XH", 2, first) or first == second
    assert not signer().reply_code_valid("INC-AAAAAA", 1, first) or first == signer().reply_code("INC-AAAAAA", 1)


# --- the page with its link -----------------------------------------------------------------


def _ack(title_ticket: Ticket, level: int = 1) -> AckInfo:
    text = signer().sign(AckToken(title_ticket.id, 1, level, int(time.time()) + 86400))
    return AckInfo(url=ack_url(API, text), reply_code="482193", reply_to="urgent@support.example.com")


@pytest.mark.parametrize(
    "title", ["Checkout returns 502", "x" * 300, "服务器宕机 " * 30, "Site down\r\nBcc: victim@example.com"]
)
def test_build_page_sms_keeps_whole_ack_link_within_sms_length(title: str) -> None:
    # GIVEN an urgent incident and its signed link on the longest default API URL
    incident = ticket(title=title)
    ack = _ack(incident)
    # WHEN its page is built
    sms = json.loads(build_page(incident, 1, dashboard_url="https://d.example", ack=ack).message)["sms"]
    # THEN the SMS fits one segment, is one line, and ends with the whole link
    assert len(sms) <= SMS_MAX
    assert sms.startswith("URGENT L1 INC-7KQ2XH:")
    assert sms.endswith(f"ACK {ack.url}")
    assert "\n" not in sms and "\r" not in sms


def test_build_page_every_protocol_carries_ack_link_and_email_the_reply_code() -> None:
    # GIVEN an urgent incident's level-2 page with its link and reply code
    incident = ticket()
    ack = _ack(incident, 2)
    # WHEN it is built
    parts = json.loads(build_page(incident, 2, dashboard_url="https://d.example", ack=ack).message)
    # THEN the email, the JSON for HTTPS (its links) and SQS carry the link; the email says how to reply
    assert f"Acknowledge (no sign-in): {ack.url}" in parts["email"]
    assert "urgent@support.example.com" in parts["email"]
    assert "ACK INC-7KQ2XH 482193" in parts["email"]
    event = json.loads(parts["https"])
    assert event["links"][0] == {"href": ack.url, "text": "Acknowledge"}
    assert json.loads(parts["sqs"])["ack_url"] == ack.url


def test_build_page_repeat_of_last_level_says_so() -> None:
    # GIVEN the second repeat of level 3
    # WHEN its page is built
    page = build_page(ticket(), 3, dashboard_url="https://d.example", repeat=2)
    parts = json.loads(page.message)
    # THEN it stays a level-3 page (subscriptions' filters) and says it repeats
    assert page.attributes["escalation_level"]["StringValue"] == "3"
    assert parts["sms"].startswith("URGENT L3+2 INC-7KQ2XH:")
    assert "repeat 2" in parts["email"]


# --- stand-downs ----------------------------------------------------------------------------


def test_build_standdown_acknowledge_is_events_v2_and_one_line() -> None:
    # GIVEN a paged incident acknowledged from its level-2 page link
    handled = ticket(
        status=Status.ACKNOWLEDGED,
        acknowledged_by="level-2 page link",
        acknowledged_via=AckChannel.LINK,
        acknowledged_at=NOW,
    )
    # WHEN its stand-down for subscribers paged up to level 2 is built
    message = build_standdown(handled, Action.ACKNOWLEDGE, 2)
    parts = json.loads(message.message)
    # THEN HTTPS gets PagerDuty's acknowledge with the page's dedup_key; SMS and email one line
    assert json.loads(parts["https"]) == {"event_action": "acknowledge", "dedup_key": "INC-7KQ2XH"}
    assert parts["sms"] == "ACKNOWLEDGED by level-2 page link: INC-7KQ2XH Checkout returns 502"
    assert parts["email"] == parts["sms"] and "\n" not in parts["email"]
    assert message.subject == "[ACKNOWLEDGED] INC-7KQ2XH: Checkout returns 502"
    attributes = {k: v["StringValue"] for k, v in message.attributes.items()}
    assert attributes == {
        "ticket_type": "incident",
        "priority": "urgent",
        "tenant": "acme",
        "escalation_level": "2",
        "event_action": "acknowledge",
        "origin": "desk",
    }


def test_build_standdown_of_pagerduty_change_is_marked_for_no_echo() -> None:
    # GIVEN an incident resolved by PagerDuty's webhook
    handled = ticket(status=Status.RESOLVED, resolved_via=AckChannel.PAGERDUTY)
    # WHEN its stand-down is built
    message = build_standdown(handled, Action.RESOLVE, 1)
    # THEN it says resolved, and its origin lets PagerDuty's own subscription skip it
    assert json.loads(json.loads(message.message)["https"]) == {
        "event_action": "resolve",
        "dedup_key": "INC-7KQ2XH",
    }
    assert json.loads(message.message)["sms"] == "RESOLVED: INC-7KQ2XH Checkout returns 502"
    assert message.attributes["origin"]["StringValue"] == "pagerduty"


# --- the stored flag and rounds ---------------------------------------------------------------


def test_paging_flag_agrees_with_ticket_pages() -> None:
    # GIVEN every combination of the four fields paging depends on
    for type_, priority, status, tenant in product(TicketType, Priority, Status, ("acme", TRIAGE_TENANT)):
        candidate = ticket(type=type_, priority=priority, status=status, tenant=tenant)
        # THEN the flag the stream filters read says what Ticket.pages says
        assert (paging_flag(tenant, type_, status, priority) == "on") is candidate.pages


def test_round_changes_new_round_clears_acknowledgement() -> None:
    # GIVEN a resolved incident of round 1, acknowledged by its page link
    old = ticket(
        status=Status.RESOLVED, acknowledged_at=NOW, acknowledged_by="x", acknowledged_via=AckChannel.LINK
    )
    # WHEN it is reopened
    changes = round_changes(old, old.model_copy(update={"status": Status.OPEN}), NOW)
    # THEN round 2 starts unacknowledged
    assert changes == {
        "page_round": 2,
        "round_started_at": NOW,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "acknowledged_via": None,
    }
    # AND an edit of a ticket that already pages starts nothing
    assert round_changes(ticket(), ticket(title="new"), NOW) == {}
