"""The page published to SNS: subject, attributes and one body per protocol (MessageStructure json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from support_common.models import Ticket, iso

# SNS documents subjects as "less than 100 characters"; the contract allows at most 100. 99
# satisfies both, so a long title can never get a page rejected.
SUBJECT_MAX = 99
SUBJECT_PREFIX = "[URGENT] "
# One GSM-7 segment. The acknowledgement link must be whole, so the title gives way to it.
SMS_MAX = 160
TITLE_MAX = 200
FIELD_MAX = 200
SUMMARY_MAX = 1024  # PagerDuty's limit for payload.summary
DESCRIPTION_EXCERPT = 1500
# A PublishBatch carries at most 256 KiB in all: a page stays under a tenth of it, so ten pages
# always fit one call. On-call reads the ticket through the link; the page only needs the gist.
PAGE_MAX_BYTES = 24 * 1024
ELLIPSIS = "..."
SOURCE = "support-desk"

_SPACES = re.compile(r"\s+")


def one_line(value: str | None, limit: int) -> str:
    """Printable single-line text: control and separator characters become spaces, cut to `limit`."""
    text = "".join(ch if ch.isprintable() else " " for ch in value or "")
    return truncate(_SPACES.sub(" ", text).strip(), limit)


def multi_line(value: str | None, limit: int) -> str:
    """Printable text that keeps its line breaks (for email and details), cut to `limit`."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return truncate(text.strip(), limit)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def subject_for(ticket: Ticket) -> str:
    """`[URGENT] <id>: <title>`, printable, at most SUBJECT_MAX characters."""
    return one_line(f"{SUBJECT_PREFIX}{ticket.id}: {one_line(ticket.title, TITLE_MAX)}", SUBJECT_MAX)


def ticket_link(dashboard_url: str, ticket_id: str) -> str:
    """The dashboard page of a ticket."""
    return f"{dashboard_url.rstrip('/')}/tickets/{ticket_id}"


@dataclass(frozen=True)
class AckInfo:
    """How on-call acknowledges a page: its signed link, and the code a staff mail quotes."""

    url: str
    reply_code: str | None = None
    reply_to: str | None = None  # a support address that takes the mail


def level_text(level: int, repeat: int) -> str:
    """`L2`, or `L3+2` for the second repeat of the last level."""
    return f"L{level}" + (f"+{repeat}" if repeat else "")


def sms_line(head: str, title: str, tail: str) -> str:
    """`<head> <title> <tail>` in at most SMS_MAX characters: the title is cut, never the tail."""
    room = SMS_MAX - len(head) - (len(tail) + 1 if tail else 0) - 1
    text = f"{head} {one_line(title, max(room, 0))}".rstrip() if room > len(ELLIPSIS) else head
    return f"{text} {tail}" if tail else text


@dataclass(frozen=True)
class PageMessage:
    """One SNS message, ready for Publish or a PublishBatch entry."""

    ticket_id: str
    level: int
    subject: str
    message: str  # a JSON object with one body per protocol
    attributes: dict[str, dict[str, str]]

    @property
    def size(self) -> int:
        """Bytes this message counts against SNS's size limits (body, subject and attributes)."""
        attrs = sum(
            len(k.encode()) + len(v["DataType"]) + len(v["StringValue"].encode())
            for k, v in self.attributes.items()
        )
        return len(self.message.encode()) + len(self.subject.encode()) + attrs

    def entry(self, entry_id: str) -> dict[str, Any]:
        """This message as a PublishBatch entry."""
        return {
            "Id": entry_id,
            "Message": self.message,
            "MessageStructure": "json",
            "Subject": self.subject,
            "MessageAttributes": self.attributes,
        }


def build_page(
    ticket: Ticket,
    level: int,
    *,
    dashboard_url: str,
    ack: AckInfo | None = None,
    repeat: int = 0,
    max_bytes: int = PAGE_MAX_BYTES,
) -> PageMessage:
    """The page for `ticket` at escalation `level` (`repeat`: the n-th repeat of the last level).

    Ticket text is sanitized, escaped and capped; `ack` adds the acknowledgement link and code.
    """
    excerpt = DESCRIPTION_EXCERPT
    while True:
        page = _build(ticket, level, dashboard_url, excerpt, ack, repeat)
        if page.size <= max_bytes or excerpt == 0:
            return page
        excerpt //= 2


