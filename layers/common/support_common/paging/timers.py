"""Re-page timers: one EventBridge Scheduler one-time schedule per (ticket, next level)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from support_common.aws_errors import error_code
from support_common.models import TICKET_ID_PATTERN, utcnow
from support_common.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_scheduler.client import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import TargetTypeDef

# A re-page the scheduler cannot deliver is retried for an hour, then goes to the failure queue.
SCHEDULE_RETRY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}


@dataclass(frozen=True)
class Escalation:
    """How re-paging works: the acknowledgement timeout, the last level and the scheduler target."""

    ack_timeout: timedelta
    max_level: int
    group: str | None = None
    role_arn: str | None = None
    target_arn: str | None = None
    dead_letter_arn: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether timers can be created (the local stack may run without a scheduler)."""
        return bool(self.group and self.role_arn and self.target_arn)


class RepageRequest(BaseModel):
    """The Input of a one-time schedule: page `ticket_id` at `level` if it still pages."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["repage"]
    ticket_id: str = Field(pattern=TICKET_ID_PATTERN)
    level: int = Field(ge=2, le=100)


def schedule_name(ticket_id: str, level: int) -> str:
    """The timer that pages `ticket_id` at `level`; deterministic, so a duplicate collides harmlessly."""
    return f"page-{ticket_id}-L{level}"


def repage_input(ticket_id: str, level: int) -> str:
    """The JSON a timer passes to the escalate function."""
    return json.dumps({"action": "repage", "ticket_id": ticket_id, "level": level})


def at_expression(when: datetime) -> str:
    """An EventBridge Scheduler one-time expression, in UTC, to the second."""
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


class Timers:
    """Creates and deletes the re-page timers of tickets."""

    def __init__(
        self,
        scheduler: EventBridgeSchedulerClient | None,
        escalation: Escalation,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.scheduler = scheduler
        self.escalation = escalation
        self.clock = clock

    def schedule_next(self, ticket_id: str, level: int) -> bool:
        """Create the timer for level + 1 when there is one; True when it exists now."""
        nxt = level + 1
        if not self.escalation.enabled or self.scheduler is None or nxt > self.escalation.max_level:
            return False
        # Rounded up to the second: the timer never fires before the timeout.
        when = (self.clock() + self.escalation.ack_timeout + timedelta(seconds=1)).replace(microsecond=0)
        target: dict[str, Any] = {
            "Arn": str(self.escalation.target_arn),
            "RoleArn": str(self.escalation.role_arn),
            "Input": repage_input(ticket_id, nxt),
            "RetryPolicy": SCHEDULE_RETRY,
        }
        if self.escalation.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.escalation.dead_letter_arn}
        try:
            self.scheduler.create_schedule(
                Name=schedule_name(ticket_id, nxt),
                GroupName=str(self.escalation.group),
                ScheduleExpression=at_expression(when),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"page {ticket_id} at level {nxt} unless acknowledged",
                Target=cast("TargetTypeDef", target),
            )
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            logger.info("re-page already scheduled", ticket_id=ticket_id, escalation_level=nxt)
            return True
        logger.info("re-page scheduled", ticket_id=ticket_id, escalation_level=nxt, at=when.isoformat())
        return True

    def cancel(self, ticket_id: str) -> int:
        """Delete a ticket's pending re-page timers (acknowledged, resolved...); return how many."""
        if not self.escalation.enabled or self.scheduler is None:
            return 0
        deleted = 0
        for level in range(2, self.escalation.max_level + 1):
            try:
                self.scheduler.delete_schedule(
                    Name=schedule_name(ticket_id, level), GroupName=str(self.escalation.group)
                )
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    continue
                raise
            deleted += 1
        logger.info("re-pages cancelled", ticket_id=ticket_id, deleted=deleted)
        return deleted
