"""Response and resolution targets, watched: one-time schedules per warning and due time, and what
happens when one fires (staff warned once; the ticket marked breached and staff told once).

Each ticket stream record is reduced to the timers the ticket needs before and after the change
(`sla.timers`): timers no longer needed are deleted, new ones created (a time already past fires
at once, e.g. a backlog after an outage). A reply that met the target after its due time, but
before its breach timer fired, is marked breached too (without telling staff: it is answered).
When a timer fires, the ticket is read again: a target met, retargeted or done since does nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field

from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.models import TICKET_ID_PATTERN, LazyModel, Ticket, UtcDatetime, iso, utcnow
from support_common.observability import count, logger
from support_common.paging.decision import Change
from support_common.paging.desk_metrics import emit_change_metrics
from support_common.paging.message import ticket_link
from support_common.paging.timers import Timers
from support_common.repository.outbound import OutboundStore
from support_common.repository.pages import ClaimStatus
from support_common.repository.tickets import TicketStore
from support_common.sla import SlaPolicy, Timer, is_met, met_late, timers, unmet

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient

# A claim on a notice outlives the invocation that took it (the function's timeout is 60 s).
NOTICE_LEASE = timedelta(seconds=120)


class DeadlineRequest(LazyModel):
    """The Input of a target's schedule: `kind` for `target` of `ticket_id`, due at `due`."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    action: Literal["sla"]
    ticket_id: str = Field(pattern=TICKET_ID_PATTERN)
    target: Literal["response", "resolution"]
    kind: Literal["warn", "breach"]
    due: UtcDatetime


def schedule_name(ticket_id: str, timer: Timer) -> str:
    """Deterministic (a duplicate collides harmlessly), distinct per due time, at most 64 chars."""
    return f"sla-{ticket_id}-{timer.target}-{timer.kind}-{int(timer.due.timestamp())}"


class DeadlineFailed(RuntimeError):
    """Staff could not be told of a target (the topic refused): the timer or record is retried."""


