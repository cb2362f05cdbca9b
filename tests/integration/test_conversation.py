"""The conversation on moto: staff replies mailed once, notes kept internal, notices, reopen by
reply, files, history, first response; through the real handlers, the stream and SES."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from support_common.notify import handler as notify
from support_common.repository.outbound import SENT

from local.cfn import Resolver, template
from tests.conftest import Stores
from tests.integration.apigw import ALICE, BOB, MALLORY, ONCALL
from tests.integration.conftest import REGION, TABLE
from tests.integration.conversation import Conversation
from tests.integration.mailroom import ACK_SENDER, BUCKET, DOMAIN, Mailroom, mail

QUESTION = {"type": "question", "title": "Do you support PHP 8.4?", "description": "We plan to upgrade."}
INCIDENT = {
    "type": "incident",
    "title": "Checkout returns 502",
    "description": "Every checkout fails since 09:00.",
    "environment": "production",
}


@pytest.fixture
def desk(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Conversation:
    monkeypatch.setenv("RAW_MAIL_BUCKET", BUCKET)
    monkeypatch.setenv("SUPPORT_DOMAIN", DOMAIN)
    monkeypatch.setenv("ACK_SENDER", ACK_SENDER)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=DOMAIN)
    room = Mailroom(s3, Stores.on(boto3.client("dynamodb", region_name=REGION), TABLE), lambda_context)
    room.add_contact("acme.example", "acme")
    return Conversation(room)


def reply(desk: Conversation, ticket_id: str, body: str, **extra: Any) -> dict[str, Any]:
    out = desk.ok("POST", f"/tickets/{ticket_id}/comments", body={"body": body, **extra}, claims=ONCALL)
    assert isinstance(out, dict)
    return out


# --- staff replies ----------------------------------------------------------------------------


def test_staff_reply_mailed_once_threaded_and_the_answer_by_mail_becomes_a_comment(desk: Conversation) -> None:
    # GIVEN a question from the dashboard and a public staff reply to it
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    comment = reply(desk, ticket["id"], "Yes: PHP 8.4 is available on every plan.\nSee the control panel.")
    records = desk.records()

    # WHEN the stream delivers the reply's record twice
    assert desk.deliver(records) == {"batchItemFailures": []}
    assert desk.deliver(records) == {"batchItemFailures": []}

    # THEN one mail went to the requester, from the type's address, threaded and plain text
    sent = desk.sent_about(ticket["id"])
    assert len(sent) == 1
    mail_out = sent[0]
    assert mail_out["To"].addresses[0].addr_spec == "alice@acme.example"
    assert mail_out["From"].addresses[0].addr_spec == f"question@{DOMAIN}"
    assert mail_out["Subject"] == f"Re: Do you support PHP 8.4? [#{ticket['id']}]"
    assert mail_out["In-Reply-To"] and mail_out["References"]
    assert mail_out.get_content_type() == "text/plain"
    assert "Yes: PHP 8.4 is available on every plan." in mail_out.get_content()
    assert "Auto-Submitted" not in mail_out  # a person wrote it
    assert notify_state(desk, ticket["id"], f"reply#{comment['id']}") == SENT
    # AND the first response is recorded
    assert desk.ok("GET", f"/tickets/{ticket['id']}")["first_response_at"] == comment["created_at"]

    # WHEN the customer answers that mail (their client names SES's Message-ID)
    ses_id = f"<{mail_out['X-Test-Ses-Id']}@{REGION}.amazonses.com>"
    answer = mail(
        "Re: Do you support PHP 8.4?", "Great, and 8.3 until then?", in_reply_to=ses_id, references=ses_id
    )
    result = desk.mailroom.deliver(answer, to=f"question@{DOMAIN}")

    # THEN it is the next comment on the ticket
    assert (result["kind"], result["ticket_id"]) == ("comment", ticket["id"])
    comments = desk.ok("GET", f"/tickets/{ticket['id']}")["comments"]
    assert [c["body"] for c in comments][-1] == "Great, and 8.3 until then?"


def notify_state(desk: Conversation, ticket_id: str, ref: str) -> str | None:
    from support_common.repository.outbound import OutboundStore

    return OutboundStore(desk.stores.table).state(ticket_id, ref)


def test_customer_comment_is_not_mailed(desk: Conversation) -> None:
    # GIVEN a ticket
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    # WHEN the customer comments on it
    desk.ok("POST", f"/tickets/{ticket['id']}/comments", body={"body": "Any news?"})
    delivered = desk.flush()
    # THEN nothing is even delivered to notify, and nothing is mailed
    assert delivered == []
    assert desk.sent_about(ticket["id"]) == []


def test_comment_with_idempotency_key_is_posted_once_and_a_reused_key_refused(desk: Conversation) -> None:
    # GIVEN a ticket, and a comment the browser sends again (its first answer never arrived)
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    path = f"/tickets/{ticket['id']}/comments"
    key = {"Idempotency-Key": "reply-7f3a"}
    first = desk.api("POST", path, body={"body": "Any news?"}, headers=key)
    again = desk.api("POST", path, body={"body": "Any news?"}, headers=key)

    # WHEN the same key comes with another text, or from another user of the tenant
    other_text = desk.api("POST", path, body={"body": "Something else"}, headers=key)
    other_user = desk.api("POST", path, body={"body": "Any news?"}, headers=key, claims=BOB)

    # THEN one comment for the retry (the same answer twice), a 422 for the reused key, and the
    # other user's request is their own
    assert (first[0], again[0]) == (201, 201)
    assert again[1]["id"] == first[1]["id"] and again[1]["created_at"] == first[1]["created_at"]
    assert other_text[0] == 422 and other_text[1]["errors"][0]["field"] == "Idempotency-Key"
    assert other_user[0] == 201 and other_user[1]["id"] != first[1]["id"]
    shown = desk.ok("GET", f"/tickets/{ticket['id']}")
    assert [c["body"] for c in shown["comments"]] == ["Any news?", "Any news?"]


# --- internal notes ---------------------------------------------------------------------------


def test_internal_note_never_mailed_and_never_shown_to_the_customer(desk: Conversation) -> None:
    # GIVEN a customer's ticket
    ticket = desk.ok("POST", "/tickets", body=INCIDENT)
    path = f"/tickets/{ticket['id']}"

    # WHEN staff add an internal note, then a public reply
    note = reply(
        desk, ticket["id"], "Tenant acme is on the old cluster; do not tell them yet.", visibility="internal"
    )
    public = reply(desk, ticket["id"], "We are looking into it.")
    desk.flush()

    # THEN only the reply is mailed, and it does not carry the note
    sent = desk.sent_about(ticket["id"])
    assert len(sent) == 1
    assert "old cluster" not in sent[0].as_string()
    # AND the customer sees the public reply only, in every response
    customer_view = desk.ok("GET", path)
    assert [c["id"] for c in customer_view["comments"]] == [public["id"]]
    assert all(c["visibility"] == "public" for c in customer_view["comments"])
    listed = desk.ok("GET", "/tickets")
    assert "old cluster" not in str(listed)
    # AND staff see both, in order, the note marked internal
    staff_view = desk.ok("GET", path, claims=ONCALL)
    assert [(c["id"], c["visibility"]) for c in staff_view["comments"]] == [
        (note["id"], "internal"),
        (public["id"], "public"),
    ]
    # AND the note did not change what the customer sees of the ticket
    assert note["visibility"] == "internal"
    # AND no first response came from the note
    assert customer_view["first_response_at"] == public["created_at"]


def test_internal_note_by_customer_is_403_and_another_tenant_404(desk: Conversation) -> None:
    # GIVEN a ticket of acme
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    path = f"/tickets/{ticket['id']}/comments"
    # WHEN its customer, and another tenant's, try to post an internal note
    own = desk.api("POST", path, body={"body": "psst", "visibility": "internal"}, claims=BOB)
    other = desk.api("POST", path, body={"body": "psst", "visibility": "internal"}, claims=MALLORY)
    bad = desk.api("POST", path, body={"body": "psst", "visibility": "secret"})
    # THEN 403 for the customer, 404 across tenants, 422 for an unknown visibility, and no comment
    assert own[0] == 403 and own[1]["errors"][0]["field"] == "visibility"
    assert other[0] == 404
    assert bad[0] == 422
    assert desk.ok("GET", f"/tickets/{ticket['id']}", claims=ONCALL)["comments"] == []


# --- notices ----------------------------------------------------------------------------------


def test_resolve_reopen_and_close_each_send_one_automatic_notice(desk: Conversation) -> None:
    # GIVEN a ticket
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    path = f"/tickets/{ticket['id']}"

    # WHEN staff resolve it, the customer reopens it, staff resolve and close it (each record twice)
    for claims, status in ((ONCALL, "resolved"), (ALICE, "open"), (ONCALL, "resolved"), (ONCALL, "closed")):
        desk.ok("PATCH", path, body={"status": status}, claims=claims)
        records = desk.records()
        desk.deliver(records)
        desk.deliver(records)

    # THEN one notice per change, in order, each automatic and naming the ticket
    sent = desk.sent_about(ticket["id"])
    assert [m["Subject"].split(":")[0] for m in sent] == ["Resolved", "Reopened", "Resolved", "Closed"]
    for message in sent:
        assert message["Auto-Submitted"] == "auto-generated"
        assert f"[#{ticket['id']}]" in message["Subject"]
        assert message["To"].addresses[0].addr_spec == "alice@acme.example"


def test_acknowledge_sends_no_mail_but_is_the_first_response(desk: Conversation) -> None:
    # GIVEN an incident
    ticket = desk.ok("POST", "/tickets", body=INCIDENT)
    # WHEN staff acknowledge it, then reply
    acked = desk.ok("POST", f"/tickets/{ticket['id']}/acknowledge", claims=ONCALL)
    reply(desk, ticket["id"], "On it.")
    desk.flush()
    # THEN the acknowledgement is the first response, kept after the reply; only the reply is mailed
    after = desk.ok("GET", f"/tickets/{ticket['id']}")
    assert acked["first_response_at"] == acked["acknowledged_at"] == after["first_response_at"]
    assert [m["Subject"] for m in desk.sent_about(ticket["id"])] == [f"Re: {INCIDENT['title']} [#{ticket['id']}]"]


# --- replies by mail to a resolved ticket ------------------------------------------------------


def _email_ticket(desk: Conversation, to: str, subject: str) -> str:
    opened = desk.mailroom.deliver(
        mail(subject, "It broke.", message_id=f"<{to}.{subject[:5]}@mail.acme.example>"), to=to
    )
    assert opened["kind"] == "ticket"
    return str(opened["ticket_id"])


def test_emailed_reply_to_resolved_incident_reopens_it(desk: Conversation) -> None:
    # GIVEN an incident opened by mail and resolved by staff
    ticket_id = _email_ticket(desk, f"incident@{DOMAIN}", "Checkout returns 502")
    desk.ok("PATCH", f"/tickets/{ticket_id}", body={"status": "resolved"}, claims=ONCALL)
    desk.flush()
    # WHEN the customer answers the resolve notice
    notice = desk.sent_about(ticket_id)[-1]
    answer = mail("Re: Resolved", "It is down again since 14:00.", in_reply_to=str(notice["Message-ID"]))
    result = desk.mailroom.deliver(answer)
    # THEN the answer is a comment, the incident is open again, the history says who reopened it
    assert (result["kind"], result["ticket_id"]) == ("comment", ticket_id)
    ticket = desk.ok("GET", f"/tickets/{ticket_id}", claims=ONCALL)
    assert ticket["status"] == "open"
    assert ticket["comments"][-1]["body"] == "It is down again since 14:00."
    history = desk.ok("GET", f"/tickets/{ticket_id}/history")
    assert [(h["actor"], h["from"], h["to"]) for h in history if h["field"] == "status"][-1] == (
        "alice@acme.example",
        "resolved",
        "open",
    )
    # AND the customer is told it is reopened
    desk.flush()
    assert desk.sent_about(ticket_id)[-1]["Subject"].startswith("Reopened:")


@pytest.mark.parametrize(
    ("text", "status"),
    [("Thanks a lot, that fixed it!", "resolved"), ("Thanks, but the cron job still does not run.", "open")],
)
def test_emailed_reply_to_resolved_question_follows_the_thanks_policy(
    desk: Conversation, text: str, status: str
) -> None:
    # GIVEN a question opened by mail and resolved
    ticket_id = _email_ticket(desk, f"question@{DOMAIN}", "Cron jobs")
    desk.ok("PATCH", f"/tickets/{ticket_id}", body={"status": "resolved"}, claims=ONCALL)
    # WHEN the customer replies
    result = desk.mailroom.deliver(mail(f"Re: Cron jobs [#{ticket_id}]", text), to=f"question@{DOMAIN}")
    # THEN a comment either way; only more than thanks reopens it
    assert result["kind"] == "comment"
    ticket = desk.ok("GET", f"/tickets/{ticket_id}")
    assert ticket["status"] == status
    assert ticket["comments"][-1]["body"] == text


def test_staff_reply_to_unauthenticated_triage_sender_is_never_mailed(desk: Conversation) -> None:
    # GIVEN a ticket from a sender SES could not authenticate (it lands in triage)
    raw = mail("Refund?", "Please refund me.", sender="Eve <eve@elsewhere.example>")
    opened = desk.mailroom.deliver(raw, source="eve@elsewhere.example", spf="FAIL", dkim="FAIL", dmarc="FAIL")
    # WHEN staff reply publicly
    reply(desk, opened["ticket_id"], "Which order?")
    desk.flush()
    # THEN nothing is mailed to that address
    assert [m for m in desk.sent() if "eve@elsewhere.example" in str(m["To"])] == []


# --- SES failures -----------------------------------------------------------------------------


def test_ses_throttled_then_retried_sends_one_mail(desk: Conversation) -> None:
    # GIVEN a staff reply, and SES throttling the first send
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    reply(desk, ticket["id"], "Yes.")
    records = desk.records()
    ses = notify.wiring().notifier.ses()
    throttled: list[str] = []

    def throttle(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        throttled.append("SendRawEmail")
        ses.meta.events.unregister("before-call.ses.SendRawEmail", throttle)
        error = {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}
        return AWSResponse("https://email", 400, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    ses.meta.events.register("before-call.ses.SendRawEmail", throttle)

    # WHEN the record is delivered, fails, and the mapping retries it
    first = desk.deliver(records)
    retried = desk.deliver(records)

    # THEN the first delivery reports the record failed, and the retry sends it: one mail
    assert throttled == ["SendRawEmail"]
    assert first == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    assert retried == {"batchItemFailures": []}
    assert len(desk.sent_about(ticket["id"])) == 1


# --- files ------------------------------------------------------------------------------------


def test_upload_then_listed_and_downloaded_and_404_across_tenants(desk: Conversation) -> None:
    # GIVEN a ticket, and an upload form for a screenshot
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    path = f"/tickets/{ticket['id']}"
    form = desk.ok("POST", f"{path}/attachments", body={"name": "error page.png", "content_type": "image/png"})
    assert form["max_size"] == 10 * 1024 * 1024
    assert "uploads/" in form["fields"]["key"] and "error" not in form["fields"]["key"]
    # (the signed policy caps the size and pins the type: S3 refuses any other file)
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    # (before the upload, the ticket lists nothing)
    assert desk.ok("GET", path)["attachments"] == []

    # WHEN the browser posts the file to the presigned form
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": ("x.png", b"\x89PNG fake")}, timeout=10
    )
    assert posted.status_code in (200, 204), posted.text

    # THEN the file is listed with its number, and downloads through a short-lived URL
    listed = desk.ok("GET", path)["attachments"]
    assert listed == [{"name": "error page.png", "size": 9, "content_type": "image/png", "n": 1}]
    download = desk.ok("GET", f"{path}/attachments/1")
    assert (download["name"], download["size"], download["content_type"]) == ("error page.png", 9, "image/png")
    query = parse_qs(urlparse(download["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"][0].startswith("attachment;")
    assert download["expires_at"].endswith("Z")
    # AND another tenant gets 404 for the file and the upload, staff get it, an unknown number is 404
    assert desk.api("GET", f"{path}/attachments/1", claims=MALLORY)[0] == 404
    assert (
        desk.api(
            "POST", f"{path}/attachments", body={"name": "a.png", "content_type": "image/png"}, claims=MALLORY
        )[0]
        == 404
    )
    assert desk.api("GET", f"{path}/attachments/1", claims=ONCALL)[0] == 200
    assert desk.api("GET", f"{path}/attachments/2")[0] == 404


def _dashboard_connect_src() -> list[str]:
    """The deployed dashboard's CSP `connect-src`, resolved as CloudFormation would for this bucket."""
    policy = template()["Resources"]["DashboardHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    csp = policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    refs = {"RawMailBucket": BUCKET, "HttpApi": "a1b2c3", "DashboardUserPoolDomain": "desk-auth"}
    text = str(Resolver(refs, {}, REGION)(csp))
    directive = next(d.split()[1:] for d in text.split(";") if d.split()[:1] == ["connect-src"])
    return list(directive)


def test_upload_and_download_urls_are_on_a_host_the_dashboard_may_reach(desk: Conversation) -> None:
    # GIVEN a ticket with a file
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    path = f"/tickets/{ticket['id']}"
    form = desk.ok("POST", f"{path}/attachments", body={"name": "trace.txt", "content_type": "text/plain"})
    posted = requests.post(form["url"], data=form["fields"], files={"file": ("t.txt", b"trace")}, timeout=10)
    assert posted.status_code in (200, 204), posted.text
    download = desk.ok("GET", f"{path}/attachments/1")
    # THEN the browser's upload goes to an origin the site's Content-Security-Policy allows: the
    # bucket's regional host (the global one is refused by the CSP and unknown to newer regions)
    allowed = _dashboard_connect_src()
    upload_origin = "{0.scheme}://{0.netloc}".format(urlparse(form["url"]))
    assert upload_origin == f"https://{BUCKET}.s3.{REGION}.amazonaws.com"
    assert upload_origin in allowed
    # AND the download is on the same host (a navigation, which the CSP does not restrict, but one host)
    assert "{0.scheme}://{0.netloc}".format(urlparse(download["url"])) == upload_origin


def test_upload_refuses_types_outside_the_allowed_list(desk: Conversation) -> None:
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    status, body = desk.api(
        "POST", f"/tickets/{ticket['id']}/attachments", body={"name": "x.html", "content_type": "text/html"}
    )
    assert status == 422 and body["errors"][0]["field"] == "content_type"


def test_emailed_attachments_and_untrimmed_text_download_by_number(desk: Conversation) -> None:
    # GIVEN a mail with a log file whose text was trimmed (a quoted history)
    raw = mail(
        "Backups fail",
        "See the log.\n\nOn Mon, Bob wrote:\n> old stuff",
        attachments=[("backup.log", "text/plain", b"error: disk full\n")],
    )
    opened = desk.mailroom.deliver(raw)
    path = f"/tickets/{opened['ticket_id']}"
    # WHEN the customer reads the ticket and downloads each file
    listed = desk.ok("GET", path)["attachments"]
    downloads = [desk.ok("GET", f"{path}/attachments/{a['n']}") for a in listed]
    # THEN the attachment and the untrimmed text are both there, numbered in order
    assert [(a["n"], a["name"]) for a in listed] == [(1, "backup.log"), (2, "full.txt")]
    assert urlparse(downloads[0]["url"]).path.endswith("/1.log")
    assert urlparse(downloads[1]["url"]).path.endswith("/full.txt")
    assert downloads[1]["content_type"] == "text/plain"


# --- history and assignee ---------------------------------------------------------------------


def test_history_records_who_changed_what_and_assignee_is_staff_only(desk: Conversation) -> None:
    # GIVEN a ticket
    ticket = desk.ok("POST", "/tickets", body=QUESTION)
    path = f"/tickets/{ticket['id']}"
    # WHEN the customer retitles it, staff assign it and raise it, then clear the assignee
    desk.ok("PATCH", path, body={"title": "PHP 8.4 support"})
    assigned = desk.ok(
        "PATCH", path, body={"assignee": "Dana@Support.Example.com", "priority": "high"}, claims=ONCALL
    )
    desk.ok("PATCH", path, body={"assignee": None}, claims=ONCALL)
    # AND the customer tries to assign it, and staff try an address that is none
    customer = desk.api("PATCH", path, body={"assignee": "me@acme.example"})
    other = desk.api("PATCH", path, body={"assignee": "me@acme.example"}, claims=MALLORY)
    invalid = desk.api("PATCH", path, body={"assignee": "dana"}, claims=ONCALL)
    # THEN the assignee was set (normalised), the refusals are 403, 404 and 422
    assert assigned["assignee"] == "dana@support.example.com"
    assert (customer[0], other[0], invalid[0]) == (403, 404, 422)
    # AND everyone who may see the ticket reads the same history, oldest first, with the actor
    history = desk.ok("GET", f"{path}/history")
    assert [(h["actor"], h["field"], h["from"], h["to"]) for h in history] == [
        ("alice@acme.example", "title", "Do you support PHP 8.4?", "PHP 8.4 support"),
        ("oncall@support.example.com", "priority", "normal", "high"),
        ("oncall@support.example.com", "assignee", None, "dana@support.example.com"),
        ("oncall@support.example.com", "assignee", "dana@support.example.com", None),
    ]
    assert all(h["at"].endswith("Z") for h in history)
    assert desk.ok("GET", f"{path}/history", claims=ONCALL) == history
    assert desk.api("GET", f"{path}/history", claims=MALLORY)[0] == 404
