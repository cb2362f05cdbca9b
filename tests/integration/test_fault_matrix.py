"""The fault matrix: one fault at the Nth call of each AWS operation each function makes.

Each function runs a scenario of its real work (intake: a customer's session; email_ingest: a new
urgent mail and its reply; escalate: an urgent incident paged, re-paged and acknowledged; notify: a
staff reply and a resolution mailed). A clean run of each scenario records which AWS operations the
function calls and how often, so a new call is in the matrix without anyone listing it; then every
recorded call is struck, in its own run, with each fault that can happen to it (faults.FAULTS).

The platform's own retries are part of the scenario, as AWS runs them: a browser retries a 503
(it must carry Retry-After) or a gateway timeout; Lambda retries a failed async invocation twice;
a stream mapping retries from the first failed record of a batch (the whole batch after an error).
A timed-out function restarts cold, and its retry comes after the dead invocation's leases.
After each run: exactly one of each ticket, comment, page, stand-down and mail, as in the clean run.

Bounded for `make test`: every nth call of an operation called up to 3 times, else the first, the
last and one seeded from the middle (FAULT_SEED).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import pytest
import requests
from moto import mock_aws
from support_common.repository.tickets import TicketFilter

from functions.intake import app as intake_app
from local.cfn import create_secret, create_table
from local.dynamodb import adapter as dynamodb_adapter
from tests.conftest import FakeLambdaContext, Stores, reset_functions
from tests.integration.apigw import ONCALL, http_event
from tests.integration.conversation import Conversation
from tests.integration.desk import API_URL, DASHBOARD, FUNCTION_ARN, GROUP, ROLE_ARN, Desk
from tests.integration.faults import (
    FAULTS,
    INJECTOR,
    LOST_ANSWER,
    TIMEOUT,
    LambdaTimeout,
    Point,
    applies,
)
from tests.integration.mailroom import BUCKET, DOMAIN, Mailroom, mail
from tests.integration.names import REGION, TABLE

SEED = int(os.environ.get("FAULT_SEED", "20261202"))
FULL = os.environ.get("FAULT_MATRIX") == "full"
ATTEMPTS = 3  # a browser's tries; Lambda's async delivery (1 + MaximumRetryAttempts 2)
STREAM_ATTEMPTS = 6  # well inside the mappings' MaximumRetryAttempts (8 and 10)
# A lock held by a dead invocation ends with it: the intake's idempotency lock ends with the
# context's remaining time, so the browser's back-off outlasts it.
INTAKE_REMAINING_MS = 150


class IntakeContext(FakeLambdaContext):
    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return INTAKE_REMAINING_MS


@dataclass
class Clock:
    """time.time with an offset: a retry after a timeout comes after the dead invocation's leases."""

    offset: float = 0.0
    real: Callable[[], float] = time.time

    def now(self) -> float:
        return self.real() + self.offset

    def after_timeout(self) -> None:
        reset_functions()  # the sandbox that timed out is gone: the retry starts cold
        self.offset += 60.0
        time.sleep(INTAKE_REMAINING_MS / 1000)


@dataclass
class World:
    """One moto account with everything the four functions need, shared by a handler's runs (each
    run has its own tenant, sender and tickets, and starts its functions cold)."""

    desk: Desk
    conversation: Conversation
    mailroom: Mailroom
    clock: Clock
    runs: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def stores(self) -> Stores:
        return self.mailroom.stores

    def next_run(self, armed: Point | None) -> int:
        """A fresh start: cold functions, drained streams and inboxes, the fault armed."""
        self.runs += 1
        reset_functions()
        self.desk.records()
        self.conversation.records()
        self.desk.messages()
        INJECTOR.reset(armed)
        return self.runs


