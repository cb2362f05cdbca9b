"""Email intake: an SES receipt event becomes a ticket, a comment on one, or a logged rejection.

Decisions (see README "Email"):

- **Exactly once per SES message**: the ticket or comment is written in the same DynamoDB
  transaction as a `MAIL#<SES messageId>` marker that must not exist yet. A redelivery finds the
  marker in its first read and writes nothing (a rejection with reason `duplicate`); two
  deliveries racing both reach the transaction and exactly one commits.
- **Who**: the sender is the `From` address. It is *authenticated* when SES's DMARC verdict is not
  FAIL and either DMARC passed, or SPF passed for an envelope domain aligned with the From domain,
  or DKIM passed for a signing domain aligned with it (SES's verdicts alone do not say which
  domain passed, and an unaligned pass proves nothing about From). It is *trusted* when it is
  also a registered contact (address, else domain): the ticket files into the contact's tenant.
  Anyone else files into the triage tenant, which never pages.
- **Threading**: `In-Reply-To`/`References` naming a known Message-ID, else a `[#<id>]` token in
  the subject, name the ticket. The reply becomes a comment only when the sender is trusted and a
  contact of the ticket's tenant or its requester, or authenticated and the requester of a triage
  ticket; anyone else gets a new ticket of their own.
- **Acknowledgement**: a new ticket is acknowledged to the envelope sender when SPF passed (never
  to an address SES did not verify: no backscatter to forged senders), at most once per sender
  per 10 minutes. Robots and spam never get this far.
"""

from __future__ import annotations

import re
import secrets
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from email.utils import formatdate, parseaddr
from functools import cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from support_common.errors import SupportError
from support_common.mail import (
    MailLimits,
    MailRejected,
    ParsedAttachment,
    ParsedEmail,
    Route,
    clean_header_value,
    parse_email,
    route_recipients,
)
from support_common.models import (
    ATTACHMENTS_MAX,
    TRIAGE_TENANT,
    Attachment,
    Channel,
    Contact,
    Identity,
    Priority,
    Status,
    Ticket,
    TicketType,
    normalize_ticket_id,
    task_description_problem,
)
from support_common.observability import count, logger, metrics
from support_common.repository import MailAlreadyFiled, MailLookup, MailScopedRepository, TicketRepository
from support_common.settings import Settings, get_settings
from support_common.tickets import NewTicket, TicketService, new_ticket_id

if TYPE_CHECKING:
    from email.message import EmailMessage
    from email.policy import EmailPolicy

    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_ses.client import SESClient

RAW_PREFIX = "inbound/"
ACK_INTERVAL_SECONDS = 600
PASS, FAIL = "PASS", "FAIL"
NO_TEXT = "(no text)"
FULL_TEXT_NAME = "full-text.txt"

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# SES's own Authentication-Results names the domain each check passed for.
_DKIM_PASS = re.compile(r"\bdkim=pass\b[^;]*?\bheader\.[di]=@?([^\s;]+)", re.IGNORECASE)
_DKIM_D = re.compile(r"(?:^|;)\s*d=([^\s;]+)", re.IGNORECASE)

OutcomeKind = Literal["ticket", "comment", "rejected", "failed"]


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
        # The id becomes an object key and a table key: accept only SES's own shape.
        if not isinstance(message_id, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,200}", message_id):
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


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".<>").lower()


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed DMARC alignment, approximated: the same domain or one a subdomain of the other."""
    if not domain or not from_domain:
        return False
    return domain == from_domain or domain.endswith("." + from_domain) or from_domain.endswith("." + domain)


def _header(headers: Sequence[tuple[str, str]], name: str) -> Iterator[str]:
    lname = name.lower()
    return (value for key, value in headers if key.lower() == lname)


def dkim_pass_domains(ses_headers: Sequence[tuple[str, str]], parsed: ParsedEmail) -> list[str]:
    """Domains whose DKIM signature passed, from SES's own Authentication-Results header.

    SES prepends that header, so the first one from `amazonses.com` is SES's (a sender may add
    fakes further down). Without it (the local stack), the signing domains the message claims.
    """
    for value in [
        *_header(ses_headers, "authentication-results"),
        *_header(parsed.headers, "authentication-results"),
    ]:
        if value.strip().lower().startswith("amazonses.com"):
            return [_domain(d) for d in _DKIM_PASS.findall(value)]
    return [
        d.strip().lower() for value in _header(parsed.headers, "dkim-signature") for d in _DKIM_D.findall(value)
    ]


def is_authenticated(mail: InboundMail, parsed: ParsedEmail, sender: str) -> bool:
    """Whether SES's checks prove that `sender` (the From address) sent this message."""
    verdicts = mail.verdicts
    if verdicts.dmarc == FAIL:
        return False
    if verdicts.dmarc == PASS:
        return True  # DMARC passes only on an SPF or DKIM pass aligned with From
    from_domain = _domain(sender)
    if verdicts.spf == PASS and _aligned(_domain(mail.source), from_domain):
        return True
    return verdicts.dkim == PASS and any(_aligned(d, from_domain) for d in dkim_pass_domains(mail.headers, parsed))


