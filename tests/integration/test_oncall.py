"""On-call acts from the page: the ack link, stand-downs, rounds, repeats and PagerDuty, on moto."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from support_common.models import AckChannel, Priority, Status, TicketType
from support_common.pagelinks import AckToken, PageSigner
from support_common.paging import handler as paging

from functions.intake import app as intake_app
from tests.conftest import FakeLambdaContext
from tests.integration.apigw import http_event
from tests.integration.conftest import REGION
from tests.integration.desk import API_URL, GROUP, STAFF, Desk, _level


@pytest.fixture
def desk(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext) -> Iterator[Desk]:
    desk = Desk(lambda_context)
    for name, value in {**desk.escalate_environment(), "MAX_LAST_LEVEL_REPEATS": "2"}.items():
        monkeypatch.setenv(name, value)
    paging.reset()
    yield desk
    paging.reset()


def _secret(env: str) -> str:
    client = boto3.client("secretsmanager", region_name=REGION)
    return str(client.get_secret_value(SecretId=os.environ[env])["SecretString"])


def signer() -> PageSigner:
    return PageSigner(lambda: _secret("ACK_SECRET_ARN").encode())


def body(message: dict[str, Any]) -> dict[str, Any]:
    """The SQS body of an SNS envelope (MessageStructure json gives SQS its own body)."""
    return dict(json.loads(message["Message"]))


def ack_token(page: dict[str, Any]) -> str:
    url = body(page)["ack_url"]
    assert url.startswith(f"{API_URL}/ack/")
    return str(url.removeprefix(f"{API_URL}/ack/"))


def visit(desk: Desk, method: str, token: str, **headers: str) -> dict[str, Any]:
    """The link opened as a browser (or a mail scanner) would: no Authorization, no claims."""
    event = http_event(method, f"/ack/{token}", claims=None, headers=headers or None)
    if method == "POST":
        event["body"] = ""
        event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    return dict(intake_app.lambda_handler(event, desk.context))


def paged(desk: Desk) -> tuple[str, dict[str, Any]]:
    """An urgent incident through the stream, and its level-1 page."""
    ticket_id = desk.create()
    desk.flush()
    [page] = desk.pages()
    return ticket_id, page


# --- the link --------------------------------------------------------------------------------


def test_ack_link_get_changes_nothing_and_post_acknowledges_once(desk: Desk) -> None:
    # GIVEN an urgent incident and the link of its level-1 page
    ticket_id, page = paged(desk)
    token = ack_token(page)
    # WHEN the link is opened (GET), as a mail scanner or on-call's phone would
    shown = visit(desk, "GET", token)
    # THEN a small page with one confirm button answers, strictly sandboxed, and nothing changed
    assert shown["statusCode"] == 200
    assert shown["headers"]["Content-Type"].startswith("text/html")
    assert '<form method="post"><button type="submit">Acknowledge</button></form>' in shown["body"]
    assert "Checkout returns 502" in shown["body"] and ticket_id in shown["body"]
    csp = shown["headers"]["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in shown["body"] and "http" not in shown["body"].split("</style>")[0]
    assert desk.stores.tickets.get(ticket_id).status == Status.OPEN
    # WHEN on-call presses the button (POST)
    done = visit(desk, "POST", token)
    # THEN the ticket is acknowledged, recorded as coming from the level-1 page's link
    assert done["statusCode"] == 200 and "Acknowledged" in done["body"]
    ticket = desk.stores.tickets.get(ticket_id)
    assert ticket.status == Status.ACKNOWLEDGED
    assert (ticket.acknowledged_via, ticket.acknowledged_level) == (AckChannel.LINK, 1)
    assert ticket.acknowledged_by == "level-1 page link"
    # WHEN it is pressed again
    again = visit(desk, "POST", token)
    # THEN it says so and changes nothing more
    assert again["statusCode"] == 200 and "Already acknowledged" in again["body"]
    assert desk.stores.tickets.get(ticket_id).version == ticket.version


def test_ack_link_escapes_what_it_shows(desk: Desk) -> None:
    # GIVEN an urgent incident whose title is markup
    desk.create(title='<img src=x onerror=alert(1)>"&')
    desk.flush()
    [page] = desk.pages()
    # WHEN its link is opened
    shown = visit(desk, "GET", ack_token(page))
    # THEN the title is text, never markup
    assert "<img" not in shown["body"]
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&amp;" in shown["body"]


def test_ack_link_forged_expired_or_other_tickets_refused_403(desk: Desk) -> None:
    # GIVEN two paged incidents
    one, page = paged(desk)
    other = desk.create(title="Another site down")
    desk.flush()
    desk.pages()
    token = ack_token(page)
    expired = signer().sign(AckToken(one, 1, 1, int(time.time()) - 5))
    spliced = (
        signer().sign(AckToken(other, 1, 1, int(time.time()) + 600)).split(".")[0] + "." + token.split(".")[1]
    )
    forged = PageSigner(lambda: b"guessed key").sign(AckToken(one, 1, 1, int(time.time()) + 600))
    # A signature with its first character changed (its last ones may carry padding bits only).
    body, signature = token.split(".")
    tampered = f"{body}.{'B' if signature[0] != 'B' else 'C'}{signature[1:]}"
    for bad in (tampered, expired, spliced, forged, "x", "A" * 300):
        for method in ("GET", "POST"):
            # WHEN any of them is opened or posted
            answer = visit(desk, method, bad)
            # THEN 403, a page that says so, and no ticket changed
            assert answer["statusCode"] == 403, (bad, method)
            assert "Link not valid" in answer["body"]
    assert "expired" in visit(desk, "GET", expired)["body"]
    assert desk.stores.tickets.get(one).status == Status.OPEN
    assert desk.stores.tickets.get(other).status == Status.OPEN


# --- stand-downs -----------------------------------------------------------------------------


def test_standdown_acknowledge_then_resolve_each_once_with_events_v2(desk: Desk) -> None:
    # GIVEN an urgent incident paged at levels 1 and 2
    ticket_id, page = paged(desk)
    desk.fire(ticket_id, 2)
    assert [_level(p) for p in desk.pages()] == [2]
    # WHEN on-call acknowledges from the level-1 link, and the stream delivers that (twice)
    visit(desk, "POST", ack_token(page))
    records = desk.records(filtered=True)
    assert desk.deliver(records) == {"batchItemFailures": []}
    assert desk.deliver(records) == {"batchItemFailures": []}
    # THEN one stand-down went out, for everyone paged up to level 2, and the timers are gone
    [ack] = desk.standdowns()
    attributes = {k: v["Value"] for k, v in ack["MessageAttributes"].items()}
    assert attributes["event_action"] == "acknowledge"
    assert attributes["escalation_level"] == "2"
    assert attributes["origin"] == "desk"
    assert ack["Subject"] == f"[ACKNOWLEDGED] {ticket_id}: Checkout returns 502"
    assert body(ack)["acknowledged_via"] == "link"
    assert desk.schedules() == {}
    # WHEN it is resolved
    desk.service.update(STAFF, ticket_id, {"status": Status.RESOLVED})
    desk.flush(filtered=True)
    # THEN one resolve stand-down
    [resolved] = desk.standdowns()
    assert resolved["MessageAttributes"]["event_action"]["Value"] == "resolve"
    assert [n.kind for n in desk.pages_store.notices(ticket_id)] == ["acknowledge", "resolve"]


def https_like_queue(desk: Desk) -> str:
    """A queue subscribed with the template's HTTPS subscription filter (what PagerDuty would get)."""
    from local.cfn import resource

    policy = resource("PagerHttpsSubscription")["FilterPolicy"]
    queue = desk.sqs.create_queue(QueueName="https-like")["QueueUrl"]
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=desk.topic_arn,
        Protocol="sqs",
        Endpoint=desk._queue_arn(queue),
        Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"},
    )
    return queue