@contextmanager
def world() -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "TABLE_NAME": TABLE,
            "POWERTOOLS_METRICS_NAMESPACE": "SupportDesk",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "DASHBOARD_URL": DASHBOARD,
            "DASHBOARD_ORIGIN": DASHBOARD,
            "RAW_MAIL_BUCKET": BUCKET,
            "SUPPORT_DOMAIN": DOMAIN,
            "ACK_TIMEOUT_MINUTES": "15",
            "MAX_ESCALATION_LEVEL": "3",
            "SCHEDULER_GROUP": GROUP,
            "SCHEDULER_ROLE_ARN": ROLE_ARN,
            "ESCALATE_FUNCTION_ARN": FUNCTION_ARN,
            "API_URL": API_URL,
        }
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        clock = Clock()
        mp.setattr(time, "time", clock.now)
        # botocore's back-off before retrying a lost answer: the retry itself is what matters.
        mp.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))
        # The local stack's DynamoDB adapter: moto copies whole tables on every transaction item,
        # which makes a shared table quadratically slow (and is no behaviour of DynamoDB's).
        with mock_aws(), dynamodb_adapter():
            sm = boto3.client("secretsmanager", region_name=REGION)
            mp.setenv("ACK_SECRET_ARN", create_secret(sm, "AckSigningSecret", "support-desk-ack-signing"))
            mp.setenv(
                "PAGERDUTY_WEBHOOK_SECRET_ARN",
                create_secret(sm, "PagerDutyWebhookSecret", "support-desk-pagerduty-webhook"),
            )
            create_table(boto3.client("dynamodb", region_name=REGION), table_name=TABLE)
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=DOMAIN)
            desk = Desk(FakeLambdaContext())
            mp.setenv("PAGER_TOPIC_ARN", desk.topic_arn)
            mp.setenv("ESCALATE_DLQ_ARN", desk.failure_arn)
            mp.setenv("ALERTS_TOPIC_ARN", desk.alerts_arn)
            mp.setenv("STAFF_TOPIC_ARN", desk.staff_arn)
            room = Mailroom(
                s3, Stores.on(boto3.client("dynamodb", region_name=REGION), TABLE), FakeLambdaContext()
            )
            conversation = Conversation(room)
            try:
                yield World(desk, conversation, room, clock)
            finally:
                INJECTOR.reset(None)
                reset_functions()


# --- what a user sees --------------------------------------------------------------------------


def customer(n: int) -> dict[str, str]:
    return {"email": f"alice@t{n}.example", "custom:tenant": f"t{n}", "cognito:groups": "[customers]"}


def browser(w: World, method: str, path: str, *, claims: dict[str, str], body: Any = None, key: str = "") -> Any:
    """A request as the dashboard makes it: a 503 (with Retry-After), a gateway timeout or a 409
    "still in progress" is retried with the same Idempotency-Key; anything else is the answer."""
    headers = {"Idempotency-Key": key} if key else {}
    status, out = 0, None
    for _ in range(ATTEMPTS):
        event = http_event(method, path, body=body, claims=claims, headers=headers)
        try:
            response = intake_app.lambda_handler(event, IntakeContext())
        except LambdaTimeout:
            w.clock.after_timeout()  # API Gateway answers 503 when its integration times out
            continue
        status = response["statusCode"]
        out = json.loads(response["body"]) if response.get("body") else None
        if status == 503:
            assert response["headers"]["Retry-After"], response  # the browser knows when to retry
            continue
        if status == 409 and "in progress" in out["message"]:
            time.sleep(INTAKE_REMAINING_MS / 1000)
            continue
        break
    assert 200 <= status < 300, (method, path, status, out)
    return out


def intake_scenario(w: World, n: int) -> dict[str, Any]:
    """A customer files an urgent incident and a related question, comments, attaches a file, lists
    their tickets; on-call acknowledges the incident."""
    me = customer(n)
    incident = {
        "type": "incident",
        "priority": "urgent",
        "title": "Checkout returns 502",
        "description": "Every checkout fails since 09:00.",
        "environment": "production",
    }
    first = browser(w, "POST", "/tickets", claims=me, body=incident, key=f"k1-{n}")
    question = {"type": "question", "title": "Is it the CDN?", "description": "Asking.", "related": [first["id"]]}
    browser(w, "POST", "/tickets", claims=me, body=question, key=f"k2-{n}")
    path = f"/tickets/{first['id']}"
    browser(w, "POST", f"{path}/comments", claims=me, body={"body": "still down"}, key=f"c1-{n}")
    form = browser(
        w, "POST", f"{path}/attachments", claims=me, body={"name": "a.png", "content_type": "image/png"}
    )
    posted = requests.post(form["url"], data=form["fields"], files={"file": ("a.png", b"\x89PNG")}, timeout=10)
    assert posted.status_code in (200, 204)
    browser(w, "GET", path, claims=me)
    browser(w, "GET", "/tickets", claims=me)
    browser(w, "POST", f"{path}/acknowledge", claims=ONCALL)
    # What the customer sees afterwards, read without faults.
    INJECTOR.paused = True
    shown = browser(w, "GET", path, claims=me)
    listed = browser(w, "GET", "/tickets", claims=me)["items"]
    comments = [c["body"] for c in shown.get("comments", [])]
    return {
        "tickets": sorted(t["type"] for t in listed),
        "related": len(shown["related"]),
        "comments": comments,
        "files": [a["name"] for a in shown["attachments"]],
        "status": shown["status"],
    }


