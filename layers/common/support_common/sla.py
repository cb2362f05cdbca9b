"""Response and resolution targets: when an answer is due, in business hours or around the clock.

A target is a span counted either on the clock (`15m`, `1h`, `2d`: urgent incidents are always
on the clock) or only in business hours in the desk's time zone (`4bh`, `1bd`, `30bm`). "One
business day" is one business day's length of business time: a question at 16:00 on Friday with
09:00-17:00 hours is due at 16:00 on Monday.

The operator writes the targets as one line, e.g.
`urgent=15m,incident-high=1h,incident=4bh,problem=4bh,task=1bd,question=1bd`. A ticket's target is
the first of `urgent` (urgent tickets), `<type>-<priority>`, `<type>` that is set; none: no target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from support_common.models import Priority, Status, Ticket, TicketType

# Monday = 0 ... Sunday = 6.
WORKDAYS = frozenset({0, 1, 2, 3, 4})
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar with no business time at all would never reach a due time: refuse to loop forever.
MAX_DAYS_SCANNED = 3660
DEFAULT_RESPONSE_TARGETS = "urgent=15m,incident-high=1h,incident=4bh,problem=4bh,task=1bd,question=1bd"
DEFAULT_BUSINESS_HOURS = "Mon-Fri 09:00-17:00"
TARGET_NAMES = ("response", "resolution")
# A ticket in one of these is done: no target of it runs any more.
DONE = frozenset({Status.RESOLVED, Status.CLOSED})

_SPAN = re.compile(r"^(?P<n>[1-9][0-9]{0,5})(?P<unit>m|h|d|bm|bh|bd)$")
_HOURS = re.compile(
    r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
    r"(?P<start>[0-2][0-9]:[0-5][0-9])-(?P<end>[0-2][0-9]:[0-5][0-9])$"
)


@dataclass(frozen=True)
class BusinessHours:
    """When the desk counts business time: `days` between `start` and `end`, in `zone`."""

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

    @classmethod
    def parse(cls, spec: str, zone: str) -> BusinessHours:
        """Hours written as `mon-fri 09:00-17:00` (days: ranges or lists of three-letter names)."""
        match = _HOURS.match(spec.strip().lower())
        if not match:
            raise ValueError(f"business hours {spec!r}: write them as 'Mon-Fri 09:00-17:00'")
        days: set[int] = set()
        for part in match["days"].split(","):
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise ValueError(f"business hours {spec!r}: unknown day in {part!r}")
            lo, hi = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
            if hi < lo:
                raise ValueError(f"business hours {spec!r}: {part!r} runs backwards")
            days.update(range(lo, hi + 1))
        try:
            start, end = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
            return cls(zone=zone, start=start, end=end, days=frozenset(days))
        except ValueError as exc:
            raise ValueError(f"business hours {spec!r}: {exc}") from None
        except Exception as exc:  # ZoneInfo's errors for an unknown zone are not ValueErrors
            raise ValueError(f"unknown time zone {zone!r}") from exc

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

    def add(self, start: datetime, minutes: float) -> datetime:
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

    def subtract(self, end: datetime, minutes: float) -> datetime:
        """The instant `minutes` of business time before `end` (the mirror of `add`)."""
        remaining = timedelta(minutes=minutes)
        now = end.astimezone(UTC)
        day = now.astimezone(ZoneInfo(self.zone)).date()
        for _ in range(MAX_DAYS_SCANNED):
            window = self.window(day)
            if window is not None:
                opens, closes = window
                finish = min(now, closes)
                if finish > opens:
                    if finish - remaining >= opens:
                        return finish - remaining
                    remaining -= finish - opens
            day -= timedelta(days=1)
        raise ValueError("no business time found before the due time")


@dataclass(frozen=True)
class Target:
    """A target in minutes, on the clock or in business time."""

    minutes: int
    business_hours: bool

    @classmethod
    def parse(cls, span: str, hours: BusinessHours) -> Target:
        """`15m`, `1h`, `2d` on the clock; `30bm`, `4bh`, `1bd` in business time."""
        match = _SPAN.match(span.strip().lower())
        if not match:
            raise ValueError(f"target {span!r}: write a number and a unit (m, h, d, bm, bh, bd), e.g. 4bh")
        n, unit = int(match["n"]), match["unit"]
        per = {"m": 1, "h": 60, "d": 1440, "bm": 1, "bh": 60, "bd": hours.day_minutes}[unit]
        return cls(minutes=n * per, business_hours=unit.startswith("b"))

    def due(self, start: datetime, hours: BusinessHours) -> datetime:
        """When a ticket whose clock starts at `start` must have met this target."""
        if not self.business_hours:
            return start.astimezone(UTC) + timedelta(minutes=self.minutes)
        return hours.add(start, self.minutes)

    def before(self, due: datetime, minutes: float, hours: BusinessHours) -> datetime:
        """The instant `minutes` of this target's own time before `due`."""
        if not self.business_hours:
            return due - timedelta(minutes=minutes)
        return hours.subtract(due, minutes)


