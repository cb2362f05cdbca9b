"""email_ingest end to end against moto: SES receipt events, raw mail in the bucket, the table, SES sends."""

from __future__ import annotations

import json
from email.parser import BytesHeaderParser
from email.policy import SMTP
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from support_common.email_intake import handler as email
from support_common.email_intake.storage import RawUnreadable
from support_common.models import TRIAGE_TENANT, Status
from support_common.repository.messages import MailAlreadyFiled
from support_common.repository.tickets import TicketFilter
from support_common.settings import SettingsError

from functions.email_ingest.app import lambda_handler
from tests.integration.conftest import REGION
from tests.integration.faults import fail_nth
from tests.integration.mailroom import ACK_SENDER, BUCKET, CORPUS, DOMAIN, LONG_ENOUGH, Mailroom, mail


def rejections(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str | None]]:
    """(reason, SES message id) of every "mail rejected" log line."""
    return [
        (r.__dict__["reason"], r.__dict__.get("message_id")) for r in caplog.records if r.msg == "mail rejected"
    ]


def metric_names(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The metrics the handler flushed (EMF on stdout): names, and `Name_value` for a `reason` dimension."""
    names: set[str] = set()
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            for d in blob["_aws"]["CloudWatchMetrics"]:
                for m in d["Metrics"]:
                    names.add(m["Name"])
                    if "reason" in blob:
                        names.add(f"{m['Name']}_{blob['reason']}")
    return names


# --- routing by address ----------------------------------------------------------------------


def test_ingest_urgent_address_from_contact_creates_urgent_incident_in_tenant(mailroom: Mailroom) -> None:
    # GIVEN a site-down mail from a registered contact domain to urgent@
    raw = mail("Shop is down", "www.acme.example answers 503 since 09:00.", to=f"urgent@{DOMAIN}")

    # WHEN SES delivers it
    result = mailroom.deliver(raw, to=f"urgent@{DOMAIN}")

    # THEN it is an urgent incident in the contact's tenant, which pages
    assert result["kind"] == "ticket"
    ticket, comments = mailroom.ticket(result["ticket_id"])
    assert (ticket.type, ticket.priority, ticket.tenant) == ("incident", "urgent", "acme")
    assert ticket.id.startswith("INC-")
    assert ticket.pages
    assert (ticket.title, ticket.channel) == ("Shop is down", "email")
    assert ticket.description == "www.acme.example answers 503 since 09:00."
    assert (ticket.requester.email, ticket.requester.name) == ("alice@acme.example", "Alice Martin")
    assert comments == []


@pytest.mark.parametrize(
    ("address", "ticket_type", "prefix"),
    [
        ("incident", "incident", "INC-"),
        ("problem", "problem", "PRB-"),
        ("task", "task", "TSK-"),
        ("question", "question", "QST-"),
    ],
)
def test_ingest_each_address_creates_its_ticket_type_at_normal_priority(
    mailroom: Mailroom, address: str, ticket_type: str, prefix: str
) -> None:
    # GIVEN a well-described mail to one of the support addresses (To: says something else: Bcc)
    raw = mail("Auditor access", LONG_ENOUGH, to="team@acme.example")

    # WHEN SES delivers it to that envelope recipient
    result = mailroom.deliver(raw, to=f"{address}@{DOMAIN}")

    # THEN the envelope recipient, not the To header, decides the type
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert (ticket.type, ticket.priority, ticket.tenant) == (ticket_type, "normal", "acme")
    assert ticket.id.startswith(prefix)


def test_ingest_several_support_recipients_takes_the_most_urgent(mailroom: Mailroom) -> None:
    # GIVEN a mail to question@ with urgent@ in Cc: one SES message with both envelope recipients
    raw = mail("Everything is down")

    # WHEN it is delivered
    result = mailroom.deliver(raw, to=[f"question@{DOMAIN}", f"urgent@{DOMAIN}"])

    # THEN one urgent incident
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert (ticket.type, ticket.priority) == ("incident", "urgent")


def test_ingest_thin_task_files_a_question_instead(mailroom: Mailroom) -> None:
    # GIVEN a task mail too thin for the task rule
    raw = mail("Reset please", "Reset my password.", to=f"task@{DOMAIN}")

    # WHEN it is delivered
    result = mailroom.deliver(raw, to=f"task@{DOMAIN}")

    # THEN nothing is lost: it waits as a question
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert ticket.type == "question"


def test_ingest_other_local_part_is_rejected(
    mailroom: Mailroom, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a mail to an address that is not a support address
    raw = mail(to=f"sales@{DOMAIN}")

    # WHEN it is delivered
    result = mailroom.deliver(raw, to=f"sales@{DOMAIN}")

    # THEN a logged rejection, counted by reason
    assert (result["kind"], result["reason"]) == ("rejected", "no-route")
    assert ("no-route", result["message_id"]) in rejections(caplog)
    assert "MailRejected_no-route" in metric_names(capsys)


def test_ingest_stranger_creates_triage_ticket_that_does_not_page(mailroom: Mailroom) -> None:
    # GIVEN an authenticated mail to urgent@ from an address no tenant registered
    raw = mail("Your site is down", sender="Bob <bob@elsewhere.example>", to=f"urgent@{DOMAIN}")

    # WHEN it is delivered
    result = mailroom.deliver(raw, to=f"urgent@{DOMAIN}", source="bob@elsewhere.example")

    # THEN an urgent incident in triage, which never pages
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert (ticket.tenant, ticket.priority) == (TRIAGE_TENANT, "urgent")
    assert not ticket.pages


def test_ingest_contact_failing_authentication_creates_triage_ticket(mailroom: Mailroom) -> None:
    # GIVEN a mail claiming to be from a contact, with SPF and DKIM failing
    raw = mail("Please delete all our data")

    # WHEN it is delivered
    result = mailroom.deliver(raw, source="alice@acme.example", spf="FAIL", dkim="FAIL", dmarc="GRAY")

    # THEN the tenant does not get it: triage
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert ticket.tenant == TRIAGE_TENANT


def test_ingest_spf_pass_for_unaligned_envelope_creates_triage_ticket(mailroom: Mailroom) -> None:
    # GIVEN From: a contact, sent through someone else's server (SPF passes for that server's domain only)
    raw = mail("Wire the refund to this account")

    # WHEN it is delivered with DMARC undecided
    result = mailroom.deliver(raw, source="bounce-7@mailer.elsewhere.example", dkim="GRAY", dmarc="GRAY")

    # THEN an SPF pass that says nothing about From does not make it the tenant's
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert ticket.tenant == TRIAGE_TENANT


def test_ingest_dmarc_fail_creates_triage_ticket(mailroom: Mailroom) -> None:
    # GIVEN SPF passing but DMARC failing
    raw = mail("Change our DNS")

    # WHEN it is delivered
    result = mailroom.deliver(raw, dmarc="FAIL")

    # THEN triage
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert ticket.tenant == TRIAGE_TENANT


# --- threading -------------------------------------------------------------------------------


def test_ingest_reply_by_in_reply_to_adds_comment(mailroom: Mailroom, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a ticket opened by mail
    original = mail("Checkout returns 502", message_id="<first@mail.acme.example>")
    opened = mailroom.deliver(original)

    # WHEN a colleague of the same tenant replies to the original message
    reply = mail(
        "Re: Checkout returns 502",
        "It is back since 10:05.\n\nOn Thu, Nov 26, 2026 at 09:13, Alice wrote:\n> Since 09:00 every checkout fails",
        sender="Carol <carol@acme.example>",
        in_reply_to="<first@mail.acme.example>",
        references="<first@mail.acme.example>",
    )
    result = mailroom.deliver(reply, source="carol@acme.example")

    # THEN a comment on that ticket, with the quoted history trimmed; no second ticket
    assert (result["kind"], result["ticket_id"]) == ("comment", opened["ticket_id"])
    _, comments = mailroom.ticket(opened["ticket_id"])
    assert [c.body for c in comments] == ["It is back since 10:05."]
    assert comments[0].author.email == "carol@acme.example"
    assert comments[0].channel == "email"
    # the untrimmed text rides along
    assert [a.name for a in comments[0].attachments] == ["full-text.txt"]
    full = mailroom.object(comments[0].attachments[0].key or "")["Body"].read().decode()
    assert "> Since 09:00 every checkout fails" in full
    assert "CommentsFromEmail" in metric_names(capsys)


def test_ingest_reply_by_subject_token_adds_comment(mailroom: Mailroom) -> None:
    # GIVEN a ticket opened by mail
    opened = mailroom.deliver(mail("Checkout returns 502"))
    ticket_id = opened["ticket_id"]

    # WHEN the requester writes a new mail (no threading headers) naming the ticket in the subject,
    # in lower case and with a look-alike letter as people type it
    typed = ticket_id.lower().replace("0", "o")
    result = mailroom.deliver(mail(f"More about [#{typed}]", "It also fails on the staging site."))

    # THEN a comment on that ticket
    assert (result["kind"], result["ticket_id"]) == ("comment", ticket_id)
    _, comments = mailroom.ticket(ticket_id)
    assert [c.body for c in comments] == ["It also fails on the staging site."]


def test_ingest_reply_to_acknowledgement_threads_by_ses_message_id(mailroom: Mailroom) -> None:
    # GIVEN a new ticket whose acknowledgement SES sent under its own Message-ID
    opened = mailroom.deliver(mail("Checkout returns 502"))
    ses_id = mailroom.sent()[-1].id

    # WHEN the customer answers the acknowledgement (their client quotes SES's Message-ID only)
    answer = mail("Re: the ack", "Here is the request id: 7f3a.", in_reply_to=f"<{ses_id}@{REGION}.amazonses.com>")
    result = mailroom.deliver(answer)

    # THEN it threads onto the ticket
    assert (result["kind"], result["ticket_id"]) == ("comment", opened["ticket_id"])


def test_ingest_spoofed_reply_creates_own_triage_ticket_not_comment(mailroom: Mailroom) -> None:
    # GIVEN a customer's ticket
    opened = mailroom.deliver(mail("Checkout returns 502", message_id="<orig@mail.acme.example>"))

    # WHEN a stranger forges a reply as the requester (SPF and DKIM fail) with the ticket token
    forged = mail(
        f"Re: [#{opened['ticket_id']}] Checkout returns 502",
        "Please send the database dump to this address.",
        in_reply_to="<orig@mail.acme.example>",
    )
    result = mailroom.deliver(forged, source="attacker@evil.example", spf="FAIL", dkim="FAIL", dmarc="GRAY")

    # THEN a new triage ticket of its own, and the customer's ticket is untouched
    assert result["kind"] == "ticket"
    assert result["ticket_id"] != opened["ticket_id"]
    spoof, _ = mailroom.ticket(result["ticket_id"])
    assert spoof.tenant == TRIAGE_TENANT
    assert spoof.title == "Checkout returns 502"
    _, comments = mailroom.ticket(opened["ticket_id"])
    assert comments == []


def test_ingest_reply_from_authenticated_non_contact_creates_own_ticket(mailroom: Mailroom) -> None:
    # GIVEN a customer's ticket
    opened = mailroom.deliver(mail("Checkout returns 502"))

    # WHEN someone of another organisation, properly authenticated, writes with the ticket's token
    other = mail(f"[#{opened['ticket_id']}] me too", "Same here.", sender="dan@other.example")
    result = mailroom.deliver(other, source="dan@other.example")

    # THEN never a comment on someone else's ticket
    assert result["kind"] == "ticket"
    assert mailroom.ticket(result["ticket_id"])[0].tenant == TRIAGE_TENANT
    assert mailroom.ticket(opened["ticket_id"])[1] == []


def test_ingest_stranger_reply_to_own_triage_ticket_adds_comment(mailroom: Mailroom) -> None:
    # GIVEN a triage ticket opened by an authenticated stranger
    opened = mailroom.deliver(
        mail("Question about pricing", sender="erin@prospect.example", message_id="<p1@prospect.example>"),
        to=f"question@{DOMAIN}",
        source="erin@prospect.example",
    )

    # WHEN the same, authenticated, address replies
    reply = mail(
        "Re: Question about pricing",
        "And for 20 sites?",
        sender="erin@prospect.example",
        in_reply_to="<p1@prospect.example>",
    )
    result = mailroom.deliver(reply, to=f"question@{DOMAIN}", source="erin@prospect.example")

    # THEN it is a comment on their own triage ticket
    assert (result["kind"], result["ticket_id"]) == ("comment", opened["ticket_id"])


def test_ingest_reply_to_closed_ticket_opens_linked_ticket(mailroom: Mailroom) -> None:
    # GIVEN a ticket opened by mail and closed since
    opened = mailroom.deliver(mail("Checkout returns 502", message_id="<c1@mail.acme.example>"))
    closed, _ = mailroom.ticket(opened["ticket_id"])
    mailroom.stores.tickets.update(closed, {"status": Status.CLOSED}, expected_version=closed.version)

    # WHEN the requester answers it weeks later
    reply = mail("Re: Checkout returns 502", "It is happening again.", in_reply_to="<c1@mail.acme.example>")
    result = mailroom.deliver(reply)

    # THEN closed stays final: a new ticket, linked both ways to the old one
    assert result["kind"] == "ticket"
    new, _ = mailroom.ticket(result["ticket_id"])
    assert new.related == [opened["ticket_id"]]
    assert mailroom.ticket(opened["ticket_id"])[0].related == [new.id]


def test_ingest_same_message_id_under_new_ses_id_is_duplicate(mailroom: Mailroom) -> None:
    # GIVEN a ticket from a message
    raw = mail("Checkout returns 502", message_id="<same@mail.acme.example>")
    opened = mailroom.deliver(raw)

    # WHEN the very same message arrives again as another SES message (e.g. a second copy)
    again = mailroom.deliver(raw, to=f"question@{DOMAIN}")

    # THEN no second ticket and no comment
    assert (again["kind"], again["reason"], again["ticket_id"]) == (
        "rejected",
        "duplicate-message-id",
        opened["ticket_id"],
    )
    assert mailroom.ticket(opened["ticket_id"])[1] == []


# --- exactly once ----------------------------------------------------------------------------


def test_ingest_same_ses_message_twice_creates_one_ticket_and_one_ack(mailroom: Mailroom) -> None:
    # GIVEN a message SES delivers
    raw = mail("Checkout returns 502")
    first = mailroom.deliver(raw, ses_id="dup0e2ic28trm7dfhrc2v0c1")

    # WHEN the Lambda action delivers the same SES message again
    second = mailroom.deliver(None, ses_id="dup0e2ic28trm7dfhrc2v0c1")

    # THEN one ticket, one acknowledgement; the second delivery is a logged duplicate
    assert first["kind"] == "ticket"
    assert (second["kind"], second["reason"], second["ticket_id"]) == ("rejected", "duplicate", first["ticket_id"])
    page = mailroom.stores.tickets.list(TicketFilter(tenant="acme"), limit=10, next_token=None)
    assert [t.id for t in page.items] == [first["ticket_id"]]
    assert len(mailroom.sent()) == 1


def test_create_mail_ticket_racing_redelivery_raises_already_filed(mailroom: Mailroom) -> None:
    # GIVEN a message filed as a ticket
    opened = mailroom.deliver(mail("Checkout returns 502"), ses_id="race2ic28trm7dfhrc2v0c1")
    ticket, _ = mailroom.ticket(opened["ticket_id"])

    # WHEN a concurrent delivery that missed the marker writes its own ticket for the same SES message
    twin = ticket.model_copy(update={"id": "INC-ZZZZZZ", "message_ids": []})

    # THEN the transaction refuses it, and nothing of it is written
    with pytest.raises(MailAlreadyFiled):
        mailroom.stores.tickets.create(twin, token="racing-delivery", filed_from="race2ic28trm7dfhrc2v0c1")
    assert mailroom.stores.tickets.get("INC-ZZZZZZ") is None


# --- what never becomes a ticket --------------------------------------------------------------


def test_ingest_spam_verdict_fail_tags_raw_quarantined(
    mailroom: Mailroom, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a message SES flags as spam
    raw = mail("Cheap watches")

    # WHEN it is delivered
    result = mailroom.deliver(raw, spam="FAIL", ses_id="spam2ic28trm7dfhrc2v0c1")

    # THEN no ticket, the raw message is kept and tagged as quarantined, no acknowledgement
    assert (result["kind"], result["reason"]) == ("rejected", "spam")
    tags = mailroom.s3.get_object_tagging(Bucket=BUCKET, Key="inbound/spam2ic28trm7dfhrc2v0c1")["TagSet"]
    assert {"Key": "quarantine", "Value": "true"} in tags
    assert mailroom.object("inbound/spam2ic28trm7dfhrc2v0c1")["Body"].read() == raw
    assert mailroom.sent() == []
    assert "MailRejected_spam" in metric_names(capsys)


def test_ingest_virus_verdict_fail_tags_raw_quarantined(mailroom: Mailroom) -> None:
    # GIVEN a message SES flags as carrying a virus
    # WHEN it is delivered
    result = mailroom.deliver(mail("Invoice"), virus="FAIL", ses_id="virus2ic28trm7dfhrc2v0c")

    # THEN no ticket and the raw is quarantined
    assert (result["kind"], result["reason"]) == ("rejected", "virus")
    tags = mailroom.s3.get_object_tagging(Bucket=BUCKET, Key="inbound/virus2ic28trm7dfhrc2v0c")["TagSet"]
    assert {"Key": "quarantine", "Value": "true"} in tags


def test_ingest_auto_reply_is_rejected_and_never_acknowledged(
    mailroom: Mailroom, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a real vacation auto-reply (RFC 3834 Auto-Submitted: auto-replied) from the corpus
    raw = (CORPUS / "sisimai/rfc3834-01.eml").read_bytes()

    # WHEN it arrives at a support address
    result = mailroom.deliver(raw, source="kijitora@example.net")

    # THEN no ticket, no acknowledgement, a logged and counted rejection
    assert (result["kind"], result["reason"]) == ("rejected", "auto-submitted")
    assert mailroom.sent() == []
    assert ("auto-submitted", result["message_id"]) in rejections(caplog)
    assert "MailRejected_auto-submitted" in metric_names(capsys)


def test_ingest_our_own_acknowledgement_coming_back_is_rejected(mailroom: Mailroom) -> None:
    # GIVEN a ticket and the acknowledgement SES sent for it
    mailroom.deliver(mail("Checkout returns 502"))
    ack = mailroom.sent()[-1].raw_data.encode()

    # WHEN that acknowledgement lands at a support address (a customer forwarding rule, a loop)
    result = mailroom.deliver(ack, source=ACK_SENDER)

    # THEN it never opens a ticket
    assert result["kind"] == "rejected"


@pytest.mark.parametrize(
    ("corpus_file", "source"),
    [
        ("mimekit/bounce.eml", ""),
        ("sisimai/lhost-postfix-01.eml", "<>"),
        ("flanker/gmail-invalid-address.eml", ""),
    ],
)
def test_ingest_bounce_is_rejected_and_never_acknowledged(
    mailroom: Mailroom, capsys: pytest.CaptureFixture[str], corpus_file: str, source: str
) -> None:
    # GIVEN a real delivery-status notification with a null return path
    raw = (CORPUS / corpus_file).read_bytes()

    # WHEN it arrives
    result = mailroom.deliver(raw, source=source)

    # THEN no ticket and nothing sent back
    assert (result["kind"], result["reason"]) == ("rejected", "bounce")
    assert mailroom.sent() == []
    assert "MailRejected_bounce" in metric_names(capsys)


def test_ingest_human_text_from_null_return_path_is_a_bounce(mailroom: Mailroom) -> None:
    # GIVEN a message that looks human but came with a null envelope sender (as every notification does)
    # WHEN it arrives
    result = mailroom.deliver(mail("Hello"), source="")

    # THEN it is treated as a bounce
    assert (result["kind"], result["reason"]) == ("rejected", "bounce")


def test_ingest_list_mail_is_rejected(mailroom: Mailroom) -> None:
    # GIVEN a mailing list's copy
    raw = mail("[ops] weekly digest", headers={"List-Id": "<ops.lists.acme.example>", "Precedence": "list"})

    # WHEN it arrives
    result = mailroom.deliver(raw)

    # THEN no ticket
    assert result["kind"] == "rejected"
    assert result["reason"] in ("precedence", "list")


def test_ingest_oversized_message_is_rejected_and_raw_kept(mailroom: Mailroom) -> None:
    # GIVEN a raw object one byte over SES's 40 MB
    raw = mail("Huge") + b"x" * (40 * 1024 * 1024)

    # WHEN it is delivered
    result = mailroom.deliver(raw, ses_id="huge2ic28trm7dfhrc2v0c1")

    # THEN rejected on its size, and the raw message stays in the bucket
    assert (result["kind"], result["reason"]) == ("rejected", "too-large")
    assert mailroom.s3.head_object(Bucket=BUCKET, Key="inbound/huge2ic28trm7dfhrc2v0c1")["ContentLength"] == len(
        raw
    )


def test_ingest_deeply_nested_message_is_rejected(mailroom: Mailroom) -> None:
    # GIVEN a message nesting multiparts 5000 levels deep (the stdlib parser recurses on it)
    depth = 5000
    head = b"From: x@acme.example\r\nTo: incident@support.example.com\r\nSubject: nest\r\n"
    parts = [b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)]
    raw = head + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nhi\r\n"

    # WHEN it is delivered
    result = mailroom.deliver(raw, source="x@acme.example")

    # THEN a rejection with its reason, no crash
    assert (result["kind"], result["reason"]) == ("rejected", "too-deep")


def test_ingest_message_with_thousands_of_parts_is_rejected(mailroom: Mailroom) -> None:
    # GIVEN a message with 20 000 parts
    head = b'From: x@acme.example\r\nTo: incident@support.example.com\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'
    raw = head + b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 20_000 + b"--p--\r\n"

    # WHEN it is delivered
    result = mailroom.deliver(raw, source="x@acme.example")

    # THEN rejected with its reason
    assert (result["kind"], result["reason"]) == ("rejected", "too-many-parts")


def test_ingest_missing_raw_object_is_rejected(mailroom: Mailroom, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an SES event whose raw message is not in the bucket
    # WHEN it is delivered
    result = mailroom.deliver(None)

    # THEN a logged rejection, not an exception
    assert (result["kind"], result["reason"]) == ("rejected", "raw-missing")
    assert "MailRejected_raw-missing" in metric_names(capsys)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \r\r\n\x00",
        bytes(range(256)) * 64,
        b"Subject: =?x-unknown?B?////?=\r\n\r\n\xff",
    ],
)
def test_ingest_garbage_bytes_never_raise(mailroom: Mailroom, raw: bytes) -> None:
    # GIVEN bytes that are hardly a message
    # WHEN they are delivered
    result = mailroom.deliver(raw)

    # THEN a ticket or a deliberate rejection, never a failure
    assert result["kind"] in ("ticket", "rejected")


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": [{"eventSource": "aws:sqs"}]}, []])
def test_ingest_malformed_event_is_rejected(mailroom: Mailroom, event: Any) -> None:
    # GIVEN something that is not an SES receipt event
    # WHEN the handler gets it
    result = lambda_handler(event, mailroom.lambda_context)

    # THEN a logged rejection
    assert [r["reason"] for r in result["results"]] == ["bad-event"]


def test_ingest_internal_error_is_logged_and_counted_not_raised(
    mailroom: Mailroom,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN the table failing for a reason that has nothing to do with the message
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("table unavailable: alice@acme.example")

    monkeypatch.setattr(email.wiring().intake.messages, "lookup", broken)

    # WHEN a message arrives
    result = mailroom.deliver(mail("Checkout returns 502"))

    # THEN a failure outcome, logged without the exception's text (it may quote the message), counted
    assert (result["kind"], result["reason"]) == ("failed", "internal-error")
    [record] = [r for r in caplog.records if r.msg == "mail failed"]
    assert (record.__dict__["reason"], record.__dict__["error"]) == ("internal-error", "RuntimeError")
    assert "alice@acme.example" not in str(record.__dict__)
    assert "MailFailed" in metric_names(capsys)


def test_ingest_throttled_table_fails_the_invocation_and_the_retry_files_once(mailroom: Mailroom) -> None:
    # GIVEN DynamoDB throttling the ticket write once (a botocore hook answers in AWS's place)
    client = email.wiring().intake.tickets.store.table.client
    throttled: list[str] = []

    def throttle(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        throttled.append("TransactWriteItems")
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", throttle)
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        return AWSResponse("https://dynamodb", 400, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", throttle)
    raw = mail("Checkout returns 502", message_id="<throttled@mail.acme.example>")

    # WHEN the message arrives: the invocation fails, so Lambda's async retry delivers it again
    with pytest.raises(ClientError):
        mailroom.deliver(raw, ses_id="0000throttled00000000000000o3vrnil0e2ic28trm7")
    retried = mailroom.deliver(raw, ses_id="0000throttled00000000000000o3vrnil0e2ic28trm7")
    again = mailroom.deliver(raw, ses_id="0000throttled00000000000000o3vrnil0e2ic28trm7")

    # THEN the retry makes the one ticket, and a third delivery changes nothing
    assert throttled == ["TransactWriteItems"]
    assert retried["kind"] == "ticket"
    assert again["kind"] != "ticket"
    page = mailroom.stores.tickets.list(TicketFilter(tenant="acme"), limit=10, next_token=None)
    assert [t.id for t in page.items] == [retried["ticket_id"]]


# --- the acknowledgement ---------------------------------------------------------------------


def test_ingest_new_ticket_acknowledged_once_per_sender(
    mailroom: Mailroom, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two new tickets from the same envelope sender within ten minutes
    first = mailroom.deliver(mail("Checkout returns 502", message_id="<m1@mail.acme.example>"))
    second = mailroom.deliver(mail("Search is slow"), to=f"question@{DOMAIN}")

    # THEN one acknowledgement, for the first, to the envelope sender, threaded and marked automatic
    assert (first["acknowledged"], second["acknowledged"]) == (True, False)
    sent = mailroom.sent()
    assert len(sent) == 1
    assert sent[0].destinations[0] == "alice@acme.example"
    assert sent[0].source == ACK_SENDER
    headers = BytesHeaderParser(policy=SMTP).parsebytes(sent[0].raw_data.encode())
    assert headers["Subject"] == f"[#{first['ticket_id']}] Checkout returns 502"
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["In-Reply-To"] == "<m1@mail.acme.example>"
    references = headers["References"].split()
    assert references[0] == "<m1@mail.acme.example>"
    assert references[1] == headers["Message-ID"]
    # SES's Message-ID and our own both thread back to the ticket
    ticket, _ = mailroom.ticket(first["ticket_id"])
    assert headers["Message-ID"] in ticket.message_ids
    ses_id = f"<{sent[0].id}@{REGION}.amazonses.com>"
    owner = mailroom.stores.messages.lookup("unused", [ses_id], "alice@acme.example").owners.get(ses_id)
    assert owner == first["ticket_id"]
    assert "AcknowledgementsSent" in metric_names(capsys)


def test_ingest_acknowledgement_goes_to_envelope_sender_not_from(mailroom: Mailroom) -> None:
    # GIVEN a message whose envelope sender differs from From (the domain's own bounce address)
    raw = mail("Checkout returns 502")

    # WHEN it is delivered
    mailroom.deliver(raw, source="bounces+alice@acme.example")

    # THEN the acknowledgement goes to the envelope sender (RFC 3834)
    assert mailroom.sent()[0].destinations[0] == "bounces+alice@acme.example"


def test_ingest_unverified_envelope_sender_gets_no_acknowledgement(mailroom: Mailroom) -> None:
    # GIVEN a message whose envelope sender SES could not verify (SPF not passing): maybe forged
    raw = mail("Hello", sender="victim@innocent.example")

    # WHEN it is delivered
    result = mailroom.deliver(raw, source="victim@innocent.example", spf="SOFTFAIL", dkim="GRAY", dmarc="GRAY")

    # THEN a triage ticket, and no backscatter to the forged address
    assert result["kind"] == "ticket"
    assert mailroom.sent() == []


def test_ingest_acknowledgement_subject_has_no_header_injection(mailroom: Mailroom) -> None:
    # GIVEN a subject whose encoded word decodes to CR/LF and a header
    raw = mail("ignored").replace(b"Subject: ignored", b"Subject: =?utf-8?Q?Help=0D=0ABcc:_victim@evil.example?=")

    # WHEN it is delivered
    result = mailroom.deliver(raw)

    # THEN the title and the acknowledgement carry it on one line, and no Bcc appears
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert "\n" not in ticket.title and "\r" not in ticket.title
    headers = BytesHeaderParser(policy=SMTP).parsebytes(mailroom.sent()[0].raw_data.encode())
    assert headers["Bcc"] is None
    assert headers["Subject"].startswith(f"[#{ticket.id}] Help")
    assert set(mailroom.sent()[0].destinations) == {"alice@acme.example"}


# --- content ---------------------------------------------------------------------------------


def test_ingest_attachments_land_in_bucket_and_are_listed(mailroom: Mailroom) -> None:
    # GIVEN a message with a PDF and an HTML file attached
    pdf = b"%PDF-1.4 fake"
    raw = mail(
        "Invoice question",
        "See the attached invoice.",
        to=f"question@{DOMAIN}",
        attachments=[
            ("Rechnung März.pdf", "application/pdf", pdf),
            ("page.html", "text/html", b"<script>x</script>"),
        ],
    )

    # WHEN it is delivered
    result = mailroom.deliver(raw, to=f"question@{DOMAIN}", ses_id="att02ic28trm7dfhrc2v0c1")

    # THEN each attachment is an object under the ticket, listed with name, size and type
    ticket, _ = mailroom.ticket(result["ticket_id"])
    prefix = f"tickets/{ticket.id}/att02ic28trm7dfhrc2v0c1/"
    assert [(a.name, a.size, a.content_type, a.key) for a in ticket.attachments] == [
        ("Rechnung März.pdf", len(pdf), "application/pdf", prefix + "1.pdf"),
        ("page.html", 18, "text/html", prefix + "2.html"),
    ]
    stored = mailroom.object(prefix + "1.pdf")
    assert stored["Body"].read() == pdf
    assert stored["ContentType"] == "application/pdf"
    # the name travels in the download's Content-Disposition, not in the key (keys reach traces)
    assert stored["ContentDisposition"] == "attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"
    # served as downloads, never rendered
    assert mailroom.object(prefix + "2.html")["ContentDisposition"].startswith("attachment;")
    assert ticket.full_text_key is None  # nothing was trimmed: the description is the full text


def test_ingest_corpus_inline_image_is_stored(mailroom: Mailroom) -> None:
    # GIVEN a real HTML mail with an inline image (multipart/related) from the corpus
    raw = (CORPUS / "mimekit/related.eml").read_bytes()

    # WHEN it is delivered
    result = mailroom.deliver(
        raw, to=f"question@{DOMAIN}", source="jeff.stedfast@gmail.com", dmarc="GRAY", dkim="GRAY"
    )

    # THEN the image is in the bucket and listed
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert [a.name for a in ticket.attachments] == ["Christopher-Lloyd-as-Doc-Brown.jpg"]
    image = ticket.attachments[0]
    assert (image.content_type, image.size) == ("image/jpeg", 156223)
    assert mailroom.object(image.key or "")["ContentLength"] == 156223


def test_ingest_trimmed_message_keeps_full_text_in_bucket(mailroom: Mailroom) -> None:
    # GIVEN a real Thunderbird reply from the corpus (quoted history below the answer)
    raw = (CORPUS / "talon/thunderbird.eml").read_bytes()

    # WHEN it arrives as a new message
    result = mailroom.deliver(raw, source="bob@xxx.mailgun.org", dkim="GRAY", dmarc="GRAY")

    # THEN the description is trimmed and the untrimmed text is in the bucket, linked from the ticket
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert ticket.full_text_key == f"tickets/{ticket.id}/{result['message_id']}/full.txt"
    full = mailroom.object(ticket.full_text_key)["Body"].read().decode()
    assert ticket.description == "Hello"
    assert full == "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello"


def test_ingest_degraded_message_is_flagged(mailroom: Mailroom) -> None:
    # GIVEN a real message with a broken multipart (missing final boundary)
    raw = (CORPUS / "flanker/missing-final-boundary.eml").read_bytes()

    # WHEN it is delivered
    result = mailroom.deliver(raw, source="me@example.com")

    # THEN a ticket with what could be read, flagged
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert ticket.parse_problems
    assert ticket.title == "Test"


def test_ingest_forwarded_message_is_attached_and_described(mailroom: Mailroom) -> None:
    # GIVEN a real message carrying a forwarded message/rfc822
    raw = (CORPUS / "flanker/enclosed.eml").read_bytes()

    # WHEN it is delivered
    result = mailroom.deliver(raw, source="bob@example.net")

    # THEN the forwarded message is an .eml attachment and its text is in the description
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert [(a.name, a.content_type) for a in ticket.attachments] == [("thanks.eml", "message/rfc822")]
    assert "---------- Forwarded message ----------" in ticket.description


def test_ingest_every_corpus_message_never_fails(mailroom: Mailroom) -> None:
    # GIVEN every message of the corpus
    files = sorted(CORPUS.rglob("*.eml"))
    assert len(files) > 100

    # WHEN each is delivered to incident@
    outcomes = {
        str(f.relative_to(CORPUS)): mailroom.deliver(f.read_bytes(), dkim="GRAY", dmarc="GRAY") for f in files
    }

    # THEN each is a ticket, a comment or a deliberate rejection
    failed = {name: o for name, o in outcomes.items() if o["kind"] not in ("ticket", "comment", "rejected")}
    assert failed == {}
    assert outcomes["sisimai/lhost-exim-01.eml"]["reason"] == "bounce"
    assert outcomes["talon/outlook.eml"]["kind"] == "ticket"


# --- faults ----------------------------------------------------------------------------------


def test_ingest_transaction_cancelled_by_throttling_fails_the_invocation_and_retry_files_once(
    mailroom: Mailroom,
) -> None:
    # GIVEN the ticket's transaction cancelled for throttling (not by any condition of ours)
    client = email.wiring().intake.tickets.store.table.client
    cancelled: list[str] = []

    def cancel(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        cancelled.append("TransactWriteItems")
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", cancel)
        return AWSResponse("https://dynamodb", 400, {}, None), {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}, {"Code": "None"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", cancel)
    raw = mail("Checkout returns 502", message_id="<cancelled@mail.acme.example>")

    # WHEN it arrives: the invocation fails (Lambda retries it), then the retry comes
    with pytest.raises(ClientError):
        mailroom.deliver(raw, ses_id="0000cancelled0000000000000o3vrnil0e2ic28trm7")
    retried = mailroom.deliver(raw, ses_id="0000cancelled0000000000000o3vrnil0e2ic28trm7")

    # THEN one ticket, filed by the retry
    assert cancelled == ["TransactWriteItems"]
    assert retried["kind"] == "ticket"
    page = mailroom.stores.tickets.list(TicketFilter(tenant="acme"), limit=10, next_token=None)
    assert [t.id for t in page.items] == [retried["ticket_id"]]


SES_RETRY_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0o3vrnil0e2ic28trm7"


def test_ingest_failed_acknowledgement_is_sent_by_the_retry_once(mailroom: Mailroom) -> None:
    # GIVEN SES refusing the first acknowledgement once
    ses = email.wiring().intake.acknowledger.ses()
    fail_nth(ses, "SendRawEmail", "Throttling", nth=1)
    message = mail("Checkout returns 502")

    def tickets() -> list[str]:
        page = mailroom.stores.tickets.list(TicketFilter(tenant=None), limit=100, next_token=None)
        return [t.id for t in page.items]

    # WHEN a new ticket comes by mail: the ticket is filed, the invocation fails (Lambda retries)
    with pytest.raises(ClientError, match="Throttling"):
        mailroom.deliver(message, ses_id=SES_RETRY_ID)
    assert len(tickets()) == 1
    assert mailroom.sent() == []

    # THEN Lambda's retry sends that ticket's acknowledgement (its claims were given back), and a
    # third delivery sends nothing more
    retried = mailroom.deliver(message, ses_id=SES_RETRY_ID)
    again = mailroom.deliver(message, ses_id=SES_RETRY_ID)
    assert (retried["kind"], retried["reason"], again["reason"]) == ("rejected", "duplicate", "duplicate")
    assert len(mailroom.sent()) == 1
    assert tickets() == [retried["ticket_id"]]


def test_ingest_unconfigured_function_fails_the_invocation(
    mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the function deployed without its bucket variable
    monkeypatch.delenv("RAW_MAIL_BUCKET")
    email.reset()

    # WHEN a message arrives: the invocation fails (retried, then parked), never "filed as failed"
    with pytest.raises(SettingsError, match="RAW_MAIL_BUCKET"):
        mailroom.deliver(mail("Checkout returns 502"))


def test_ingest_attachments_over_the_cap_are_named_on_the_ticket(mailroom: Mailroom) -> None:
    # GIVEN a message with 103 small attachments (the cap is 100)
    files = [(f"log-{n}.txt", "text/plain", b"line\n") for n in range(103)]

    # WHEN it is filed
    result = mailroom.deliver(mail("Logs attached", attachments=files))

    # THEN 100 are on the ticket and the description says where the other 3 are
    ticket, _ = mailroom.ticket(result["ticket_id"])
    assert len(ticket.attachments) == 100
    assert ticket.description.endswith("[3 more attachments are in the original message]")


def test_ingest_raw_message_forbidden_fails_the_invocation(mailroom: Mailroom) -> None:
    # GIVEN S3 refusing the function the raw message (a broken policy or key, not the sender's fault)
    s3 = email.wiring().intake.bucket.s3
    fail_nth(s3, "GetObject", "AccessDenied", nth=1, status=403)
    raw = mail("Checkout returns 502")

    # WHEN the message arrives, the invocation fails (Lambda retries it, then parks it); the retry files it
    with pytest.raises(RawUnreadable):
        mailroom.deliver(raw, ses_id="0000forbidden0000000000000o3vrnil0e2ic28trm7")
    retried = mailroom.deliver(raw, ses_id="0000forbidden0000000000000o3vrnil0e2ic28trm7")

    # THEN one ticket, from the retry
    assert retried["kind"] == "ticket"
