"""Mail answering a page: a staff member's `ACK <ticket id> <code>` acknowledges; nothing opens a ticket.

A page's email tells on-call to mail a support address with the subject `ACK INC-7KQ2XH 482193`
(or to answer with `ACK 482193` on the first line, the page's subject kept). Such a mail
acknowledges the ticket when its sender is a staff address (the support domain or a configured
staff domain) whose mail passed DMARC, and the code is the ticket's for its current round. A mail
that quotes a page's subject (`[URGENT] INC-...:`) never becomes a ticket, whoever sent it: a
reply to a page is about the page, and a ticket from it would land in triage unseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.email_intake.inbound import PASS, InboundMail
from support_common.email_intake.trust import domain_of
from support_common.mail import ParsedEmail
from support_common.models import AckChannel
from support_common.observability import count, logger
from support_common.oncall import OnCall, Outcome
from support_common.pagelinks import PageSigner

# Our page's subject as it reappears in a reply or forward: `Re: [URGENT] INC-7KQ2XH: ...`.
PAGE_SUBJECT = re.compile(r"\[URGENT\]\s+(?P<id>[A-Z]{3}-[0-9A-Z]{6}):")
ACK_COMMAND = re.compile(
    r"(?<![A-Za-z])ACK\b[\s:#-]*(?:\[?#?(?P<id>[A-Za-z]{3}-[0-9A-Za-z]{6})\]?\s+)?(?P<code>\d{6})\b", re.IGNORECASE
)
BODY_LINES = 3


@dataclass(frozen=True)
class PageReply:
    """What a mail about a page became: an acknowledgement, or a rejection with its reason."""

    acknowledged: bool
    reason: str
    ticket_id: str | None = None


def _first_lines(text: str, count_: int) -> Iterable[str]:
    return [line for line in text.splitlines() if line.strip()][:count_]


class PageReplies:
    def __init__(self, *, oncall: OnCall, signer: PageSigner, staff_domains: Iterable[str]) -> None:
        self.oncall = oncall
        self.signer = signer
        self.staff_domains = frozenset(d.strip().lower().strip(".") for d in staff_domains if d.strip())

    def is_staff(self, mail: InboundMail, sender: str) -> bool:
        """A staff address whose mail passed DMARC (SPF or DKIM aligned with its From domain)."""
        return domain_of(sender) in self.staff_domains and mail.verdicts.dmarc == PASS

    def judge(self, mail: InboundMail, parsed: ParsedEmail, sender: str) -> PageReply | None:
        """None for mail that is not about a page; else what it became."""
        marker = PAGE_SUBJECT.search(parsed.subject)
        command = ACK_COMMAND.search(parsed.subject) or next(
            (m for line in _first_lines(parsed.description, BODY_LINES) if (m := ACK_COMMAND.search(line))), None
        )
        if marker is None and command is None:
            return None
        staff = self.is_staff(mail, sender)
        if command is None or not staff:
            if marker is None:
                return None  # someone else's mail that happens to say "ACK": an ordinary message
            return PageReply(False, "page-reply", marker["id"])
        ticket_id = (command["id"] or (marker["id"] if marker else "")).upper()
        return self._acknowledge(ticket_id, command["code"], sender)

    def _acknowledge(self, ticket_id: str, code: str, sender: str) -> PageReply:
        ticket = self.oncall.find(ticket_id)
        if ticket is None:
            return PageReply(False, "page-reply-unknown-ticket")
        try:
            valid = self.signer.reply_code_valid(ticket.id, ticket.page_round, code)
        except AWS_ERRORS as exc:
            # The key is unreadable: not the sender's fault, and the mail is not a ticket either.
            logger.error("ack key unreadable", ticket_id=ticket.id, error=error_code(exc))
            raise
        if not valid:
            return PageReply(False, "page-reply-bad-code", ticket.id)
        result = self.oncall.acknowledge(ticket.id, by=sender, via=AckChannel.REPLY, round_=ticket.page_round)
        count("PageReplies", outcome=str(result.outcome))
        if result.outcome is Outcome.ACKNOWLEDGED:
            logger.info("page acknowledged by mail", ticket_id=ticket.id)
            return PageReply(True, "acknowledged", ticket.id)
        return PageReply(False, f"page-reply-{result.outcome}", ticket.id)
