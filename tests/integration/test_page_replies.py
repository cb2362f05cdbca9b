"""Mail answering a page (an emailed ACK) and the acknowledgement limit of urgent mail, on moto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from support_common.email_intake import handler as email
from support_common.models import AckChannel, Status
from support_common.pagelinks import PageSigner

from tests.conftest import Stores
from tests.integration.conftest import REGION, TABLE
from tests.integration.mailroom import ACK_SENDER, BUCKET, DOMAIN, Mailroom, mail

ONCALL = "oncall@support.example.com"


@pytest.fixture
def mailroom(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Iterator[Mailroom]:
    monkeypatch.setenv("RAW_MAIL_BUCKET", BUCKET)
    monkeypatch.setenv("SUPPORT_DOMAIN", DOMAIN)
    monkeypatch.setenv("ACK_SENDER", ACK_SENDER)
    monkeypatch.setenv("STAFF_MAIL_DOMAINS", "staff.example.net")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "email_ingest")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=DOMAIN)
    email.reset()
    room = Mailroom(s3, Stores.on(boto3.client("dynamodb", region_name=REGION), TABLE), lambda_context)
    room.add_contact("acme.example", "acme")
    yield room
    email.reset()


def reply_code(ticket_id: str, round_: int = 1) -> str:
    client = boto3.client("secretsmanager", region_name=REGION)
    key = client.get_secret_value(SecretId=os.environ["ACK_SECRET_ARN"])["SecretString"].encode()
    return PageSigner(lambda: key).reply_code(ticket_id, round_)


def urgent(mailroom: Mailroom) -> str:
    """An urgent incident mailed by a contact: it pages (round 1)."""
    outcome = mailroom.deliver(mail("Checkout down"), to=f"urgent@{DOMAIN}")
    assert outcome["kind"] == "ticket"
    return str(outcome["ticket_id"])


def tickets(mailroom: Mailroom) -> int:
    ddb = boto3.client("dynamodb", region_name=REGION)
    items = ddb.scan(
        TableName=TABLE, FilterExpression="entity = :t", ExpressionAttributeValues={":t": {"S": "ticket"}}
    )
    return len(items["Items"])


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        pytest.param("ACK {id} {code}", "on it", id="subject as the page says"),
        pytest.param("Re: [URGENT] {id}: Checkout down", "ACK {code}\n\nlooking now", id="reply with code on top"),
    ],
)
def test_page_reply_ack_from_staff_acknowledges_and_opens_nothing(
    mailroom: Mailroom, subject: str, text: str
) -> None:
    # GIVEN a paged urgent incident
    ticket_id = urgent(mailroom)
    before = tickets(mailroom)
    code = reply_code(ticket_id)
    # WHEN on-call mails ACK with the page's code from a staff address whose mail passes DMARC
    raw = mail(subject.format(id=ticket_id, code=code), text.format(code=code), sender=f"On Call <{ONCALL}>")
    outcome = mailroom.deliver(raw, to=f"urgent@{DOMAIN}", source=ONCALL, dmarc="PASS")
    # THEN the ticket is acknowledged by them, by reply, and no ticket was opened
    assert (outcome["kind"], outcome["ticket_id"]) == ("acknowledged", ticket_id)
    ticket, comments = mailroom.ticket(ticket_id)
    assert (ticket.status, ticket.acknowledged_by, ticket.acknowledged_via) == (
        Status.ACKNOWLEDGED,
        ONCALL,
        AckChannel.REPLY,
    )
    assert tickets(mailroom) == before
    assert comments == []


@pytest.mark.parametrize(
    ("sender", "dmarc", "code"),
    [
        pytest.param("mallory@evil.example", "PASS", None, id="not staff"),
        pytest.param(ONCALL, "FAIL", None, id="staff address, DMARC fails"),
        pytest.param(ONCALL, "GRAY", None, id="staff address, no DMARC pass"),
        pytest.param(ONCALL, "PASS", "000000", id="wrong code"),
    ],
)
def test_page_reply_not_acknowledging_still_opens_no_ticket(
    mailroom: Mailroom, sender: str, dmarc: str, code: str | None
) -> None:
    # GIVEN a paged urgent incident
    ticket_id = urgent(mailroom)
    before = tickets(mailroom)
    code = code or reply_code(ticket_id)
    # WHEN a reply to its page arrives that may not acknowledge it
    raw = mail(f"Re: [URGENT] {ticket_id}: Checkout down", f"ACK {code}", sender=sender)
    outcome = mailroom.deliver(raw, to=f"urgent@{DOMAIN}", source=sender, dmarc=dmarc)
    # THEN it is rejected: the ticket stays open and no ticket (triage or other) is opened
    assert outcome["kind"] == "rejected" and outcome["reason"].startswith("page-reply")
    assert mailroom.ticket(ticket_id)[0].status == Status.OPEN
    assert tickets(mailroom) == before


def test_page_reply_ack_of_earlier_round_does_not_acknowledge(mailroom: Mailroom) -> None:
    # GIVEN an incident in its second round (resolved and reopened)
    from support_common.models import Identity
    from support_common.sla import SlaPolicy
    from support_common.tickets import TicketService

    ticket_id = urgent(mailroom)
    service = TicketService(mailroom.stores.tickets, SlaPolicy.default())
    staff = Identity(email=ONCALL, tenant="support", is_support=True)
    service.update(staff, ticket_id, {"status": Status.RESOLVED})
    service.update(staff, ticket_id, {"status": Status.OPEN})
    # WHEN on-call answers the first round's page
    raw = mail(f"ACK {ticket_id} {reply_code(ticket_id, 1)}", "on it", sender=ONCALL)
    outcome = mailroom.deliver(raw, to=f"urgent@{DOMAIN}", source=ONCALL, dmarc="PASS")
    # THEN nothing is acknowledged, nor opened
    assert reply_code(ticket_id, 1) != reply_code(ticket_id, 2)  # one in a million: rerun
    assert (outcome["kind"], outcome["reason"]) == ("rejected", "page-reply-bad-code")
    assert mailroom.ticket(ticket_id)[0].status == Status.OPEN


def test_customer_mail_saying_urgent_is_still_a_ticket(mailroom: Mailroom) -> None:
    # GIVEN a customer's own subject with [URGENT] (not a page: no ticket id after it)
    # WHEN it is mailed to urgent@
    outcome = mailroom.deliver(mail("[URGENT] our shop is down"), to=f"urgent@{DOMAIN}")
    # THEN it is an urgent incident as ever
    assert outcome["kind"] == "ticket"


def test_acknowledgement_second_urgent_mail_within_limit_still_acknowledged(mailroom: Mailroom) -> None:
    # GIVEN a customer who mailed urgent@ a minute ago (acknowledged)
    first = mailroom.deliver(mail("Checkout down"), to=f"urgent@{DOMAIN}")
    # WHEN they mail urgent@ again about another site, within the acknowledgement limit
    second = mailroom.deliver(mail("Admin panel down too"), to=f"urgent@{DOMAIN}")
    # THEN both are acknowledged: urgent incidents are limited per ticket, not per sender
    assert first["acknowledged"] and second["acknowledged"]
    assert len(mailroom.sent()) == 2
    # AND ordinary mail stays limited per sender
    third = mailroom.deliver(mail("A question"), to=f"question@{DOMAIN}")
    fourth = mailroom.deliver(mail("Another question"), to=f"question@{DOMAIN}")
    assert third["acknowledged"] and not fourth["acknowledged"]