def _ack_lines(ticket: Ticket, ack: AckInfo | None) -> list[str]:
    if ack is None:
        return ["Acknowledge the ticket in the dashboard to stop escalation to the next level."]
    lines = [f"Acknowledge (no sign-in): {ack.url}"]
    if ack.reply_code and ack.reply_to:
        lines.append(
            f"Or mail {ack.reply_to} from your staff address with the subject: ACK {ticket.id} {ack.reply_code}"
        )
    lines.append("Acknowledging stops escalation to the next level.")
    return lines


def _build(
    ticket: Ticket, level: int, dashboard_url: str, excerpt: int, ack: AckInfo | None, repeat: int
) -> PageMessage:
    link = ticket_link(dashboard_url, ticket.id)
    title = one_line(ticket.title, TITLE_MAX)
    tenant = one_line(ticket.tenant, FIELD_MAX)
    environment = one_line(ticket.environment, FIELD_MAX) or "(not given)"
    description = multi_line(ticket.description, excerpt)
    requester = one_line(ticket.requester.email, FIELD_MAX)
    created = iso(ticket.created_at)
    subject = subject_for(ticket)

    details = {
        "ticket_id": ticket.id,
        "escalation_level": level,
        "round": max(ticket.page_round, 1),
        "repeat": repeat,
        "type": str(ticket.type),
        "priority": str(ticket.priority),
        "status": str(ticket.status),
        "tenant": tenant,
        "title": title,
        "environment": environment,
        "requester": requester,
        "channel": str(ticket.channel),
        "created_at": created,
        "link": link,
        "description": description,
        **({"ack_url": ack.url} if ack else {}),
    }
    sms = sms_line(f"URGENT {level_text(level, repeat)} {ticket.id}:", title, f"ACK {ack.url}" if ack else "")
    again = f" (repeat {repeat}: still unacknowledged)" if repeat else ""
    email = "\n".join(
        [
            f"Urgent incident {ticket.id}, escalation level {level}{again}: the customer's site is down.",
            "",
            f"Title:       {title}",
            f"Tenant:      {tenant}",
            f"Environment: {environment}",
            f"Requester:   {requester}",
            f"Opened:      {created} (via {ticket.channel})",
            f"Ticket:      {link}",
            "",
            *_ack_lines(ticket, ack),
            "",
            f"--- description (first {excerpt} characters) ---",
            description,
        ]
    )
    # PagerDuty Events API v2 "trigger": an HTTPS integration can take it as it is. One dedup_key
    # per ticket makes every level (and any repeat) the same PagerDuty incident.
    pagerduty = {
        "event_action": "trigger",
        "dedup_key": ticket.id,
        "payload": {
            "summary": one_line(f"{subject} (tenant {tenant}, level {level})", SUMMARY_MAX),
            "source": environment if ticket.environment else tenant,
            "severity": "critical",
            "timestamp": created,
            "component": environment,
            "group": tenant,
            "class": str(ticket.type),
            "custom_details": details,
        },
        "links": [
            *([{"href": ack.url, "text": "Acknowledge"}] if ack else []),
            {"href": link, "text": f"Ticket {ticket.id}"},
        ],
        "client": "Support desk",
        "client_url": link,
    }
    bodies = {
        "default": email,
        "email": email,
        "sms": sms,
        "https": _json(pagerduty),
        "sqs": _json({"source": SOURCE, **details}),
    }
    attributes = message_attributes(ticket, level, event_action="trigger")
    return PageMessage(ticket.id, level, subject, _json(bodies), attributes)


def message_attributes(
    ticket: Ticket, level: int, *, event_action: str, origin: str = "desk"
) -> dict[str, dict[str, str]]:
    """What subscriptions filter on: the ticket's type, priority and tenant, the level, and
    `event_action` (trigger, acknowledge, resolve); `origin` is `pagerduty` for a stand-down of a
    change PagerDuty itself made (its HTTPS subscription skips those: no echo)."""
    return {
        "ticket_type": {"DataType": "String", "StringValue": str(ticket.type)},
        "priority": {"DataType": "String", "StringValue": str(ticket.priority)},
        "tenant": {"DataType": "String", "StringValue": ticket.tenant},
        "escalation_level": {"DataType": "Number", "StringValue": str(level)},
        "event_action": {"DataType": "String", "StringValue": event_action},
        "origin": {"DataType": "String", "StringValue": origin},
    }


def to_json(value: Any) -> str:
    """Compact JSON for message bodies."""
    return _json(value)


def _json(value: Any) -> str:
    # json.dumps escapes quotes, backslashes and controls, so ticket text cannot break the
    # structure; ensure_ascii=False keeps non-Latin text at its UTF-8 size instead of \uXXXX.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
