"""The desk's metrics from a ticket's change: the EMF lines CloudWatch would read from the log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support_common.models import AckChannel, Channel, Priority, Requester, Status, Ticket, TicketType
from support_common.paging.desk_metrics import emit_change_metrics

CREATED = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def ticket(**changes: Any) -> Ticket:
    """A ticket opened at CREATED, with `changes` applied."""
    fields: dict[str, Any] = {
        "id": "INC-0000AB",
        "type": TicketType.INCIDENT,
        "priority": Priority.HIGH,
        "title": "Checkout is down",
        "description": "Every payment fails with a 502 since nine o'clock.",
        "channel": Channel.DASHBOARD,
        "tenant": "acme",
        "requester": Requester(email="ana@acme.test"),
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    return Ticket(**{**fields, **changes})


def later(**delta: float) -> datetime:
    return CREATED + timedelta(**delta)


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Each EMF line printed, as (metric, value, unit, dimensions) in one dict per metric."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    found = []
    for blob in lines:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "SupportDesk"
        ((*dims,),) = directive["Dimensions"]
        for metric in directive["Metrics"]:
            found.append(
                {
                    "metric": metric["Name"],
                    "value": blob[metric["Name"]],
                    "unit": metric["Unit"],
                    "dims": {name: blob[name] for name in dims if name != "service"},
                }
            )
    return found


def test_desk_metrics_first_staff_reply_emits_time_to_first_response(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a high incident and the same ticket once staff first replied, 25 minutes after it opened
    old = ticket()
    new = ticket(first_response_at=later(minutes=25), version=2)

    # WHEN its change is read
    emit_change_metrics(old, new)

    # THEN 1500 seconds by type and priority, and nothing else
    assert emitted(capsys) == [
        {
            "metric": "TimeToFirstResponse",
            "value": [1500.0],
            "unit": "Seconds",
            "dims": {"type": "incident", "priority": "high"},
        }
    ]


@pytest.mark.parametrize("before", [Status.OPEN, Status.ACKNOWLEDGED])
def test_desk_metrics_resolved_emits_time_to_resolution(
    capsys: pytest.CaptureFixture[str], before: Status
) -> None:
    # GIVEN a question already answered and acknowledged, resolved two hours after it opened
    answered = {"type": TicketType.QUESTION, "priority": Priority.LOW, "first_response_at": later(minutes=5)}
    acked = {"acknowledged_at": later(minutes=5), "status": before}
    old = ticket(**answered, **acked, updated_at=later(minutes=5))
    new = ticket(**answered, **{**acked, "status": Status.RESOLVED}, updated_at=later(hours=2))

    # WHEN its change is read
    emit_change_metrics(old, new)

    # THEN 7200 seconds by type and priority
    assert emitted(capsys) == [
        {
            "metric": "TimeToResolution",
            "value": [7200.0],
            "unit": "Seconds",
            "dims": {"type": "question", "priority": "low"},
        }
    ]


def test_desk_metrics_page_link_ack_counts_and_times_from_round_start(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an urgent incident whose second round began at 10:00, acknowledged from a level-2 page at 10:12
    paged = {"priority": Priority.URGENT, "page_round": 2, "round_started_at": later(hours=1)}
    old = ticket(**paged, first_response_at=later(minutes=3))
    new = ticket(
        **paged,
        first_response_at=later(minutes=3),
        status=Status.ACKNOWLEDGED,
        acknowledged_at=later(hours=1, minutes=12),
        acknowledged_by="oncall@desk.test",
        acknowledged_via=AckChannel.LINK,
        acknowledged_level=2,
        updated_at=later(hours=1, minutes=12),
    )

    # WHEN its change is read
    emit_change_metrics(old, new)

    # THEN one acknowledgement and 720 seconds, by level and channel
    route = {"level": "2", "via": "link"}
    assert emitted(capsys) == [
        {"metric": "TicketsAcknowledged", "value": [1.0], "unit": "Count", "dims": route},
        {"metric": "TimeToAcknowledge", "value": [720.0], "unit": "Seconds", "dims": route},
    ]


def test_desk_metrics_dashboard_ack_of_unpaged_ticket_times_from_creation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a problem that never paged, acknowledged from the dashboard 90 seconds after it opened
    # (staff taking it is also its first response)
    old = ticket(type=TicketType.PROBLEM)
    new = ticket(
        type=TicketType.PROBLEM,
        status=Status.ACKNOWLEDGED,
        acknowledged_at=later(seconds=90),
        acknowledged_by="staff@desk.test",
        first_response_at=later(seconds=90),
        updated_at=later(seconds=90),
    )

    # WHEN its change is read
    emit_change_metrics(old, new)

    # THEN the response, and the acknowledgement with no level, via the dashboard
    route = {"level": "none", "via": "dashboard"}
    assert emitted(capsys) == [
        {
            "metric": "TimeToFirstResponse",
            "value": [90.0],
            "unit": "Seconds",
            "dims": {"type": "problem", "priority": "high"},
        },
        {"metric": "TicketsAcknowledged", "value": [1.0], "unit": "Count", "dims": route},
        {"metric": "TimeToAcknowledge", "value": [90.0], "unit": "Seconds", "dims": route},
    ]


def test_desk_metrics_ack_stamped_before_round_start_emits_zero_not_negative(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an acknowledgement stamped a second before the round's start (two functions' clocks)
    old = ticket(round_started_at=later(minutes=10))
    new = ticket(round_started_at=later(minutes=10), acknowledged_at=later(minutes=10, seconds=-1))

    # WHEN its change is read
    emit_change_metrics(old, new)

    # THEN the time to acknowledge is 0, not a negative sample that would skew the percentiles
    assert [m["value"] for m in emitted(capsys) if m["metric"] == "TimeToAcknowledge"] == [[0.0]]


def responded_acked_resolved() -> dict[str, Any]:
    return {
        "first_response_at": later(minutes=5),
        "acknowledged_at": later(minutes=5),
        "status": Status.RESOLVED,
        "updated_at": later(hours=1),
    }


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(
            ticket(first_response_at=later(minutes=5)),
            ticket(first_response_at=later(minutes=5), updated_at=later(minutes=30), version=2),
            id="a later comment",
        ),
        pytest.param(
            ticket(),
            ticket(title="Checkout is down for card payments", updated_at=later(minutes=2)),
            id="title edit",
        ),
        pytest.param(
            ticket(), ticket(priority=Priority.URGENT, updated_at=later(minutes=2)), id="priority raised"
        ),
        pytest.param(
            ticket(**responded_acked_resolved()),
            ticket(**{**responded_acked_resolved(), "status": Status.CLOSED, "updated_at": later(hours=3)}),
            id="resolved then closed",
        ),
        pytest.param(
            ticket(**{**responded_acked_resolved(), "status": Status.CLOSED}),
            ticket(**{**responded_acked_resolved(), "status": Status.CLOSED, "assignee": "bo@desk.test"}),
            id="closed ticket edited",
        ),
        pytest.param(
            ticket(**responded_acked_resolved()),
            ticket(**{**responded_acked_resolved(), "status": Status.OPEN, "updated_at": later(hours=2)}),
            id="reopened",
        ),
        pytest.param(ticket(), None, id="removed"),
    ],
)
def test_desk_metrics_change_without_those_transitions_emits_nothing(
    capsys: pytest.CaptureFixture[str], old: Ticket, new: Ticket | None
) -> None:
    # GIVEN a change that neither answers, resolves nor acknowledges the ticket for the first time
    # WHEN it is read
    emit_change_metrics(old, new)

    # THEN no metric
    assert emitted(capsys) == []


def test_desk_metrics_new_ticket_emits_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a ticket just created (no old image)
    # WHEN its insert is read
    emit_change_metrics(None, ticket())

    # THEN no metric: nothing was answered, resolved or acknowledged yet
    assert emitted(capsys) == []


def test_desk_metrics_reopened_and_resolved_again_counts_a_second_resolution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a ticket reopened after its first resolution, resolved again at 13:00
    reopened = {**responded_acked_resolved(), "status": Status.OPEN, "updated_at": later(hours=2)}
    again = {**reopened, "status": Status.RESOLVED, "updated_at": later(hours=4)}

    # WHEN the second resolution is read
    emit_change_metrics(ticket(**reopened), ticket(**again))

    # THEN a resolution sample from its creation
    assert [(m["metric"], m["value"]) for m in emitted(capsys)] == [("TimeToResolution", [14400.0])]
