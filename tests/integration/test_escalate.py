"""functions/escalate against moto: real writes, the table's own stream, the topic seen through SQS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from support_common.models import TRIAGE_TENANT, Channel, Identity, Priority, Status, TicketType
from support_common.paging import handler as paging
from support_common.tickets import NewTicket, TicketService

from functions.escalate import app as escalate_app
from functions.intake import app as intake_app
from local.cfn import resource
from local.event_filter import admitted
from tests.conftest import FakeLambdaContext, Stores, load_event
from tests.integration.apigw import ONCALL, http_event
from tests.integration.conftest import REGION, TABLE

ALICE = Identity(email="alice@acme.example", tenant="acme")
STAFF = Identity(email="oncall@support.example.com", tenant="support", is_support=True)
GROUP = "support-desk-paging"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:support-desk-escalate"
ROLE_ARN = "arn:aws:iam::123456789012:role/support-desk-paging-scheduler"
DASHBOARD = "https://dashboard.example.com"


class Desk:
    """The pipeline around the escalate function: tickets in, stream records through, pages out."""

    def __init__(self, context: FakeLambdaContext) -> None:
        self.context = context
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.stores = Stores.on(self.ddb, TABLE)
        self.service = TicketService(self.stores.tickets)
        self.pages_store = self.stores.pages
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        topic = resource("PagerTopic")
        self.topic_arn = sns.create_topic(
            Name="pager",
            Attributes={"KmsMasterKeyId": topic["KmsMasterKeyId"], "DisplayName": topic["DisplayName"]},
        )["TopicArn"]
        self.inbox = self.sqs.create_queue(QueueName="pager-inbox")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]
        # Raw message delivery stays off: the envelope shows Subject and MessageAttributes.
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=inbox_arn["QueueArn"])
        failure_queue = self.sqs.create_queue(QueueName="escalate-failures")["QueueUrl"]
        self.failure_arn = self.sqs.get_queue_attributes(QueueUrl=failure_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.scheduler.create_schedule_group(Name=GROUP)
        self.stream_arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        # moto routes the streams API only at this endpoint (see DESIGN.md, known pitfalls).
        self.streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        self.iterator: str | None = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    # --- tickets ---------------------------------------------------------------------------

    def create(
        self,
        *,
        priority: Priority = Priority.URGENT,
        type: TicketType = TicketType.INCIDENT,
        tenant: str | None = None,
        title: str = "Checkout returns 502",
    ) -> str:
        draft = NewTicket(
            type=type,
            title=title,
            description="Every request to /checkout answers 502 since 09:12 UTC.",
            priority=priority,
            environment="production: shop.acme.example",
            tenant=tenant,
        )
        return self.service.create(ALICE, draft, channel=Channel.DASHBOARD).id

    def acknowledge(self, ticket_id: str) -> None:
        event = http_event("POST", f"/tickets/{ticket_id}/acknowledge", claims=ONCALL)
        response = intake_app.lambda_handler(event, self.context)
        assert response["statusCode"] == 200, response

    # --- the stream ------------------------------------------------------------------------

    def records(self, *, filtered: bool = False) -> list[dict[str, Any]]:
        """New records of the table's stream, shaped as Lambda delivers them (optionally filtered)."""
        out: list[dict[str, Any]] = []
        while self.iterator:
            resp = self.streams.get_records(ShardIterator=self.iterator)
            self.iterator = resp.get("NextShardIterator")
            if not resp["Records"]:
                break
            out += [self._lambda_shape(r) for r in resp["Records"]]
        if filtered:
            patterns = [f["Pattern"] for f in _stream_event()["FilterCriteria"]["Filters"]]
            out = [r for r in out if admitted(patterns, r)]
        return out

    def _lambda_shape(self, record: dict[str, Any]) -> dict[str, Any]:
        shaped = json.loads(json.dumps(record, default=str))
        created = record["dynamodb"]["ApproximateCreationDateTime"]
        shaped["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
        shaped["awsRegion"] = REGION
        shaped["eventSourceARN"] = self.stream_arn
        return shaped

    def event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        event = load_event("dynamodb_stream_insert_urgent_incident")
        event["Records"] = records
        return event

    def deliver(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Invoke the function with one batch, as the event source mapping would."""
        return dict(escalate_app.lambda_handler(self.event(records), self.context))

    def flush(self, *, filtered: bool = False) -> dict[str, Any]:
        """Deliver every new stream record in one batch."""
        records = self.records(filtered=filtered)
        return self.deliver(records) if records else {"batchItemFailures": []}

    def fire(self, ticket_id: str, level: int) -> dict[str, Any]:
        """What EventBridge Scheduler sends when a re-page timer fires."""
        payload = load_event("scheduler_repage")
        payload.update(ticket_id=ticket_id, level=level)
        return dict(escalate_app.lambda_handler(payload, self.context))

    # --- what went out ---------------------------------------------------------------------

    def pages(self) -> list[dict[str, Any]]:
        """Every page delivered to the subscribed queue since the last call (SNS envelopes)."""
        out: list[dict[str, Any]] = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10)
            messages = resp.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])

    def schedules(self) -> dict[str, dict[str, Any]]:
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return {name: self.scheduler.get_schedule(Name=name, GroupName=GROUP) for name in names}


def _stream_event() -> dict[str, Any]:
    return dict(resource("EscalateStreamMapping"))


def _level(page: dict[str, Any]) -> int:
    return int(page["MessageAttributes"]["escalation_level"]["Value"])


def _ids(pages: list[dict[str, Any]]) -> list[str]:
    return sorted(json.loads(p["Message"])["ticket_id"] for p in pages)


@pytest.fixture
def desk(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext) -> Iterator[Desk]:
    desk = Desk(lambda_context)
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "escalate",
        "PAGER_TOPIC_ARN": desk.topic_arn,
        "DASHBOARD_URL": DASHBOARD,
        "ACK_TIMEOUT_MINUTES": "15",
        "MAX_ESCALATION_LEVEL": "3",
        "SCHEDULER_GROUP": GROUP,
        "SCHEDULER_ROLE_ARN": ROLE_ARN,
        "ESCALATE_FUNCTION_ARN": FUNCTION_ARN,
        "ESCALATE_DLQ_ARN": desk.failure_arn,
    }.items():
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
    }
    body = json.loads(page["Message"])
    assert body["ticket_id"] == ticket_id
    assert body["link"] == f"{DASHBOARD}/tickets/{ticket_id}"
    assert body["environment"] == "production: shop.acme.example"
    # AND the page record says sent
    [record] = desk.pages_store.list(ticket_id)
    assert (record.level, record.state, record.scheduled) == (1, "sent", True)
    # AND the level-2 timer is a one-time schedule, at the timeout, that invokes this function
    schedule = desk.schedules()[f"page-{ticket_id}-L2"]
    at = datetime.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert before + timedelta(minutes=15) - timedelta(seconds=1) <= at <= after + timedelta(minutes=15, seconds=1)
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == FUNCTION_ARN
    assert schedule["Target"]["RoleArn"] == ROLE_ARN
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": desk.failure_arn}
    assert json.loads(schedule["Target"]["Input"]) == {"action": "repage", "ticket_id": ticket_id, "level": 2}


def test_escalate_filtered_stream_pages_once(desk: Desk) -> None:
    # GIVEN an urgent incident, a comment on it and an edit
    ticket_id = desk.create()
    desk.service.comment(ALICE, ticket_id, "still down", channel=Channel.DASHBOARD)
    desk.service.update(ALICE, ticket_id, {"title": "Checkout and cart return 502"})
    # WHEN only the records the template's filters admit reach the function
    records = desk.records(filtered=True)
    response = desk.deliver(records)
    # THEN one record was admitted (the INSERT) and it paged once
    assert [r["eventName"] for r in records] == ["INSERT"]
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
    assert f"page-{ticket_id}-L2" in desk.schedules()


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
    timer = desk.schedules()[f"page-{ticket_id}-L2"]
    # WHEN its timer fires (the schedule's own Input, as the scheduler sends it)
    result = escalate_app.lambda_handler(json.loads(timer["Target"]["Input"]), desk.context)
    # THEN level 2 is paged, and level 3 scheduled
    assert result == {"ticket_id": ticket_id, "level": 2, "paged": True}
    pages = desk.pages()
    assert [_level(p) for p in pages] == [2]
    assert pages[0]["Subject"] == f"[URGENT] {ticket_id}: Checkout returns 502"
    assert f"page-{ticket_id}-L3" in desk.schedules()
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
    assert f"page-{ticket_id}-L2" in desk.schedules()
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
    assert f"page-{ticket_id}-L2" in desk.schedules()
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
