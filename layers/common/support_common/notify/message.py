"""The mail the desk sends a requester: a staff reply or a status notice, as text, threaded.

Every header value passes `clean_header_value` (no CR, LF, NUL or other controls: a ticket's title
is customer text). Bodies are text/plain only: a reply written with markup is sent as the text
it is, never rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formataddr, formatdate
from functools import cache
from typing import TYPE_CHECKING

from support_common.mail import clean_header_value
from support_common.models import TRIAGE_TENANT, Channel, Ticket, TicketType
from support_common.notify.events import NoticeKind, PublicReply, StatusNotice

if TYPE_CHECKING:
    from email.message import EmailMessage
    from email.policy import EmailPolicy

# Addresses that are machines: mail to them bounces, auto-answers or is read by nobody.
_ROBOT_LOCAL = re.compile(
    r"^(mailer[-_.]?daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|"
    r"notifications?|auto[-_.]?(reply|responder)|daemon|abuse)([-+_.].*)?$",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# References keeps the thread's first ids; clients need the root and the latest, not every hop.
REFERENCES_MAX = 10

NOTICE_LINES: dict[NoticeKind, tuple[str, str]] = {
    NoticeKind.RESOLVED: (
        "Resolved",
        "Support has marked this ticket resolved. If the problem is not solved, reply to this message: "
        "a reply to a resolved incident reopens it, and so does any reply that is more than thanks.",
    ),
    NoticeKind.CLOSED: (
        "Closed",
        "This ticket is closed. A reply to this message opens a new ticket that links back to it.",
    ),
    NoticeKind.REOPENED: ("Reopened", "This ticket is open again: support will look at it."),
}


@dataclass(frozen=True)
class Envelope:
    """Where a mail of a ticket goes and how it threads."""

    sender: str  # the ticket type's address, e.g. incident@support.example.com
    recipient: str
    recipient_name: str | None
    message_id: str  # ours; SES replaces it and both are recorded
    references: list[str]


def type_address(ticket_type: TicketType, support_domain: str) -> str:
    """The support address of a ticket type: mail comes from where the customer would write."""
    return f"{ticket_type.value}@{support_domain}"


def undeliverable(ticket: Ticket, support_domain: str) -> str | None:
    """Why the requester of `ticket` must never be mailed, or None when they may be."""
    address = ticket.requester.email.strip().lower()
    if not _ADDRESS.match(address) or clean_header_value(address) != address:
        return "bad-address"
    local, _, domain = address.rpartition("@")
    if domain == support_domain.lower() or domain.endswith("." + support_domain.lower()):
        return "own-domain"  # our own addresses: a loop
    if _ROBOT_LOCAL.match(local):
        return "robot"
    if ticket.channel == Channel.EMAIL and ticket.requester_verified is not True:
        # Nobody proved this sender sent the mail: answering could mail someone who never wrote.
        return "unauthenticated"
    return None


def thread_references(ticket: Ticket, support_domain: str) -> list[str]:
    """The ids a mail of the ticket refers to: the ticket's own (its first message first) or a root."""
    ids = [clean_header_value(mid) for mid in ticket.message_ids if clean_header_value(mid)]
    if not ids:
        # A dashboard ticket has no message yet: one stable root groups every mail of it.
        ids = [f"<ticket.{ticket.id}@{support_domain}>"]
    return ids[:REFERENCES_MAX]


@cache
def _policy() -> EmailPolicy[EmailMessage]:
    """SMTP with RFC 5322's 998-column lines: long Message-IDs stay unencoded in References."""
    from email.policy import SMTP

    return SMTP.clone(max_line_length=998)


def _message(ticket: Ticket, envelope: Envelope, subject: str) -> EmailMessage:
    from email.message import EmailMessage  # only invocations that send pay its import

    msg = EmailMessage(policy=_policy())
    msg["From"] = formataddr(("Support", clean_header_value(envelope.sender)))
    msg["To"] = formataddr((clean_header_value(envelope.recipient_name), clean_header_value(envelope.recipient)))
    msg["Subject"] = clean_header_value(subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = clean_header_value(envelope.message_id)
    refs = [clean_header_value(r) for r in envelope.references if clean_header_value(r)]
    if refs:
        msg["In-Reply-To"] = refs[0]
        msg["References"] = " ".join(refs)
    return msg


def _footer(ticket: Ticket, dashboard_url: str) -> list[str]:
    lines = [
        "",
        "--",
        f"Ticket {ticket.id}: reply to this message to answer (keep [#{ticket.id}] in the subject).",
    ]
    if ticket.tenant != TRIAGE_TENANT:
        lines.append(f"{dashboard_url.rstrip('/')}/tickets/{ticket.id}")
    return lines


def build_reply(reply: PublicReply, ticket: Ticket, envelope: Envelope, dashboard_url: str) -> bytes:
    """A staff reply as the requester receives it: `Re: <title> [#<id>]`, threaded, text only."""
    msg = _message(ticket, envelope, f"Re: {ticket.title} [#{ticket.id}]")
    author = clean_header_value(reply.author_name) or "Support"
    body = [reply.body.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", ""), "", f"{author}, support"]
    msg.set_content("\n".join([*body, *_footer(ticket, dashboard_url)]))
    return msg.as_bytes()


def build_notice(notice: StatusNotice, envelope: Envelope, dashboard_url: str) -> bytes:
    """A short automatic notice of a status change (RFC 3834 `auto-generated`: robots do not answer)."""
    ticket = notice.ticket
    word, text = NOTICE_LINES[notice.kind]
    msg = _message(ticket, envelope, f"{word}: {ticket.title} [#{ticket.id}]")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answers to it
    lines = ["Hello,", "", f"Ticket {ticket.id} ({ticket.title}): {word.lower()}.", "", text]
    msg.set_content("\n".join([*lines, *_footer(ticket, dashboard_url), "", "This is an automatic message."]))
    return msg.as_bytes()
