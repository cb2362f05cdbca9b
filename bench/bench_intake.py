"""Benchmarks of functions/intake: cold start against `import boto3`, AWS requests per operation.

Run from the repository root: `make bench` (or `.venv/bin/python bench/bench_intake.py`).
Figures are ratios measured in the same run, so a noisy machine skews both sides alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7

# The environment as deployed: inside Lambda (so the tracer is on and patches botocore).
DEPLOYED_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "support-desk-intake",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    # The X-Ray SDK checks this to know it is in Lambda (else it builds a sampling client: +120 ms).
    "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "intake"),
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "TABLE_NAME": "tickets",
    "POWERTOOLS_SERVICE_NAME": "intake",
    "POWERTOOLS_METRICS_NAMESPACE": "SupportDesk",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}

PROBE = """
import time
t0 = time.perf_counter()
{stmt}
t1 = time.perf_counter()
print(t1 - t0)
"""


def _fresh_process_seconds(stmt: str) -> float:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}, **DEPLOYED_ENV}
    env["PYTHONPATH"] = f"{ROOT}:{ROOT / 'layers' / 'common'}"
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(stmt=stmt)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_start() -> dict[str, float]:
    """Median seconds over fresh processes, interleaved so drift hits every probe alike."""
    probes = {
        "import boto3": "import boto3",
        "import handler": "import functions.intake.app",
        "import handler + DynamoDB client": (
            "import functions.intake.app\nfrom support_common.api import service\nservice()"
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(RUNS):
        for name, stmt in probes.items():
            samples[name].append(_fresh_process_seconds(stmt))
    return {name: statistics.median(values) for name, values in samples.items()}


def top_imports(limit: int = 8) -> list[tuple[str, int]]:
    """Where the handler's import time goes: self time summed by top-level package (microseconds)."""
    env = {**os.environ, **DEPLOYED_ENV, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}"}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import functions.intake.app"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    totals: Counter[str] = Counter()
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
            totals[parts[2].strip().split(".")[0]] += int(parts[0])
    return totals.most_common(limit)


@contextmanager
def counting(client: Any) -> Iterator[Counter[str]]:
    """Count the AWS requests a botocore client makes, by operation."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.*.*", hook)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.*.*", hook)


def requests_per_operation() -> dict[str, Any]:
    """AWS requests of each API operation, and a list page's ScannedCount as the table grows."""
    os.environ.update(DEPLOYED_ENV)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"):
        os.environ.pop(name, None)
    import boto3
    from moto import mock_aws
    from support_common.api import service
    from support_common.models import Channel, Priority, Status, Ticket, TicketType, utcnow
    from support_common.repository import TicketFilter, _ticket_item

    from functions.intake.app import lambda_handler
    from local.cfn import create_table
    from tests.conftest import FakeLambdaContext
    from tests.integration.apigw import ONCALL, http_event

    results: dict[str, Any] = {}
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="eu-west-1"))
        client = service().repository.client

        def run(name: str, event: dict[str, Any]) -> dict[str, Any]:
            with counting(client) as calls:
                resp = lambda_handler(event, FakeLambdaContext())
            assert resp["statusCode"] < 300, resp
            results[name] = dict(calls)
            return json.loads(resp["body"]) if resp.get("body") else {}

        body = {"type": "incident", "title": "Site down", "description": "502s", "environment": "production"}
        ticket = run("POST /tickets", http_event("POST", "/tickets", body=body))
        run(
            "POST /tickets (Idempotency-Key)",
            http_event("POST", "/tickets", body=body, headers={"Idempotency-Key": "k1"}),
        )
        run(
            "POST /tickets (replayed key)",
            http_event("POST", "/tickets", body=body, headers={"Idempotency-Key": "k1"}),
        )
        run("GET /tickets", http_event("GET", "/tickets"))
        run(
            "GET /tickets?status=open&type=incident",
            http_event("GET", "/tickets", query={"status": "open", "type": "incident"}),
        )
        run("GET /tickets/{id}", http_event("GET", f"/tickets/{ticket['id']}"))
        run("PATCH /tickets/{id}", http_event("PATCH", f"/tickets/{ticket['id']}", body={"priority": "high"}))
        run(
            "POST /tickets/{id}/comments",
            http_event("POST", f"/tickets/{ticket['id']}/comments", body={"body": "hi"}),
        )
        run(
            "POST /tickets/{id}/acknowledge",
            http_event("POST", f"/tickets/{ticket['id']}/acknowledge", claims=ONCALL),
        )

        # ScannedCount of one list page, at 100 and at 10,000 tickets spread over 50 tenants.
        repo = service().repository
        scanned: dict[int, dict[str, int]] = {}
        inserted = 0
        now = utcnow()
        for size in (100, 10_000):
            batch: list[dict[str, Any]] = []
            while inserted < size:
                t = Ticket(
                    id=f"QST-{inserted:06d}",
                    type=TicketType.QUESTION if inserted % 3 else TicketType.INCIDENT,
                    priority=Priority.NORMAL,
                    status=Status.OPEN if inserted % 2 else Status.RESOLVED,
                    title="t",
                    description="d",
                    channel=Channel.DASHBOARD,
                    tenant=f"tenant{inserted % 50}",
                    requester={"email": "x@example.com"},
                    created_at=now,
                    updated_at=now,
                )
                batch.append({"PutRequest": {"Item": _ticket_item(t)}})
                inserted += 1
                if len(batch) == 25:
                    client.batch_write_item(RequestItems={repo.table_name: batch})
                    batch = []
            if batch:
                client.batch_write_item(RequestItems={repo.table_name: batch})
            counts: dict[str, int] = {}
            seen: list[int] = []

            def after(parsed: dict[str, Any], seen: list[int] = seen, **_: Any) -> None:
                seen.append(parsed.get("ScannedCount", -1))

            client.meta.events.register("after-call.dynamodb.Query", after)
            for label, query in (
                ("tenant", TicketFilter(tenant="tenant7")),
                ("tenant+status", TicketFilter(tenant="tenant7", status=Status.OPEN)),
                ("all tenants (staff)", TicketFilter(tenant=None)),
            ):
                seen.clear()
                repo.list_tickets(query, limit=25, next_token=None)
                counts[label] = seen[-1]
            client.meta.events.unregister("after-call.dynamodb.Query", after)
            scanned[size] = counts
        results["scanned"] = scanned
    return results


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    cold = cold_start()
    base = cold["import boto3"]
    print(f"cold start (median of {RUNS} fresh processes, deployed env, tracing on):")
    for name, seconds in cold.items():
        print(f"  {name:34s} {seconds * 1000:7.1f} ms  {seconds / base:5.2f}x import boto3")
    print("where the handler's import time goes (self time by package, one run):")
    for name, micros in top_imports():
        print(f"  {name:34s} {micros / 1000:7.1f} ms")
    counts = requests_per_operation()
    scanned = counts.pop("scanned")
    print("AWS requests per operation:")
    for op, calls in counts.items():
        total = sum(calls.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        print(f"  {op:38s} {total} ({detail})")
    print("ScannedCount of one list page (limit 25):")
    for size, by_query in scanned.items():
        print(f"  {size:>6} tickets: " + ", ".join(f"{k} {v}" for k, v in by_query.items()))


if __name__ == "__main__":
    main()
