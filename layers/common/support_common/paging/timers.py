"""Re-page timers: one EventBridge Scheduler one-time schedule per (ticket, round, next step).

A step is a level, or past the last level one of its repeats (`repeat` 1..N); the step after the
last repeat is the alarm (the alarms topic hears that nobody answers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field

from support_common.aws_errors import error_code
from support_common.models import TICKET_ID_PATTERN, LazyModel, utcnow
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
    # How often the last level repeats, every ack_timeout, before the alarms topic is told.
    last_level_repeats: int = 0
    role_arn: str | None = None
    target_arn: str | None = None
    dead_letter_arn: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether timers can be created (the local stack may run without a scheduler)."""
        return bool(self.group and self.role_arn and self.target_arn)

    def next_step(self, level: int, repeat: int) -> tuple[int, int]:
        """The (level, repeat) that follows a page at (level, repeat): past the last level, the
        last level again, for as long as nobody acknowledges (an urgent incident never goes silent)."""
        if level < self.max_level:
            return level + 1, 0
        return self.max_level, repeat + 1

    def is_alarm(self, level: int, repeat: int) -> bool:
        """Whether this step is the first past the configured repeats: the alarms topic hears of it."""
        return level >= self.max_level and repeat == self.last_level_repeats + 1


class RepageRequest(LazyModel):
    """The Input of a one-time schedule: page `ticket_id` at `level` if it still pages."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["repage"]
    ticket_id: str = Field(pattern=TICKET_ID_PATTERN)
    level: int = Field(ge=1, le=100)
    # Timers created before rounds existed carry neither: the first round, no repeat.
    round: int = Field(default=1, ge=1, le=100_000)
    repeat: int = Field(default=0, ge=0, le=1_000_000)


def schedule_name(ticket_id: str, level: int, round_: int = 1, repeat: int = 0) -> str:
    """The timer of one step; deterministic, so a duplicate collides harmlessly (at most 64 chars)."""
    return f"page-{ticket_id}-R{round_}-L{level}" + (f"-x{repeat}" if repeat else "")


def repage_input(ticket_id: str, level: int, round_: int = 1, repeat: int = 0) -> str:
    """The JSON a timer passes to the escalate function."""
    return json.dumps(
        {"action": "repage", "ticket_id": ticket_id, "level": level, "round": round_, "repeat": repeat}
    )


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

    @property
    def enabled(self) -> bool:
        """Whether timers can be created (the local stack may run without a scheduler)."""
        return self.escalation.enabled and self.scheduler is not None

    def create(self, name: str, when: datetime, payload: str, description: str) -> bool:
        """A one-time schedule `name` that invokes the escalate function with `payload` at `when`
        (rounded up to the second: never early), deleted once it ran; False when it existed."""
        assert self.scheduler is not None, "check `enabled` first"
        ceiled = when + timedelta(microseconds=(1_000_000 - when.microsecond) % 1_000_000)
        target: dict[str, Any] = {
            "Arn": str(self.escalation.target_arn),
            "RoleArn": str(self.escalation.role_arn),
            "Input": payload,
            "RetryPolicy": SCHEDULE_RETRY,
        }
        if self.escalation.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.escalation.dead_letter_arn}
        try:
            self.scheduler.create_schedule(
                Name=name,
                GroupName=str(self.escalation.group),
                ScheduleExpression=at_expression(ceiled),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=description,
                Target=cast("TargetTypeDef", target),
            )
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            return False
        return True

    def delete(self, name: str) -> bool:
        """Delete the schedule `name`; False when it was not there (it ran, or was never made)."""
        assert self.scheduler is not None, "check `enabled` first"
        try:
            self.scheduler.delete_schedule(Name=name, GroupName=str(self.escalation.group))
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def schedule_next(self, ticket_id: str, level: int, round_: int = 1, repeat: int = 0) -> bool:
        """Create the timer for the step after (level, repeat) when there is one; True when it exists now."""
        if not self.enabled:
            return False
        nxt, nxt_repeat = self.escalation.next_step(level, repeat)
        # Rounded up to the second: the timer never fires before the timeout.
        when = (self.clock() + self.escalation.ack_timeout + timedelta(seconds=1)).replace(microsecond=0)
        created = self.create(
            schedule_name(ticket_id, nxt, round_, nxt_repeat),
            when,
            repage_input(ticket_id, nxt, round_, nxt_repeat),
            f"page {ticket_id} (round {round_}) at level {nxt} unless acknowledged",
        )
        if not created:
            logger.info("re-page already scheduled", ticket_id=ticket_id, escalation_level=nxt, repeat=nxt_repeat)
            return True
        logger.info(
            "re-page scheduled",
            ticket_id=ticket_id,
            page_round=round_,
            escalation_level=nxt,
            repeat=nxt_repeat,
            at=when.isoformat(),
        )
        return True

    def cancel(self, ticket_id: str, round_: int, sent: Iterable[tuple[int, int]]) -> int:
        """Delete the timers that follow the steps `sent` of a round (acknowledged, downgraded...).

        A timer exists only after its previous step was claimed, so the round's page records name
        every timer that can be pending; return how many were deleted.
        """
        if not self.enabled:
            return 0
        steps = {self.escalation.next_step(level, repeat) for level, repeat in sent}
        names = {schedule_name(ticket_id, level, round_, repeat) for level, repeat in steps}
        deleted = sum(self.delete(name) for name in sorted(names))
        logger.info("re-pages cancelled", ticket_id=ticket_id, page_round=round_, deleted=deleted)
        return deleted
