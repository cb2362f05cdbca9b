"""Benchmarks of functions/escalate: cold start as a ratio to `import boto3`, and AWS requests per page.

Run from the repository root (make bench does):
    PYTHONPATH=.:layers/common .venv/bin/python bench/bench_escalate.py [--write]
--write replaces the "## Paging" section of BENCHMARKS.md with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from datetime import date
from pathlib import Path
from typing import Any

from bench.common import RUNS, counting, lambda_env
from bench.common import cold_start as shared_cold_start
from bench.common import fresh_python as common_fresh_python

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
TABLE = "tickets"
GROUP = "support-desk-paging"

DEPLOYED_ENV = lambda_env(
    "escalate",
    PAGER_TOPIC_ARN=f"arn:aws:sns:{REGION}:123456789012:support-desk-PagerTopic",
    ACK_TIMEOUT_MINUTES="15",
    MAX_ESCALATION_LEVEL="3",
    SCHEDULER_GROUP=GROUP,
    SCHEDULER_ROLE_ARN="arn:aws:iam::123456789012:role/paging-scheduler",
    ESCALATE_FUNCTION_ARN=f"arn:aws:lambda:{REGION}:123456789012:function:support-desk-escalate",
    ESCALATE_DLQ_ARN=f"arn:aws:sqs:{REGION}:123456789012:support-desk-escalate-failures",
    ALERTS_TOPIC_ARN=f"arn:aws:sns:{REGION}:123456789012:support-desk-AlertsTopic",
    STAFF_TOPIC_ARN=f"arn:aws:sns:{REGION}:123456789012:support-desk-StaffTopic",
    API_URL="https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod",
    SUPPORT_DOMAIN="support.example.com",
)

SNIPPET = "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
# What the cold start is made of: each step's own import time, in the order the handler pulls them in.
STEPS = {
    "Powertools logger": "aws_lambda_powertools.logging",
    "Tracer (X-Ray SDK, botocore patched) and Metrics": "support_common.observability",
    "pydantic and the models": "support_common.models",
    "repository (boto3)": "support_common.repository.tickets",
    "Powertools batch": "aws_lambda_powertools.utilities.batch",
    "paging modules": "support_common.paging.handler",
    "the handler": "functions.escalate.app",
}
STEPS_SNIPPET = (
    "import json, time\n"
    "out = {{}}\n"
    "for name in {modules!r}:\n"
    "    t = time.perf_counter(); __import__(name); out[name] = (time.perf_counter() - t) * 1000\n"
    "print(json.dumps(out))"
)


def fresh_python(code: str) -> str:
    """The last line `code` prints in a fresh interpreter with the deployed environment."""
    return common_fresh_python(code, DEPLOYED_ENV).stdout.strip().splitlines()[-1]


def import_ms(module: str) -> float:
    """Milliseconds to import `module` in a fresh interpreter with the deployed environment."""
    return float(fresh_python(SNIPPET.format(module=module)))


def breakdown() -> dict[str, float]:
    """Median milliseconds of each step of the handler's import, in fresh interpreters."""
    runs = [json.loads(fresh_python(STEPS_SNIPPET.format(modules=list(STEPS.values())))) for _ in range(RUNS)]
    return {label: statistics.median(run[module] for run in runs) for label, module in STEPS.items()}


def cold_start() -> dict[str, float]:
    """Median import times, alternating the two so that machine noise hits both alike."""
    import_ms("functions.escalate.app")  # warm the OS file cache and .pyc files once
    medians = shared_cold_start({"boto3": "import boto3", "app": "import functions.escalate.app"}, DEPLOYED_ENV)
    boto3_ms, app_ms = medians["boto3"] * 1000, medians["app"] * 1000
    return {"boto3_ms": boto3_ms, "app_ms": app_ms, "ratio": app_ms / boto3_ms}