def may_comment(ticket: Ticket, sender: str, contact: Contact | None, authenticated: bool) -> bool:
    """Whether an authenticated sender's reply may become a comment on `ticket` (else: a new ticket)."""
    if not authenticated:
        return False
    is_requester = ticket.requester.email.lower() == sender
    if contact is not None and (contact.tenant == ticket.tenant or is_requester):
        return True
    # A stranger answering questions on their own triage ticket: the same proven address.
    return ticket.tenant == TRIAGE_TENANT and is_requester


def thread_target(parsed: ParsedEmail, owners: dict[str, str]) -> str | None:
    """The ticket a reply names: by Message-ID (the closest reference first), else by subject token."""
    refs = [*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
    for mid in reversed(refs):
        if mid in owners:
            return owners[mid]
    for ref in parsed.ticket_refs:
        ticket_id = normalize_ticket_id(ref)
        if ticket_id:
            return ticket_id
    return None


def object_key(prefix: str, index: int, filename: str) -> str:
    """`<prefix>/<n>.<ext>`: the name itself stays out of the key.

    Object keys end up in X-Ray traces and access logs, and a file name can be personal
    ("passport-jane-doe.pdf"); the name lives on the ticket and in the object's Content-Disposition.
    """
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    return f"{prefix}/{index}.{ext}" if _SAFE_EXT.fullmatch(ext) else f"{prefix}/{index}"


_SAFE_EXT = re.compile(r"[a-z0-9]{1,10}")


def safe_content_type(value: str) -> str:
    """A content type fit to store on an object, else application/octet-stream."""
    value = (value or "").strip().lower()
    return value if _CONTENT_TYPE.match(value) else "application/octet-stream"


def ses_message_ids(ses_id: str, region: str) -> list[str]:
    """The Message-ID header SES gives mail it sends with id `ses_id` (us-east-1 has its own host)."""
    ids = [f"<{ses_id}@{region}.amazonses.com>"]
    if region == "us-east-1":
        ids.append(f"<{ses_id}@email.amazonses.com>")
    return ids


@cache
def _ack_policy() -> EmailPolicy[EmailMessage]:
    """SMTP with lines up to RFC 5322's 998: at 78 columns the stdlib RFC 2047-encodes a long
    Message-ID in In-Reply-To, which no client decodes there (Outlook's long ids would not thread)."""
    from email.policy import SMTP

    return SMTP.clone(max_line_length=998)


def build_acknowledgement(
    *,
    ticket: Ticket,
    sender: str,
    to: str,
    message_id: str,
    in_reply_to: str | None,
    dashboard_url: str,
) -> bytes:
    """The raw acknowledgement of a new ticket: threaded, and marked as an automatic reply."""
    # Imported here: only new tickets send one, and it is 6 ms of every cold start otherwise.
    from email.message import EmailMessage

    msg = EmailMessage(policy=_ack_policy())
    msg["From"] = clean_header_value(sender)
    msg["To"] = clean_header_value(to)
    msg["Subject"] = clean_header_value(f"[#{ticket.id}] {ticket.title}")
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    # SES replaces our Message-ID; References keeps it so that replies thread by either.
    refs = [clean_header_value(in_reply_to)] if in_reply_to else []
    if refs:
        msg["In-Reply-To"] = refs[0]
    msg["References"] = " ".join([*refs, message_id])
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: no robot answers this one
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office replies to it
    lines = [
        "Hello,",
        "",
        f"We have received your message and opened ticket {ticket.id}:",
        f"  {ticket.title}",
        "",
    ]
    if ticket.pages:
        lines += ["It is an urgent incident: the on-call engineer is being paged now.", ""]
    lines += [f"To add information, reply to this message and keep [#{ticket.id}] in the subject."]
    if ticket.tenant != TRIAGE_TENANT:
        lines += [f"You can follow it at {dashboard_url.rstrip('/')}/tickets/{ticket.id}"]
    lines += ["", "This is an automatic reply."]
    msg.set_content("\n".join(lines))
    return msg.as_bytes()


class EmailIntake:
    """Files inbound mail; every AWS client and setting comes in from outside."""

    def __init__(
        self,
        *,
        repository: TicketRepository,
        s3: S3Client,
        ses: Callable[[], SESClient],
        bucket: str,
        support_domain: str,
        ack_sender: str,
        region: str,
        dashboard_url: str,
        limits: MailLimits | None = None,
    ) -> None:
        self.repository = repository
        self.s3 = s3
        self.ses = ses
        self.bucket = bucket
        self.support_domain = support_domain.lower()
        self.ack_sender = ack_sender
        self.ack_address = parseaddr(ack_sender)[1].lower()
        self.region = region
        self.dashboard_url = dashboard_url
        self.limits = limits or MailLimits()

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
        except (ClientError, BotoCoreError) as exc:
            if not _transient(exc):
                return self._failed(mail, exc)
            # An AWS outage or throttling is not the sender's fault: fail the invocation so that
            # Lambda retries it (and then parks it in the failure queue). The MAIL# marker makes
            # a retry file the message once.
            logger.warning(
                "mail deferred", reason="aws-unavailable", message_id=mail.message_id, error=type(exc).__name__
            )
            metrics.add_metric(name="MailDeferred", unit=MetricUnit.Count, value=1)
            raise
        except Exception as exc:
            return self._failed(mail, exc)

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

    def _process(self, mail: InboundMail) -> Outcome:
        route = route_recipients(mail.recipients, self.support_domain)
        if route is None:
            raise Rejected("no-route")
        for verdict, reason in ((mail.verdicts.virus, "virus"), (mail.verdicts.spam, "spam")):
            if verdict == FAIL:
                self._quarantine(mail)
                raise Rejected(reason)
        raw = self._read_raw(mail)
        try:
            parsed = parse_email(raw, self.limits, return_path=mail.source)
        except MailRejected as exc:
            raise Rejected(exc.reason) from None
        del raw  # up to 40 MB: gone before the attachments are uploaded
        if parsed.robot_reason:
            raise Rejected(parsed.robot_reason)
        sender = (parsed.from_address or _envelope_address(mail.source)).lower()
        if "@" not in sender:
            raise Rejected("no-sender")
        if self.ack_address in (sender, _envelope_address(mail.source).lower()):
            raise Rejected("loop")  # our own acknowledgement came back
        refs = [*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
        own = [parsed.message_id] if parsed.message_id else []
        lookup = self.repository.mail_lookup(mail.message_id, [*refs, *own], sender)
        if lookup.filed is not None:
            raise Rejected("duplicate", ticket_id=lookup.filed.ticket_id)
        authenticated = is_authenticated(mail, parsed, sender)
        contact = lookup.contact if authenticated else None
        if parsed.message_id in lookup.owners:
            # The same message again under a new SES id (one copy per support address, a resend):
            # a duplicate for whoever may write on its ticket; anyone else reusing the id is ignored.
            known = self.repository.get_ticket(lookup.owners[parsed.message_id])
            if known is not None and may_comment(known, sender, contact, authenticated):
                raise Rejected("duplicate-message-id", ticket_id=known.id)
        target = thread_target(parsed, lookup.owners)
        if target is not None:
            ticket = self.repository.get_ticket(target)
            if ticket is not None and may_comment(ticket, sender, contact, authenticated):
                if ticket.status != Status.CLOSED:
                    return self._comment(mail, parsed, ticket, sender)
                # Closed is final: the answer opens a new ticket that links back to the old one.
                return self._new_ticket(mail, parsed, route, sender, contact, lookup, follows=ticket)
        return self._new_ticket(mail, parsed, route, sender, contact, lookup)

    # --- outcomes ------------------------------------------------------------------------

    def _comment(self, mail: InboundMail, parsed: ParsedEmail, ticket: Ticket, sender: str) -> Outcome:
        prefix = f"tickets/{ticket.id}/{mail.message_id}"
        attachments = self._store_attachments(prefix, parsed.attachments)
        if _trimmed(parsed):
            # A comment has no full-text field: the untrimmed text rides along as an attachment.
            attachments.append(self._store_full_text(prefix, parsed.full_text, FULL_TEXT_NAME))
        identity = Identity(email=sender, tenant=ticket.tenant, name=parsed.from_name)
        service = TicketService(MailScopedRepository(self.repository, mail.message_id))
        try:
            comment = service.comment(
                identity,
                ticket.id,
                parsed.description.strip() or NO_TEXT,
                channel=Channel.EMAIL,
                attachments=attachments,
                message_ids=[parsed.message_id] if parsed.message_id else [],
                current=ticket,
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
        follows: Ticket | None = None,
    ) -> Outcome:
        ticket_type = TicketType(route.ticket_type)
        description = parsed.description.strip() or NO_TEXT
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
        attachments = self._store_attachments(prefix, parsed.attachments)
        full_text_key = None
        if _trimmed(parsed):
            full_text_key = self._store_full_text(prefix, parsed.full_text, "full.txt").key
        ack_to = self._ack_recipient(mail)
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
        )
        identity = Identity(email=sender, tenant=tenant, name=parsed.from_name)
        service = TicketService(MailScopedRepository(self.repository, mail.message_id))
        try:
            ticket = service.create(identity, draft, channel=Channel.EMAIL)
        except MailAlreadyFiled:
            raise Rejected("duplicate") from None
        acknowledged = False
        if ack_to and ack_id:
            acknowledged = self._acknowledge(ticket, ack_to, ack_id, parsed.message_id)
        return Outcome("ticket", mail.message_id, ticket_id=ticket.id, acknowledged=acknowledged)

    def _rejected(self, message_id: str | None, reason: str, *, ticket_id: str | None = None) -> Outcome:
        extra = {"reason": reason, "message_id": message_id, **({"ticket_id": ticket_id} if ticket_id else {})}
        logger.info("mail rejected", extra=extra)
        count("MailRejected", reason=reason)
        return Outcome("rejected", message_id, reason=reason, ticket_id=ticket_id)

    # --- the bucket ----------------------------------------------------------------------

    def _read_raw(self, mail: InboundMail) -> bytes:
        """The raw message in one GetObject; its size is checked before the body is read."""
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=RAW_PREFIX + mail.message_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            # Without s3:ListBucket a missing key reads as AccessDenied.
            if code in ("NoSuchKey", "404", "AccessDenied", "403"):
                raise Rejected("raw-missing") from None
            raise
        body = resp["Body"]
        if resp.get("ContentLength", 0) > self.limits.max_size:
            body.close()
            raise Rejected("too-large")
        try:
            return body.read(self.limits.max_size + 1)
        finally:
            body.close()

    def _quarantine(self, mail: InboundMail) -> None:
        try:
            self.s3.put_object_tagging(
                Bucket=self.bucket,
                Key=RAW_PREFIX + mail.message_id,
                Tagging={"TagSet": [{"Key": "quarantine", "Value": "true"}]},
            )
        except ClientError as exc:
            logger.warning(
                "quarantine tag failed",
                message_id=mail.message_id,
                error=exc.response.get("Error", {}).get("Code"),
            )

    def _store_attachments(self, prefix: str, parts: Sequence[ParsedAttachment]) -> list[Attachment]:
        if len(parts) > ATTACHMENTS_MAX:
            # Beyond the cap they stay in the raw message only.
            logger.warning("attachments capped", count=len(parts), kept=ATTACHMENTS_MAX)
        stored: list[Attachment] = []
        for index, part in enumerate(parts[:ATTACHMENTS_MAX], start=1):
            content_type = safe_content_type(part.content_type)
            key = object_key(prefix, index, part.filename)
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=part.content,
                ContentType=content_type,
                # Served as a download, never rendered: an HTML attachment must not run in a browser.
                ContentDisposition=f"attachment; filename*=UTF-8''{quote(part.filename, safe='')}",
            )
            stored.append(Attachment(name=part.filename, size=part.size, content_type=content_type, key=key))
        return stored

    def _store_full_text(self, prefix: str, text: str, name: str) -> Attachment:
        data = text.encode("utf-8")
        key = f"{prefix}/{name}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="text/plain; charset=utf-8")
        return Attachment(name=name, size=len(data), content_type="text/plain", key=key)

    # --- the acknowledgement -------------------------------------------------------------

    def _ack_recipient(self, mail: InboundMail) -> str | None:
        """The envelope sender, when SES verified it (SPF pass); else no acknowledgement."""
        address = _envelope_address(mail.source)
        if mail.verdicts.spf != PASS or "@" not in address:
            return None
        return address

    def _acknowledge(self, ticket: Ticket, to: str, ack_id: str, in_reply_to: str | None) -> bool:
        """Send the acknowledgement of a new ticket, at most once per sender per 10 minutes."""
        try:
            if not self.repository.claim_once(f"ack#{to.lower()}", ACK_INTERVAL_SECONDS):
                logger.info("acknowledgement skipped", reason="rate-limited", ticket_id=ticket.id)
                return False
            raw = build_acknowledgement(
                ticket=ticket,
                sender=self.ack_sender,
                to=to,
                message_id=ack_id,
                in_reply_to=in_reply_to,
                dashboard_url=self.dashboard_url,
            )
            resp = self.ses().send_raw_email(Source=self.ack_sender, Destinations=[to], RawMessage={"Data": raw})
            self.repository.link_message_ids(ticket.id, ses_message_ids(resp["MessageId"], self.region))
        except (ClientError, BotoCoreError, SupportError, ValueError) as exc:
            # The ticket exists: a lost acknowledgement is logged, never a failed message.
            logger.warning("acknowledgement failed", ticket_id=ticket.id, error=type(exc).__name__)
            metrics.add_metric(name="AcknowledgementsFailed", unit=MetricUnit.Count, value=1)
            return False
        logger.info("acknowledgement sent", ticket_id=ticket.id)
        metrics.add_metric(name="AcknowledgementsSent", unit=MetricUnit.Count, value=1)
        return True


