"""Benchmarks of functions/notify: AWS requests per staff reply and per status notice (sender side).

Run from the repository root: `make bench` (or `.venv/bin/python bench/bench_notify.py`).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from bench.common import counting, lambda_env

DOMAIN = "support.example.com"
DEPLOYED_ENV = lambda_env("notify", SUPPORT_DOMAIN=DOMAIN)


def requests_per_mail() -> dict[str, dict[str, int]]:
    """AWS requests of the notify function for one reply, its redelivery, and one notice."""
    os.environ.update(DEPLOYED_ENV)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"):
        os.environ.pop(name, None)
    import boto3
    from moto import mock_aws
    from support_common.models import Channel, Identity, Status, TicketType
    from support_common.notify import handler as notify
    from support_common.repository.table import Table
    from support_common.repository.tickets import TicketStore
    from support_common.sla import SlaPolicy
    from support_common.tickets import NewTicket, TicketService

    from functions.notify.app import lambda_handler
    from local.cfn import create_table
    from tests.conftest import FakeLambdaContext

    results: dict[str, dict[str, int]] = {}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        create_table(ddb)
        boto3.client("ses", region_name="eu-west-1").verify_domain_identity(Domain=DOMAIN)
        service = TicketService(TicketStore(Table("tickets", ddb)), SlaPolicy.default())
        alice = Identity(email="alice@acme.example", tenant="acme")
        staff = Identity(email="oncall@support.example.com", tenant="support", is_support=True)
        streams = boto3.client(
            "dynamodbstreams",
            region_name="eu-west-1",
            endpoint_url="https://streams.dynamodb.eu-west-1.amazonaws.com",
        )
        arn = ddb.describe_table(TableName="tickets")["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
            "ShardIterator"
        ]
        draft = NewTicket(type=TicketType.QUESTION, title="PHP 8.4?", description="When?")
        ticket = service.create(alice, draft, channel=Channel.DASHBOARD)

        def records(kind: str) -> list[dict[str, Any]]:
            nonlocal iterator
            resp = streams.get_records(ShardIterator=iterator)
            iterator = resp["NextShardIterator"]
            out = []
            for raw in resp["Records"]:
                if kind in raw["dynamodb"]["Keys"]["sk"]["S"] and raw["eventName"] in ("INSERT", "MODIFY"):
                    shaped = json.loads(json.dumps(raw, default=str))
                    shaped["eventSourceARN"] = arn
                    out.append(shaped)
            return out

        wired = notify.wiring()
        clients = (wired.notifier.tickets.table.client, wired.notifier.ses())

        def run(name: str, batch: list[dict[str, Any]]) -> None:
            with counting(*clients) as calls:
                response = lambda_handler({"Records": batch}, FakeLambdaContext())
            assert response == {"batchItemFailures": []}, response
            results[name] = {op.split(":")[1]: n for op, n in calls.items()}

        service.comment(staff, ticket.id, "Yes, next week.", channel=Channel.DASHBOARD)
        reply = records("COMMENT#")
        run("staff reply", reply)
        run("the same record redelivered", reply)
        service.update(staff, ticket.id, {"status": Status.RESOLVED})
        run("status notice (resolved)", records("TICKET"))
    return results


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    print("AWS requests of functions/notify per mail:")
    for name, calls in requests_per_mail().items():
        detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        print(f"  {name:32s} {sum(calls.values())} ({detail})")


if __name__ == "__main__":
    main()
