"""`make demo`: drive a running `make run` the way a customer and on-call would.

Reads `.local/stack.json` (or `--state-dir`), files one dashboard ticket of each type, mails
urgent@ from alice@acme.example over SMTP, waits for both pages on the pager queue, lists the
tickets, prints how long each urgent request took to page, then acknowledges the first page from
its own link (GET shows the confirm page, POST acknowledges) and shows the stand-down.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import sys
import time
import urllib.error
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3

PAGE_TIMEOUT = 30.0

TICKETS: list[dict[str, Any]] = [
    {
        "type": "incident",
        "priority": "urgent",
        "title": "Site down: www.acme.example returns 502",
        "description": "Since 18:20 UTC every page of www.acme.example returns 502 Bad Gateway.",
        "environment": "production",
    },
    {
        "type": "problem",
        "title": "Nightly cache purge overloads the origin",
        "description": "Each night at 02:00 the purge sends every request to the origin for ten minutes.",
    },
    {
        "type": "task",
        "title": "Add staging.acme.example to the CDN",
        "description": "Please add staging.acme.example to our CDN configuration with the same rules as "
        "www.acme.example, by Friday.",
    },
    {
        "type": "question",
        "title": "How long are backups kept?",
        "description": "Our auditors ask how long database backups are kept, and where.",
    },
]


class Demo:
    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = stack
        self.token = str(stack["tokens"]["customer"])
        self.sqs = boto3.client(
            "sqs",
            endpoint_url=stack["aws_endpoint_url"],
            region_name=stack["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto takes any credentials
        )
        self.seen: list[dict[str, Any]] = []

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.stack["api_url"] + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_for_page(self, match: str, started: float) -> float | None:
        """Seconds from `started` until a page naming `match` is in the pager queue (None: none came)."""
        deadline = time.monotonic() + PAGE_TIMEOUT
        while time.monotonic() < deadline:
            for page in self.seen:
                if match in str(page.get("Subject", "")):
                    return page["_at"] - started
            got = self.sqs.receive_message(
                QueueUrl=self.stack["pager_queue_url"],
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            )
            for message in got.get("Messages", []):
                page = json.loads(message["Body"])
                page["_at"] = time.monotonic()
                self.seen.append(page)
                self.sqs.delete_message(
                    QueueUrl=self.stack["pager_queue_url"], ReceiptHandle=message["ReceiptHandle"]
                )
                attributes = page.get("MessageAttributes") or {}
                level = attributes.get("escalation_level", {}).get("Value", "?")
                action = attributes.get("event_action", {}).get("Value", "trigger")
                what = "page " if action == "trigger" else action
                print(f"   {what}  level {level}: {page.get('Subject')}")
            time.sleep(0.05)
        return None

    def run(self) -> int:
        print(
            f"Local stack at {self.stack['api_url']}, SMTP {self.stack['smtp_host']}:{self.stack['smtp_port']}\n"
        )
        print("1. Dashboard: one ticket of each type (as alice@acme.example)")
        urgent_id, urgent_started = None, 0.0
        for body in TICKETS:
            started = time.monotonic()
            status, ticket = self.api("POST", "/tickets", body)
            if status != 201:
                print(f"   {body['type']}: HTTP {status} {ticket}")
                return 1
            print(f"   {status} {ticket['id']:<11} {ticket['type']:<9} {ticket['priority']:<7} {ticket['title']}")
            if body.get("priority") == "urgent":
                urgent_id, urgent_started = ticket["id"], started

        print("\n2. Waiting for the urgent incident's page on the pager queue")
        dashboard_delay = self.wait_for_page(str(urgent_id), urgent_started) if urgent_id else None

        subject = f"Checkout is down ({uuid.uuid4().hex[:6]})"
        print(f"\n3. Email: alice@acme.example -> urgent@{self.stack['support_domain']}: {subject!r}")
        message = EmailMessage()
        message["From"] = "Alice Martin <alice@acme.example>"
        message["To"] = f"urgent@{self.stack['support_domain']}"
        message["Subject"] = subject
        message.set_content(
            "Hello,\n\nevery checkout on www.acme.example fails with 502 since 18:20 UTC.\n\nAlice"
        )
        mail_started = time.monotonic()
        with smtplib.SMTP(self.stack["smtp_host"], int(self.stack["smtp_port"]), timeout=30) as smtp:
            smtp.send_message(message)
        print("   250: accepted")
        email_delay = self.wait_for_page(subject, mail_started)

        print("\n4. The tickets alice sees (newest first)")
        status, listed = self.api("GET", "/tickets?limit=10")
        for ticket in listed.get("items", []) if status == 200 else []:
            print(
                f"   {ticket['id']:<11} {ticket['channel']:<9} {ticket['type']:<9} {ticket['priority']:<7} "
                f"{ticket['status']:<8} {ticket['title']}"
            )
        outbox = Path(self.stack["outbox_dir"])
        print(f"\n   acknowledgements in {outbox}: {len(list(outbox.glob('*.eml')))} .eml file(s)")

        print("\n5. Time from the urgent request to its page")
        ok = True
        for what, delay in (("dashboard POST /tickets", dashboard_delay), ("email to urgent@", email_delay)):
            if delay is None:
                ok = False
                print(f"   {what:<24} no page within {PAGE_TIMEOUT:.0f}s (see the [stream] lines of make run)")
            else:
                print(f"   {what:<24} {delay * 1000:.0f} ms")
        if urgent_id and dashboard_delay is not None:
            ok = self.acknowledge_from_page(str(urgent_id)) and ok
        return 0 if ok else 1

    def acknowledge_from_page(self, ticket_id: str) -> bool:
        """On-call's phone: open the page's link (GET: a confirm button), press it (POST), see the stand-down."""
        page = next(p for p in self.seen if ticket_id in str(p.get("Subject", "")))
        link = json.loads(page["Message"]).get("ack_url")
        print(f"\n6. On-call acknowledges {ticket_id} from the page itself (no sign-in)")
        if not link:
            print("   the page carries no ack link (see the [stream] lines of make run)")
            return False
        print(f"   link  {link}")
        for method in ("GET", "POST"):
            request = urllib.request.Request(link, data=b"" if method == "POST" else None, method=method)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, html = response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                status, html = error.code, error.read().decode()
            heading = html.split("<h1>", 1)[-1].split("</h1>", 1)[0] if "<h1>" in html else html[:60]
            print(f"   {method:<5} {status} {heading}")
        status, ticket = self.api("GET", f"/tickets/{ticket_id}")
        print(f"   ticket status: {ticket.get('status') if status == 200 else status}")
        print("   waiting for the stand-down on the pager queue")
        return self.wait_for_page(f"[ACKNOWLEDGED] {ticket_id}", time.monotonic()) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("LOCAL_STATE_DIR", ".local")))
    args = parser.parse_args(argv)
    stack_file = args.state_dir / "stack.json"
    if not stack_file.exists():
        print(f"No running stack: {stack_file} is missing. Start one with `make run` in another terminal.")
        return 2
    return Demo(json.loads(stack_file.read_text())).run()


if __name__ == "__main__":
    sys.exit(main())
