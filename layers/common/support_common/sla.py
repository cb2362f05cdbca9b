"""Response and resolution targets: when an answer is due, in business hours or around the clock.

A target is a number of minutes, counted either on the clock (24x7: urgent incidents) or only in
business hours in the desk's time zone (weekdays, e.g. 09:00-17:00 Europe/Berlin). "One business
day" is one business day's length of business time: a question at 16:00 on Friday with 09:00-17:00
hours is due at 16:00 on Monday.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from support_common.models import Priority, TicketType

# Monday = 0 ... Sunday = 6.
WORKDAYS = frozenset({0, 1, 2, 3, 4})
# A calendar with no business time at all would never reach a due time: refuse to loop forever.
MAX_DAYS_SCANNED = 3660


@dataclass(frozen=True)
class BusinessHours:
    """When the desk counts business time: weekdays between `start` and `end`, in `zone`."""

    zone: str = "UTC"
    start: time = time(9, 0)
    end: time = time(17, 0)
    days: frozenset[int] = WORKDAYS

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("business hours must end after they start")
        if not self.days or not self.days <= set(range(7)):
            raise ValueError("business days are weekday numbers 0 (Monday) to 6 (Sunday)")
        ZoneInfo(self.zone)  # raises for an unknown zone

    @property
    def day_minutes(self) -> int:
        """The length of one business day, in minutes."""
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The business time of one local day, as UTC instants (None on a day off)."""
        if day.weekday() not in self.days:
            return None
        tz = ZoneInfo(self.zone)
        opens = datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC)
        return opens, closes

    def add(self, start: datetime, minutes: int) -> datetime:
        """The instant `minutes` of business time after `start`."""
        remaining = timedelta(minutes=minutes)
        now = start.astimezone(UTC)
        day = now.astimezone(ZoneInfo(self.zone)).date()
        for _ in range(MAX_DAYS_SCANNED):
            window = self.window(day)
            if window is not None:
                opens, closes = window
                begin = max(now, opens)
                if begin < closes:
                    if begin + remaining <= closes:
                        return begin + remaining
                    remaining -= closes - begin
            day += timedelta(days=1)
        raise ValueError("no business time found to reach the due time")


@dataclass(frozen=True)
class Target:
    """A target in minutes, on the clock or in business time."""

    minutes: int
    business_hours: bool

    def due(self, start: datetime, hours: BusinessHours) -> datetime:
        if not self.business_hours:
            return start.astimezone(UTC) + timedelta(minutes=self.minutes)
        return hours.add(start, self.minutes)


@dataclass(frozen=True)
class Targets:
    """The desk's response (and optional resolution) targets by ticket type and priority."""

    hours: BusinessHours = field(default_factory=BusinessHours)
    urgent_response_minutes: int = 15
    high_incident_response_minutes: int = 60
    incident_problem_response_business_minutes: int = 240
    # None: one business day (the length of `hours`' day).
    task_question_response_business_minutes: int | None = None
    urgent_resolution_minutes: int | None = None

    def response(self, ticket_type: TicketType, priority: Priority) -> Target:
        """The response target of a ticket. Urgent means a site is down: always on the clock."""
        if priority == Priority.URGENT:
            return Target(self.urgent_response_minutes, business_hours=False)
        if ticket_type == TicketType.INCIDENT and priority == Priority.HIGH:
            return Target(self.high_incident_response_minutes, business_hours=True)
        if ticket_type in (TicketType.INCIDENT, TicketType.PROBLEM):
            return Target(self.incident_problem_response_business_minutes, business_hours=True)
        minutes = self.task_question_response_business_minutes or self.hours.day_minutes
        return Target(minutes, business_hours=True)

    def resolution(self, ticket_type: TicketType, priority: Priority) -> Target | None:
        """The resolution target, where the operator set one (urgent incidents only, by default none)."""
        if priority == Priority.URGENT and self.urgent_resolution_minutes:
            return Target(self.urgent_resolution_minutes, business_hours=False)
        return None


def counts_as_response(*, by_staff: bool, public: bool, automatic: bool) -> bool:
    """Whether an event answers the customer for the response target.

    The first public reply by support staff, or the acknowledgement of the ticket by staff, does.
    An internal note (the customer sees nothing), an automatic mail (nobody read the ticket) and
    the customer's own comment do not.
    """
    return by_staff and public and not automatic
