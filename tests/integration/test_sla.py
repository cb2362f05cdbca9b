"""Response targets against moto: due times on tickets, timers created and deleted through the
table's stream, a breach marked and staff told once, and `GET /tickets?sla=...` in each scope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from support_common.models import Channel, Identity, Priority, TicketType, Visibility
from support_common.paging import handler as paging

from functions.escalate import app as escalate_app
from functions.intake import app as intake_app
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.apigw import ALICE as ALICE_CLAIMS
from tests.integration.apigw import MALLORY, ONCALL, http_event
from tests.integration.desk import (
    ALICE,
    DASHBOARD,
    FUNCTION_ARN,
    STAFF,
    Desk,
)
from tests.integration.faults import fail_nth

GLOBEX = Identity(email="mallory@globex.example", tenant="globex")


@pytest.fixture
def desk(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext) -> Iterator[Desk]:
    desk = Desk(lambda_context)
    for name, value in desk.escalate_environment().items():
        monkeypatch.setenv(name, value)
    paging.reset()
    yield desk
    paging.reset()


def sla_schedules(desk: Desk) -> dict[str, dict[str, Any]]:
    return desk.schedules("sla-")


def fire(desk: Desk, ticket_id: str, target: str, kind: str, due: datetime) -> dict[str, Any]:
    """What EventBridge Scheduler sends when a target's timer fires."""
    payload = load_event("scheduler_sla_breach")
    payload.update(
        ticket_id=ticket_id, target=target, kind=kind, due=due.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
    return dict(escalate_app.lambda_handler(payload, desk.context))


def notices(desk: Desk) -> list[dict[str, Any]]:
    return desk.messages(desk.staff_inbox)


def api(method: str, path: str, claims: dict[str, str], query: dict[str, str] | None = None) -> Any:
    response = intake_app.lambda_handler(http_event(method, path, claims=claims, query=query), FakeLambdaContext())
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def test_sla_urgent_incident_gets_due_times_and_timers_that_a_reply_deletes(desk: Desk) -> None:
    # GIVEN an urgent incident, its record through the stream
    ticket_id = desk.create()
    desk.flush(filtered=True)
    ticket = desk.service.visible(STAFF, ticket_id)

    # THEN it is due 15 minutes after it was filed, and a warning and a breach timer wait for it
    assert ticket.response_due_at is not None
    assert (ticket.response_due_at - ticket.created_at).total_seconds() == 15 * 60
    schedules = sla_schedules(desk)
    assert sorted(json.loads(s["Target"]["Input"])["kind"] for s in schedules.values()) == ["breach", "warn"]
    breach = next(s for s in schedules.values() if json.loads(s["Target"]["Input"])["kind"] == "breach")
    assert breach["Target"]["Arn"] == FUNCTION_ARN
    assert breach["ActionAfterCompletion"] == "DELETE"
    # At the due time rounded up to the second: a timer never fires before it.
    fires = ticket.response_due_at + timedelta(
        microseconds=(1_000_000 - ticket.response_due_at.microsecond) % 1_000_000
    )
    assert breach["ScheduleExpression"] == f"at({fires:%Y-%m-%dT%H:%M:%S})"

    # WHEN an internal note is added: the timers stay (the customer heard nothing)
    desk.service.comment(
        STAFF, ticket_id, "looking at the LB", channel=Channel.DASHBOARD, visibility=Visibility.INTERNAL
    )
    desk.flush(filtered=True)
    assert len(sla_schedules(desk)) == 2
    assert desk.service.visible(STAFF, ticket_id).first_response_at is None

    # WHEN support staff reply publicly
    desk.service.comment(STAFF, ticket_id, "We are on it.", channel=Channel.DASHBOARD)
    desk.flush(filtered=True)

    # THEN the response is recorded and both timers are gone
    assert desk.service.visible(STAFF, ticket_id).first_response_at is not None
    assert sla_schedules(desk) == {}


def test_sla_customer_comment_is_not_a_response(desk: Desk) -> None:
    # GIVEN a normal question
    ticket_id = desk.create(type=TicketType.QUESTION, priority=Priority.NORMAL)
    desk.flush(filtered=True)
    # WHEN the customer adds to it
    desk.service.comment(ALICE, ticket_id, "any news?", channel=Channel.DASHBOARD)
    desk.flush(filtered=True)
    # THEN the target still runs
    assert desk.service.visible(STAFF, ticket_id).first_response_at is None
    assert len(sla_schedules(desk)) == 2


def test_sla_breach_marks_the_ticket_and_tells_staff_once_when_delivered_twice(desk: Desk) -> None:
    # GIVEN an urgent incident nobody answered
    ticket_id = desk.create()
    desk.flush(filtered=True)
    due = desk.service.visible(STAFF, ticket_id).response_due_at
    assert due is not None

    # WHEN its breach timer fires, and the scheduler delivers it a second time
    first = fire(desk, ticket_id, "response", "breach", due)
    second = fire(desk, ticket_id, "response", "breach", due)

    # THEN the ticket shows the breach, and staff were told exactly once, without ticket text
    assert (first["outcome"], second["outcome"]) == ("breach", "breach")
    shown = api("GET", f"/tickets/{ticket_id}", ONCALL)
    assert shown["breached"] == ["response"]
    sent = notices(desk)
    assert len(sent) == 1
    assert ticket_id in sent[0]["Subject"] and "missed" in sent[0]["Subject"]
    assert "Checkout" not in sent[0]["Message"]
    assert f"{DASHBOARD}/tickets/{ticket_id}" in sent[0]["Message"]
    # The mark's own stream record deletes what is left of the timers, and sends nothing more.
    desk.flush(filtered=True)
    assert sla_schedules(desk) == {}
    assert notices(desk) == []


def test_sla_met_target_never_notifies_even_when_its_timer_fires(desk: Desk) -> None:
    # GIVEN an urgent incident acknowledged by staff in time (a response)
    ticket_id = desk.create()
    desk.flush(filtered=True)
    due = desk.service.visible(STAFF, ticket_id).response_due_at
    assert due is not None
    desk.acknowledge(ticket_id)
    desk.flush(filtered=True)

    # WHEN a timer fires anyway (it was already on its way)
    warn = fire(desk, ticket_id, "response", "warn", due)
    breach = fire(desk, ticket_id, "response", "breach", due)

    # THEN nothing is marked and nobody is told
    assert (warn["outcome"], breach["outcome"]) == ("met", "met")
    assert desk.service.visible(STAFF, ticket_id).breached == []
    assert notices(desk) == []


def test_sla_warning_tells_staff_once_and_marks_nothing(desk: Desk) -> None:
    # GIVEN an urgent incident
    ticket_id = desk.create()
    desk.flush(filtered=True)
    due = desk.service.visible(STAFF, ticket_id).response_due_at
    assert due is not None
    # WHEN its warning fires twice
    fire(desk, ticket_id, "response", "warn", due)
    fire(desk, ticket_id, "response", "warn", due)
    # THEN one "due soon" notice, no breach
    sent = notices(desk)
    assert [("due soon" in m["Subject"]) for m in sent] == [True]
    assert desk.service.visible(STAFF, ticket_id).breached == []


def test_sla_retargeted_ticket_ignores_its_old_timer_and_gets_new_ones(desk: Desk) -> None:
    # GIVEN a normal incident (4 business hours), then raised to urgent by staff
    ticket_id = desk.create(priority=Priority.NORMAL)
    desk.flush(filtered=True)
    old_due = desk.service.visible(STAFF, ticket_id).response_due_at
    assert old_due is not None
    old_names = set(sla_schedules(desk))
    desk.service.update(STAFF, ticket_id, {"priority": Priority.URGENT})
    desk.flush(filtered=True)

    # THEN the old timers are replaced by those of the new due time
    new_due = desk.service.visible(STAFF, ticket_id).response_due_at
    assert new_due is not None and new_due != old_due
    names = set(sla_schedules(desk))
    assert names and not names & old_names
    # AND the old timer, had it fired on its way, does nothing
    assert fire(desk, ticket_id, "response", "breach", old_due)["outcome"] == "met"
    assert desk.service.visible(STAFF, ticket_id).breached == []


def test_sla_past_due_time_fires_at_once_with_one_notice(desk: Desk) -> None:
    # GIVEN a ticket whose due time is moved into the past (a backlog after an outage looks so)
    ticket_id = desk.create()
    desk.flush(filtered=True)
    past = desk.service.visible(STAFF, ticket_id)
    desk.stores.tickets.update(past, {"response_due_at": past.created_at}, expected_version=past.version)

    # WHEN its record is delivered
    desk.flush(filtered=True)

    # THEN the breach is marked and staff told once (no "due soon" for what is already late)
    assert desk.service.visible(STAFF, ticket_id).breached == ["response"]
    assert ["missed" in m["Subject"] for m in notices(desk)] == [True]
    # AND a reply after that changes nothing more
    desk.service.comment(STAFF, ticket_id, "Sorry for the wait.", channel=Channel.DASHBOARD)
    desk.flush(filtered=True)
    assert desk.service.visible(STAFF, ticket_id).breached == ["response"]
    assert notices(desk) == []


def test_sla_reply_after_the_due_time_but_before_its_timer_is_a_breach_without_a_notice(desk: Desk) -> None:
    # GIVEN a ticket whose due time has just passed, answered before its breach timer fired
    ticket_id = desk.create()
    desk.flush(filtered=True)
    ticket = desk.service.visible(STAFF, ticket_id)
    desk.stores.tickets.update(ticket, {"response_due_at": ticket.created_at}, expected_version=ticket.version)
    desk.service.comment(STAFF, ticket_id, "Looking now.", channel=Channel.DASHBOARD)

    # WHEN both records arrive in one batch, and the old breach timer fires late too
    desk.flush(filtered=True)
    late = fire(desk, ticket_id, "response", "breach", ticket.created_at)

    # THEN the ticket is marked breached, once, and nobody is alerted about an answered ticket
    assert late["outcome"] == "late"
    assert desk.service.visible(STAFF, ticket_id).breached == ["response"]
    assert notices(desk) == []


def test_sla_publish_failure_fails_the_timer_and_its_retry_tells_staff_once(desk: Desk) -> None:
    # GIVEN an urgent incident, and a staff topic that refuses the first publish
    ticket_id = desk.create()
    desk.flush(filtered=True)
    due = desk.service.visible(STAFF, ticket_id).response_due_at
    assert due is not None
    sns = paging.wiring().deadlines.sns
    fail_nth(sns, "Publish", "InternalError", status=500)

    # WHEN the breach timer fires: the invocation fails (the scheduler retries it)
    with pytest.raises(Exception, match="refused"):
        fire(desk, ticket_id, "response", "breach", due)
    # THEN the breach is already marked, and the retry tells staff exactly once
    assert desk.service.visible(STAFF, ticket_id).breached == ["response"]
    assert notices(desk) == []
    fire(desk, ticket_id, "response", "breach", due)
    fire(desk, ticket_id, "response", "breach", due)
    assert len(notices(desk)) == 1


def test_sla_breached_lists_exactly_the_breached_tickets_of_the_callers_scope(desk: Desk) -> None:
    # GIVEN three urgent incidents of acme (two breached) and one of globex (breached)
    acme = [desk.create() for _ in range(3)]
    globex = desk.service.create(
        GLOBEX,
        desk_draft(),
        channel=Channel.DASHBOARD,
    ).id
    desk.flush(filtered=True)
    for ticket_id in (acme[0], acme[2], globex):
        due = desk.service.visible(STAFF, ticket_id).response_due_at
        assert due is not None
        fire(desk, ticket_id, "response", "breach", due)

    # WHEN each asks for breached tickets
    customer = api("GET", "/tickets", ALICE_CLAIMS, {"sla": "breached"})
    other = api("GET", "/tickets", MALLORY, {"sla": "breached"})
    staff = api("GET", "/tickets", ONCALL, {"sla": "breached"})
    staff_acme = api("GET", "/tickets", ONCALL, {"sla": "breached", "tenant": "acme"})

    # THEN each sees exactly the breached tickets it may see
    assert sorted(t["id"] for t in customer["items"]) == sorted([acme[0], acme[2]])
    assert [t["id"] for t in other["items"]] == [globex]
    assert sorted(t["id"] for t in staff["items"]) == sorted([acme[0], acme[2], globex])
    assert sorted(t["id"] for t in staff_acme["items"]) == sorted([acme[0], acme[2]])


def test_sla_running_lists_the_earliest_due_first_and_due_soon_only_what_is_close(desk: Desk) -> None:
    # GIVEN a question (due in a business day), an urgent incident (15 min) and a high one (1 h)
    question = desk.create(type=TicketType.QUESTION, priority=Priority.NORMAL)
    urgent = desk.create()
    high = desk.create(priority=Priority.HIGH)
    answered = desk.create()
    desk.service.comment(STAFF, answered, "On it.", channel=Channel.DASHBOARD)

    # WHEN staff list running targets, and what is due soon
    running = api("GET", "/tickets", ONCALL, {"sla": "running"})
    soon = api("GET", "/tickets", ONCALL, {"sla": "due_soon"})

    # THEN by due time (answered tickets are not running); due soon stops within the hour
    assert [t["id"] for t in running["items"]][:2] == [urgent, high]
    assert question in [t["id"] for t in running["items"]]
    assert answered not in [t["id"] for t in running["items"]]
    assert [t["id"] for t in soon["items"]][:1] == [urgent]
    assert question not in [t["id"] for t in soon["items"]]
    # A customer sees running targets of their own tenant only.
    mine = api("GET", "/tickets", MALLORY, {"sla": "running"})
    assert mine["items"] == []


def test_sla_scheduler_refusal_fails_the_record_and_the_retry_creates_the_timers(desk: Desk) -> None:
    # GIVEN an urgent incident, and a scheduler that throttles the first CreateSchedule of targets
    ticket_id = desk.create()
    records = desk.records(filtered=True)
    scheduler = paging.wiring().deadlines.timers.scheduler
    assert scheduler is not None
    # The pager's re-page timer is the first CreateSchedule; the target's warning the second (an
    # answer injected before the call is final: the SDK does not retry it).
    fail_nth(scheduler, "CreateSchedule", "ThrottlingException", nth=2)

    # WHEN the batch is delivered: the record fails; THEN its redelivery completes the timers
    with pytest.raises(BatchProcessingError):  # every record of the batch failed
        desk.deliver(records)
    assert desk.deliver(records) == {"batchItemFailures": []}
    assert len(sla_schedules(desk)) == 2
    assert [json.loads(p["Message"])["ticket_id"] for p in desk.pages()] == [ticket_id]


def desk_draft() -> Any:
    from support_common.tickets import NewTicket

    return NewTicket(
        type=TicketType.INCIDENT,
        title="Shop down",
        description="Every request answers 502.",
        priority=Priority.URGENT,
        environment="production",
    )


def test_sla_unknown_timer_payload_is_ignored_not_retried(desk: Desk) -> None:
    # GIVEN a target timer with a bad target name WHEN it fires THEN it is logged and dropped
    payload = load_event("scheduler_sla_breach") | {"target": "everything"}
    assert escalate_app.lambda_handler(payload, desk.context) == {"status": "ignored"}
    assert notices(desk) == []


def test_sla_stream_emits_time_to_first_response_and_to_acknowledge(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an urgent incident acknowledged from the dashboard, its records through the stream
    ticket_id = desk.create()
    desk.flush(filtered=True)
    capsys.readouterr()
    desk.acknowledge(ticket_id)

    # WHEN the acknowledgement's record reaches escalate
    desk.flush(filtered=True)

    # THEN the desk's metrics name the type, priority, level and channel, with seconds as values
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    by_name = {m["Name"]: line for line in lines for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert set(by_name) >= {"TimeToFirstResponse", "TimeToAcknowledge", "TicketsAcknowledged"}
    first = by_name["TimeToFirstResponse"]
    assert (first["type"], first["priority"]) == ("incident", "urgent")
    ack = by_name["TimeToAcknowledge"]
    assert (ack["via"], ack["level"]) == ("dashboard", "none")
    assert 0 <= ack["TimeToAcknowledge"][0] < 60
