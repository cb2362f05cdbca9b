"""functions/escalate against moto: real writes, the table's own stream, the topic seen through SQS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from support_common.models import TRIAGE_TENANT, Channel, Priority, Status, TicketType
from support_common.paging import handler as paging

from functions.escalate import app as escalate_app
from tests.conftest import FakeLambdaContext
from tests.integration.desk import (
    ALICE,
    DASHBOARD,
    FUNCTION_ARN,
    ROLE_ARN,
    STAFF,
    Desk,
    _ids,
    _level,
)
from tests.integration.faults import fail_nth


@pytest.fixture
def desk(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext) -> Iterator[Desk]:
    desk = Desk(lambda_context)
    for name, value in desk.escalate_environment().items():
        monkeypatch.setenv(name, value)
    paging.reset()
    yield desk
    paging.reset()


def _hook(service: str, event_name: str, handler: Callable[..., Any]) -> None:
    pager = paging.wiring().pager
    client = pager.sns if service == "sns" else pager.tickets.table.client
    client.meta.events.register(event_name, handler)


# --- the first page --------------------------------------------------------------------------


def test_escalate_urgent_incident_created_pages_once(desk: Desk) -> None:
    # GIVEN an urgent incident created through the ticket service
    before = datetime.now(UTC)
    ticket_id = desk.create()
    # WHEN the stream delivers its records (and then the records of the page record itself)
    first = desk.flush()
    second = desk.flush()
    after = datetime.now(UTC)
    # THEN exactly one page went out, at level 1, as the contract describes
    assert first == {"batchItemFailures": []}
    assert second == {"batchItemFailures": []}
    pages = desk.pages()
    assert len(pages) == 1
    page = pages[0]
    assert page["Subject"] == f"[URGENT] {ticket_id}: Checkout returns 502"
    attributes = {k: (v["Type"], v["Value"]) for k, v in page["MessageAttributes"].items()}
    assert attributes == {
        "ticket_type": ("String", "incident"),
        "priority": ("String", "urgent"),
        "tenant": ("String", "acme"),
        "escalation_level": ("Number", "1"),
        "event_action": ("String", "trigger"),
        "origin": ("String", "desk"),
    }
    body = json.loads(page["Message"])
    assert body["ticket_id"] == ticket_id
    assert body["link"] == f"{DASHBOARD}/tickets/{ticket_id}"
    assert body["environment"] == "production: shop.acme.example"
    # AND the page record says sent
    [record] = desk.pages_store.list(ticket_id)
    assert (record.level, record.state, record.scheduled) == (1, "sent", True)
    # AND the level-2 timer is a one-time schedule, at the timeout, that invokes this function
    schedule = desk.schedules()[f"page-{ticket_id}-R1-L2"]
    at = datetime.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert before + timedelta(minutes=15) - timedelta(seconds=1) <= at <= after + timedelta(minutes=15, seconds=1)
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == FUNCTION_ARN
    assert schedule["Target"]["RoleArn"] == ROLE_ARN
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": desk.failure_arn}
    assert json.loads(schedule["Target"]["Input"]) == {
        "action": "repage",
        "ticket_id": ticket_id,
        "level": 2,
        "round": 1,
        "repeat": 0,
    }


def test_escalate_filtered_stream_pages_once(desk: Desk) -> None:
    # GIVEN an urgent incident, a comment on it and an edit
    ticket_id = desk.create()
    desk.service.comment(ALICE, ticket_id, "still down", channel=Channel.DASHBOARD)
    desk.service.update(ALICE, ticket_id, {"title": "Checkout and cart return 502"})
    # WHEN only the records the template's filters admit reach the function
    records = desk.records(filtered=True)
    response = desk.deliver(records)
    # THEN the ticket's three changes were admitted (an open ticket's targets may move with any
    # change) and it paged once
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]
    assert response == {"batchItemFailures": []}
    assert _ids(desk.pages()) == [ticket_id]
    assert desk.records(filtered=True) == []  # the page record's own writes never pass the filters


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"priority": Priority.HIGH}, id="high incident"),
        pytest.param({"type": TicketType.QUESTION, "priority": Priority.NORMAL}, id="question"),
        pytest.param({"type": TicketType.PROBLEM, "priority": Priority.HIGH}, id="problem"),
        pytest.param({"tenant": TRIAGE_TENANT}, id="urgent incident in triage"),
    ],
)
def test_escalate_ticket_that_does_not_page_sends_nothing(desk: Desk, kwargs: dict[str, Any]) -> None:
    # GIVEN a ticket that is not an urgent incident of a real tenant
    desk.create(**kwargs)
    # WHEN the stream delivers it
    response = desk.flush()
    # THEN nothing is paged and nothing is scheduled
    assert response == {"batchItemFailures": []}
    assert desk.pages() == []
    assert desk.schedules() == {}


def test_escalate_acknowledged_incident_raised_to_urgent_does_not_page(desk: Desk) -> None:
    # GIVEN a high incident that support acknowledged
    ticket_id = desk.create(priority=Priority.HIGH)
    desk.acknowledge(ticket_id)
    # WHEN it is raised to urgent
    desk.service.update(STAFF, ticket_id, {"priority": Priority.URGENT})
    desk.flush()
    # THEN nobody is paged: someone already has it
    assert desk.pages() == []


def test_escalate_incident_acknowledged_in_same_batch_does_not_page(desk: Desk) -> None:
    # GIVEN an urgent incident acknowledged before the stream delivered its creation
    ticket_id = desk.create()
    desk.acknowledge(ticket_id)
    # WHEN both records arrive in one batch
    response = desk.flush()
    # THEN the newer state wins: no page
    assert response == {"batchItemFailures": []}
    assert desk.pages() == []
    assert desk.pages_store.list(ticket_id) == []


def test_escalate_stale_record_of_acknowledged_incident_does_not_page(desk: Desk) -> None:
    # GIVEN an urgent incident, acknowledged since, whose creation record arrives an hour late
    ticket_id = desk.create()
    [insert] = desk.records()
    desk.acknowledge(ticket_id)
    insert["dynamodb"]["ApproximateCreationDateTime"] -= 3600
    # WHEN only that old record is delivered (a backlog after an outage)
    response = desk.deliver([insert])
    # THEN the table is asked for the current state, and nobody is paged
    assert response == {"batchItemFailures": []}
    assert desk.pages() == []


def test_escalate_priority_raised_to_urgent_pages(desk: Desk) -> None:
    # GIVEN a high incident, already through the stream
    ticket_id = desk.create(priority=Priority.HIGH)
    desk.flush()
    # WHEN the customer raises it to urgent
    desk.service.update(ALICE, ticket_id, {"priority": Priority.URGENT})
    response = desk.flush()
    # THEN on-call is paged once
    assert response == {"batchItemFailures": []}
    pages = desk.pages()
    assert _ids(pages) == [ticket_id]
    assert _level(pages[0]) == 1


def test_escalate_retyped_to_incident_pages(desk: Desk) -> None:
    # GIVEN a high problem
    ticket_id = desk.create(type=TicketType.PROBLEM, priority=Priority.HIGH)
    desk.flush()
    # WHEN support retypes it to an urgent incident
    desk.service.update(STAFF, ticket_id, {"type": TicketType.INCIDENT, "priority": Priority.URGENT})
    desk.flush()
    # THEN it pages
    assert _ids(desk.pages()) == [ticket_id]


def test_escalate_moved_out_of_triage_pages(desk: Desk) -> None:
    # GIVEN an urgent incident from an unknown sender, parked in triage (no page)
    ticket_id = desk.create(tenant=TRIAGE_TENANT)
    desk.flush()
    assert desk.pages() == []
    # WHEN support moves it to the customer's tenant
    desk.service.update(STAFF, ticket_id, {"tenant": "acme"})
    desk.flush()
    # THEN it pages: the customer's site is down
    pages = desk.pages()
    assert _ids(pages) == [ticket_id]
    assert pages[0]["MessageAttributes"]["tenant"]["Value"] == "acme"


def test_escalate_edits_and_comments_on_paged_incident_do_not_page(desk: Desk) -> None:
    # GIVEN an urgent incident that already paged
    ticket_id = desk.create()
    desk.flush()
    assert len(desk.pages()) == 1
    # WHEN it is commented on and edited (records delivered unfiltered, to test the function itself)
    desk.service.comment(ALICE, ticket_id, "still down", channel=Channel.DASHBOARD)
    desk.service.update(ALICE, ticket_id, {"title": "Checkout and cart return 502", "description": "worse"})
    desk.service.comment(STAFF, ticket_id, "looking", channel=Channel.DASHBOARD)
    response = desk.flush()
    # THEN nothing more is paged and the timer is untouched
    assert response == {"batchItemFailures": []}
    assert desk.pages() == []
    assert f"page-{ticket_id}-R1-L2" in desk.schedules()


# --- once only -------------------------------------------------------------------------------


def test_escalate_duplicate_delivery_and_batch_retry_page_once(desk: Desk) -> None:
    # GIVEN the stream records of an urgent incident
    ticket_id = desk.create()
    records = desk.records()
    # WHEN the batch is delivered, retried, and the record arrives twice in one batch
    responses = [desk.deliver(records), desk.deliver(records), desk.deliver(records + records)]
    # THEN one page went out
    assert responses == [{"batchItemFailures": []}] * 3
    assert _ids(desk.pages()) == [ticket_id]
    assert [p.level for p in desk.pages_store.list(ticket_id)] == [1]


def test_escalate_sns_failure_on_one_record_fails_only_it_and_retry_pages(desk: Desk) -> None:
    # GIVEN three urgent incidents in one batch, and SNS rejecting the second entry once
    ids = [desk.create(title=f"Site {n} down") for n in range(3)]
    records = desk.records()
    calls: list[int] = []

    def break_second_entry(params: dict[str, Any], **_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            # A real per-entry failure from moto: SNS answers it in the batch's Failed list.
            params["PublishBatchRequestEntries"][1]["MessageStructure"] = "text"

    _hook("sns", "before-parameter-build.sns.PublishBatch", break_second_entry)
    # WHEN the batch is delivered
    response = desk.deliver(records)
    # THEN only the second record is reported failed; the others paged
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [records[1]["dynamodb"]["SequenceNumber"]]
    assert _ids(desk.pages()) == sorted([ids[0], ids[2]])
    assert desk.pages_store.list(ids[1]) == []  # the claim was released
    # WHEN Lambda retries from the failed record on (it re-sends the records after it too)
    retry = desk.deliver(records[1:])
    # THEN the failed page goes out, and nothing else twice
    assert retry == {"batchItemFailures": []}
    assert _ids(desk.pages()) == [ids[1]]


def test_escalate_sns_outage_fails_batch_and_retry_pages(desk: Desk) -> None:
    # GIVEN an urgent incident and SNS failing the whole call once
    ticket_id = desk.create()
    records = desk.records()
    calls: list[int] = []

    def outage(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PublishBatch")

    _hook("sns", "before-call.sns.PublishBatch", outage)
    # WHEN the batch is delivered: every record failed, so Lambda must retry the whole batch
    with pytest.raises(BatchProcessingError):
        desk.deliver(records)
    assert desk.pages() == []
    # THEN the retry pages once
    assert desk.deliver(records) == {"batchItemFailures": []}
    assert _ids(desk.pages()) == [ticket_id]


def test_escalate_crashed_claim_is_retaken_after_its_lease(desk: Desk) -> None:
    # GIVEN a page claimed by an invocation that died before publishing (its lease has ended)
    ticket_id = desk.create()
    records = desk.records()
    claim = desk.pages_store.claim(ticket_id, 1, token="dead", lease_until=1.0, now=0.0)
    assert claim.status == "claimed"
    # WHEN the batch is retried
    response = desk.deliver(records)
    # THEN the page goes out
    assert response == {"batchItemFailures": []}
    assert _ids(desk.pages()) == [ticket_id]


def test_escalate_live_claim_elsewhere_fails_record_for_retry(desk: Desk) -> None:
    # GIVEN a page being sent right now by another invocation (a live lease)
    ticket_id = desk.create()
    records = desk.records()
    far = datetime.now(UTC).timestamp() + 600
    desk.pages_store.claim(ticket_id, 1, token="other", lease_until=far, now=0.0)
    # WHEN the record is delivered
    # THEN it fails (every record failed: the whole batch is retried) and nothing is sent twice
    with pytest.raises(BatchProcessingError):
        desk.deliver(records)
    assert desk.pages() == []


# --- escalation ------------------------------------------------------------------------------


def test_escalate_timer_after_timeout_repages_at_level_2(desk: Desk) -> None:
    # GIVEN an urgent incident paged at level 1 and nobody acknowledging
    ticket_id = desk.create()
    desk.flush()
    desk.pages()
    timer = desk.schedules()[f"page-{ticket_id}-R1-L2"]
    # WHEN its timer fires (the schedule's own Input, as the scheduler sends it)
    result = escalate_app.lambda_handler(json.loads(timer["Target"]["Input"]), desk.context)
    # THEN level 2 is paged, and level 3 scheduled
    assert result == {"ticket_id": ticket_id, "level": 2, "paged": True}
    pages = desk.pages()
    assert [_level(p) for p in pages] == [2]
    assert pages[0]["Subject"] == f"[URGENT] {ticket_id}: Checkout returns 502"
    assert f"page-{ticket_id}-R1-L3" in desk.schedules()
    # WHEN the same timer fires again (at-least-once delivery)
    desk.fire(ticket_id, 2)
    # THEN nothing more goes out
    assert desk.pages() == []
    # WHEN the last level fires
    desk.fire(ticket_id, 3)
    # THEN level 3 is paged and no level 4 is scheduled (max 3)
    assert [_level(p) for p in desk.pages()] == [3]
    assert not any(name.endswith("-L4") for name in desk.schedules())
    assert [p.level for p in desk.pages_store.list(ticket_id)] == [1, 2, 3]


def test_escalate_acknowledge_cancels_repage(desk: Desk) -> None:
    # GIVEN an urgent incident paged at level 1, its level-2 timer pending
    ticket_id = desk.create()
    desk.flush()
    desk.pages()
    assert f"page-{ticket_id}-R1-L2" in desk.schedules()
    # WHEN on-call acknowledges it in the dashboard and the stream delivers that
    desk.acknowledge(ticket_id)
    response = desk.flush(filtered=True)
    # THEN the timer is deleted
    assert response == {"batchItemFailures": []}
    assert desk.schedules() == {}
    # AND a timer that fires late anyway does nothing
    result = desk.fire(ticket_id, 2)
    assert result == {"ticket_id": ticket_id, "level": 2, "paged": False}
    assert desk.pages() == []


def test_escalate_resolved_incident_timer_does_nothing(desk: Desk) -> None:
    # GIVEN an urgent incident resolved straight away, its cancel never delivered
    ticket_id = desk.create()
    desk.flush()
    desk.pages()
    desk.service.update(STAFF, ticket_id, {"status": Status.RESOLVED})
    # WHEN the level-2 timer fires
    result = desk.fire(ticket_id, 2)
    # THEN nobody is paged
    assert result["paged"] is False
    assert desk.pages() == []


def test_escalate_unknown_event_is_ignored(desk: Desk) -> None:
    # GIVEN an event that is neither a stream batch nor a re-page
    # WHEN the function gets it
    result = escalate_app.lambda_handler({"hello": "world"}, desk.context)
    # THEN it is logged and dropped (a retry could not fix it)
    assert result == {"status": "ignored"}


def test_escalate_schedule_failure_retries_timer_without_second_page(desk: Desk) -> None:
    # GIVEN an urgent incident, and the scheduler failing once
    ticket_id = desk.create()
    records = desk.records()
    calls: list[int] = []

    def scheduler_down(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "CreateSchedule")

    scheduler = paging.wiring().pager.timers.scheduler
    assert scheduler is not None
    scheduler.meta.events.register("before-call.scheduler.CreateSchedule", scheduler_down)
    # WHEN the batch is delivered: the page goes out but its timer could not be set
    with pytest.raises(BatchProcessingError):
        desk.deliver(records)
    assert _ids(desk.pages()) == [ticket_id]
    assert desk.schedules() == {}
    # THEN the retry creates the timer without paging again
    assert desk.deliver(records) == {"batchItemFailures": []}
    assert desk.pages() == []
    assert f"page-{ticket_id}-R1-L2" in desk.schedules()
    assert desk.pages_store.list(ticket_id)[0].scheduled is True


# --- scale and metrics -----------------------------------------------------------------------


def test_escalate_100_urgent_incidents_in_one_batch_page_in_at_most_10_sns_calls(desk: Desk) -> None:
    # GIVEN a region outage: 100 tenants' sites down at once
    ids = [desk.create(tenant=f"tenant-{n:03d}", title=f"Site {n} down") for n in range(100)]
    records = desk.records()
    assert len(records) == 100
    sns_calls: list[str] = []
    _hook("sns", "before-call.sns", lambda model, **_: sns_calls.append(model.name))
    # WHEN they arrive in one batch
    response = desk.deliver(records)
    # THEN 100 pages went out in at most 10 SNS requests
    assert response == {"batchItemFailures": []}
    assert _ids(desk.pages()) == sorted(ids)
    assert len(sns_calls) <= 10
    assert set(sns_calls) == {"PublishBatch"}


def test_escalate_page_emits_metrics_by_level(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an urgent incident
    ticket_id = desk.create()
    capsys.readouterr()
    # WHEN it pages at level 1, then its timer pages level 2
    desk.flush()
    desk.fire(ticket_id, 2)
    # THEN PagesSent is emitted with the level as a dimension, and TimeToPage once (level 1)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    sent = [b for b in blobs if "PagesSent" in b]
    assert sorted((b["level"], b["PagesSent"]) for b in sent) == [("1", [1.0]), ("2", [1.0])]
    assert all(["service", "level"] in b["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for b in sent)
    delays = [b["TimeToPage"] for b in blobs if "TimeToPage" in b]
    assert len(delays) == 1
    assert 0 <= delays[0][0] < 60_000


# --- faults ----------------------------------------------------------------------------------


def test_escalate_mark_sent_throttled_then_redelivered_pages_once(desk: Desk) -> None:
    # GIVEN an urgent incident, and DynamoDB throttling the "mark page sent" write past the SDK's retries
    ticket_id = desk.create()
    records = desk.records()
    client = paging.wiring().pager.tickets.table.client
    for nth in (1, 2, 3):
        fail_nth(client, "UpdateItem", "ProvisionedThroughputExceededException", nth=nth)

    # WHEN the batch is delivered, then delivered again after the claim's lease would have ended
    first = desk.deliver(records)
    [record] = desk.pages_store.list(ticket_id)
    again = desk.deliver(records)

    # THEN the page is recorded sent (our own retry), and the redelivery sends nothing more
    assert first == again == {"batchItemFailures": []}
    assert record.state == "sent"
    assert _ids(desk.pages()) == [ticket_id]


def test_escalate_publish_is_not_retried_by_the_sdk(desk: Desk) -> None:
    # GIVEN an urgent incident, and SNS failing its first PublishBatch with a server error
    ticket_id = desk.create()
    sns = paging.wiring().pager.sns
    calls = fail_nth(sns, "PublishBatch", "InternalError", nth=1, status=500)

    # WHEN the batch is delivered, then retried by the mapping
    records = desk.records()
    with pytest.raises(BatchProcessingError):
        desk.deliver(records)
    retried = desk.deliver(records)

    # THEN the SDK did not resend it (a lost answer would page twice): the batch failed, and the
    # mapping's retry paged once
    assert calls == ["PublishBatch", "PublishBatch"]
    assert retried == {"batchItemFailures": []}
    assert _ids(desk.pages()) == [ticket_id]
