"""EventBridge Scheduler's one-time schedules, run: re-paging after the acknowledgement timeout.

moto stores schedules but never fires them. Every second this part reads the schedules of the
stack's group, and for each enabled `at(...)` schedule that is due invokes the target function
(matched by ARN) with the target's Input, as Scheduler's Lambda target does; then it deletes the
schedule when ActionAfterCompletion is DELETE (else remembers it ran, as a one-time schedule
runs once). A failed invocation is retried on the next tick, up to the target's RetryPolicy.

moto runs in this process, so the group's schedules are read from moto's scheduler backend (as the
outbox reads its SES backend), not paged through ListSchedules: moto builds and sorts the whole
group for every page of 50, so with the thousands of response-target timers that wait on a busy
desk a tick took seconds of the stack's one process and every request slowed with it. Creating,
updating and deleting schedules still goes through the API, as the functions do.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from local import cfn
from local.functions import FunctionNotAvailable, LocalFunction, format_exception
from local.poller import Poller
from local.stack import Stack

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def due_time(expression: str, timezone: str | None) -> datetime | None:
    """When an `at(yyyy-mm-ddThh:mm:ss)` expression fires (aware), or None for rate()/cron()."""
    match = _AT.match(expression.strip())
    if not match:
        return None
    naive = datetime.fromisoformat(match.group(1))
    return naive.replace(tzinfo=ZoneInfo(timezone) if timezone and timezone != "UTC" else UTC)


class ScheduleRunner(Poller):
    name = "schedule"
    interval = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.client: Any = None
        self.backend: Any = None
        self.group = "default"
        self.by_arn: dict[str, LocalFunction] = {}
        self.ran: set[str] = set()
        self.failures: dict[str, int] = {}
        self._warned: set[str] = set()
        # name -> (expression, time zone, when it fires): parsed once per change of the expression.
        self._due: dict[str, tuple[str, str, datetime | None]] = {}

    def setup(self, stack: Stack) -> None:
        from moto.scheduler.models import scheduler_backends  # moto runs in this process

        self.interval = stack.config.schedule_interval
        self.group = stack.names.get("scheduler_group", "default")
        self.client = stack.client("scheduler")
        self.backend = scheduler_backends[cfn.ACCOUNT_ID][stack.region]
        for function in stack.functions.values():
            self.by_arn[function.arn] = function
        self.log.info("running due one-time schedules of group %s every %.1fs", self.group, self.interval)

    def tick(self) -> None:
        now = datetime.now(UTC)
        group = self.backend.schedule_groups.get(self.group)
        # A copy made in one step: the API's threads add and delete schedules meanwhile.
        schedules = list(group.schedules.values()) if group is not None else []
        listed: set[str] = set()
        for schedule in schedules:
            if self.stopping:
                return
            name = schedule.name
            listed.add(name)
            # moto keeps the State of an UpdateSchedule that gave none as None; Scheduler's default is ENABLED.
            if name in self.ran or (schedule.state or "ENABLED") != "ENABLED":
                continue
            when = self._when(schedule)
            if when is None:
                if name not in self._warned:
                    self._warned.add(name)
                    self.log.warning(
                        "%s: only at(...) schedules run locally, not %s", name, schedule.schedule_expression
                    )
                continue
            if when <= now:
                self._fire(schedule.to_dict())
        # Deleted schedules leave the caches: memory stays bounded over days of timers.
        for gone in self._due.keys() - listed:
            del self._due[gone]
        self.ran &= listed

    def _fire(self, schedule: dict[str, Any]) -> None:
        name = schedule["Name"]
        target = schedule.get("Target") or {}
        function = self.by_arn.get(target.get("Arn", "")) or self._by_name(target.get("Arn", ""))
        if function is None:
            if name not in self._warned:
                self._warned.add(name)
                self.log.warning("%s: target %s is not a local function: not run", name, target.get("Arn"))
            return
        raw = target.get("Input")
        try:
            event = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            event = raw  # Scheduler passes a non-JSON Input as a string
        try:
            function.invoke(event)
        except FunctionNotAvailable:
            return  # logged by the function; the schedule stays until the function exists
        except Exception as exc:
            count = self.failures[name] = self.failures.get(name, 0) + 1
            retries = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185))
            self.log.error(
                "%s -> %s failed (%d/%d):\n%s", name, function.folder, count, retries + 1, format_exception(exc)
            )
            if count <= retries:
                return
        self.log.info("%s -> %s ran (%s)", name, function.folder, schedule.get("ScheduleExpression"))
        self.failures.pop(name, None)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            # The function may have deleted it itself (a target met or marked while it ran).
            with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
                self.client.delete_schedule(Name=name, GroupName=self.group)
        else:
            self.ran.add(name)

    def _when(self, schedule: Any) -> datetime | None:
        """When a schedule fires, parsed again only when its expression changed."""
        expression, timezone = schedule.schedule_expression or "", schedule.schedule_expression_timezone or "UTC"
        cached = self._due.get(schedule.name)
        if cached is None or cached[:2] != (expression, timezone):
            cached = self._due[schedule.name] = (expression, timezone, due_time(expression, timezone))
        return cached[2]

    def _by_name(self, arn: str) -> LocalFunction | None:
        # A target ARN with a different account or region but a known function name still means it.
        tail = arn.rsplit(":function:", 1)[-1].split(":")[0]
        return next((f for f in self.by_arn.values() if f.name == tail), None)