def deliveries(w: World, raw: bytes, *, ses_id: str, to: str, source: str) -> dict[str, Any]:
    """Lambda's async invocation of email_ingest: a failed one is retried twice, one minute and
    then two minutes after the failure."""
    result: dict[str, Any] = {}
    for attempt in range(ATTEMPTS):
        w.clock.offset += 60.0 * attempt
        try:
            result = w.mailroom.deliver(raw, ses_id=ses_id, to=to, source=source)
        except LambdaTimeout:
            w.clock.after_timeout()
            continue
        except Exception:  # noqa: S112 - a failed invocation: Lambda retries it
            continue
        break
    assert result.get("kind") not in (None, "failed"), result
    return result


def email_scenario(w: World, n: int) -> dict[str, Any]:
    """A contact's urgent mail becomes an incident and is acknowledged; their reply is a comment."""
    domain, sender = f"d{n}.example", f"alice@d{n}.example"
    w.mailroom.add_contact(domain, f"t{n}")
    first_id = f"<urgent-{n}@mail.{domain}>"
    raw = mail("Checkout returns 502", sender=f"Alice <{sender}>", to=f"urgent@{DOMAIN}", message_id=first_id)
    deliveries(w, raw, ses_id=f"{secrets.token_hex(16)}o3vrnil0e2ic28trm7", to=f"urgent@{DOMAIN}", source=sender)
    reply = mail(
        "Re: Checkout returns 502",
        "Still failing for every customer in the EU since the deploy at 09:00 UTC.",
        sender=f"Alice <{sender}>",
        to=f"urgent@{DOMAIN}",
        in_reply_to=first_id,
    )
    deliveries(w, reply, ses_id=f"{secrets.token_hex(16)}o3vrnil0e2ic28trm7", to=f"urgent@{DOMAIN}", source=sender)
    page = w.stores.tickets.list(TicketFilter(tenant=f"t{n}"), limit=10, next_token=None)
    tickets = [w.stores.tickets.get_with_comments(t.id) for t in page.items]
    ids = [t.id for t, _ in tickets if t]
    acks = [m for m in w.mailroom.sent() if any(f"[#{i}]" in str(m.raw_data) for i in ids)]
    return {
        "tickets": sorted((t.type.value, t.priority.value) for t, _ in tickets if t),
        "comments": [c.body.split("\n")[0] for _, cs in tickets for c in cs],
        "acknowledgements": len(acks),
    }


def stream(
    w: World, deliver: Callable[[list[dict[str, Any]]], dict[str, Any]], records: list[dict[str, Any]]
) -> bool:
    """A stream mapping: retried from the first failed record, the whole batch after an error."""
    pending = records
    for _ in range(STREAM_ATTEMPTS):
        if not pending:
            return True
        try:
            result = deliver(pending)
        except LambdaTimeout:
            w.clock.after_timeout()
            continue
        except Exception:  # noqa: S112 - a failed invocation: the platform retries it
            continue
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        first = next((i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in failed), None)
        pending = [] if first is None else pending[first:]
    return not pending


def drain(w: World, read: Callable[[], list[dict[str, Any]]], deliver: Callable[..., dict[str, Any]]) -> None:
    """Deliver new records until the stream is quiet (a page's own records come after it)."""
    for _ in range(4):
        records = read()
        if not records:
            return
        assert stream(w, deliver, records), "records still failing after the mapping's retries"


