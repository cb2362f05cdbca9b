"""Benchmarks of functions/email_ingest: AWS requests per message, cold start against `import boto3`.

Run from the repository root: `make bench` (or `PYTHONPATH=.:layers/common .venv/bin/python
bench/bench_email_ingest.py`). Figures are ratios measured in the same run, so a noisy machine skews
both sides alike.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from bench.common import RUNS, cold_start, counting, lambda_env, top_imports

REGION = "eu-west-1"
DOMAIN = "support.example.com"
BUCKET = "raw-mail"
DEPLOYED_ENV = lambda_env("email_ingest", RAW_MAIL_BUCKET=BUCKET, SUPPORT_DOMAIN=DOMAIN)


def _mail(subject: str, body: str, *, sender: str, message_id: str, **headers: str) -> Any:
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP.clone(max_line_length=998))
    msg["From"] = sender
    msg["To"] = f"incident@{DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def requests_per_message() -> dict[str, dict[str, int]]:
    """AWS requests of each kind of inbound message, by operation (moto, the handler in-process)."""
    os.environ.update(DEPLOYED_ENV)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"):
        os.environ.pop(name, None)
    import boto3
    from moto import mock_aws
    from support_common.email_intake import handler as email
    from support_common.models import Contact, utcnow
    from support_common.repository.contacts import ContactStore

    from functions.email_ingest.app import lambda_handler
    from local.cfn import create_table
    from tests.conftest import FakeLambdaContext, load_event

    results: dict[str, dict[str, int]] = {}
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=DOMAIN)
        service = email.wiring().intake
        table = service.tickets.store.table
        ContactStore(table).put(
            Contact(address="acme.example", tenant="acme", created_at=utcnow(), created_by="bench")
        )
        clients = (service.bucket.s3, table.client, service.acknowledger.ses())

        def run(name: str, ses_id: str, raw: bytes | None, *, source: str, spam: str = "PASS") -> None:
            if raw is not None:
                s3.put_object(Bucket=BUCKET, Key=f"inbound/{ses_id}", Body=raw)
            event = load_event("ses_receipt_lambda")
            record = event["Records"][0]["ses"]
            record["mail"]["messageId"] = ses_id
            record["mail"]["source"] = source
            record["receipt"]["spamVerdict"] = {"status": spam}
            with counting(*clients) as calls:
                result = lambda_handler(event, FakeLambdaContext())["results"][0]
            results[f"{name} -> {result['kind']}"] = dict(sorted(calls.items()))

        plain = _mail(
            "Checkout returns 502", "Every checkout fails.", sender="alice@acme.example", message_id="<m1@a>"
        )
        run("plain text, new ticket, acknowledged", "ses-1", plain.as_bytes(), source="alice@acme.example")

        with_files = _mail(
            "Invoice",
            "See attached.\n\nOn Mon, Bob wrote:\n> old text",
            sender="bob@acme.example",
            message_id="<m2@a>",
        )
        with_files.add_attachment(b"%PDF-1.4" * 100, maintype="application", subtype="pdf", filename="a.pdf")
        with_files.add_attachment(b"\x89PNG" * 100, maintype="image", subtype="png", filename="b.png")
        run(
            "2 attachments + trimmed quote, new ticket, acknowledged",
            "ses-2",
            with_files.as_bytes(),
            source="bob@acme.example",
        )

        reply = _mail(
            "Re: Checkout returns 502",
            "Fixed now.",
            sender="carol@acme.example",
            message_id="<m3@a>",
            In_Reply_To="<m1@a>",
        )
        run("reply by In-Reply-To", "ses-3", reply.as_bytes(), source="carol@acme.example")
        run("same SES message delivered again", "ses-1", None, source="alice@acme.example")
        run("spam verdict FAIL", "ses-4", plain.as_bytes(), source="alice@acme.example", spam="FAIL")
        robot = _mail(
            "Out of office", "Away.", sender="dan@acme.example", message_id="<m4@a>", Auto_Submitted="auto-replied"
        )
        run("auto-reply", "ses-5", robot.as_bytes(), source="dan@acme.example")
    return results


def main() -> None:
    """Print every figure as a Markdown table for BENCHMARKS.md."""
    warnings.simplefilter("ignore")
    print("AWS requests per inbound message (botocore before-call hook, moto):\n")
    print("| message | requests | by operation |")
    print("| --- | --- | --- |")
    for name, calls in requests_per_message().items():
        by_op = ", ".join(f"{op} {n}" for op, n in calls.items())
        print(f"| {name} | {sum(calls.values())} | {by_op} |")

    timings = cold_start(
        {
            "import boto3": "import boto3",
            "import handler": "import functions.email_ingest.app",
            "import handler + S3 and DynamoDB clients": (
                "import functions.email_ingest.app\nfrom support_common.email_intake.handler import wiring\nwiring()"
            ),
            "the same + SES client (first acknowledgement)": (
                "import functions.email_ingest.app\nfrom support_common.email_intake.handler import wiring\nwiring().intake.acknowledger.ses()"
            ),
        },
        DEPLOYED_ENV,
    )
    base = timings["import boto3"]
    print(f"\nCold start (fresh processes, median of {RUNS}, deployed environment, tracing on):\n")
    print("| probe | median | ratio to `import boto3` |")
    print("| --- | --- | --- |")
    for name, seconds in timings.items():
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / base:.2f}x |")

    print("\nSelf import time by top-level package (one `-X importtime` run):\n")
    for package, micros in top_imports("functions.email_ingest.app", DEPLOYED_ENV):
        print(f"- {package}: {micros / 1000:.0f} ms")


if __name__ == "__main__":
    main()
