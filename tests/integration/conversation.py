"""The conversation on moto: the API in, the table's stream through notify's mapping, SES out.

Requests go through functions.intake.app, mail through functions.email_ingest.app (the Mailroom),
and every new stream record passes the template's FilterCriteria of NotifyStreamMapping before it
reaches functions.notify.app, as the event source mapping would deliver it.
"""

from __future__ import annotations

import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from functions.intake import app as intake_app
from functions.notify import app as notify_app
from local.cfn import resource
from local.event_filter import admitted
from tests.conftest import FakeLambdaContext, Stores, load_event
from tests.integration.apigw import ALICE, http_event
from tests.integration.conftest import REGION, TABLE
from tests.integration.mailroom import BUCKET, Mailroom


class Conversation:
    """Drives the API and the notify consumer, and reads what SES sent."""

    def __init__(self, mailroom: Mailroom) -> None:
        self.mailroom = mailroom
        self.context = FakeLambdaContext()
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.stores: Stores = mailroom.stores
        self.s3 = mailroom.s3
        self.bucket = BUCKET
        stream_arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        self.stream_arn = stream_arn
        # moto 5.2 routes the streams API only at this explicit endpoint.
        self.streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )
        shard = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
        self.iterator: str | None = self.streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]
        self.sent_before = len(self._backend().sent_messages)

    # --- the API ---------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        claims: dict[str, str] | None = ALICE,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        event = http_event(method, path, body=body, claims=claims, headers=headers)
        response = intake_app.lambda_handler(event, self.context)
        return response["statusCode"], json.loads(response["body"]) if response.get("body") else None

    def ok(self, method: str, path: str, *, body: Any = None, claims: dict[str, str] | None = ALICE) -> Any:
        status, out = self.api(method, path, body=body, claims=claims)
        assert 200 <= status < 300, (status, out)
        return out

    # --- the stream ------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """New stream records that notify's FilterCriteria admit, shaped as Lambda delivers them."""
        out: list[dict[str, Any]] = []
        while self.iterator:
            resp = self.streams.get_records(ShardIterator=self.iterator)
            self.iterator = resp.get("NextShardIterator")
            if not resp["Records"]:
                break
            for raw in resp["Records"]:
                shaped = json.loads(json.dumps(raw, default=str))
                shaped["dynamodb"]["ApproximateCreationDateTime"] = raw["dynamodb"][
                    "ApproximateCreationDateTime"
                ].timestamp()
                shaped["awsRegion"] = REGION
                shaped["eventSourceARN"] = self.stream_arn
                out.append(shaped)
        patterns = [f["Pattern"] for f in resource("NotifyStreamMapping")["FilterCriteria"]["Filters"]]
        return [r for r in out if admitted(patterns, r)]

    def deliver(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        event = load_event("dynamodb_stream_insert_urgent_incident")
        event["Records"] = records
        return dict(notify_app.lambda_handler(event, self.context))

    def flush(self) -> list[dict[str, Any]]:
        """Deliver every admitted new record in one batch; return the records delivered."""
        records = self.records()
        if records:
            assert self.deliver(records) == {"batchItemFailures": []}
        return records

    # --- what went out ---------------------------------------------------------------------

    @staticmethod
    def _backend() -> Any:
        return ses_backends[DEFAULT_ACCOUNT_ID][REGION]

    def sent(self) -> list[EmailMessage]:
        """Every message SES sent since the driver started, parsed."""
        out = []
        for message in list(self._backend().sent_messages)[self.sent_before :]:
            raw = message.raw_data
            parsed = message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=default)
            assert isinstance(parsed, EmailMessage)
            parsed["X-Test-Ses-Id"] = message.id
            out.append(parsed)
        return out

    def sent_about(self, ticket_id: str) -> list[EmailMessage]:
        return [m for m in self.sent() if f"[#{ticket_id}]" in str(m["Subject"])]
