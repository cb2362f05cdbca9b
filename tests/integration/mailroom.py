"""The mail side of the pipeline on moto: raw mail delivered as SES would, and what it became."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from support_common.models import Comment, Contact, Ticket, utcnow

from functions.email_ingest.app import lambda_handler
from tests.conftest import Stores, load_event
from tests.integration.names import REGION

DOMAIN = "support.example.com"
BUCKET = "support-desk-raw-mail-test"
ACK_SENDER = f"incident@{DOMAIN}"
CORPUS = Path(__file__).resolve().parents[1] / "mail-corpus"
LONG_ENOUGH = (
    "Please add a second SFTP account for our auditors on the production server www.acme.example, "
    "read-only on /exports, before Friday."
)


def mail(
    subject: str = "Checkout returns 502",
    body: str = "Since 09:00 every checkout on www.acme.example fails with a 502.",
    *,
    sender: str = "Alice Martin <alice@acme.example>",
    to: str = f"incident@{DOMAIN}",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """A raw message as a mail client would send it."""
    # Clients do not fold or encode long Message-IDs (the stdlib's 78-column default would).
    msg = EmailMessage(policy=SMTP.clone(max_line_length=998))
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Thu, 26 Nov 2026 09:13:58 +0000"
    msg["Message-ID"] = message_id or f"<{secrets.token_hex(8)}@mail.acme.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


@dataclass
class Mailroom:
    """The support desk's mail side on moto: deliver raw mail as SES would, then look at the results."""

    s3: Any
    stores: Stores
    lambda_context: Any
    delivered: list[str] = field(default_factory=list)

    def event(
        self,
        raw: bytes,
        *,
        ses_id: str,
        recipients: list[str],
        source: str,
        spf: str,
        dkim: str,
        dmarc: str,
        spam: str,
        virus: str,
    ) -> dict[str, Any]:
        """The real SES Lambda-action event sample, filled in for this message."""
        event = load_event("ses_receipt_lambda")
        record = event["Records"][0]["ses"]
        record["mail"]["messageId"] = ses_id
        record["mail"]["source"] = source
        record["mail"]["destination"] = recipients
        try:
            parsed = BytesHeaderParser().parsebytes(raw[:65536])
            own = [{"name": k, "value": str(v)} for k, v in parsed.items()]
            from_header = str(parsed.get("From", ""))
        except Exception:  # hostile headers: SES then sends the event with headers truncated
            own, from_header = [], ""
        from_domain = from_header.rpartition("@")[2].strip(">").strip() or "unknown.invalid"
        results = (
            f"amazonses.com; spf={spf.lower()} envelope-from={source}; "
            f"dkim={dkim.lower()} header.i=@{from_domain}; dmarc={dmarc.lower()} header.from={from_domain};"
        )
        record["mail"]["headers"] = [
            {"name": "Return-Path", "value": f"<{source}>"},
            {"name": "Authentication-Results", "value": results},
            *own,
        ]
        record["mail"]["headersTruncated"] = not own
        record["receipt"]["recipients"] = recipients
        for name, status in (("spam", spam), ("virus", virus), ("spf", spf), ("dkim", dkim), ("dmarc", dmarc)):
            record["receipt"][f"{name}Verdict"] = {"status": status}
        return event

    def deliver(
        self,
        raw: bytes | None,
        *,
        to: str | list[str] = f"incident@{DOMAIN}",
        source: str = "alice@acme.example",
        spf: str = "PASS",
        dkim: str = "PASS",
        dmarc: str = "PASS",
        spam: str = "PASS",
        virus: str = "PASS",
        ses_id: str | None = None,
    ) -> dict[str, Any]:
        """Store `raw` under inbound/ as SES's S3 action does, then invoke the handler as the Lambda action does."""
        ses_id = ses_id or f"{secrets.token_hex(16)}o3vrnil0e2ic28trm7"
        if raw is not None:
            self.s3.put_object(Bucket=BUCKET, Key=f"inbound/{ses_id}", Body=raw)
        self.delivered.append(ses_id)
        recipients = [to] if isinstance(to, str) else to
        event = self.event(
            raw or b"",
            ses_id=ses_id,
            recipients=recipients,
            source=source,
            spf=spf,
            dkim=dkim,
            dmarc=dmarc,
            spam=spam,
            virus=virus,
        )
        result = lambda_handler(event, self.lambda_context)
        assert len(result["results"]) == 1
        return dict(result["results"][0])

    def ticket(self, ticket_id: str) -> tuple[Ticket, list[Comment]]:
        found = self.stores.tickets.get_with_comments(ticket_id)
        assert found is not None, ticket_id
        return found

    def object(self, key: str) -> dict[str, Any]:
        return dict(self.s3.get_object(Bucket=BUCKET, Key=key))

    def sent(self) -> list[Any]:
        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)

    def add_contact(self, address: str, tenant: str) -> None:
        self.stores.contacts.put(
            Contact(address=address, tenant=tenant, created_at=utcnow(), created_by="oncall@support.example.com")
        )
