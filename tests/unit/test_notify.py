"""Outbound mail without AWS: which records become mail, what the mail looks like, who is never mailed,
and the reopen policy of emailed replies."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from support_common.email_intake.flow import reply_reopens
from support_common.models import (
    TRIAGE_TENANT,
    Channel,
    Comment,
    Requester,
    Status,
    Ticket,
    TicketType,
    Visibility,
    utcnow,
)
from support_common.notify.events import NoticeKind, PublicReply, StatusNotice, outgoing_from_record
from support_common.notify.message import Envelope, build_notice, build_reply, thread_references, undeliverable
from support_common.repository.table import to_item
from support_common.repository.ticket_items import comment_sk, ticket_item, ticket_pk

from local.cfn import resource
from local.event_filter import admitted

DOMAIN = "support.example.com"
PATTERNS = [f["Pattern"] for f in resource("NotifyStreamMapping")["FilterCriteria"]["Filters"]]


def ticket(**fields: Any) -> Ticket:
    now = utcnow()
    data: dict[str, Any] = {
        "id": "QST-7KQ2XH",
        "type": TicketType.QUESTION,
        "title": "Cron jobs",
        "description": "d",
        "channel": Channel.DASHBOARD,
        "tenant": "acme",
        "requester": Requester(email="alice@acme.example", name="Alice"),
        "created_at": now,
        "updated_at": now,
    }
    return Ticket.model_validate({**data, **fields})


def comment_record(visibility: Visibility, *, is_support: bool = True) -> dict[str, Any]:
    note = Comment(
        id="c0ffee000001",
        ticket_id="QST-7KQ2XH",
        body="secret plans" if visibility == Visibility.INTERNAL else "Yes.",
        author=Requester(email="oncall@support.example.com"),
        channel=Channel.DASHBOARD,
        is_support=is_support,
        created_at=utcnow(),
        visibility=visibility,
    )
    data = note.model_dump(mode="json", exclude_none=True)
    data.update(pk=ticket_pk(note.ticket_id), sk=comment_sk(note, data["created_at"]), entity="comment")
    image = to_item(data)
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image, "SequenceNumber": "1"},
    }


def status_record(old: Status, new: Status) -> dict[str, Any]:
    before, after = ticket(status=old), ticket(status=new, version=2)
    old_image, new_image = ticket_item(before), ticket_item(after)
    keys = {"pk": new_image["pk"], "sk": new_image["sk"]}
    return {
        "eventName": "MODIFY",
        "dynamodb": {"Keys": keys, "OldImage": old_image, "NewImage": new_image, "SequenceNumber": "2"},
    }


# --- which records -----------------------------------------------------------------------------


def test_filters_and_decoder_admit_public_staff_comment_as_a_public_reply() -> None:
    record = comment_record(Visibility.PUBLIC)
    assert admitted(PATTERNS, record)
    outgoing = outgoing_from_record(record)
    assert isinstance(outgoing, PublicReply) and outgoing.body == "Yes."


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(comment_record(Visibility.INTERNAL), id="internal note"),
        pytest.param(comment_record(Visibility.PUBLIC, is_support=False), id="customer comment"),
        pytest.param(status_record(Status.OPEN, Status.ACKNOWLEDGED), id="acknowledged"),
    ],
)
def test_filters_and_decoder_reject_what_must_not_be_mailed(record: dict[str, Any]) -> None:
    # THEN neither the mapping's filters nor the decoder (if a filter were wrong) make mail of it
    assert not admitted(PATTERNS, record)
    assert outgoing_from_record(record) is None


def test_internal_note_image_never_becomes_a_reply_even_unfiltered() -> None:
    # GIVEN a note's image whose visibility attribute was tampered to public: the key still says note
    record = comment_record(Visibility.INTERNAL)
    record["dynamodb"]["NewImage"]["visibility"] = {"S": "public"}
    # THEN it is still no reply
    assert outgoing_from_record(record) is None


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (Status.OPEN, Status.RESOLVED, NoticeKind.RESOLVED),
        (Status.ACKNOWLEDGED, Status.CLOSED, NoticeKind.CLOSED),
        (Status.RESOLVED, Status.CLOSED, NoticeKind.CLOSED),
        (Status.RESOLVED, Status.OPEN, NoticeKind.REOPENED),
    ],
)
def test_status_changes_that_notify(old: Status, new: Status, kind: NoticeKind) -> None:
    record = status_record(old, new)
    assert admitted(PATTERNS, record)
    outgoing = outgoing_from_record(record)
    assert isinstance(outgoing, StatusNotice) and outgoing.kind == kind
    assert outgoing.ref == "notice#2"


# --- the mail ----------------------------------------------------------------------------------


def _parse(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _envelope(t: Ticket) -> Envelope:
    return Envelope(
        sender=f"question@{DOMAIN}",
        recipient=t.requester.email,
        recipient_name=t.requester.name,
        message_id=f"<reply.c1.{t.id}@{DOMAIN}>",
        references=thread_references(t, DOMAIN),
    )


def test_reply_headers_strip_cr_lf_nul_from_customer_text() -> None:
    # GIVEN a title and a name carrying header injections
    t = ticket(
        title="Hi\r\nBcc: victim@example.com\x00", requester=Requester(email="alice@acme.example", name="A\nB")
    )
    reply = PublicReply(t.id, "c1", "<b>Yes</b>", "oncall@support.example.com", "Dana\r\nX-Evil: 1")
    # WHEN the reply is built
    raw = build_reply(reply, t, _envelope(t), "https://dashboard.example.com")
    parsed = _parse(raw)
    # THEN no header was injected, the subject keeps the ticket token, the body is the text as written
    assert "Bcc" not in parsed and "X-Evil" not in parsed
    assert parsed["Subject"] == f"Re: Hi Bcc: victim@example.com [#{t.id}]"
    assert b"\r\nX-Evil" not in raw and b"\x00" not in raw
    assert parsed.get_content_type() == "text/plain" and not parsed.is_multipart()
    assert "<b>Yes</b>" in parsed.get_content()
    assert parsed["References"] == f"<ticket.{t.id}@{DOMAIN}>"


def test_email_ticket_threads_under_its_first_message() -> None:
    t = ticket(channel=Channel.EMAIL, message_ids=["<first@mail.acme.example>", "<ack.x@support.example.com>"])
    parsed = _parse(build_notice(StatusNotice(t, NoticeKind.RESOLVED), _envelope(t), "https://d.example"))
    assert parsed["In-Reply-To"] == "<first@mail.acme.example>"
    assert parsed["References"] == "<first@mail.acme.example> <ack.x@support.example.com>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Subject"] == f"Resolved: Cron jobs [#{t.id}]"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"requester": Requester(email="mailer-daemon@acme.example")}, "robot"),
        ({"requester": Requester(email="no-reply@acme.example")}, "robot"),
        ({"requester": Requester(email="oncall@support.example.com")}, "own-domain"),
        ({"requester": Requester(email="not an address")}, "bad-address"),
        ({"channel": Channel.EMAIL, "tenant": TRIAGE_TENANT, "requester_verified": False}, "unauthenticated"),
        ({"channel": Channel.EMAIL, "requester_verified": None}, "unauthenticated"),
        ({"channel": Channel.EMAIL, "requester_verified": True}, None),
        ({}, None),
    ],
)
def test_undeliverable_recipients(fields: dict[str, Any], reason: str | None) -> None:
    assert undeliverable(ticket(**fields), DOMAIN) == reason


# --- the reopen policy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ticket_type", "text", "reopens"),
    [
        (TicketType.INCIDENT, "Thanks!", True),
        (TicketType.INCIDENT, "It is down again", True),
        (TicketType.QUESTION, "Thanks!", False),
        (TicketType.TASK, "Thank you very much, works now.", False),
        (TicketType.PROBLEM, "Many thanks", False),
        (TicketType.QUESTION, "Thanks, but it still fails", True),
        (TicketType.QUESTION, "Thanks. One more question?", True),
        (TicketType.QUESTION, "Can you also raise the PHP memory limit?", True),
        (TicketType.QUESTION, "Thanks " + "really " * 40, True),
    ],
)
def test_reply_reopens_policy(ticket_type: TicketType, text: str, reopens: bool) -> None:
    assert reply_reopens(ticket(type=ticket_type), text) is reopens