def escalate_scenario(w: World, n: int) -> dict[str, Any]:
    """An urgent incident pages level 1; nobody answers, the timer pages level 2; on-call acknowledges."""
    desk = w.desk
    ticket_id = desk.create(title=f"Checkout returns 502 ({n})")
    read = lambda: desk.records(filtered=True)  # noqa: E731
    drain(w, read, desk.deliver)
    for _ in range(ATTEMPTS):  # EventBridge Scheduler retries a failed invocation
        try:
            desk.fire(ticket_id, 2)
        except LambdaTimeout:
            w.clock.after_timeout()
            continue
        except Exception:  # noqa: S112 - a failed invocation: the platform retries it
            continue
        break
    desk.acknowledge(ticket_id)  # through intake: the fault is armed for escalate's calls only
    drain(w, read, desk.deliver)
    found = desk.messages()
    mine = [m for m in found if ticket_id in m.get("Message", "")]
    actions = Counter(
        (
            m["MessageAttributes"].get("event_action", {}).get("Value", "trigger"),
            m["MessageAttributes"].get("escalation_level", {}).get("Value", "-"),
        )
        for m in mine
    )
    return {
        "pages": sorted(actions.items()),
        "timers": sorted(name.rsplit("-", 1)[1] for name in desk.schedules() if ticket_id in name),
    }


def notify_scenario(w: World, n: int) -> dict[str, Any]:
    """On-call replies to a customer's question and resolves it: both are mailed to the customer."""
    c = w.conversation
    me = customer(n)
    # The requests are intake's: the fault is armed for notify's calls only.
    ticket = browser(
        w, "POST", "/tickets", claims=me, body={"type": "question", "title": "PHP 8.4?", "description": "?"}
    )
    browser(w, "POST", f"/tickets/{ticket['id']}/comments", claims=ONCALL, body={"body": "Yes, on every plan."})
    browser(w, "PATCH", f"/tickets/{ticket['id']}", claims=ONCALL, body={"status": "resolved"})
    drain(w, c.records, c.deliver)
    # Each record is mailed on its own: after a failed first record the second may go out first.
    return {"mails": sorted(str(m["Subject"]).split(":")[0] for m in c.sent_about(ticket["id"]))}


SCENARIOS: dict[str, Callable[[World, int], dict[str, Any]]] = {
    "IntakeFunction": intake_scenario,
    "EmailIngestFunction": email_scenario,
    "EscalateFunction": escalate_scenario,
    "NotifyFunction": notify_scenario,
}


# --- the matrix --------------------------------------------------------------------------------


def record_clean_runs() -> tuple[dict[str, dict[str, Any]], dict[str, Counter[tuple[str, str]]]]:
    """Each scenario once without faults: what the user sees, and the calls each function made."""
    outcomes: dict[str, dict[str, Any]] = {}
    calls: dict[str, Counter[tuple[str, str]]] = {}
    with world() as w:
        for function, scenario in SCENARIOS.items():
            n = w.next_run(None)
            outcomes[function] = scenario(w, n)
            calls[function] = Counter({(s, op): c for (f, s, op), c in INJECTOR.calls.items() if f == function})
    return outcomes, calls


def points_of(function: str, calls: Counter[tuple[str, str]]) -> list[Point]:
    """The faults to strike each call with.

    FAULT_MATRIX=full: every fault that can strike each call (all of an operation's calls up to 3,
    else the first, the last and a seeded one between). By default (`make test`), each operation
    gets two fault classes at one of its calls, seeded and rotating, so every class and every
    operation is struck in each run and the whole matrix over a few runs of different seeds.
    """
    rng = random.Random(f"{SEED}-{function}")
    points = []
    for (service, operation), count in sorted(calls.items()):
        faults = [f for f in FAULTS if applies(f, service, operation)]
        if FULL:
            nths = list(range(1, count + 1)) if count <= 3 else [1, rng.randint(2, count - 1), count]
            points += [Point(function, service, operation, nth, fault) for nth in nths for fault in faults]
        else:
            chosen = rng.sample(faults, k=min(2, len(faults)))
            points += [Point(function, service, operation, rng.randint(1, count), fault) for fault in chosen]
    return points


CLEAN: dict[str, Any] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "point" not in metafunc.fixturenames:
        return
    if not CLEAN:
        CLEAN["outcomes"], CLEAN["calls"] = record_clean_runs()
    points = [p for function in SCENARIOS for p in points_of(function, CLEAN["calls"][function])]
    metafunc.parametrize("point", points, ids=[f"{p.function.removesuffix('Function')}-{p.id}" for p in points])


@pytest.fixture(scope="module")
def shared() -> Iterator[World]:
    with world() as w:
        yield w