def published_https_bodies(desk: Desk) -> list[dict[str, Any]]:
    """Record the HTTPS body of every message escalate publishes from now on."""
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        entries = params.get("PublishBatchRequestEntries") or [params]
        seen.extend(json.loads(json.loads(e["Message"])["https"]) for e in entries if e.get("MessageStructure"))

    paging.wiring().pager.sns.meta.events.register("before-parameter-build.sns", capture)
    return seen


def test_standdown_https_body_is_events_v2_with_page_dedup_key(desk: Desk) -> None:
    # GIVEN an HTTPS-like subscriber with the template's filter, and escalate's publishes watched
    queue = https_like_queue(desk)
    https = published_https_bodies(desk)
    # WHEN an incident pages and is resolved
    ticket_id, _ = paged(desk)
    desk.service.update(STAFF, ticket_id, {"status": Status.RESOLVED})
    desk.flush(filtered=True)
    # THEN the HTTPS bodies are PagerDuty Events v2: trigger, then resolve, with the same dedup_key
    assert [(b["event_action"], b["dedup_key"]) for b in https] == [("trigger", ticket_id), ("resolve", ticket_id)]
    assert "routing_key" not in https[1]
    # AND both pass the HTTPS subscription's filter
    actions = [m["MessageAttributes"]["event_action"]["Value"] for m in desk.messages(queue)]
    assert actions == ["trigger", "resolve"]


