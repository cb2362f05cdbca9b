"""The alarm of an unanswered round: the alarms topic hears that the pages go unacknowledged.

Raised once per round, at the first repeat past `last_level_repeats` (the pages themselves keep
going: an unacknowledged urgent incident never goes silent). The alarms topic is the stack's own,
read by whoever runs the pipeline, so the message is plain text.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.models import Ticket, iso, utcnow
from support_common.observability import count, logger
from support_common.paging.message import SUBJECT_MAX, one_line
from support_common.paging.timers import Escalation
from support_common.repository.pages import ClaimStatus, PageStore

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient

ALARM = "alarm"
LEASE_MARGIN_SECONDS = 2


class AlarmFailed(Exception):
    """The alarm could not go out now; the timer is retried (the page itself is recorded sent)."""


class Alarms:
    def __init__(
        self,
        *,
        pages: PageStore,
        sns: SNSClient,
        topic_arn: str | None,
        escalation: Escalation,
        dashboard_url: str,
    ) -> None:
        self.pages = pages
        self.sns = sns
        self.topic_arn = topic_arn
        self.escalation = escalation
        self.dashboard_url = dashboard_url

    def raise_for(self, ticket: Ticket, *, deadline: float) -> bool:
        """Tell the alarms topic that `ticket`'s round goes unanswered; True when it went out now."""
        round_ = max(ticket.page_round, 1)
        if not self.topic_arn:
            logger.error("unanswered page, no alarms topic", ticket_id=ticket.id, page_round=round_)
            return False
        token = secrets.token_hex(8)
        try:
            claim = self.pages.claim_notice(
                ticket.id, round_, ALARM, token=token, lease_until=deadline + LEASE_MARGIN_SECONDS, now=time.time()
            )
        except AWS_ERRORS as exc:
            raise AlarmFailed(f"alarm claim for {ticket.id}: {error_code(exc)}") from exc
        if claim.status is not ClaimStatus.CLAIMED:
            if claim.status is ClaimStatus.BUSY:
                raise AlarmFailed(f"alarm for {ticket.id} is being sent elsewhere")
            return False
        pages = self.escalation.max_level + self.escalation.last_level_repeats
        subject = one_line(f"[ALARM] {ticket.id} unanswered after {pages} pages: {ticket.title}", SUBJECT_MAX)
        body = (
            f"Urgent incident {ticket.id} (tenant {ticket.tenant}) has paged on-call {pages} times in round "
            f"{round_} and nobody has acknowledged it. The last level keeps paging every "
            f"{int(self.escalation.ack_timeout.total_seconds() // 60)} minutes until someone does.\n"
            f"{self.dashboard_url.rstrip('/')}/tickets/{ticket.id}"
        )
        try:
            resp = self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=body)
        except AWS_ERRORS as exc:
            try:
                self.pages.release_notice(ticket.id, round_, ALARM, token=token)
            except AWS_ERRORS:
                logger.warning("alarm release failed", ticket_id=ticket.id)
            raise AlarmFailed(f"alarm for {ticket.id}: {error_code(exc)}") from exc
        try:
            self.pages.finish_notice(
                ticket.id, round_, ALARM, token=token, message_id=resp["MessageId"], sent_at=iso(utcnow())
            )
        except AWS_ERRORS as exc:
            logger.error("alarm sent but not recorded", ticket_id=ticket.id, error=error_code(exc))
        logger.error("unanswered page alarmed", ticket_id=ticket.id, page_round=round_, pages=pages)
        count("PagesUnanswered")
        return True