@dataclass
class Deadlines:
    """Keeps the targets' timers of tickets, and acts when one fires."""

    tickets: TicketStore
    notices: OutboundStore
    timers: Timers
    sns: SNSClient
    policy: SlaPolicy
    staff_topic_arn: str
    dashboard_url: str
    clock: Callable[[], datetime] = utcnow

    # --- the stream ----------------------------------------------------------------------

    def process(self, changes: Sequence[Change]) -> dict[str, Exception]:
        """Bring each changed ticket's timers up to date and emit the desk's timing metrics (see
        `desk_metrics`); the failures by sequence number."""
        failures: dict[str, Exception] = {}
        for change in changes:
            if change.old is None and change.new is None:
                continue
            try:
                self.apply(change.old, change.new)
            except (*AWS_ERRORS, DeadlineFailed) as exc:
                logger.warning("target timers failed", ticket_id=_ticket_id(change), error=error_code(exc))
                failures[change.sequence_number] = exc
                continue  # its retry emits the metrics
            emit_change_metrics(change.old, change.new)
        return failures

    def apply(self, old: Ticket | None, new: Ticket | None) -> None:
        """Delete the timers `old` needed and `new` does not; create the new ones; mark late replies."""
        before = timers(old, self.policy) if old is not None else set()
        after = timers(new, self.policy) if new is not None else set()
        ticket_id = (new or old).id  # type: ignore[union-attr]  # one of them is set
        for timer in sorted(before - after):
            self._delete(ticket_id, timer)
        now = self.clock()
        for timer in sorted(after - before):
            if timer.at <= now:
                self.fire(
                    DeadlineRequest.model_validate(
                        {
                            "action": "sla",
                            "ticket_id": ticket_id,
                            "target": timer.target,
                            "kind": timer.kind,
                            "due": timer.due,
                        }
                    )
                )
            else:
                self._create(ticket_id, timer)
        if old is not None and new is not None:
            was = unmet(old)
            for target in met_late(old, new):
                if self.tickets.mark_breached(new.id, target, was[target]):
                    logger.info("target met late", ticket_id=new.id, target=target)
                    count("SlaBreaches", target=target, type=new.type.value, priority=new.priority.value)

    # --- a timer fired -------------------------------------------------------------------

    def fire(self, request: DeadlineRequest) -> str:
        """Warn, or mark the breach and tell staff, unless the target was met or moved since."""
        ticket = self.tickets.get(request.ticket_id)
        if ticket is None:
            return "gone"
        if is_met(ticket, request.target, request.due):
            logger.info("target timer skipped", ticket_id=ticket.id, target=request.target, kind=request.kind)
            return "met"
        # Met, but after the due time: a breach to record, nobody left to alert.
        answered = ticket.first_response_at is not None if request.target == "response" else False
        if request.kind == "warn":
            if answered or self.clock() >= request.due:
                return "late"  # the breach has its own notice
            self._notify(ticket, request)
            return "warn"
        if self.tickets.mark_breached(ticket.id, request.target, request.due):
            logger.info("target breached", ticket_id=ticket.id, target=request.target)
            count("SlaBreaches", target=request.target, type=ticket.type.value, priority=ticket.priority.value)
        if answered:
            return "late"
        self._notify(ticket, request)
        return "breach"

    def _notify(self, ticket: Ticket, request: DeadlineRequest) -> None:
        """Tell staff once: a claim per (target, kind, due), a publish, then `sent`.

        A failed publish releases the claim and fails, so the retry publishes. A publish whose
        answer is lost is retried by nobody (no SDK retry) but can go twice if the function then
        fails before `sent` is written and a retry takes the expired claim.
        """
        ref = f"sla#{request.target}#{request.kind}#{iso(request.due)}"
        token = uuid.uuid4().hex
        now = self.clock().timestamp()
        status = self.notices.claim(
            ticket.id, ref, token=token, lease_until=now + NOTICE_LEASE.total_seconds(), now=now
        )
        if status == ClaimStatus.SENT:
            logger.info(
                "target notice already sent", ticket_id=ticket.id, target=request.target, kind=request.kind
            )
            return
        if status == ClaimStatus.BUSY:
            raise DeadlineFailed(f"another invocation is telling staff about {ticket.id}")
        subject, body = notice_text(ticket, request, ticket_link(self.dashboard_url, ticket.id))
        try:
            self.sns.publish(
                TopicArn=self.staff_topic_arn,
                Subject=subject,
                Message=body,
                MessageAttributes={
                    "target": {"DataType": "String", "StringValue": request.target},
                    "kind": {"DataType": "String", "StringValue": request.kind},
                    "priority": {"DataType": "String", "StringValue": ticket.priority.value},
                },
            )
        except AWS_ERRORS as exc:
            self.notices.release(ticket.id, ref, token=token)
            raise DeadlineFailed(f"staff topic refused the notice: {error_code(exc)}") from exc
        self.notices.finish(ticket.id, ref, token=token, state="sent")
        logger.info("target notice sent", ticket_id=ticket.id, target=request.target, kind=request.kind)
        count("SlaNotices", kind=request.kind)

    # --- schedules -----------------------------------------------------------------------

    def _create(self, ticket_id: str, timer: Timer) -> None:
        if not self.timers.enabled:
            return
        payload = {"action": "sla", "ticket_id": ticket_id, "target": timer.target, "kind": timer.kind}
        self.timers.create(
            schedule_name(ticket_id, timer),
            timer.at,
            json.dumps({**payload, "due": iso(timer.due)}),
            f"{timer.kind} {timer.target} target of {ticket_id}",
        )
        logger.info(
            "target timer set", ticket_id=ticket_id, target=timer.target, kind=timer.kind, at=iso(timer.at)
        )

    def _delete(self, ticket_id: str, timer: Timer) -> None:
        if self.timers.enabled and self.timers.delete(schedule_name(ticket_id, timer)):
            logger.info("target timer deleted", ticket_id=ticket_id, target=timer.target, kind=timer.kind)


def notice_text(ticket: Ticket, request: DeadlineRequest, link: str) -> tuple[str, str]:
    """The staff notice: ids, type, priority and times only (the topic may reach chat tools)."""
    what = "first response" if request.target == "response" else "resolution"
    kind = f"{ticket.priority.value} {ticket.type.value}"
    due = request.due.strftime("%Y-%m-%d %H:%M UTC")
    if request.kind == "warn":
        subject = f"{ticket.id}: {what} due soon ({kind})"
        lead = f"The {what} of {ticket.id} ({kind}, tenant {ticket.tenant}) is due at {due}."
    else:
        subject = f"{ticket.id}: {what} target missed ({kind})"
        lead = f"The {what} of {ticket.id} ({kind}, tenant {ticket.tenant}) was due at {due} and has not happened."
    # SNS refuses a subject with line breaks or over 100 characters.
    return subject[:100], f"{lead}\n\nOpen it: {link}\n"


def _ticket_id(change: Change) -> str | None:
    ticket = change.new or change.old
    return ticket.id if ticket is not None else None
