"""Email intake: an SES receipt event becomes a ticket, a comment on one, or a logged rejection.

The decisions are in the README ("Email", "What happens to a message"). In short: each SES
message is filed exactly once (its `MAIL#` marker is written in the same transaction as what it
becomes); who sent it decides the tenant (`trust`); a reply names its ticket (`threads`); a new
ticket is acknowledged to a verified sender (`acknowledgement`).
"""

from __future__ import annotations

import re
import secrets
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Literal, NoReturn

from aws_lambda_powertools.metrics import MetricUnit

from support_common.aws_errors import error_code, is_transient
from support_common.email_intake.acknowledgement import AcknowledgementBusy, Acknowledger
from support_common.email_intake.inbound import FAIL, InboundMail
from support_common.email_intake.page_replies import PageReplies
from support_common.email_intake.routing import Route, route_recipients
from support_common.email_intake.storage import MailBucket, RawMissing, RawTooLarge, RawUnreadable
from support_common.email_intake.threads import thread_target
from support_common.email_intake.trust import envelope_address, is_authenticated, may_comment
from support_common.errors import SupportError
from support_common.mail import MailLimits, MailRejected, ParsedEmail, parse_email
from support_common.models import (
    TRIAGE_TENANT,
    Channel,
    Contact,
    Identity,
    Priority,
    Status,
    Ticket,
    TicketType,
    task_description_problem,
)
from support_common.observability import count, logger, metrics
from support_common.repository.messages import MailAlreadyFiled, MailFiled, MailLookup, MailStore
from support_common.ticket_rules import new_ticket_id
from support_common.tickets import NewTicket, TicketService

NO_TEXT = "(no text)"
FULL_TEXT_NAME = "full-text.txt"
# The reopen policy for an emailed reply to a resolved ticket (README "Replies to a resolved ticket"):
# an incident reopens on any reply (the customer says it is back); any other type stays resolved
# when the reply is only thanks (short, thanks words, no question, nothing about a fault).
THANKS_MAX_CHARS = 160
_THANKS = re.compile(
    r"^\W*(many\s+|a\s+lot\s+of\s+|great,?\s+|perfect,?\s+|ok(ay)?,?\s+)?"
    r"(thanks|thank\s*you|thx|ty|cheers|much\s+appreciated|merci|danke|gracias)\b",
    re.IGNORECASE,
)
_NOT_THANKS = re.compile(
    r"\?|\b(still|again|not|no longer|doesn'?t|isn'?t|won'?t|can'?t|down|broken|error|fail\w*|issue|problem)\b",
    re.IGNORECASE,
)


def reply_reopens(ticket: Ticket, text: str) -> bool:
    """Whether an emailed reply to a resolved `ticket` reopens it (the one statement of the policy)."""
    if ticket.type == TicketType.INCIDENT:
        return True
    words = text.strip()
    is_thanks = len(words) <= THANKS_MAX_CHARS and _THANKS.match(words) and not _NOT_THANKS.search(words)
    return not is_thanks


OutcomeKind = Literal["ticket", "comment", "rejected", "failed", "acknowledged"]


@dataclass(frozen=True)
class Outcome:
    """What one message became."""

    kind: OutcomeKind
    message_id: str | None
    reason: str | None = None
    ticket_id: str | None = None
    comment_id: str | None = None
    acknowledged: bool = False