@contextmanager
def aws_stack() -> Iterator[dict[str, Any]]:
    """moto with the template's table, the pager topic subscribed to a queue, and a schedule group."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "TABLE_NAME": TABLE,
            "POWERTOOLS_METRICS_NAMESPACE": "SupportDesk",
            "POWERTOOLS_SERVICE_NAME": "escalate",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # Quiet: the figures are what this prints.
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws

    from local.cfn import create_secret, create_table

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb, table_name=TABLE)
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="pager", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        inbox = sqs.create_queue(QueueName="pager-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=GROUP)
        # The key that signs the pages' links, generated as the template does.
        create_secret(
            boto3.client("secretsmanager", region_name=REGION), "AckSigningSecret", "support-desk-ack-signing"
        )
        os.environ.update(
            {
                k: v
                for k, v in DEPLOYED_ENV.items()
                if k.startswith(
                    ("SCHEDULER", "ESCALATE", "ACK", "MAX", "ALERTS", "API_URL", "SUPPORT", "DASHBOARD")
                )
            }
        )
        os.environ["PAGER_TOPIC_ARN"] = topic
        stream_arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )
        yield {"ddb": ddb, "streams": streams, "iterator": [iterator["ShardIterator"]], "stream_arn": stream_arn}


def new_records(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream records written since the last call, shaped as Lambda delivers them."""
    out: list[dict[str, Any]] = []
    while True:
        resp = stack["streams"].get_records(ShardIterator=stack["iterator"][0])
        stack["iterator"][0] = resp["NextShardIterator"]
        if not resp["Records"]:
            return out
        for record in resp["Records"]:
            shaped = json.loads(json.dumps(record, default=str))
            shaped["dynamodb"]["ApproximateCreationDateTime"] = record["dynamodb"][
                "ApproximateCreationDateTime"
            ].timestamp()
            shaped["eventSourceARN"] = stack["stream_arn"]
            out.append(shaped)


class Context:
    function_name = "support-desk-escalate"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = DEPLOYED_ENV["ESCALATE_FUNCTION_ARN"]
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def requests() -> dict[str, Any]:
    """AWS requests made by the function for 100 urgent incidents, one page, a re-page and a cancel."""
    with aws_stack() as stack:
        from support_common.models import Channel, Identity, Priority, Status, TicketType
        from support_common.paging import handler as paging
        from support_common.repository.table import Table
        from support_common.repository.tickets import TicketStore
        from support_common.sla import SlaPolicy
        from support_common.tickets import NewTicket, TicketService

        from functions.escalate import app

        paging.reset()
        pager = paging.wiring().pager
        assert pager.timers.scheduler is not None
        # Held until requests() returns: the hooks go when the scope is closed (or collected).
        scope = ExitStack()
        calls = scope.enter_context(counting(pager.sns, pager.timers.scheduler, pager.tickets.table.client))

        service = TicketService(TicketStore(Table(TABLE, stack["ddb"])), SlaPolicy.default())
        staff = Identity(email="oncall@support.example.com", tenant="support", is_support=True)

        def incident(tenant: str) -> str:
            draft = NewTicket(
                type=TicketType.INCIDENT,
                title=f"{tenant}: site down",
                description="Every page answers 502.",
                priority=Priority.URGENT,
                environment="production",
            )
            return service.create(
                Identity(email=f"ops@{tenant}.example", tenant=tenant), draft, channel=Channel.DASHBOARD
            ).id

        def run(records: list[dict[str, Any]] | dict[str, Any]) -> tuple[Counter[str], float, Any]:
            calls.clear()
            event = {"Records": records} if isinstance(records, list) else records
            start = time.perf_counter()
            with redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Powertools warns when a batch emitted no metric
                result = app.lambda_handler(event, Context())
            # By service, as the figures below are written: "sns:PublishBatch" counts for SNS.
            by_service = Counter(
                {"sns": "SNS", "dynamodb": "DynamoDB", "scheduler": "Scheduler"}[op.split(":")[0]]
                for op in calls.elements()
            )
            return by_service, (time.perf_counter() - start) * 1000, result

        with redirect_stdout(io.StringIO()):
            ids = [incident(f"tenant{n:03d}") for n in range(100)]
        batch_calls, batch_ms, result = run(new_records(stack))
        assert result == {"batchItemFailures": []}, result
        new_records(stack)  # the page records' own writes

        with redirect_stdout(io.StringIO()):
            one = incident("solo")
        single_calls, _, _ = run(new_records(stack))
        new_records(stack)
        repage_calls, _, repage = run({"action": "repage", "ticket_id": one, "level": 2})
        assert repage["paged"] is True
        service.update(staff, ids[0], {"status": Status.ACKNOWLEDGED})
        cancel_calls, _, _ = run([r for r in new_records(stack) if r["eventName"] == "MODIFY"])
        scope.close()
        return {
            "batch": dict(batch_calls),
            "batch_ms": batch_ms,
            "single": dict(single_calls),
            "repage": dict(repage_calls),
            "cancel": dict(cancel_calls),
        }


