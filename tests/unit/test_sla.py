"""Due times across business hours, weekends and a time zone; what counts as a response."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from support_common.models import Priority, TicketType
from support_common.sla import BusinessHours, Targets, counts_as_response

BERLIN = BusinessHours(zone="Europe/Berlin", start=time(9, 0), end=time(17, 0))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ticket_type", "priority", "opened", "due"),
    [
        # Urgent is 15 minutes on the clock, at 03:00 on a Sunday too.
        (TicketType.INCIDENT, Priority.URGENT, utc(2026, 12, 6, 3, 0), utc(2026, 12, 6, 3, 15)),
        # High incident: one business hour (Berlin is UTC+1 in December).
        (TicketType.INCIDENT, Priority.HIGH, utc(2026, 12, 1, 9, 0), utc(2026, 12, 1, 10, 0)),
        # Normal incident at 15:00 local: two hours today, two tomorrow from 09:00.
        (TicketType.INCIDENT, Priority.NORMAL, utc(2026, 12, 1, 14, 0), utc(2026, 12, 2, 10, 0)),
        (TicketType.PROBLEM, Priority.LOW, utc(2026, 12, 1, 14, 0), utc(2026, 12, 2, 10, 0)),
        # A question on Friday 16:00 local: one business day later is Monday 16:00 local.
        (TicketType.QUESTION, Priority.NORMAL, utc(2026, 12, 4, 15, 0), utc(2026, 12, 7, 15, 0)),
        # A task at Saturday noon: the clock starts Monday 09:00 local.
        (TicketType.TASK, Priority.HIGH, utc(2026, 12, 5, 11, 0), utc(2026, 12, 7, 16, 0)),
        # Before opening hours: counted from 09:00 local.
        (TicketType.INCIDENT, Priority.HIGH, utc(2026, 12, 1, 5, 0), utc(2026, 12, 1, 9, 0)),
    ],
)
def test_response_due_for_each_type_and_priority(
    ticket_type: TicketType, priority: Priority, opened: datetime, due: datetime
) -> None:
    # GIVEN the default targets with Berlin business hours
    targets = Targets(hours=BERLIN)

    # WHEN the response target of a ticket opened then is computed
    computed = targets.response(ticket_type, priority).due(opened, targets.hours)

    # THEN it is due when a person would expect
    assert computed == due


def test_business_hours_follow_the_time_zone_across_a_dst_change() -> None:
    # GIVEN Berlin hours, and a normal incident at 16:00 local on the Friday before DST ends (UTC+2)
    targets = Targets(hours=BERLIN)
    opened = utc(2026, 10, 23, 14, 0)

    # WHEN its four business hours are counted over the weekend the clocks go back
    due = targets.response(TicketType.INCIDENT, Priority.NORMAL).due(opened, targets.hours)

    # THEN one hour on Friday, three on Monday from 09:00 local, now UTC+1
    assert due == utc(2026, 10, 26, 11, 0)


def test_business_hours_refuse_a_calendar_without_time() -> None:
    with pytest.raises(ValueError, match="end after"):
        BusinessHours(start=time(17, 0), end=time(9, 0))
    with pytest.raises(ValueError, match="weekday"):
        BusinessHours(days=frozenset())


def test_resolution_target_only_where_set() -> None:
    assert Targets().resolution(TicketType.INCIDENT, Priority.URGENT) is None
    target = Targets(urgent_resolution_minutes=240).resolution(TicketType.INCIDENT, Priority.URGENT)
    assert target is not None
    assert (target.minutes, target.business_hours) == (240, False)


@pytest.mark.parametrize(
    ("by_staff", "public", "automatic", "counts"),
    [
        (True, True, False, True),  # a staff reply the customer sees
        (True, False, False, False),  # an internal note
        (True, True, True, False),  # an automatic mail
        (False, True, False, False),  # the customer's own comment
    ],
)
def test_counts_as_response(by_staff: bool, public: bool, automatic: bool, counts: bool) -> None:
    assert counts_as_response(by_staff=by_staff, public=public, automatic=automatic) is counts
