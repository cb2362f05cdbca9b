"""The acknowledgement of a new ticket from email: its MIME, and sending it at most once a while."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from email.utils import formataddr, formatdate
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from support_common.aws_errors import AWS_ERRORS, Unprocessed, error_code
from support_common.email_intake.inbound import PASS, InboundMail
from support_common.email_intake.trust import envelope_address
from support_common.mail import clean_header_value
from support_common.models import TRIAGE_TENANT, Ticket
from support_common.observability import logger, metrics
from support_common.repository.limits import RateLimits
from support_common.repository.messages import MailStore, ses_message_ids
from support_common.repository.outbound import SENT, SKIPPED, OutboundStore
from support_common.repository.pages import ClaimStatus

if TYPE_CHECKING:
    from email.message import EmailMessage
    from email.policy import EmailPolicy

    from mypy_boto3_ses.client import SESClient

ACK_INTERVAL_SECONDS = 600
# The acknowledgement's once-only record on its ticket, and how long a claim on it holds.
ACK_REF = "ack"
ACK_LEASE_SECONDS = 120


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


class AcknowledgementBusy(RuntimeError):
    """The acknowledgement's claim is held by a live (or dead) invocation: the message is retried."""


class Acknowledger:
    """Sends acknowledgements of new tickets, at most one per sender per ACK_INTERVAL_SECONDS
    (per ticket for an urgent incident of a tenant: each gets its acknowledgement)."""

    def __init__(
        self,
        *,
        ses: Callable[[], SESClient],
        limits: RateLimits,
        messages: MailStore,
        outbound: OutboundStore,
        sender_name: str,
        region: str,
        dashboard_url: str,
    ) -> None:
        self.ses = ses
        self.limits = limits
        self.messages = messages
        self.outbound = outbound
        self.sender_name = sender_name
        self.region = region
        self.dashboard_url = dashboard_url

    def _send(self, claim: str, source: str, to: str, raw: bytes) -> dict[str, Any]:
        """Send once (no SDK retry: a send whose answer was lost must not go twice); a failed send
        gives the rate-limit claim back, so that the next message is acknowledged."""
        try:
            return dict(self.ses().send_raw_email(Source=source, Destinations=[to], RawMessage={"Data": raw}))
        except AWS_ERRORS:
            try:
                self.limits.release(claim)
            except AWS_ERRORS as exc:
                logger.warning("acknowledgement claim not released", error=error_code(exc))
            raise

    @staticmethod
    def recipient(mail: InboundMail) -> str | None:
        """The envelope sender, when SES verified it (SPF pass); else no acknowledgement."""
        address = envelope_address(mail.source)
        if mail.verdicts.spf != PASS or "@" not in address:
            return None
        return address

    def send(self, ticket: Ticket, to: str, ack_id: str, in_reply_to: str | None, *, from_address: str) -> bool:
        """Send the acknowledgement of a new ticket, once; True when it went out now.

        It comes from `from_address`, the support address the customer wrote to: one that receives,
        so that pressing Reply reaches the desk (and threads) instead of bouncing. The send is
        claimed once per ticket (`OUT#ack`): a redelivered message finds it sent. A transient AWS
        failure gives the claims back and raises, so that the message's retry (which finds the
        ticket filed) sends it; a message-made problem (an address SES cannot take) is logged.
        """
        token = uuid.uuid4().hex
        now = time.time()
        status = self.outbound.claim(ticket.id, ACK_REF, token=token, lease_until=now + ACK_LEASE_SECONDS, now=now)
        if status == ClaimStatus.SENT:
            logger.info("acknowledgement skipped", reason="sent-before", ticket_id=ticket.id)
            return False
        if status == ClaimStatus.BUSY:
            # Another invocation is sending it, or died doing so: retry once its lease is over.
            raise AcknowledgementBusy(ticket.id)
        sender = formataddr((self.sender_name, from_address))
        # A site that is down again must hear back every time: urgent incidents are limited per ticket.
        claim = f"ack#ticket#{ticket.id}" if ticket.pages else f"ack#{to.lower()}"
        try:
            if not self.limits.claim(claim, ACK_INTERVAL_SECONDS, holder=ticket.id):
                logger.info("acknowledgement skipped", reason="rate-limited", ticket_id=ticket.id)
                self.outbound.finish(ticket.id, ACK_REF, token=token, state=SKIPPED)
                return False
            raw = build_acknowledgement(
                ticket=ticket,
                sender=sender,
                to=to,
                message_id=ack_id,
                in_reply_to=in_reply_to,
                dashboard_url=self.dashboard_url,
            )
            resp = self._send(claim, from_address, to, raw)
        except ValueError:
            logger.warning("acknowledgement failed", ticket_id=ticket.id, error="unsendable")
            metrics.add_metric(name="AcknowledgementsFailed", unit=MetricUnit.Count, value=1)
            self.outbound.finish(ticket.id, ACK_REF, token=token, state=SKIPPED)
            return False
        except AWS_ERRORS as exc:
            logger.warning("acknowledgement failed", ticket_id=ticket.id, error=error_code(exc))
            metrics.add_metric(name="AcknowledgementsFailed", unit=MetricUnit.Count, value=1)
            self.outbound.release(ticket.id, ACK_REF, token=token)
            raise
        self._sent(ticket, token, resp)
        return True

    def _sent(self, ticket: Ticket, token: str, resp: dict[str, Any]) -> None:
        """Mark the acknowledgement sent and record its Message-ID; neither may fail the message now."""
        try:
            self.outbound.finish(ticket.id, ACK_REF, token=token, state=SENT, message_id=resp.get("MessageId"))
            self.messages.link_message_ids(ticket.id, ses_message_ids(resp["MessageId"], self.region))
        except (*AWS_ERRORS, Unprocessed) as exc:
            # Sent: a reply still threads by our own Message-ID and the [#id] in its subject; an
            # unmarked claim expires with its lease, and only a retry after that could send again.
            logger.warning("acknowledgement not recorded", ticket_id=ticket.id, error=error_code(exc))
        logger.info("acknowledgement sent", ticket_id=ticket.id)
        metrics.add_metric(name="AcknowledgementsSent", unit=MetricUnit.Count, value=1)