def section(cold: dict[str, float], steps: dict[str, float], reqs: dict[str, Any]) -> str:
    batch = reqs["batch"]
    parts = "\n".join(f"| {label} | {ms:.0f} ms |" for label, ms in steps.items())
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    return f"""## Paging

`functions/escalate`, measured {date(2026, 11, 26).isoformat()} on {machine} (moto 5.2, in-process).

| what | figure |
| --- | --- |
| cold start: `import functions.escalate.app` (tracing on, median of {RUNS} fresh processes) | {cold["app_ms"]:.0f} ms |
| `import boto3` in the same run (median of {RUNS}) | {cold["boto3_ms"]:.0f} ms |
| **cold start ratio** (escalate / boto3) | **{cold["ratio"]:.2f}** |
| 100 urgent incidents in one batch: SNS requests (at most 10) | {batch.get("SNS", 0)} PublishBatch |
| same batch: DynamoDB requests | {batch.get("DynamoDB", 0)} ({batch.get("DynamoDB", 0) / 100:.2f} per page) |
| same batch: Scheduler requests (level-2 timers) | {batch.get("Scheduler", 0)} |
| same batch: handler wall time under moto | {reqs["batch_ms"]:.0f} ms |
| one page from the stream: SNS / DynamoDB / Scheduler | {_triple(reqs["single"])} |
| one re-page from a timer (level 2): SNS / DynamoDB / Scheduler | {_triple(reqs["repage"])} |
| one acknowledgement (stand-down, cancel timers): SNS / DynamoDB / Scheduler | {_triple(reqs["cancel"])} |

DynamoDB per page: a conditional put (claim) and a conditional update (mark sent); a re-page adds
the GetItem that re-reads the ticket; an acknowledgement of a paged ticket is one Query (the round's
page records), the stand-down's claim and mark, one Publish and one DeleteSchedule.

Where the cold start goes (median of {RUNS} fresh processes, each step's own import, in the order
the handler pulls them in). Tracer and the models are what every function of the layer pays; the
module creates no boto3 client at import (they are built on the first invocation):

| step | import |
| --- | --- |
{parts}

Reproduce: `PYTHONPATH=.:layers/common .venv/bin/python bench/bench_escalate.py` (or `make bench`);
`--write` rewrites this section.
"""


def _triple(calls: dict[str, int]) -> str:
    return f"{calls.get('SNS', 0)} / {calls.get('DynamoDB', 0)} / {calls.get('Scheduler', 0)}"


def write_section(text: str) -> None:
    """Replace (or append) the "## Paging" section of BENCHMARKS.md, leaving the others alone."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Paging\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    cold = cold_start()
    steps = breakdown()
    reqs = requests()
    text = section(cold, steps, reqs)
    print(text)
    batch_sns = reqs["batch"].get("SNS", 0)
    if batch_sns > 10:
        raise SystemExit(f"100 pages took {batch_sns} SNS requests (at most 10)")
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