def test_standdown_not_sent_for_round_that_paged_nobody(desk: Desk) -> None:
    # GIVEN an urgent incident acknowledged before its first page went out (one batch)
    ticket_id = desk.create()
    desk.acknowledge(ticket_id)
    # WHEN the stream delivers both
    assert desk.flush() == {"batchItemFailures": []}
    # THEN neither a page nor a stand-down went out
    assert desk.messages() == []
    assert desk.pages_store.notices(ticket_id) == []


def test_standdown_reaches_email_and_sms_subscriptions_through_their_level_filters(desk: Desk) -> None:
    # GIVEN queues subscribed with the template's email, escalation email and SMS filter policies
    from local.cfn import resource

    sns = boto3.client("sns", region_name=REGION)
    queues = {}
    for name in ("PagerEmailSubscription", "PagerEscalationEmailSubscription", "PagerSmsSubscription"):
        queues[name] = desk.sqs.create_queue(QueueName=name)["QueueUrl"]
        sns.subscribe(
            TopicArn=desk.topic_arn,
            Protocol="sqs",
            Endpoint=desk._queue_arn(queues[name]),
            Attributes={"FilterPolicy": json.dumps(resource(name)["FilterPolicy"])},
        )
    # WHEN an incident pages at level 1 only and is acknowledged
    ticket_id, _ = paged(desk)
    desk.acknowledge(ticket_id)
    desk.flush(filtered=True)
    # THEN level-1 subscribers got the page and its stand-down; the level-2 one got neither
    for name in ("PagerEmailSubscription", "PagerSmsSubscription"):
        actions = [m["MessageAttributes"]["event_action"]["Value"] for m in desk.messages(queues[name])]
        assert actions == ["trigger", "acknowledge"], name
    assert desk.messages(queues["PagerEscalationEmailSubscription"]) == []


# --- rounds ----------------------------------------------------------------------------------


def test_round_reopened_incident_pages_level_1_again_exactly_once(desk: Desk) -> None:
    # GIVEN an urgent incident paged, acknowledged and resolved
    ticket_id, _ = paged(desk)
    desk.acknowledge(ticket_id)
    desk.service.update(STAFF, ticket_id, {"status": Status.RESOLVED})
    desk.flush(filtered=True)
    desk.standdowns()
    # WHEN it breaks again and is reopened, and the stream delivers that twice
    desk.service.update(STAFF, ticket_id, {"status": Status.OPEN})
    records = desk.records(filtered=True)
    assert len(records) == 1
    desk.deliver(records)
    desk.deliver(records + records)
    # THEN level 1 pages again, once, in round 2, with a fresh timer and an unacknowledged ticket
    [page] = desk.pages()
    assert _level(page) == 1 and body(page)["round"] == 2
    assert [(p.round, p.level) for p in desk.pages_store.list(ticket_id)] == [(1, 1), (2, 1)]
    assert set(desk.schedules()) == {f"page-{ticket_id}-R2-L2"}
    ticket = desk.stores.tickets.get(ticket_id)
    assert (ticket.page_round, ticket.acknowledged_at) == (2, None)
    # AND the round-1 link no longer acknowledges round 2
    old = signer().sign(AckToken(ticket_id, 1, 1, int(time.time()) + 600))
    assert visit(desk, "POST", old)["statusCode"] == 409
    assert desk.stores.tickets.get(ticket_id).status == Status.OPEN


def test_round_downgraded_and_raised_again_pages_again_and_downgrade_deletes_timers(desk: Desk) -> None:
    # GIVEN an urgent incident paged at level 1, its level-2 timer pending
    ticket_id, _ = paged(desk)
    assert set(desk.schedules()) == {f"page-{ticket_id}-R1-L2"}
    # WHEN it is downgraded to high (the records as the mapping's filters admit them)
    desk.service.update(STAFF, ticket_id, {"priority": Priority.HIGH})
    assert desk.flush(filtered=True) == {"batchItemFailures": []}
    # THEN its timers are deleted (not left to fire and do nothing), and nobody is stood down
    assert desk.schedules() == {}
    assert desk.messages() == []
    # WHEN it is raised to urgent again
    desk.service.update(STAFF, ticket_id, {"priority": Priority.URGENT})
    desk.flush(filtered=True)
    # THEN a new round pages level 1
    [page] = desk.pages()
    assert (_level(page), body(page)["round"]) == (1, 2)


