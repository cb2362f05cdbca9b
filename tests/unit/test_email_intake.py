"""The pure rules of email intake: the SES record, who is authenticated, threading, the acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from email.parser import BytesParser
from email.policy import SMTP
from typing import Any

import pytest
from support_common.email_intake.acknowledgement import build_acknowledgement
from support_common.email_intake.inbound import InboundMail, Verdicts
from support_common.email_intake.storage import object_key, safe_content_type
from support_common.email_intake.threads import thread_target
from support_common.email_intake.trust import dkim_pass_domains, is_authenticated, may_comment
from support_common.mail import ParsedEmail, parse_email
from support_common.models import TRIAGE_TENANT, Channel, Contact, Requester, Ticket, TicketType, utcnow
from support_common.repository.messages import ses_message_ids

from tests.conftest import load_event


def parsed(headers: str = "", body: str = "Hello") -> ParsedEmail:
    raw = f"From: Alice <alice@acme.example>\r\nSubject: Hi\r\n{headers}\r\n{body}\r\n".encode()
    return parse_email(raw)


def inbound(
    source: str = "alice@acme.example", *, headers: Sequence[tuple[str, str]] = (), **verdicts: str
) -> InboundMail:
    return InboundMail(
        message_id="abc",
        source=source,
        recipients=["incident@support.example.com"],
        verdicts=Verdicts(**verdicts),
        headers=list(headers),
    )


def ticket(tenant: str = "acme", requester: str = "alice@acme.example") -> Ticket:
    now = utcnow()
    return Ticket(
        id="INC-7KQ2XH",
        type=TicketType.INCIDENT,
        title="Checkout returns 502",
        description="x",
        channel=Channel.EMAIL,
        tenant=tenant,
        requester=Requester(email=requester),
        created_at=now,
        updated_at=now,
    )


def contact(tenant: str = "acme") -> Contact:
    return Contact(
        address="acme.example", tenant=tenant, created_at=utcnow(), created_by="oncall@support.example.com"
    )


# --- the SES record --------------------------------------------------------------------------


def test_inbound_mail_real_ses_event_reads_envelope_and_verdicts() -> None:
    # GIVEN the real SES Lambda-action event sample
    record: dict[str, Any] = load_event("ses_receipt_lambda")["Records"][0]

    # WHEN it is read
    mail = InboundMail.from_record(record)

    # THEN the envelope and the verdicts come from the receipt, not from the headers
    assert mail.message_id == "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g01"
    assert mail.source == "alice@acme.example"
    assert mail.recipients == ["incident@support.example.com"]
    assert mail.verdicts == Verdicts(spam="PASS", virus="PASS", spf="PASS", dkim="PASS", dmarc="PASS")
    assert ("Subject", "Checkout returns 502 on www.acme.example") in mail.headers


@pytest.mark.parametrize("message_id", [None, "", "../../etc/passwd", "a b", "x" * 201, 42])
def test_inbound_mail_unusable_message_id_is_refused(message_id: Any) -> None:
    # GIVEN an SES record whose messageId cannot be an object key
    record: dict[str, Any] = load_event("ses_receipt_lambda")["Records"][0]
    record["ses"]["mail"]["messageId"] = message_id

    # WHEN / THEN it is refused
    with pytest.raises(ValueError, match="messageId"):
        InboundMail.from_record(record)


def test_inbound_mail_missing_verdicts_read_as_gray() -> None:
    # GIVEN a record without verdicts (a scan that did not run)
    record: dict[str, Any] = load_event("ses_receipt_lambda")["Records"][0]
    for name in ("spamVerdict", "virusVerdict", "spfVerdict", "dkimVerdict", "dmarcVerdict"):
        del record["ses"]["receipt"][name]

    # WHEN it is read
    mail = InboundMail.from_record(record)

    # THEN nothing passes and nothing fails
    assert mail.verdicts == Verdicts()


# --- who sent it -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "verdicts", "expected"),
    [
        ("alice@acme.example", {"dmarc": "PASS"}, True),
        ("bounce@elsewhere.example", {"dmarc": "PASS"}, True),  # DMARC passes only when aligned
        ("alice@acme.example", {"spf": "PASS", "dmarc": "FAIL"}, False),
        ("alice@acme.example", {"spf": "PASS"}, True),
        ("bounces@mail.acme.example", {"spf": "PASS"}, True),  # a subdomain is aligned
        ("bounce@elsewhere.example", {"spf": "PASS"}, False),  # an SPF pass for someone else
        ("bounce@notacme.example", {"spf": "PASS"}, False),
        ("alice@acme.example", {"spf": "FAIL", "dkim": "FAIL"}, False),
        ("alice@acme.example", {}, False),
    ],
)
def test_is_authenticated_spf_and_dmarc(source: str, verdicts: dict[str, str], expected: bool) -> None:
    # GIVEN SES's verdicts for a message From alice@acme.example
    mail = inbound(source, **verdicts)

    # WHEN / THEN
    assert is_authenticated(mail, parsed(), "alice@acme.example") is expected


def test_is_authenticated_dkim_pass_counts_only_for_from_domain() -> None:
    # GIVEN a DKIM pass that SES reports for the sender's relay's domain, not for acme.example
    relay = [("Authentication-Results", "amazonses.com; spf=pass; dkim=pass header.i=@relay.example; dmarc=none")]
    aligned = [("Authentication-Results", "amazonses.com; spf=fail; dkim=pass header.i=@acme.example; dmarc=none")]

    # WHEN / THEN only the signature of the From domain authenticates
    assert not is_authenticated(
        inbound("x@relay.example", headers=relay, dkim="PASS"), parsed(), "alice@acme.example"
    )
    assert is_authenticated(
        inbound("x@relay.example", headers=aligned, dkim="PASS"), parsed(), "alice@acme.example"
    )


def test_dkim_pass_domains_ignores_results_added_by_sender() -> None:
    # GIVEN a forged Authentication-Results in the message and SES's real one in the event
    message = parsed("Authentication-Results: mx.evil.example; dkim=pass header.i=@acme.example\r\n")
    ses = [("Authentication-Results", "amazonses.com; dkim=pass header.d=evil.example;")]

    # WHEN / THEN only SES's verdict counts
    assert dkim_pass_domains(ses, message) == ["evil.example"]


def test_dkim_pass_domains_without_ses_results_reads_signatures() -> None:
    # GIVEN no SES Authentication-Results at all (the local stack)
    message = parsed("DKIM-Signature: v=1; a=rsa-sha256; d=acme.example; s=mail; b=abc\r\n")

    # WHEN / THEN the claimed signing domains
    assert dkim_pass_domains([], message) == ["acme.example"]


@pytest.mark.parametrize(
    ("the_ticket", "sender", "the_contact", "authenticated", "expected"),
    [
        (ticket(), "alice@acme.example", contact(), True, True),  # the requester
        (ticket(), "carol@acme.example", contact(), True, True),  # a colleague
        (ticket(), "alice@acme.example", contact(), False, False),  # not proven
        (ticket(), "dan@other.example", contact("other"), True, False),  # another tenant
        (ticket(), "dan@other.example", None, True, False),  # a stranger
        (ticket(TRIAGE_TENANT, "erin@prospect.example"), "erin@prospect.example", None, True, True),
        (ticket(TRIAGE_TENANT, "erin@prospect.example"), "erin@prospect.example", None, False, False),
        (ticket(TRIAGE_TENANT, "erin@prospect.example"), "frank@prospect.example", None, True, False),
    ],
)
def test_may_comment_only_requester_or_same_tenant(
    the_ticket: Ticket, sender: str, the_contact: Contact | None, authenticated: bool, expected: bool
) -> None:
    # GIVEN / WHEN / THEN a reply is a comment only from someone the ticket belongs to
    assert may_comment(the_ticket, sender, the_contact, authenticated) is expected


# --- threading -------------------------------------------------------------------------------


def test_thread_target_prefers_closest_reference() -> None:
    # GIVEN a reply whose references name two tickets' messages
    message = parsed("In-Reply-To: <b@x>\r\nReferences: <a@x> <b@x>\r\nSubject: [#QST-111111]\r\n")

    # WHEN / THEN the parent message's ticket, not the token
    assert thread_target(message, {"<a@x>": "INC-AAAAAA", "<b@x>": "INC-BBBBBB"}) == "INC-BBBBBB"


def test_thread_target_subject_token_is_normalized() -> None:
    # GIVEN no known reference, and a token typed with a look-alike letter
    message = parse_email(b"From: a@acme.example\r\nSubject: Re: [#inc-7kq2xo] more\r\n\r\nx\r\n")

    # WHEN / THEN the canonical id
    assert thread_target(message, {}) == "INC-7KQ2X0"


def test_thread_target_nothing_named_is_none() -> None:
    assert thread_target(parsed(), {}) is None


# --- storage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("passport-jane-doe.PDF", "tickets/INC-7KQ2XH/m1/3.pdf"),
        ("🎉" * 200, "tickets/INC-7KQ2XH/m1/3"),
        ("archive.tar.gz", "tickets/INC-7KQ2XH/m1/3.gz"),
        ("evil.p\u0000hp/../x", "tickets/INC-7KQ2XH/m1/3"),
        ("noextension", "tickets/INC-7KQ2XH/m1/3"),
    ],
)
def test_object_key_any_name_keeps_the_name_out_of_the_key(filename: str, expected: str) -> None:
    # GIVEN an attachment's name (possibly personal, long or hostile)
    # WHEN its object key is made
    key = object_key("tickets/INC-7KQ2XH/m1", 3, filename)
    # THEN only the index and a plain extension appear (keys reach traces and logs)
    assert key == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/pdf", "application/pdf"),
        ("IMAGE/PNG", "image/png"),
        ("text/html\r\nX: y", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_safe_content_type(value: str, expected: str) -> None:
    assert safe_content_type(value) == expected


def test_ses_message_ids_us_east_1_has_both_hosts() -> None:
    assert ses_message_ids("0100abc", "eu-west-1") == ["<0100abc@eu-west-1.amazonses.com>"]
    assert "<0100abc@email.amazonses.com>" in ses_message_ids("0100abc", "us-east-1")


# --- the acknowledgement ---------------------------------------------------------------------


def ack(the_ticket: Ticket, in_reply_to: str | None = "<m1@mail.acme.example>") -> Any:
    raw = build_acknowledgement(
        ticket=the_ticket,
        sender="support@support.example.com",
        to="alice@acme.example",
        message_id="<ack.INC-7KQ2XH.0011@support.example.com>",
        in_reply_to=in_reply_to,
        dashboard_url="https://dashboard.example.com/",
    )
    return BytesParser(policy=SMTP).parsebytes(raw)


def test_build_acknowledgement_threads_and_marks_automatic() -> None:
    # GIVEN a new ticket
    # WHEN its acknowledgement is built
    msg = ack(ticket())

    # THEN it names the ticket, threads on the customer's message and ours, and no robot answers it
    assert msg["Subject"] == "[#INC-7KQ2XH] Checkout returns 502"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<m1@mail.acme.example>"
    assert msg["References"] == "<m1@mail.acme.example> <ack.INC-7KQ2XH.0011@support.example.com>"
    body = msg.get_content()
    assert "https://dashboard.example.com/tickets/INC-7KQ2XH" in body
    assert "[#INC-7KQ2XH]" in body


def test_build_acknowledgement_long_message_id_is_not_encoded() -> None:
    # GIVEN a customer Message-ID as long as Outlook's
    long_id = "<" + "A1b2" * 60 + "@EUR01.PROD.OUTLOOK.COM>"

    # WHEN the acknowledgement is built
    msg = ack(ticket(), long_id)

    # THEN In-Reply-To carries it verbatim (an RFC 2047-encoded id threads nowhere)
    assert msg["In-Reply-To"] == long_id
    assert "=?" not in str(msg["References"])


def test_build_acknowledgement_triage_ticket_has_no_dashboard_link() -> None:
    # GIVEN a triage ticket (its sender cannot see it on the dashboard)
    body = ack(ticket(TRIAGE_TENANT)).get_content()

    # THEN no link, and no promise of a page
    assert "https://" not in body
    assert "paged" not in body


def test_build_acknowledgement_urgent_incident_says_it_pages() -> None:
    urgent = ticket().model_copy(update={"priority": "urgent"})
    assert "paged" in ack(urgent).get_content()


def test_build_acknowledgement_title_with_control_characters_stays_one_line() -> None:
    # GIVEN a title that somehow kept a CR/LF
    hostile = ticket().model_copy(update={"title": "Help\r\nBcc: victim@evil.example"})

    # WHEN / THEN the subject is one line and no header is injected
    msg = ack(hostile)
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[#INC-7KQ2XH] Help Bcc: victim@evil.example"