def test_clean_runs_record_every_function_and_its_outcome() -> None:
    # GIVEN the scenarios run once without faults (at collection)
    outcomes, calls = CLEAN["outcomes"], CLEAN["calls"]

    # THEN each function made AWS calls, and each scenario did its work exactly once
    assert all(calls[f] for f in SCENARIOS)
    assert outcomes["IntakeFunction"] == {
        "tickets": ["incident", "question"],
        "related": 1,
        "comments": ["still down"],
        "files": ["a.png"],
        "status": "acknowledged",
    }
    assert outcomes["EmailIngestFunction"] == {
        "tickets": [("incident", "urgent")],
        "comments": ["Still failing for every customer in the EU since the deploy at 09:00 UTC."],
        "acknowledgements": 1,
    }
    assert outcomes["EscalateFunction"]["pages"] == [
        (("acknowledge", "2"), 1),
        (("trigger", "1"), 1),
        (("trigger", "2"), 1),
    ]
    assert outcomes["NotifyFunction"] == {"mails": ["Re", "Resolved"]}


def test_fault_at_nth_call_ends_as_the_clean_run(point: Point, shared: World) -> None:
    # GIVEN one fault armed at the nth call of one operation of one function
    n = shared.next_run(point)

    # WHEN the function's scenario runs, with the platform's retries
    outcome = SCENARIOS[point.function](shared, n)

    # THEN the fault struck, and the user sees exactly what the clean run gave them
    assert INJECTOR.fired == [point], f"the fault never struck: {INJECTOR.calls}"
    assert outcome == expected(point)


# The windows RELIABILITY.md documents ("What remains"): a send whose answer was lost, or a function
# that died after a send and before it recorded it, is sent again by the retry. SNS has no
# deduplication on a standard topic; PagerDuty folds a repeated page into its incident (dedup_key).
SENT_AGAIN = {
    ("sns", "PublishBatch", LOST_ANSWER),
    ("sns", "PublishBatch", TIMEOUT),
    ("sns", "Publish", LOST_ANSWER),
    ("sns", "Publish", TIMEOUT),
    # The level's next timer is made after the publish and before the page is marked sent.
    ("scheduler", "CreateSchedule", TIMEOUT),
}


SENT = (LOST_ANSWER, TIMEOUT)  # the call was applied; what the code does next is lost


def expected(point: Point) -> dict[str, Any]:
    """The clean run's outcome, but for the windows RELIABILITY.md documents."""
    clean = dict(CLEAN["outcomes"][point.function])
    where = (point.service, point.operation, point.fault)
    if point.function == "EscalateFunction" and where in SENT_AGAIN:
        # Publish is the stand-down; PublishBatch and CreateSchedule #n belong to level n's page.
        again = ("acknowledge", "2") if point.operation == "Publish" else ("trigger", str(point.nth))
        clean["pages"] = sorted((key, count + (key == again)) for key, count in clean["pages"])
    if point.function == "EmailIngestFunction" and point.operation == "SendRawEmail" and point.fault in SENT:
        # The acknowledgement went out, then its answer was lost (no SDK retry: the claims are
        # given back) or the function died before marking it sent (the claim's lease runs out):
        # the message's retry, which finds the ticket filed, sends it again.
        clean["acknowledgements"] += 1
    if (point.function, point.operation, point.fault) == ("NotifyFunction", "SendRawEmail", LOST_ANSWER):
        # The mail went out, its answer was lost (no SDK retry): the record's retry mails it again.
        clean["mails"] = sorted([*clean["mails"], NOTIFY_SEND_ORDER[point.nth - 1]])
    return clean


NOTIFY_SEND_ORDER = ["Re", "Resolved"]  # the stream's order: the reply, then the resolution


def test_escalate_page_claim_applied_but_answer_lost_pages_once_without_waiting(shared: World) -> None:
    # GIVEN the page claim's PutItem applied by DynamoDB, its answer lost, and botocore retrying it
    point = Point("EscalateFunction", "dynamodb", "PutItem", 1, LOST_ANSWER)
    n = shared.next_run(point)

    # WHEN the incident's records are delivered (the retry meets the claim its first attempt wrote)
    outcome = escalate_scenario(shared, n)

    # THEN the claim is recognised as its own: paged once per level, with no wait for a lease
    assert INJECTOR.fired == [point]
    assert outcome == CLEAN["outcomes"]["EscalateFunction"]
