"""Due times across business hours, weekends and a time zone; what counts as a response; which
timers a ticket needs; the operator's settings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from support_common.models import Channel, Priority, Requester, Status, Ticket, TicketType
from support_common.settings import SettingsError, SlaSettings, load_settings
from support_common.sla import (
    DEFAULT_RESPONSE_TARGETS,
    BusinessHours,
    SlaPolicy,
    Timer,
    counts_as_response,
    met_late,
    next_due,
    timers,
)

BERLIN = SlaPolicy.parse(
    response=DEFAULT_RESPONSE_TARGETS, resolution="urgent=4h", hours="Mon-Fri 09:00-17:00", zone="Europe/Berlin"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ticket(**fields: object) -> Ticket:
    base: dict[str, object] = {
        "id": "INC-7KQ2XH",
        "type": TicketType.INCIDENT,
        "title": "t",
        "description": "d",
        "channel": Channel.DASHBOARD,
        "tenant": "acme",
        "requester": Requester(email="a@acme.example"),
        "created_at": utc(2026, 12, 1, 9, 0),
        "updated_at": utc(2026, 12, 1, 9, 0),
    }
    return Ticket.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("ticket_type", "priority", "opened", "due"),
    [
        # Urgent is 15 minutes on the clock, at 03:00 on a Sunday too.
        (TicketType.INCIDENT, Priority.URGENT, utc(2026, 12, 6, 3, 0), utc(2026, 12, 6, 3, 15)),
        # High incident: one hour on the clock, at night too.
        (TicketType.INCIDENT, Priority.HIGH, utc(2026, 12, 1, 22, 0), utc(2026, 12, 1, 23, 0)),
        # Normal incident at 15:00 local (UTC+1): two hours today, two tomorrow from 09:00.
        (TicketType.INCIDENT, Priority.NORMAL, utc(2026, 12, 1, 14, 0), utc(2026, 12, 2, 10, 0)),
        (TicketType.INCIDENT, Priority.LOW, utc(2026, 12, 1, 14, 0), utc(2026, 12, 2, 10, 0)),
        (TicketType.PROBLEM, Priority.LOW, utc(2026, 12, 1, 14, 0), utc(2026, 12, 2, 10, 0)),
        # A question on Friday 16:00 local: one business day later is Monday 16:00 local.
        (TicketType.QUESTION, Priority.NORMAL, utc(2026, 12, 4, 15, 0), utc(2026, 12, 7, 15, 0)),
        # A task at Saturday noon: the clock starts Monday 09:00 local.
        (TicketType.TASK, Priority.HIGH, utc(2026, 12, 5, 11, 0), utc(2026, 12, 7, 16, 0)),
        # Before opening hours: counted from 09:00 local.
        (TicketType.PROBLEM, Priority.NORMAL, utc(2026, 12, 1, 5, 0), utc(2026, 12, 1, 12, 0)),
    ],
)
def test_policy_due_times_for_each_type_and_priority_are_what_a_person_expects(
    ticket_type: TicketType, priority: Priority, opened: datetime, due: datetime
) -> None:
    # GIVEN the default targets with Berlin business hours
    # WHEN the due times of a ticket opened then are computed
    computed = BERLIN.due_times(ticket_type, priority, opened)

    # THEN the response is due when a person would expect; only urgent has a resolution target
    assert computed.response == due
    assert computed.resolution == (opened + timedelta(hours=4) if priority == Priority.URGENT else None)


def test_business_hours_follow_the_time_zone_across_a_dst_change() -> None:
    # GIVEN Berlin hours, and a normal incident at 16:00 local on the Friday before DST ends (UTC+2)
    opened = utc(2026, 10, 23, 14, 0)

    # WHEN its four business hours are counted over the weekend the clocks go back
    due = BERLIN.due_times(TicketType.INCIDENT, Priority.NORMAL, opened).response

    # THEN one hour on Friday, three on Monday from 09:00 local, now UTC+1
    assert due == utc(2026, 10, 26, 11, 0)


def test_business_hours_subtract_mirrors_add_across_a_weekend() -> None:
    # GIVEN Berlin hours and an instant on Monday morning
    hours = BERLIN.hours
    monday = utc(2026, 12, 7, 9, 0)  # 10:00 local

    # WHEN two business hours are taken off, then added back
    before = hours.subtract(monday, 120)

    # THEN it is Friday 16:00 local, and adding two hours returns to Monday
    assert before == utc(2026, 12, 4, 15, 0)
    assert hours.add(before, 120) == monday


def test_policy_warns_at_the_warn_percent_of_the_target_in_its_own_time() -> None:
    # GIVEN the default warning at 80% of a target
    # WHEN the warning of an urgent (15 min clock) and a normal incident (4 business hours) is asked
    urgent = BERLIN.warn_at("response", TicketType.INCIDENT, Priority.URGENT, utc(2026, 12, 6, 3, 15))
    normal = BERLIN.warn_at("response", TicketType.INCIDENT, Priority.NORMAL, utc(2026, 12, 2, 10, 0))

    # THEN 3 minutes before the urgent one; 48 business minutes before the other (10:12 local)
    assert urgent == utc(2026, 12, 6, 3, 12)
    assert normal == utc(2026, 12, 2, 9, 12)


def test_policy_retargeted_counts_from_creation_unless_that_has_passed() -> None:
    # GIVEN a normal incident created at 10:00 UTC on a Tuesday
    created = utc(2026, 12, 1, 9, 0)

    # WHEN it is raised to urgent 5 minutes later, or 2 hours later
    early = BERLIN.retargeted(TicketType.INCIDENT, Priority.URGENT, created, created + timedelta(minutes=5))
    late = BERLIN.retargeted(TicketType.INCIDENT, Priority.URGENT, created, created + timedelta(hours=2))

    # THEN early: 15 minutes after creation; late: 15 minutes after the change (never an instant breach)
    assert early.response == created + timedelta(minutes=15)
    assert late.response == created + timedelta(hours=2, minutes=15)


def test_business_hours_refuse_a_calendar_without_time() -> None:
    with pytest.raises(ValueError, match="end after"):
        BusinessHours(start=time(17, 0), end=time(9, 0))
    with pytest.raises(ValueError, match="weekday"):
        BusinessHours(days=frozenset())


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SLA_RESPONSE_TARGETS", "urgent=15m,incidnet=4bh", "incidnet"),
        ("SLA_RESPONSE_TARGETS", "urgent=15 minutes", "unit"),
        ("SLA_RESOLUTION_TARGETS", "urgent=4h,urgent=2h", "twice"),
        ("BUSINESS_HOURS", "9 to 5", "Mon-Fri"),
        ("BUSINESS_HOURS", "fri-mon 09:00-17:00", "backwards"),
        ("BUSINESS_TIME_ZONE", "Mars/Olympus", "time zone"),
        ("SLA_WARN_PERCENT", "0", "SLA_WARN_PERCENT"),
    ],
)
def test_sla_settings_with_a_bad_value_fail_naming_the_problem(variable: str, value: str, problem: str) -> None:
    # GIVEN the operator's settings with one mistake
    class Settings(SlaSettings):
        pass

    # WHEN they are loaded at cold start
    with pytest.raises((SettingsError, ValueError)) as raised:
        load_settings(_with_table(Settings), {"TABLE_NAME": "t", "AWS_REGION": "eu-west-1", variable: value})

    # THEN the error says what is wrong
    assert problem in str(raised.value)


def _with_table(settings: type[SlaSettings]) -> type:
    from support_common.settings import FunctionSettings

    return type("FunctionSla", (FunctionSettings, settings), {})


def test_sla_settings_parse_days_lists_and_custom_targets() -> None:
    # GIVEN hours on Monday to Thursday and Saturday, and a business-hour target for high incidents
    policy = SlaPolicy.parse(
        response="urgent=10m,incident-high=2bh,question=30bm",
        resolution="",
        hours="Mon-Thu,Sat 08:00-12:00",
        zone="UTC",
    )

    # THEN the days and targets are what was written; an unset type has no target
    assert policy.hours.days == frozenset({0, 1, 2, 3, 5})
    high = policy.target("response", TicketType.INCIDENT, Priority.HIGH)
    assert high is not None and (high.minutes, high.business_hours) == (120, True)
    assert policy.target("response", TicketType.TASK, Priority.NORMAL) is None
    assert policy.due_times(TicketType.TASK, Priority.NORMAL, utc(2026, 12, 1, 9, 0)).response is None


def test_timers_of_a_ticket_warn_and_breach_each_running_target() -> None:
    # GIVEN an urgent incident due at 09:15 (response) and 13:00 (resolution)
    urgent = ticket(
        priority=Priority.URGENT,
        response_due_at=utc(2026, 12, 1, 9, 15),
        resolution_due_at=utc(2026, 12, 1, 13, 0),
    )

    # THEN it needs four timers; once answered only the resolution's; once resolved none
    assert timers(urgent, BERLIN) == {
        Timer(utc(2026, 12, 1, 9, 12), "response", "warn", utc(2026, 12, 1, 9, 15)),
        Timer(utc(2026, 12, 1, 9, 15), "response", "breach", utc(2026, 12, 1, 9, 15)),
        Timer(utc(2026, 12, 1, 12, 12), "resolution", "warn", utc(2026, 12, 1, 13, 0)),
        Timer(utc(2026, 12, 1, 13, 0), "resolution", "breach", utc(2026, 12, 1, 13, 0)),
    }
    answered = urgent.model_copy(update={"first_response_at": utc(2026, 12, 1, 9, 5)})
    assert {t.target for t in timers(answered, BERLIN)} == {"resolution"}
    assert next_due(answered) == utc(2026, 12, 1, 13, 0)
    assert timers(answered.model_copy(update={"status": Status.RESOLVED}), BERLIN) == set()
    # A breached target needs no more timers, but stays in the queue until it is met.
    breached = urgent.model_copy(update={"breached": ["response"]})
    assert {t.target for t in timers(breached, BERLIN)} == {"resolution"}
    assert next_due(breached) == utc(2026, 12, 1, 9, 15)


def test_met_late_finds_a_reply_after_the_due_time_only() -> None:
    # GIVEN a ticket due at 09:15
    before = ticket(response_due_at=utc(2026, 12, 1, 9, 15))

    # WHEN it is answered at 09:14, or at 09:16
    in_time = before.model_copy(update={"first_response_at": utc(2026, 12, 1, 9, 14)})
    late = before.model_copy(update={"first_response_at": utc(2026, 12, 1, 9, 16)})

    # THEN only the late answer is a breach (and not twice once it is marked)
    assert met_late(before, in_time) == []
    assert met_late(before, late) == ["response"]
    assert met_late(before, late.model_copy(update={"breached": ["response"]})) == []


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
