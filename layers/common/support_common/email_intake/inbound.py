"""The SES receipt record: envelope, verdicts and headers of one message (SES sends no body)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL = "PASS", "FAIL"
# The id becomes an object key and a table key: accept only SES's own shape.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")


@dataclass(frozen=True)
class Verdicts:
    """SES's checks of one message; each PASS, FAIL, GRAY, PROCESSING_FAILED or DISABLED."""

    spam: str = "GRAY"
    virus: str = "GRAY"
    spf: str = "GRAY"
    dkim: str = "GRAY"
    dmarc: str = "GRAY"


@dataclass(frozen=True)
class InboundMail:
    """What SES's Lambda action says about one message: envelope, verdicts and headers, no body."""

    message_id: str  # SES's id; also the raw object's key under inbound/
    source: str  # the envelope sender (MAIL FROM); "" or "<>" for bounces
    recipients: list[str]  # the envelope recipients of this rule: Bcc and forwards included
    verdicts: Verdicts
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: Any) -> InboundMail:
        """Read an SES record; raise ValueError when it is not one."""
        ses = record["ses"] if isinstance(record, dict) else None
        if not isinstance(ses, dict):
            raise ValueError("not an SES record")
        mail, receipt = ses.get("mail") or {}, ses.get("receipt") or {}
        message_id = mail.get("messageId")
        if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
            raise ValueError("no usable messageId")
        recipients = [r for r in receipt.get("recipients") or [] if isinstance(r, str)]

        def verdict(name: str) -> str:
            value = receipt.get(f"{name}Verdict")
            status = value.get("status") if isinstance(value, dict) else None
            return str(status).upper() if status else "GRAY"

        headers = [
            (str(h.get("name", "")), str(h.get("value", "")))
            for h in mail.get("headers") or []
            if isinstance(h, dict)
        ]
        source = mail.get("source")
        return cls(
            message_id=message_id,
            source=source if isinstance(source, str) else "",
            recipients=recipients,
            verdicts=Verdicts(*(verdict(n) for n in ("spam", "virus", "spf", "dkim", "dmarc"))),
            headers=headers,
        )