def parse_targets(spec: str, hours: BusinessHours) -> dict[str, Target]:
    """`urgent=15m,incident-high=1h,task=1bd` into {key: Target}; keys are checked against the
    ticket types and priorities, so a typo fails at cold start instead of silently never applying."""
    types = {t.value for t in TicketType}
    priorities = {p.value for p in Priority}
    targets: dict[str, Target] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, span = (s.strip().lower() for s in part.partition("="))
        kind, _, priority = name.partition("-")
        known = name == "urgent" or (kind in types and (not priority or priority in priorities))
        if not sep or not known:
            raise ValueError(f"target {part!r}: write urgent=, <type>= or <type>-<priority>= and a span")
        if name in targets:
            raise ValueError(f"target {name!r} is set twice")
        targets[name] = Target.parse(span, hours)
    return targets


@dataclass(frozen=True)
class DueTimes:
    response: datetime | None
    resolution: datetime | None


@dataclass(frozen=True)
class SlaPolicy:
    """The desk's response and resolution targets, its business hours and when to warn."""

    hours: BusinessHours = field(default_factory=BusinessHours)
    response: dict[str, Target] = field(default_factory=dict)
    resolution: dict[str, Target] = field(default_factory=dict)
    # Staff are warned once this share of a target's time has passed (100: no warning).
    warn_percent: int = 80

    @classmethod
    def parse(cls, *, response: str, resolution: str, hours: str, zone: str, warn_percent: int = 80) -> SlaPolicy:
        business = BusinessHours.parse(hours, zone)
        return cls(
            hours=business,
            response=parse_targets(response, business),
            resolution=parse_targets(resolution, business),
            warn_percent=warn_percent,
        )

    @classmethod
    def default(cls) -> SlaPolicy:
        """The template's default targets, hours (in UTC) and warning."""
        return cls.parse(
            response=DEFAULT_RESPONSE_TARGETS, resolution="", hours=DEFAULT_BUSINESS_HOURS, zone="UTC"
        )

    def target(self, name: str, ticket_type: TicketType, priority: Priority) -> Target | None:
        """The `response` or `resolution` target of a ticket of this type and priority, if any."""
        table = self.response if name == "response" else self.resolution
        if priority == Priority.URGENT and "urgent" in table:
            return table["urgent"]
        return table.get(f"{ticket_type.value}-{priority.value}") or table.get(ticket_type.value)

    def due_times(self, ticket_type: TicketType, priority: Priority, start: datetime) -> DueTimes:
        """The due times of a ticket whose clock starts at `start` (its creation)."""
        due = {name: self._due(name, ticket_type, priority, start, start) for name in TARGET_NAMES}
        return DueTimes(response=due["response"], resolution=due["resolution"])

    def retargeted(
        self, ticket_type: TicketType, priority: Priority, created_at: datetime, now: datetime
    ) -> DueTimes:
        """The due times after a change of type or priority at `now`.

        The targets of the new type and priority count from the ticket's creation, as if it had
        been filed so; where that time has already passed, they count from the change, so that
        raising a ticket late is never an instant breach nobody could have prevented.
        """
        due = {name: self._due(name, ticket_type, priority, created_at, now) for name in TARGET_NAMES}
        return DueTimes(response=due["response"], resolution=due["resolution"])

    def warn_at(self, name: str, ticket_type: TicketType, priority: Priority, due: datetime) -> datetime | None:
        """When staff hear that a target is close: `warn_percent` of its time before `due`."""
        target = self.target(name, ticket_type, priority)
        if target is None or self.warn_percent >= 100:
            return None
        return target.before(due, target.minutes * (100 - self.warn_percent) / 100, self.hours)

    def _due(
        self, name: str, ticket_type: TicketType, priority: Priority, start: datetime, now: datetime
    ) -> datetime | None:
        target = self.target(name, ticket_type, priority)
        if target is None:
            return None
        due = target.due(start, self.hours)
        return due if due > now or start == now else target.due(now, self.hours)