class Rejected(Exception):
    """The message will not become a ticket or a comment; `reason` says why."""

    def __init__(self, reason: str, *, ticket_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ticket_id = ticket_id


class EmailIntake:
    """Files inbound mail; every AWS client and setting comes in from outside."""

    def __init__(
        self,
        *,
        tickets: TicketService,
        messages: MailStore,
        bucket: MailBucket,
        acknowledger: Acknowledger,
        support_domain: str,
        limits: MailLimits | None = None,
        page_replies: PageReplies | None = None,
    ) -> None:
        self.tickets = tickets
        self.messages = messages
        self.bucket = bucket
        self.acknowledger = acknowledger
        self.support_domain = support_domain.lower()
        self.limits = limits or MailLimits()
        self.page_replies = page_replies

    # --- the flow ------------------------------------------------------------------------

    def handle(self, event: Any) -> dict[str, Any]:
        """File every record of an SES receipt event; raises only on a transient AWS failure."""
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list) or not records:
            return {"results": [asdict(self._rejected(None, "bad-event"))]}
        return {"results": [asdict(self.process_record(record)) for record in records]}

    def process_record(self, record: Any) -> Outcome:
        """One message: a ticket, a comment or a rejection; failures are logged and counted."""
        try:
            mail = InboundMail.from_record(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._rejected(None, "bad-event")
        try:
            return self._process(mail)
        except Rejected as exc:
            return self._rejected(mail.message_id, exc.reason, ticket_id=exc.ticket_id)
        except SupportError as exc:
            # A ticket rule refused it (the message is fine, the ticket would not be).
            return self._rejected(mail.message_id, f"refused-{exc.field or 'ticket'}")
        except Exception as exc:
            if not (is_transient(exc) or isinstance(exc, RawUnreadable | AcknowledgementBusy)):
                return self._failed(mail, exc)
            # An AWS outage or throttling is not the sender's fault: fail the invocation so that
            # Lambda retries it (and then parks it in the failure queue). The MAIL# marker makes
            # a retry file the message once.
            logger.warning(
                "mail deferred", reason="aws-unavailable", message_id=mail.message_id, error=error_code(exc)
            )
            metrics.add_metric(name="MailDeferred", unit=MetricUnit.Count, value=1)
            raise

    def _failed(self, mail: InboundMail, exc: BaseException) -> Outcome:
        # The raw message stays in the bucket: it can be replayed once the cause is fixed.
        # No exception text in the log: it may quote the message.
        logger.error(
            "mail failed",
            reason="internal-error",
            message_id=mail.message_id,
            error=type(exc).__name__,
            where=_where(exc),
        )
        metrics.add_metric(name="MailFailed", unit=MetricUnit.Count, value=1)
        return Outcome("failed", mail.message_id, reason="internal-error")

    def _read(self, mail: InboundMail) -> ParsedEmail:
        """The parsed message; Rejected for what the sender's message itself causes."""
        try:
            raw = self.bucket.read_raw(mail.message_id, self.limits.max_size)
        except RawMissing:
            raise Rejected("raw-missing") from None
        except RawTooLarge:
            raise Rejected("too-large") from None
        try:
            return parse_email(raw, self.limits, return_path=mail.source)
        except MailRejected as exc:
            raise Rejected(exc.reason) from None

    def _process(self, mail: InboundMail) -> Outcome:
        route = route_recipients(mail.recipients, self.support_domain)
        if route is None:
            raise Rejected("no-route")
        for verdict, reason in ((mail.verdicts.virus, "virus"), (mail.verdicts.spam, "spam")):
            if verdict == FAIL:
                self.bucket.quarantine(mail.message_id)
                raise Rejected(reason)
        # The raw bytes (up to 40 MB) go out of scope with _read, before the attachments are uploaded.
        parsed = self._read(mail)
        if parsed.robot_reason:
            raise Rejected(parsed.robot_reason)
        sender = (parsed.from_address or envelope_address(mail.source)).lower()
        if "@" not in sender:
            raise Rejected("no-sender")
        if any(route_recipients([a], self.support_domain) for a in (sender, envelope_address(mail.source))):
            raise Rejected("loop")  # mail from one of our own receiving addresses: our own mail came back
        about_page = self.page_replies.judge(mail, parsed, sender) if self.page_replies else None
        if about_page is not None:  # a mail answering a page: an acknowledgement, never a ticket
            if about_page.acknowledged:
                return Outcome("acknowledged", mail.message_id, ticket_id=about_page.ticket_id)
            raise Rejected(about_page.reason, ticket_id=about_page.ticket_id)
        refs = [*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
        own = [parsed.message_id] if parsed.message_id else []
        lookup = self.messages.lookup(mail.message_id, [*refs, *own], sender)
        if lookup.filed is not None:
            self._duplicate(mail, parsed, route, lookup.filed)
        authenticated = is_authenticated(mail, parsed, sender)
        contact = lookup.contact if authenticated else None
        if parsed.message_id in lookup.owners:
            # The same message again under a new SES id (one copy per support address, a resend):
            # a duplicate for whoever may write on its ticket; anyone else reusing the id is ignored.
            known = self.tickets.store.get(lookup.owners[parsed.message_id])
            if known is not None and may_comment(known, sender, contact, authenticated):
                raise Rejected("duplicate-message-id", ticket_id=known.id)
        target = thread_target(parsed, lookup.owners)
        if target is not None:
            ticket = self.tickets.store.get(target)
            if ticket is not None and may_comment(ticket, sender, contact, authenticated):
                if ticket.status != Status.CLOSED:
                    return self._comment(mail, parsed, ticket, sender)
                # Closed is final: the answer opens a new ticket that links back to the old one.
                return self._new_ticket(
                    mail, parsed, route, sender, contact, lookup, authenticated=authenticated, follows=ticket
                )
        return self._new_ticket(mail, parsed, route, sender, contact, lookup, authenticated=authenticated)

    # --- outcomes ------------------------------------------------------------------------

    def _comment(self, mail: InboundMail, parsed: ParsedEmail, ticket: Ticket, sender: str) -> Outcome:
        prefix = f"tickets/{ticket.id}/{mail.message_id}"
        attachments = self.bucket.store_attachments(prefix, parsed.attachments)
        if _trimmed(parsed):
            # A comment has no full-text field: the untrimmed text rides along as an attachment.
            attachments.append(self.bucket.store_full_text(prefix, parsed.full_text, FULL_TEXT_NAME))
        identity = Identity(email=sender, tenant=ticket.tenant, name=parsed.from_name)
        body = _with_omitted(parsed.description.strip() or NO_TEXT, parsed)
        if ticket.status == Status.RESOLVED and reply_reopens(ticket, body):
            # Reopened before the comment is filed: a retry after a failure finds the ticket open and
            # files the comment once (the MAIL# marker); a reopen alone is harmless.
            ticket = self.tickets.update(identity, ticket.id, {"status": Status.OPEN}, current=ticket)
            logger.info("ticket reopened by reply", ticket_id=ticket.id, message_id=mail.message_id)
        try:
            comment = self.tickets.comment(
                identity,
                ticket.id,
                body,
                channel=Channel.EMAIL,
                attachments=attachments,
                message_ids=[parsed.message_id] if parsed.message_id else [],
                current=ticket,
                filed_from=mail.message_id,
            )
        except MailAlreadyFiled:
            raise Rejected("duplicate", ticket_id=ticket.id) from None
        metrics.add_metric(name="CommentsFromEmail", unit=MetricUnit.Count, value=1)
        return Outcome("comment", mail.message_id, ticket_id=ticket.id, comment_id=comment.id)

    def _new_ticket(
        self,
        mail: InboundMail,
        parsed: ParsedEmail,
        route: Route,
        sender: str,
        contact: Contact | None,
        lookup: MailLookup,
        *,
        authenticated: bool,
        follows: Ticket | None = None,
    ) -> Outcome:
        ticket_type = TicketType(route.ticket_type)
        description = _with_omitted(parsed.description.strip() or NO_TEXT, parsed)
        if ticket_type == TicketType.TASK and task_description_problem(description):
            # The dashboard refuses a thin task; mail cannot be refused, so it waits in questions.
            logger.info("task filed as question", reason="task-undescribed", message_id=mail.message_id)
            ticket_type = TicketType.QUESTION
        tenant = contact.tenant if contact else TRIAGE_TENANT
        related: list[str] = []
        # Links stay inside one tenant and a problem links only incidents: else no link, never a lost mail.
        if (
            follows is not None
            and follows.tenant == tenant
            and (ticket_type != TicketType.PROBLEM or follows.type == TicketType.INCIDENT)
        ):
            related = [follows.id]
        ticket_id = new_ticket_id(ticket_type)
        prefix = f"tickets/{ticket_id}/{mail.message_id}"
        attachments = self.bucket.store_attachments(prefix, parsed.attachments)
        full_text_key = None
        if _trimmed(parsed):
            full_text = self.bucket.store_full_text(prefix, parsed.full_text, "full.txt")
            full_text_key = full_text.key
            attachments.append(full_text)  # listed, so it can be downloaded like any file
        ack_to = self.acknowledger.recipient(mail)
        ack_id = f"<ack.{ticket_id}.{secrets.token_hex(6)}@{self.support_domain}>" if ack_to else None
        # A Message-ID already known belongs to another ticket: never re-point it.
        own = [parsed.message_id] if parsed.message_id and parsed.message_id not in lookup.owners else []
        draft = NewTicket(
            type=ticket_type,
            title=parsed.title,
            description=description,
            priority=Priority(route.priority),
            attachments=attachments,
            message_ids=[*own, *([ack_id] if ack_id else [])],
            parse_problems=parsed.degraded,
            full_text_key=full_text_key,
            tenant=tenant,
            ticket_id=ticket_id,
            related=related,
            requester_verified=authenticated,
        )
        identity = Identity(email=sender, tenant=tenant, name=parsed.from_name)
        try:
            ticket = self.tickets.create(identity, draft, channel=Channel.EMAIL, filed_from=mail.message_id)
        except MailAlreadyFiled:
            raise Rejected("duplicate") from None
        acknowledged = False
        if ack_to and ack_id:
            acknowledged = self.acknowledger.send(
                ticket, ack_to, ack_id, parsed.message_id, from_address=route.address
            )
        return Outcome("ticket", mail.message_id, ticket_id=ticket.id, acknowledged=acknowledged)

    def _duplicate(self, mail: InboundMail, parsed: ParsedEmail, route: Route, filed: MailFiled) -> NoReturn:
        """A message filed before (a retry, a redelivery): refused, after sending the acknowledgement
        of the ticket it made if a first attempt could not."""
        ack_to = self.acknowledger.recipient(mail) if filed.comment_id is None else None
        ticket = self.tickets.store.get(filed.ticket_id) if ack_to else None
        ack_id = next((m for m in ticket.message_ids if m.startswith("<ack.")), None) if ticket else None
        if ticket is not None and ack_to is not None and ack_id is not None:
            self.acknowledger.send(ticket, ack_to, ack_id, parsed.message_id, from_address=route.address)
        raise Rejected("duplicate", ticket_id=filed.ticket_id)

    def _rejected(self, message_id: str | None, reason: str, *, ticket_id: str | None = None) -> Outcome:
        extra = {"reason": reason, "message_id": message_id, **({"ticket_id": ticket_id} if ticket_id else {})}
        logger.info("mail rejected", extra=extra)
        count("MailRejected", reason=reason)
        return Outcome("rejected", message_id, reason=reason, ticket_id=ticket_id)


def _where(exc: BaseException) -> list[str]:
    """Our own frames of a traceback and the innermost one, as `file:line function` (no values)."""
    frames = traceback.extract_tb(exc.__traceback__)
    kept = [f for f in frames if "support_common" in f.filename] + frames[-1:]
    return [f"{f.filename.rpartition('/')[2]}:{f.lineno} {f.name}" for f in kept]


def _with_omitted(text: str, parsed: ParsedEmail) -> str:
    """The text, saying so when attachments beyond the cap stayed in the raw message only."""
    if not parsed.attachments_omitted:
        return text
    return f"{text}\n\n[{parsed.attachments_omitted} more attachments are in the original message]"


def _trimmed(parsed: ParsedEmail) -> bool:
    """Whether the description lost text (quotes, signature, length) that the full text has."""
    return parsed.full_text.strip() != parsed.description.strip()