def _where(exc: BaseException) -> list[str]:
    """Our own frames of a traceback and the innermost one, as `file:line function` (no values)."""
    frames = traceback.extract_tb(exc.__traceback__)
    kept = [f for f in frames if "support_common" in f.filename] + frames[-1:]
    return [f"{f.filename.rpartition('/')[2]}:{f.lineno} {f.name}" for f in kept]


def _envelope_address(source: str) -> str:
    return clean_header_value(source).strip("<>").strip()


def _trimmed(parsed: ParsedEmail) -> bool:
    """Whether the description lost text (quotes, signature, length) that the full text has."""
    return parsed.full_text.strip() != parsed.description.strip()


@cache
def intake() -> EmailIntake:
    """The intake with its AWS clients, built on first use and kept for the process."""
    import boto3  # here, not at import: the module stays importable without AWS
    from botocore.config import Config

    settings: Settings = get_settings()
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    domain = settings.support_domain or "support.example.com"

    @cache
    def ses() -> SESClient:
        # Built on the first acknowledgement only: most cold starts never send one.
        return boto3.client("ses", config=config)

    return EmailIntake(
        repository=TicketRepository(settings.table_name, boto3.client("dynamodb", config=config)),
        s3=boto3.client("s3", config=config),
        ses=ses,
        bucket=settings.raw_mail_bucket or "",
        support_domain=domain,
        ack_sender=settings.ack_sender or f"support@{domain}",
        region=settings.region,
        dashboard_url=settings.dashboard_url,
    )


_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)


def _transient(exc: BaseException) -> bool:
    """Whether an AWS error is worth retrying (throttling, outages, network), not a bad message."""
    if isinstance(exc, BotoCoreError):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_CODES or status >= 500
    return False


def handle_ses_event(event: Any) -> dict[str, Any]:
    """The email_ingest entry point: file every message of an SES receipt event.

    Raises only when AWS itself is unavailable, so that Lambda retries the delivery.
    """
    try:
        service = intake()
    except Exception as exc:
        logger.error("mail failed", reason="misconfigured", error=type(exc).__name__)
        metrics.add_metric(name="MailFailed", unit=MetricUnit.Count, value=1)
        return {"results": []}
    return service.handle(event)