@dataclass(frozen=True, order=True)
class Timer:
    """One moment a ticket's target needs attention: a warning before its due time, or the breach."""

    at: datetime
    target: str  # "response" or "resolution"
    kind: str  # "warn" or "breach"
    due: datetime


def unmet(ticket: Ticket) -> dict[str, datetime]:
    """The targets of a ticket still running, with their due times.

    The response target runs until the first response (`first_response_at`); the resolution
    target until the ticket is resolved or closed. A done ticket has none running.
    """
    if ticket.status in DONE:
        return {}
    running: dict[str, datetime] = {}
    if ticket.response_due_at is not None and ticket.first_response_at is None:
        running["response"] = ticket.response_due_at
    if ticket.resolution_due_at is not None:
        running["resolution"] = ticket.resolution_due_at
    return running


def next_due(ticket: Ticket) -> datetime | None:
    """The earliest due time of a running target (the queue's order), or None."""
    return min(unmet(ticket).values(), default=None)


def timers(ticket: Ticket, policy: SlaPolicy) -> set[Timer]:
    """The timers a ticket needs as it is: a warning and a breach per running target not yet breached."""
    needed: set[Timer] = set()
    for name, due in unmet(ticket).items():
        if name in ticket.breached:
            continue
        needed.add(Timer(due, name, "breach", due))
        warn = policy.warn_at(name, ticket.type, ticket.priority, due)
        if warn is not None:
            needed.add(Timer(warn, name, "warn", due))
    return needed


def met_late(old: Ticket, new: Ticket) -> list[str]:
    """The targets this change met after their due time (a late reply, a late resolution).

    Their breach timer may not have fired yet (the scheduler runs a little late, or the reply came
    seconds after the due time): they are breaches all the same.
    """
    late: list[str] = []
    now_running = unmet(new)
    for name, due in unmet(old).items():
        if name in now_running or name in new.breached:
            continue
        resolved_at = new.updated_at if new.status in DONE else None
        met_at = new.first_response_at if name == "response" else resolved_at
        if met_at is not None and met_at > due:
            late.append(name)
    return late


def is_met(ticket: Ticket, name: str, due: datetime) -> bool:
    """Whether the target `name` with due time `due` was met in time, or no longer applies."""
    if name == "response" and ticket.first_response_at is not None:
        return ticket.first_response_at <= due
    if ticket.status in DONE:
        return True
    return unmet(ticket).get(name) != due


def counts_as_response(*, by_staff: bool, public: bool, automatic: bool) -> bool:
    """Whether an event answers the customer for the response target.

    The first public reply by support staff, or the acknowledgement of the ticket by staff, does.
    An internal note (the customer sees nothing), an automatic mail (nobody read the ticket) and
    the customer's own comment do not.
    """
    return by_staff and public and not automatic
