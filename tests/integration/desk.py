"""The pipeline around the escalate function on moto: tickets in, stream records through, pages out."""

from __future__ import annotations

import json
from typing import Any

import boto3
from support_common.models import Channel, Identity, Priority, TicketType
from support_common.sla import SlaPolicy
from support_common.tickets import NewTicket, TicketService

from functions.escalate import app as escalate_app
from functions.intake import app as intake_app
from local.cfn import resource
from local.event_filter import admitted
from tests.conftest import FakeLambdaContext, Stores, load_event
from tests.integration.apigw import ONCALL, http_event
from tests.integration.names import REGION, TABLE

ALICE = Identity(email="alice@acme.example", tenant="acme")
STAFF = Identity(email="oncall@support.example.com", tenant="support", is_support=True)
GROUP = "support-desk-paging"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:support-desk-escalate"
ROLE_ARN = "arn:aws:iam::123456789012:role/support-desk-paging-scheduler"
DASHBOARD = "https://dashboard.example.com"
API_URL = "https://api.example.com/prod"


class Desk:
    """The pipeline around the escalate function: tickets in, stream records through, pages out."""

    def __init__(self, context: FakeLambdaContext) -> None:
        self.context = context
        self._standdowns: list[dict[str, Any]] = []
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.stores = Stores.on(self.ddb, TABLE)
        self.service = TicketService(self.stores.tickets, SlaPolicy.default())
        self.pages_store = self.stores.pages
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        topic = resource("PagerTopic")
        self.topic_arn = sns.create_topic(
            Name="pager",
            Attributes={"KmsMasterKeyId": topic["KmsMasterKeyId"], "DisplayName": topic["DisplayName"]},
        )["TopicArn"]
        self.alerts_arn = sns.create_topic(Name="alerts")["TopicArn"]
        self.alerts_inbox = self.sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        sns.subscribe(TopicArn=self.alerts_arn, Protocol="sqs", Endpoint=self._queue_arn(self.alerts_inbox))
        self.staff_arn = sns.create_topic(Name="staff")["TopicArn"]
        self.staff_inbox = self.sqs.create_queue(QueueName="staff-inbox")["QueueUrl"]
        sns.subscribe(TopicArn=self.staff_arn, Protocol="sqs", Endpoint=self._queue_arn(self.staff_inbox))
        self.inbox = self.sqs.create_queue(QueueName="pager-inbox")["QueueUrl"]
        # Raw message delivery stays off: the envelope shows Subject and MessageAttributes.
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self._queue_arn(self.inbox))
        failure_queue = self.sqs.create_queue(QueueName="escalate-failures")["QueueUrl"]
        self.failure_arn = self.sqs.get_queue_attributes(QueueUrl=failure_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.scheduler.create_schedule_group(Name=GROUP)
        self.stream_arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        # moto 5.2 routes the streams API only at this explicit endpoint (its default is "not yet implemented").
        self.streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        self.iterator: str | None = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def escalate_environment(self) -> dict[str, str]:
        """The escalate function's environment, pointing at this desk's topics, group and queues."""
        return {
            "POWERTOOLS_SERVICE_NAME": "escalate",
            "PAGER_TOPIC_ARN": self.topic_arn,
            "DASHBOARD_URL": DASHBOARD,
            "ACK_TIMEOUT_MINUTES": "15",
            "MAX_ESCALATION_LEVEL": "3",
            "SCHEDULER_GROUP": GROUP,
            "SCHEDULER_ROLE_ARN": ROLE_ARN,
            "ESCALATE_FUNCTION_ARN": FUNCTION_ARN,
            "ESCALATE_DLQ_ARN": self.failure_arn,
            "ALERTS_TOPIC_ARN": self.alerts_arn,
            "STAFF_TOPIC_ARN": self.staff_arn,
            "API_URL": API_URL,
            "SUPPORT_DOMAIN": "support.example.com",
        }

    def _queue_arn(self, url: str) -> str:
        return str(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

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

    def messages(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Everything delivered to a subscribed queue since the last call (SNS envelopes)."""
        url = queue or self.inbox
        out: list[dict[str, Any]] = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = resp.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def pages(self) -> list[dict[str, Any]]:
        """The pages (event_action trigger) delivered since the last call; stand-downs kept for later."""
        found = self.messages()
        self._standdowns += [m for m in found if _action(m) != "trigger"]
        return [m for m in found if _action(m) == "trigger"]

    def standdowns(self) -> list[dict[str, Any]]:
        """The stand-downs delivered since the last call."""
        self.pages()
        found, self._standdowns = self._standdowns, []
        return found

    def alarms(self) -> list[dict[str, Any]]:
        return self.messages(self.alerts_inbox)

    def schedules(self, prefix: str = "page-") -> dict[str, dict[str, Any]]:
        """The group's schedules by name: the re-page timers (`sla-`: the targets' timers)."""
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return {
            name: self.scheduler.get_schedule(Name=name, GroupName=GROUP)
            for name in names
            if name.startswith(prefix)
        }


def _stream_event() -> dict[str, Any]:
    return dict(resource("EscalateStreamMapping"))


def _action(message: dict[str, Any]) -> str:
    return str(message.get("MessageAttributes", {}).get("event_action", {}).get("Value", "trigger"))


def _level(page: dict[str, Any]) -> int:
    return int(page["MessageAttributes"]["escalation_level"]["Value"])


def _ids(pages: list[dict[str, Any]]) -> list[str]:
    return sorted(json.loads(p["Message"])["ticket_id"] for p in pages)