def test_round_moved_to_triage_deletes_timers(desk: Desk) -> None:
    # GIVEN an urgent incident paged at level 1
    ticket_id, _ = paged(desk)
    # WHEN support moves it to triage
    desk.service.update(STAFF, ticket_id, {"tenant": "unassigned"})
    desk.flush(filtered=True)
    # THEN the timer is gone
    assert desk.schedules() == {}


def test_round_late_timer_of_earlier_round_does_nothing(desk: Desk) -> None:
    # GIVEN an incident in its second round
    ticket_id, _ = paged(desk)
    desk.service.update(STAFF, ticket_id, {"status": Status.RESOLVED})
    desk.service.update(STAFF, ticket_id, {"status": Status.OPEN})
    desk.flush(filtered=True)
    desk.pages()
    # WHEN a round-1 level-2 timer fires late
    payload = {"action": "repage", "ticket_id": ticket_id, "level": 2, "round": 1}
    from functions.escalate import app as escalate_app

    result = escalate_app.lambda_handler(payload, desk.context)
    # THEN nothing is paged
    assert result["paged"] is False
    assert desk.pages() == []


# --- past the last level -----------------------------------------------------------------------


def test_last_level_repeats_then_alarms_and_keeps_paging(desk: Desk) -> None:
    # GIVEN an urgent incident nobody acknowledges (3 levels, 2 repeats of the last)
    ticket_id, _ = paged(desk)
    from functions.escalate import app as escalate_app

    sent: list[tuple[int, int]] = []
    for _ in range(5):
        # WHEN each pending timer fires in turn (its own Input, as the scheduler sends it)
        [(name, timer)] = desk.schedules().items()
        desk.scheduler.delete_schedule(Name=name, GroupName=GROUP)
        escalate_app.lambda_handler(json.loads(timer["Target"]["Input"]), desk.context)
        sent += [(_level(p), body(p)["repeat"]) for p in desk.pages()]
    # THEN levels 2 and 3 page, level 3 repeats every timeout, past the repeats it still pages
    assert sent == [(2, 0), (3, 0), (3, 1), (3, 2), (3, 3)]
    assert f"page-{ticket_id}-R1-L3-x4" in desk.schedules()
    # AND the alarms topic heard once that nobody answers
    [alarm] = desk.alarms()
    assert alarm["Subject"].startswith(f"[ALARM] {ticket_id} unanswered")
    # WHEN someone finally acknowledges
    desk.acknowledge(ticket_id)
    desk.flush(filtered=True)
    # THEN the repeats stop and everyone paged hears it
    assert desk.schedules() == {}
    [standdown] = desk.standdowns()
    assert standdown["MessageAttributes"]["escalation_level"]["Value"] == "3"


# --- PagerDuty ---------------------------------------------------------------------------------


def webhook(event_type: str, dedup_key: str, *, event_id: str | None = None, at: datetime | None = None) -> str:
    return json.dumps(
        {
            "event": {
                "id": event_id or uuid.uuid4().hex[:26].upper(),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
                "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
                "client": None,
                "data": {
                    "id": "Q1P3AHC2",
                    "type": "incident",
                    "status": event_type.split(".")[1],
                    "incident_key": dedup_key,
                    "title": "Checkout returns 502",
                },
            }
        }
    )


def post_webhook(
    desk: Desk, raw: str, *, secret: str | None = None, signature: str | None = None
) -> dict[str, Any]:
    key = secret if secret is not None else _secret("PAGERDUTY_WEBHOOK_SECRET_ARN")
    sig = signature or "v1=" + hmac.new(key.encode(), raw.encode(), hashlib.sha256).hexdigest()
    event = http_event(
        "POST",
        "/integrations/pagerduty",
        claims=None,
        raw_body=raw,
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1=00ff, {sig}"},
    )
    answer = dict(intake_app.lambda_handler(event, desk.context))
    answer["json"] = json.loads(answer["body"])
    return answer


def test_pagerduty_webhook_acknowledges_and_resolves_without_echo(desk: Desk) -> None:
    # GIVEN a paged incident (PagerDuty's subscription got the trigger), acknowledged in PagerDuty
    queue = https_like_queue(desk)
    ticket_id, _ = paged(desk)
    assert len(desk.messages(queue)) == 1
    # WHEN PagerDuty's signed webhook arrives
    answer = post_webhook(desk, webhook("incident.acknowledged", ticket_id))
    # THEN the ticket is acknowledged, by PagerDuty
    assert (answer["statusCode"], answer["json"]) == (200, {"status": "acknowledged"})
    ticket = desk.stores.tickets.get(ticket_id)
    assert (ticket.status, ticket.acknowledged_via) == (Status.ACKNOWLEDGED, AckChannel.PAGERDUTY)
    assert ticket.acknowledged_by == "PagerDuty: Tenex Engineer"
    # AND the stand-down tells SMS and email, marked so that PagerDuty's own subscription skips it
    desk.flush(filtered=True)
    [standdown] = desk.standdowns()
    assert standdown["MessageAttributes"]["origin"]["Value"] == "pagerduty"
    assert desk.messages(queue) == []  # PagerDuty's own change never comes back to it
    # WHEN PagerDuty resolves it
    assert post_webhook(desk, webhook("incident.resolved", ticket_id))["json"] == {"status": "resolved"}
    assert desk.stores.tickets.get(ticket_id).status == Status.RESOLVED


