"""Sending the mail of stream records through SES, once each.

Per record that asks for mail (`events`): read the ticket (a reply's record holds only the
comment), refuse recipients that must never be mailed (`message.undeliverable`), claim the
outbound record (`repository/outbound.py`), take one use of the per-ticket rate limit, send with
SendRawEmail (the SDK's own retries are off: a send is not idempotent, the claim is what retries),
mark it sent and record both Message-IDs (ours and SES's) so that the customer's reply threads.

A failed send releases the claim and fails only its record: the event source mapping retries it,
then parks it in the encrypted failure queue (an alarm watches it). A staff request never waits for
or fails with SES: the API only writes the comment.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from support_common.aws_errors import AWS_ERRORS, Unprocessed, error_code
from support_common.models import Ticket
from support_common.notify.events import Outgoing, PublicReply, StatusNotice, outgoing_from_record
from support_common.notify.message import (
    Envelope,
    build_notice,
    build_reply,
    thread_references,
    type_address,
    undeliverable,
)
from support_common.observability import count, logger
from support_common.repository.limits import RateLimits
from support_common.repository.messages import MailStore, ses_message_ids
from support_common.repository.outbound import SENT, SKIPPED, OutboundStore
from support_common.repository.pages import ClaimStatus
from support_common.repository.tickets import TicketStore

if TYPE_CHECKING:
    from mypy_boto3_ses.client import SESClient

# Per ticket and recipient: staff answer a few times an hour; more is a loop or a mistake.
MAIL_RATE_LIMIT = 20
MAIL_RATE_WINDOW_SECONDS = 3600
LEASE_MARGIN_SECONDS = 2
# Records left when less than this remains are failed at once and retried by the mapping.
MIN_SECONDS_PER_SEND = 6


class MailNotSent(Exception):
    """The mail of a record could not go out now; the record is retried."""


class Notifier:
    """Mails requesters what the stream says happened, once per reply or notice."""

    def __init__(
        self,
        *,
        tickets: TicketStore,
        outbound: OutboundStore,
        limits: RateLimits,
        messages: MailStore,
        ses: Callable[[], SESClient],
        support_domain: str,
        dashboard_url: str,
        region: str,
    ) -> None:
        self.tickets = tickets
        self.outbound = outbound
        self.limits = limits
        self.messages = messages
        self.ses = ses
        self.support_domain = support_domain.lower()
        self.dashboard_url = dashboard_url
        self.region = region

    def process_stream(self, records: Sequence[dict[str, Any]], *, deadline: float) -> dict[str, Exception]:
        """Send the mail of each record; return the failures by sequence number."""
        failures: dict[str, Exception] = {}
        for record in records:
            sequence = str((record.get("dynamodb") or {}).get("SequenceNumber") or "")
            try:
                outgoing = outgoing_from_record(record)
            except (ValueError, KeyError, TypeError) as exc:
                # Not ours to retry: the same image would fail the same way.
                logger.error("stream record unreadable", sequence=sequence, error=type(exc).__name__)
                continue
            if outgoing is None:
                continue
            if time.time() + MIN_SECONDS_PER_SEND > deadline:
                failures[sequence] = MailNotSent("no time left in this invocation")
                continue
            try:
                self.send(outgoing, deadline=deadline)
            except (*AWS_ERRORS, Unprocessed, MailNotSent) as exc:
                logger.warning(
                    "mail not sent", ticket_id=outgoing.ticket_id, ref=outgoing.ref, error=error_code(exc)
                )
                count("MailSendFailed")
                failures[sequence] = exc
        return failures

    def send(self, outgoing: Outgoing, *, deadline: float) -> bool:
        """Send one reply or notice unless it went before or must not go; True when sent now."""
        ticket = outgoing.ticket if isinstance(outgoing, StatusNotice) else self.tickets.get(outgoing.ticket_id)
        if ticket is None:
            logger.info("mail skipped", reason="no-ticket", ticket_id=outgoing.ticket_id, ref=outgoing.ref)
            return False
        reason = undeliverable(ticket, self.support_domain)
        if isinstance(outgoing, PublicReply) and outgoing.author_email.lower() == ticket.requester.email.lower():
            reason = "own-comment"
        if reason is not None:
            logger.info("mail skipped", reason=reason, ticket_id=ticket.id, ref=outgoing.ref)
            count("MailSuppressed", reason=reason)
            return False
        token = secrets.token_hex(8)
        claim = self.outbound.claim(
            ticket.id, outgoing.ref, token=token, lease_until=deadline + LEASE_MARGIN_SECONDS, now=time.time()
        )
        if claim == ClaimStatus.SENT:
            logger.info("mail already sent", ticket_id=ticket.id, ref=outgoing.ref)
            return False
        if claim == ClaimStatus.BUSY:
            raise MailNotSent("another invocation is sending it")
        try:
            sent = self._send_claimed(outgoing, ticket, token)
        except Exception:
            # Nothing went out: the record's retry may claim and send at once.
            self.outbound.release(ticket.id, outgoing.ref, token=token)
            raise
        if sent is None:
            return False
        envelope, ses_id = sent
        try:
            self.outbound.finish(ticket.id, outgoing.ref, token=token, state=SENT, message_id=ses_id)
        except AWS_ERRORS as exc:
            # Sent: failing the record now would send it again. The claim's lease ends with this
            # invocation, so only a redelivery after that could repeat the mail.
            logger.warning(
                "mail sent but not marked", ticket_id=ticket.id, ref=outgoing.ref, error=error_code(exc)
            )
        self._link(ticket, [envelope.message_id, *ses_message_ids(ses_id, self.region)])
        logger.info("mail sent", ticket_id=ticket.id, ref=outgoing.ref, kind=type(outgoing).__name__)
        count("MailSent", kind="reply" if isinstance(outgoing, PublicReply) else outgoing.kind.value)
        return True

    def _send_claimed(self, outgoing: Outgoing, ticket: Ticket, token: str) -> tuple[Envelope, str] | None:
        """Rate limit, build and send a claimed mail: (envelope, SES's id), or None when rate-limited."""
        recipient = ticket.requester.email.lower()
        if not self.limits.take(f"mail#{ticket.id}#{recipient}", MAIL_RATE_LIMIT, MAIL_RATE_WINDOW_SECONDS):
            self.outbound.finish(ticket.id, outgoing.ref, token=token, state=SKIPPED)
            logger.warning("mail skipped", reason="rate-limited", ticket_id=ticket.id, ref=outgoing.ref)
            count("MailSuppressed", reason="rate-limited")
            return None
        envelope = Envelope(
            sender=type_address(ticket.type, self.support_domain),
            recipient=recipient,
            recipient_name=ticket.requester.name,
            message_id=f"<{outgoing.ref.replace('#', '.')}.{ticket.id}@{self.support_domain}>",
            references=thread_references(ticket, self.support_domain),
        )
        raw = self._build(outgoing, ticket, envelope)
        resp = self.ses().send_raw_email(
            Source=envelope.sender, Destinations=[recipient], RawMessage={"Data": raw}
        )
        return envelope, str(resp["MessageId"])

    def _build(self, outgoing: Outgoing, ticket: Ticket, envelope: Envelope) -> bytes:
        if isinstance(outgoing, PublicReply):
            return build_reply(outgoing, ticket, envelope, self.dashboard_url)
        return build_notice(outgoing, envelope, self.dashboard_url)

    def _link(self, ticket: Ticket, message_ids: list[str]) -> None:
        try:
            self.messages.link_message_ids(ticket.id, message_ids)
        except (*AWS_ERRORS, Unprocessed) as exc:
            # Sent: a reply still threads by the [#id] in its subject.
            logger.warning("mail ids not recorded", ticket_id=ticket.id, error=error_code(exc))
