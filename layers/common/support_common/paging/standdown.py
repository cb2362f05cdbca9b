"""Stand-downs: whoever was paged learns that the ticket is handled, once per (ticket, round, action).

A stand-down goes to the pager topic with `event_action` `acknowledge` or `resolve` and the
highest `escalation_level` paged in the round (so every subscription that got a page of the
round gets its stand-down through the filter it already has). Its HTTPS body is a PagerDuty Events
v2 event with the page's `dedup_key`; SMS and email get one line. A round that paged nobody (the
ticket was acknowledged before its first page went out) stands down nobody.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.models import AckChannel, Ticket, iso, utcnow
from support_common.observability import count, logger
from support_common.paging.decision import Action
from support_common.paging.message import (
    SMS_MAX,
    SOURCE,
    SUBJECT_MAX,
    TITLE_MAX,
    PageMessage,
    message_attributes,
    one_line,
    to_json,
)
from support_common.repository.pages import PAGE_SENT, ClaimStatus, PageRecord, PageStore

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient

LEASE_MARGIN_SECONDS = 2


class StandDownFailed(Exception):
    """A stand-down that could not go out now; the stream record is retried."""


def _origin(ticket: Ticket, action: Action) -> str:
    """`pagerduty` when PagerDuty itself made the change: its own subscription must not hear it back."""
    via = ticket.acknowledged_via if action is Action.ACKNOWLEDGE else ticket.resolved_via
    return "pagerduty" if via == AckChannel.PAGERDUTY else "desk"


def build_standdown(ticket: Ticket, action: Action, level: int) -> PageMessage:
    """The stand-down of `ticket` for subscribers paged up to `level`."""
    title = one_line(ticket.title, TITLE_MAX)
    by = one_line(ticket.acknowledged_by, 120)
    if action is Action.ACKNOWLEDGE:
        word = "ACKNOWLEDGED"
        line = f"ACKNOWLEDGED by {by or 'support'}: {ticket.id} {title}"
    else:
        word = "RESOLVED"
        line = f"RESOLVED: {ticket.id} {title}"
    subject = one_line(f"[{word}] {ticket.id}: {title}", SUBJECT_MAX)
    details = {
        "source": SOURCE,
        "event_action": str(action),
        "ticket_id": ticket.id,
        "round": max(ticket.page_round, 1),
        "escalation_level": level,
        "status": str(ticket.status),
        "tenant": ticket.tenant,
        "title": title,
        "acknowledged_by": by or None,
        "acknowledged_via": str(ticket.acknowledged_via or AckChannel.API),
    }
    # PagerDuty Events v2: acknowledge/resolve need only the dedup_key of the trigger.
    pagerduty = {"event_action": str(action), "dedup_key": ticket.id}
    bodies = {
        "default": line,
        "email": line,
        "sms": one_line(line, SMS_MAX),
        "https": to_json(pagerduty),
        "sqs": to_json(details),
    }
    attributes = message_attributes(ticket, level, event_action=str(action), origin=_origin(ticket, action))
    return PageMessage(ticket.id, level, subject, to_json(bodies), attributes)


class StandDowns:
    """Publishes stand-downs through the pager topic, once each."""

    def __init__(self, *, pages: PageStore, sns: SNSClient, topic_arn: str) -> None:
        self.pages = pages
        self.sns = sns
        self.topic_arn = topic_arn

    def send(
        self,
        ticket: Ticket,
        action: Action,
        records: Sequence[PageRecord],
        *,
        deadline: float,
    ) -> bool:
        """Stand down the pages of `ticket`'s round in `records`; True when one went out now.

        Raises StandDownFailed (the claim released) when SNS or DynamoDB fails.
        """
        round_ = max(ticket.page_round, 1)
        sent = [r for r in records if r.state == PAGE_SENT]
        if not sent:
            logger.info("stand-down skipped", ticket_id=ticket.id, page_round=round_, reason="nobody was paged")
            return False
        level = max(r.level for r in sent)
        token = secrets.token_hex(8)
        try:
            claim = self.pages.claim_notice(
                ticket.id,
                round_,
                str(action),
                token=token,
                lease_until=deadline + LEASE_MARGIN_SECONDS,
                now=time.time(),
            )
        except AWS_ERRORS as exc:
            raise StandDownFailed(f"stand-down claim of {ticket.id}: {error_code(exc)}") from exc
        if claim.status is ClaimStatus.SENT:
            logger.info(
                "stand-down already sent", ticket_id=ticket.id, page_round=round_, event_action=str(action)
            )
            return False
        if claim.status is ClaimStatus.BUSY:
            raise StandDownFailed(f"stand-down of {ticket.id} is being sent elsewhere")
        message = build_standdown(ticket, action, level)
        entry = message.entry("s0")
        try:
            resp = self.sns.publish(
                TopicArn=self.topic_arn,
                Message=entry["Message"],
                MessageStructure="json",
                Subject=entry["Subject"],
                MessageAttributes=entry["MessageAttributes"],
            )
        except AWS_ERRORS as exc:
            logger.warning("stand-down publish failed", ticket_id=ticket.id, error=error_code(exc))
            self._release(ticket.id, round_, action, token)
            raise StandDownFailed(f"stand-down of {ticket.id}: {error_code(exc)}") from exc
        try:
            self.pages.finish_notice(
                ticket.id, round_, str(action), token=token, message_id=resp["MessageId"], sent_at=iso(utcnow())
            )
        except AWS_ERRORS as exc:
            # It is out: failing the record would send it again after the lease.
            logger.error("stand-down sent but not recorded", ticket_id=ticket.id, error=error_code(exc))
        logger.info(
            "stand-down sent",
            ticket_id=ticket.id,
            page_round=round_,
            event_action=str(action),
            escalation_level=level,
            origin=message.attributes["origin"]["StringValue"],
        )
        count("StandDownsSent", level=str(level), event_action=str(action))
        return True

    def _release(self, ticket_id: str, round_: int, action: Action, token: str) -> None:
        try:
            self.pages.release_notice(ticket_id, round_, str(action), token=token)
        except AWS_ERRORS as exc:
            logger.warning("stand-down release failed", ticket_id=ticket_id, error=error_code(exc))