def test_pagerduty_webhook_bad_signature_refused_and_replay_acts_once(desk: Desk) -> None:
    # GIVEN a paged incident
    ticket_id, _ = paged(desk)
    raw = webhook("incident.acknowledged", ticket_id, event_id="01DUPLICATE000000000000001")
    # WHEN the webhook comes signed with another secret, or unsigned-looking
    wrong = post_webhook(desk, raw, secret="not the secret")
    garbage = post_webhook(desk, raw, signature="sha256=abc")
    # THEN 401, and nothing changed
    assert wrong["statusCode"] == garbage["statusCode"] == 401
    assert desk.stores.tickets.get(ticket_id).status == Status.OPEN
    # WHEN the good delivery arrives, then the very same delivery again (a replay)
    first = post_webhook(desk, raw)
    version = desk.stores.tickets.get(ticket_id).version
    replay = post_webhook(desk, raw)
    # THEN it acted once; the replay is a 2xx that changed nothing
    assert first["json"] == {"status": "acknowledged"}
    assert (replay["statusCode"], replay["json"]) == (200, {"status": "duplicate"})
    assert desk.stores.tickets.get(ticket_id).version == version


@pytest.mark.parametrize(
    ("event_type", "key"),
    [
        pytest.param("incident.acknowledged", "INC-ZZZZZZ", id="unknown ticket"),
        pytest.param("incident.acknowledged", "d3640fbd41094207a1c11e58e46b1662", id="foreign incident"),
        pytest.param("incident.triggered", "INC-ZZZZZZ", id="other event type"),
    ],
)
def test_pagerduty_webhook_unknown_or_foreign_ignored_with_2xx(desk: Desk, event_type: str, key: str) -> None:
    # GIVEN a signed webhook about something that is not ours to change
    # WHEN it arrives
    answer = post_webhook(desk, webhook(event_type, key))
    # THEN 200 (PagerDuty must not retry or disable the subscription), and it is ignored
    assert answer["statusCode"] == 200
    assert answer["json"]["status"] in ("not-paged", "ignored")


def test_pagerduty_webhook_resolve_from_before_reopen_ignored(desk: Desk) -> None:
    # GIVEN an incident resolved, then reopened (round 2 pages)
    ticket_id, _ = paged(desk)
    before = datetime.now(UTC) - timedelta(seconds=30)
    desk.service.update(STAFF, ticket_id, {"status": Status.RESOLVED})
    desk.service.update(STAFF, ticket_id, {"status": Status.OPEN})
    # WHEN PagerDuty's late webhook about the first incident's resolution arrives
    answer = post_webhook(desk, webhook("incident.resolved", ticket_id, at=before))
    # THEN the reopened ticket stays open
    assert answer["json"] == {"status": "stale"}
    assert desk.stores.tickets.get(ticket_id).status == Status.OPEN


# --- metrics ----------------------------------------------------------------------------------


def test_standdown_counted_by_level_and_action(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an incident paged at level 1 and acknowledged from its link
    _, page = paged(desk)
    visit(desk, "POST", ack_token(page))
    capsys.readouterr()
    # WHEN the stream delivers the acknowledgement
    desk.flush(filtered=True)
    # THEN one stand-down is counted, by the level paged and the action
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    standdowns = [b for b in blobs if "StandDownsSent" in b]
    assert [(b["level"], b["event_action"]) for b in standdowns] == [("1", "acknowledge")]


def test_type_change_of_paged_incident_is_a_round_end(desk: Desk) -> None:
    # GIVEN a paged urgent incident
    ticket_id, _ = paged(desk)
    # WHEN support retypes it to a problem (no longer urgent)
    desk.service.update(STAFF, ticket_id, {"type": TicketType.PROBLEM, "priority": Priority.HIGH})
    desk.flush(filtered=True)
    # THEN its timers are gone
    assert desk.schedules() == {}
