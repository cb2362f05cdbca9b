"""The conversation on the local stack with real clients: HTTP, SMTP, the outbox folder, S3 over HTTP."""

from __future__ import annotations

import email
import email.policy
import smtplib
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, http, wait_for

pytestmark = pytest.mark.e2e

CUSTOMER = "alice@acme.example"
ASYNC_TIMEOUT = 30.0


def _outbox(stack: RunningStack, ticket_id: str) -> list[EmailMessage]:
    """Every mail in the outbox folder whose subject names the ticket, oldest first."""
    found = []
    # By the time each was written: file names hold seconds only, then SES's random id.
    for path in sorted(Path(stack.info["outbox_dir"]).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if f"[#{ticket_id}]" in str(message.get("Subject", "")):
            found.append(message)
    return found


def _multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A browser's multipart/form-data body: the form's fields, then the file."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_staff_reply_mailed_customer_answers_by_mail_notes_stay_internal(
    stack: RunningStack, customer_token: str, support_token: str
) -> None:
    # GIVEN a customer's question on the dashboard
    title = f"PHP 8.4 {uuid.uuid4().hex[:8]}"
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={"type": "question", "title": title, "description": "?"},
    )
    assert created.status == 201, created.body
    ticket_id = created.body["id"]

    # WHEN support adds an internal note, then replies publicly over HTTP
    note = http(
        stack,
        "POST",
        f"/tickets/{ticket_id}/comments",
        token=support_token,
        body={"body": "internal: check the cluster first", "visibility": "internal"},
    )
    staff = http(
        stack, "POST", f"/tickets/{ticket_id}/comments", token=support_token, body={"body": "Yes, on every plan."}
    )
    assert (note.status, staff.status) == (201, 201), (note.body, staff.body)

    # THEN the reply is in the outbox, to the customer, from question@, threaded
    sent = wait_for("the reply in the outbox", lambda: _outbox(stack, ticket_id), timeout=ASYNC_TIMEOUT)
    assert len(sent) == 1
    out = sent[0]
    assert out["To"].addresses[0].addr_spec == CUSTOMER
    assert out["From"].addresses[0].addr_spec == f"question@{stack.info['support_domain']}"
    assert out["Subject"] == f"Re: {title} [#{ticket_id}]"
    assert out["In-Reply-To"] and out["References"]
    assert "Yes, on every plan." in out.get_content()
    assert "internal" not in out.get_content()
    # AND the customer never sees the note; support does
    customer_view = http(stack, "GET", f"/tickets/{ticket_id}", token=customer_token).body
    assert [c["body"] for c in customer_view["comments"]] == ["Yes, on every plan."]
    staff_view = http(stack, "GET", f"/tickets/{ticket_id}", token=support_token).body
    assert [c["visibility"] for c in staff_view["comments"]] == ["internal", "public"]

    # WHEN the customer answers that mail over SMTP (no ticket id in the subject: threading only)
    answer = EmailMessage()
    answer["From"] = f"Alice Martin <{CUSTOMER}>"
    answer["To"] = str(out["From"])
    answer["Subject"] = "Re: your answer"
    answer["Message-ID"] = f"<{uuid.uuid4().hex}@acme.example>"
    answer["In-Reply-To"] = str(out["Message-ID"])
    answer["References"] = f"{out['References']} {out['Message-ID']}"
    answer.set_content("Thanks, and is 8.3 still there?")
    with smtplib.SMTP(stack.info["smtp_host"], stack.info["smtp_port"], timeout=30) as smtp:
        smtp.send_message(answer)

    # THEN it is the next comment on the ticket
    def answered() -> list[dict[str, Any]] | None:
        comments = http(stack, "GET", f"/tickets/{ticket_id}", token=customer_token).body["comments"]
        return comments if len(comments) == 2 else None

    comments = wait_for("the emailed answer as a comment", answered, timeout=ASYNC_TIMEOUT)
    assert comments[-1]["body"] == "Thanks, and is 8.3 still there?"
    assert comments[-1]["channel"] == "email"

    # WHEN support resolve the ticket
    resolved = http(stack, "PATCH", f"/tickets/{ticket_id}", token=support_token, body={"status": "resolved"})
    assert resolved.status == 200, resolved.body

    # THEN the customer gets an automatic notice; the history says who did it
    def notices() -> list[EmailMessage]:
        return [m for m in _outbox(stack, ticket_id) if str(m["Subject"]).startswith("Resolved:")]

    notice = wait_for("the resolve notice", notices, timeout=ASYNC_TIMEOUT)
    assert len(notice) == 1 and len(_outbox(stack, ticket_id)) == 2
    assert notice[0]["Auto-Submitted"] == "auto-generated"
    history = http(stack, "GET", f"/tickets/{ticket_id}/history", token=customer_token).body
    assert [(h["actor"], h["field"], h["to"]) for h in history] == [
        ("oncall@support.example.com", "status", "resolved")
    ]


def test_upload_over_http_then_listed_and_downloaded(stack: RunningStack, customer_token: str) -> None:
    # GIVEN a ticket and an upload form for it
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={"type": "question", "title": f"Logs {uuid.uuid4().hex[:6]}", "description": "see file"},
    )
    ticket_id = created.body["id"]
    form = http(
        stack,
        "POST",
        f"/tickets/{ticket_id}/attachments",
        token=customer_token,
        body={"name": "app.log", "content_type": "text/plain"},
    )
    assert form.status == 201, form.body

    # WHEN the browser posts the file to the presigned URL
    content = b"2026-11-26 09:00 error: disk full\n"
    body, content_type = _multipart(form.body["fields"], "app.log", content)
    request = urllib.request.Request(form.body["url"], data=body, method="POST")
    request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 204)

    # THEN the ticket lists it, and its download URL serves the bytes as a download
    listed = http(stack, "GET", f"/tickets/{ticket_id}", token=customer_token).body["attachments"]
    assert listed == [{"name": "app.log", "size": len(content), "content_type": "text/plain", "n": 1}]
    download = http(stack, "GET", f"/tickets/{ticket_id}/attachments/1", token=customer_token)
    assert download.status == 200, download.body
    with urllib.request.urlopen(download.body["url"], timeout=30) as response:
        assert response.read() == content
        assert response.headers["Content-Disposition"].startswith("attachment;")
