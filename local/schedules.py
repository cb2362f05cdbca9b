"""EventBridge Scheduler's one-time schedules, run: re-paging after the acknowledgement timeout.

moto stores schedules but never fires them. Every second this part lists the schedules of the
stack's group, and for each enabled `at(...)` schedule that is due invokes the target function
(matched by ARN) with the target's Input, as Scheduler's Lambda target does; then it deletes the
schedule when ActionAfterCompletion is DELETE (else remembers it ran, as a one-time schedule
runs once). A failed invocation is retried on the next tick, up to the target's RetryPolicy.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

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
        self.group = "default"
        self.by_arn: dict[str, LocalFunction] = {}
        self.ran: set[str] = set()
        self.failures: dict[str, int] = {}
        self._warned: set[str] = set()
        self._cache: dict[str, dict[str, Any]] = {}

    def setup(self, stack: Stack) -> None:
        self.interval = stack.config.schedule_interval
        self.group = stack.names.get("scheduler_group", "default")
        self.client = stack.client("scheduler")
        for function in stack.functions.values():
            self.by_arn[function.arn] = function
        self.log.info("running due one-time schedules of group %s every %.1fs", self.group, self.interval)

    def tick(self) -> None:
        now = datetime.now(UTC)
        listed: set[str] = set()
        paginator = self.client.get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=self.group):
            for summary in page.get("Schedules", []):
                if self.stopping:
                    return
                name = summary["Name"]
                listed.add(name)
                if name in self.ran or summary.get("State", "ENABLED") != "ENABLED":
                    continue
                schedule = self._details(name, summary.get("LastModificationDate"))
                if schedule is None:
                    continue
                when = due_time(schedule.get("ScheduleExpression", ""), schedule.get("ScheduleExpressionTimezone"))
                if when is None:
                    if name not in self._warned:
                        self._warned.add(name)
                        self.log.warning(
                            "%s: only at(...) schedules run locally, not %s",
                            name,
                            schedule.get("ScheduleExpression"),
                        )
                    continue
                if when <= now:
                    self._fire(schedule)
        # Deleted schedules leave the caches: memory stays bounded over days of timers.
        for gone in self._cache.keys() - listed:
            del self._cache[gone]
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

    def _details(self, name: str, modified: Any) -> dict[str, Any] | None:
        """A schedule's details, read again only when it changed (its LastModificationDate), so a
        tick costs one list however many timers wait (hours-long response targets)."""
        cached = self._cache.get(name)
        if cached is None or cached.get("LastModificationDate") != modified:
            try:
                cached = self.client.get_schedule(Name=name, GroupName=self.group)
            except self.client.exceptions.ResourceNotFoundException:
                return None
            self._cache[name] = cached
        return cached

    def _by_name(self, arn: str) -> LocalFunction | None:
        # A target ARN with a different account or region but a known function name still means it.
        tail = arn.rsplit(":function:", 1)[-1].split(":")[0]
        return next((f for f in self.by_arn.values() if f.name == tail), None)
