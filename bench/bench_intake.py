"""Benchmarks of functions/intake: cold start against `import boto3`, AWS requests per operation.

Run from the repository root: `make bench` (or `.venv/bin/python bench/bench_intake.py`).
Figures are ratios measured in the same run, so a noisy machine skews both sides alike.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from bench.common import RUNS, cold_start, counting, lambda_env, top_imports

# The secret's name, not the secret.
DEPLOYED_ENV = lambda_env(
    "intake",
    PAGERDUTY_WEBHOOK_SECRET_ARN="support-desk-pagerduty-webhook",  # noqa: S106
    RAW_MAIL_BUCKET="support-desk-raw-mail-bench",
)


def requests_per_operation() -> dict[str, Any]:
    """AWS requests of each API operation, and a list page's ScannedCount as the table grows."""
    os.environ.update(DEPLOYED_ENV)
    # In-process under moto: the tracer off, and not "inside Lambda".
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"):
        os.environ.pop(name, None)
    import boto3
    from moto import mock_aws
    from support_common.api import handler as api
    from support_common.models import Channel, Priority, Status, Ticket, TicketType, utcnow
    from support_common.repository.ticket_items import ticket_item
    from support_common.repository.tickets import TicketFilter

    from functions.intake.app import lambda_handler
    from local.cfn import create_table
    from tests.conftest import FakeLambdaContext
    from tests.integration.apigw import ONCALL, http_event

    results: dict[str, Any] = {}
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="eu-west-1"))
        os.environ.setdefault("DASHBOARD_ORIGIN", "https://dashboard.example.com")
        repo = api.wiring().services.tickets.store
        client = repo.table.client

        def run(name: str, event: dict[str, Any]) -> dict[str, Any]:
            with counting(client) as calls:
                resp = lambda_handler(event, FakeLambdaContext())
            assert resp["statusCode"] < 300, resp
            results[name] = {op.split(":")[1]: n for op, n in calls.items()}
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
            "POST /tickets/{id}/comments (staff reply)",
            http_event("POST", f"/tickets/{ticket['id']}/comments", body={"body": "On it."}, claims=ONCALL),
        )
        run(
            "POST /tickets/{id}/comments (internal note)",
            http_event(
                "POST",
                f"/tickets/{ticket['id']}/comments",
                body={"body": "psst", "visibility": "internal"},
                claims=ONCALL,
            ),
        )
        run("GET /tickets/{id}/history", http_event("GET", f"/tickets/{ticket['id']}/history"))
        run(
            "POST /tickets/{id}/acknowledge",
            http_event("POST", f"/tickets/{ticket['id']}/acknowledge", claims=ONCALL),
        )

        # ScannedCount of one list page, at 100 and at 10,000 tickets spread over 50 tenants.
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
                batch.append({"PutRequest": {"Item": ticket_item(t)}})
                inserted += 1
                if len(batch) == 25:
                    client.batch_write_item(RequestItems={repo.table.name: batch})  # type: ignore[dict-item]
                    batch = []
            if batch:
                client.batch_write_item(RequestItems={repo.table.name: batch})  # type: ignore[dict-item]
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
                repo.list(query, limit=25, next_token=None)
                counts[label] = seen[-1]
            client.meta.events.unregister("after-call.dynamodb.Query", after)
            scanned[size] = counts
        results["scanned"] = scanned
    return results


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    cold = cold_start(
        {
            "import boto3": "import boto3",
            "import handler": "import functions.intake.app",
            "import handler + DynamoDB client": (
                "import functions.intake.app\nfrom support_common.api.handler import wiring\nwiring()"
            ),
        },
        DEPLOYED_ENV,
    )
    base = cold["import boto3"]
    print(f"cold start (median of {RUNS} fresh processes, deployed env, tracing on):")
    for name, seconds in cold.items():
        print(f"  {name:34s} {seconds * 1000:7.1f} ms  {seconds / base:5.2f}x import boto3")
    print("where the handler's import time goes (self time by package, one run):")
    for name, micros in top_imports("functions.intake.app", DEPLOYED_ENV):
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
