"""The whole pipeline on the local stack, driven only by real clients: HTTP, SMTP and boto3."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import re
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jwt
import moto.cognitoidp
import pytest

from tests.e2e.conftest import PageCollector, RunningStack, http, start_stack, stop_stack, wait_for

pytestmark = pytest.mark.e2e

CUSTOMER = "alice@acme.example"
# Async work (stream polling every 250 ms, SMTP handed to a worker) normally takes well under a
# second; the margin is for loaded CI machines, and polling returns as soon as it is done.
ASYNC_TIMEOUT = 30.0


def _unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def _send_mail(
    stack: RunningStack,
    *,
    to: str,
    subject: str,
    body: str,
    sender: str = CUSTOMER,
    headers: dict[str, str] | None = None,
) -> str:
    message = EmailMessage()
    message["From"] = f"Alice Martin <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@acme.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    with smtplib.SMTP(stack.info["smtp_host"], stack.info["smtp_port"], timeout=30) as smtp:
        smtp.send_message(message)
    return str(message["Message-ID"])


def _ticket_titled(stack: RunningStack, token: str, title: str) -> dict[str, Any] | None:
    listed = http(stack, "GET", "/tickets?limit=100", token=token)
    assert listed.status == 200, listed.body
    return next((t for t in listed.body["items"] if t["title"] == title), None)


def _outbox_mail_about(stack: RunningStack, ticket_id: str, recipient: str) -> email.message.EmailMessage | None:
    for path in sorted(Path(stack.info["outbox_dir"]).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        text = path.read_bytes().decode(errors="replace")
        if recipient in str(message.get("To", "")) and ticket_id in text:
            return message
    return None


def _signed_like_the_pool(claims: dict[str, Any]) -> str:
    """A token signed with the key moto's user pools sign with (shipped in moto's package)."""
    path = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"
    key = jwt.PyJWK(json.loads(gzip.decompress(path.read_bytes())))
    return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": "dummy"})


# --- HTTP API ------------------------------------------------------------------------------------


def test_api_urgent_incident_pages_within_two_seconds(
    stack: RunningStack, customer_token: str, pages: PageCollector
) -> None:
    # GIVEN the demo customer's token
    title = _unique("Site down: www.acme.example returns 502")
    # WHEN they file an urgent incident on the dashboard API
    started = time.monotonic()
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={
            "type": "incident",
            "priority": "urgent",
            "title": title,
            "description": "Every page returns 502 since 18:20 UTC.",
            "environment": "production",
        },
    )
    assert created.status == 201, created.body
    ticket_id = created.body["id"]
    # THEN the page is in the pager queue within 2 s of the POST
    found = wait_for(
        f"a page for {ticket_id}", lambda: pages.for_ticket(ticket_id), timeout=ASYNC_TIMEOUT, every=0.05
    )
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"the page took {elapsed:.2f}s"
    page = found[0]
    assert page["Subject"].startswith(f"[URGENT] {ticket_id}")
    assert page["MessageAttributes"]["tenant"]["Value"] == "acme"
    assert created.headers["location"].endswith(f"/tickets/{ticket_id}")


def test_api_normal_ticket_does_not_page(stack: RunningStack, customer_token: str, pages: PageCollector) -> None:
    # GIVEN an urgent incident filed after a normal question, so paging is known to be running
    question = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={
            "type": "question",
            "title": _unique("Where are the invoices?"),
            "description": "Which page lists them?",
        },
    )
    assert question.status == 201, question.body
    urgent = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={
            "type": "incident",
            "priority": "urgent",
            "title": _unique("Checkout down"),
            "description": "Checkout fails with 500.",
            "environment": "production",
        },
    )
    # WHEN the urgent one has paged
    wait_for("the urgent page", lambda: pages.for_ticket(urgent.body["id"]), timeout=ASYNC_TIMEOUT)
    # THEN the question, written to the stream before it, never paged
    assert pages.for_ticket(question.body["id"]) == []


def test_api_claims_reach_function_as_strings(
    stack: RunningStack, support_token: str, customer_token: str
) -> None:
    # GIVEN a ticket of the customer's tenant
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={
            "type": "question",
            "title": _unique("Backups?"),
            "description": "How long are backups kept?",
        },
    )
    # WHEN support staff (their cognito:groups claim arrives as the string "[support]") read it
    read = http(stack, "GET", f"/tickets/{created.body['id']}", token=support_token)
    # THEN the group claim made them staff: they see another tenant's ticket
    assert read.status == 200, read.body
    assert read.body["tenant"] == "acme"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"],
    ids=["missing", "garbage", "bad-signature"],
)
def test_api_bad_token_unauthorized(stack: RunningStack, authorization: str | None) -> None:
    # GIVEN a request without a valid token
    headers = {"Authorization": authorization} if authorization else {}
    # WHEN it calls a protected route
    result = http(stack, "GET", "/tickets", headers=headers)
    # THEN API Gateway's authorizer answers, not the function
    assert result.status == 401
    assert result.body == {"message": "Unauthorized"}


def test_api_tampered_token_unauthorized(stack: RunningStack, customer_token: str) -> None:
    # GIVEN the customer's token with its payload changed (another tenant), signature kept
    header, _payload, signature = customer_token.split(".")
    claims = jwt.decode(customer_token, options={"verify_signature": False})
    claims["custom:tenant"] = "globex"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    # WHEN it is used
    result = http(stack, "GET", "/tickets", token=f"{header}.{forged}.{signature}")
    # THEN the signature no longer verifies
    assert result.status == 401


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"exp": -60}, "expired"),
        ({"nbf": 3600}, "not yet valid"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"}, "another issuer"),
        ({"aud": "another-client"}, "another audience"),
    ],
    ids=["expired", "not-yet-valid", "issuer", "audience"],
)
def test_api_token_failing_a_claim_check_unauthorized(
    stack: RunningStack, customer_token: str, change: dict[str, Any], why: str
) -> None:
    # GIVEN a token signed with the pool's own key but failing one check
    claims = jwt.decode(customer_token, options={"verify_signature": False})
    now = int(time.time())
    for name, value in change.items():
        claims[name] = now + value if name in ("exp", "nbf") else value
    if "exp" in change:
        claims["iat"] = now - 3600
    token = _signed_like_the_pool(claims)
    # WHEN it is used
    result = http(stack, "GET", "/tickets", token=token)
    # THEN it is refused: 401
    assert result.status == 401, why


def test_api_token_signed_like_pool_accepted(stack: RunningStack, customer_token: str) -> None:
    # GIVEN a fresh token made the same way as the failing ones above (proves they fail for their claim)
    claims = jwt.decode(customer_token, options={"verify_signature": False})
    # WHEN it is used
    result = http(stack, "GET", "/tickets", token=_signed_like_the_pool(claims))
    # THEN it is accepted
    assert result.status == 200


def test_api_openapi_without_token_ok(stack: RunningStack) -> None:
    # GIVEN no token WHEN the route the template marks `Authorizer: NONE` is called
    result = http(stack, "GET", "/openapi.json")
    # THEN it is served
    assert result.status == 200
    assert "paths" in result.body


def test_api_unknown_route_not_found(stack: RunningStack, customer_token: str) -> None:
    # GIVEN a path no route of the template matches WHEN it is called
    result = http(stack, "GET", "/nope", token=customer_token)
    # THEN API Gateway's own 404
    assert result.status == 404
    assert result.body == {"message": "Not Found"}


def test_api_query_repeats_comma_joined(stack: RunningStack, customer_token: str) -> None:
    # GIVEN a list filter WHEN it is sent with a query string
    result = http(stack, "GET", "/tickets?type=question&limit=5", token=customer_token)
    # THEN the function got it (it filters and limits)
    assert result.status == 200, result.body
    assert all(t["type"] == "question" for t in result.body["items"])
    assert len(result.body["items"]) <= 5


# --- SMTP ---------------------------------------------------------------------------------------


def test_smtp_urgent_mail_from_contact_opens_ticket_pages_and_acknowledges(
    stack: RunningStack, support_token: str, customer_token: str, pages: PageCollector
) -> None:
    # GIVEN alice@acme.example, whose domain is a contact of tenant acme
    subject = _unique("Site down: checkout returns 502")
    # WHEN she mails urgent@
    _send_mail(
        stack,
        to=f"urgent@{stack.info['support_domain']}",
        subject=subject,
        body="Since 18:20 UTC every checkout returns 502.\n\nAlice",
    )
    # THEN a ticket of her tenant exists, an urgent incident from email
    ticket = wait_for(
        "the email's ticket", lambda: _ticket_titled(stack, customer_token, subject), timeout=ASYNC_TIMEOUT
    )
    assert (ticket["type"], ticket["priority"], ticket["channel"], ticket["tenant"]) == (
        "incident",
        "urgent",
        "email",
        "acme",
    ), stack.log_tail()
    # AND it paged
    wait_for(f"a page for {ticket['id']}", lambda: pages.for_ticket(ticket["id"]), timeout=ASYNC_TIMEOUT)
    # AND an acknowledgement naming the ticket went to her, into the outbox
    ack = wait_for(
        "the acknowledgement", lambda: _outbox_mail_about(stack, ticket["id"], CUSTOMER), timeout=ASYNC_TIMEOUT
    )
    assert ticket["id"] in str(ack["Subject"]) or ticket["id"] in ack.get_body().get_content()  # type: ignore[union-attr]
    # AND the raw message is in the bucket under inbound/
    s3 = stack.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=stack.info["raw_mail_bucket"], Prefix="inbound/").get("Contents", [])
    ]
    bodies = [s3.get_object(Bucket=stack.info["raw_mail_bucket"], Key=k)["Body"].read() for k in keys]
    assert any(subject.encode() in body for body in bodies)


def test_smtp_reply_with_ticket_id_becomes_comment(stack: RunningStack, customer_token: str) -> None:
    # GIVEN a ticket of alice's tenant
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={
            "type": "question",
            "title": _unique("Cache settings"),
            "description": "What does the CDN cache?",
        },
    )
    ticket_id = created.body["id"]
    marker = uuid.uuid4().hex
    # WHEN she replies by email with the ticket id in the subject
    _send_mail(
        stack,
        to=f"question@{stack.info['support_domain']}",
        subject=f"Re: {created.body['title']} [#{ticket_id}]",
        body=f"Also images, please. {marker}\n\nOn Thu, support wrote:\n> What do you need?",
    )

    # THEN it is a comment on that ticket, not a new ticket
    def commented() -> dict[str, Any] | None:
        got = http(stack, "GET", f"/tickets/{ticket_id}", token=customer_token).body
        return got if any(marker in c["body"] for c in got.get("comments", [])) else None

    ticket = wait_for("the comment", commented, timeout=ASYNC_TIMEOUT)
    assert ticket["id"] == ticket_id
    assert _ticket_titled(stack, customer_token, f"Re: {created.body['title']} [#{ticket_id}]") is None


def test_smtp_unknown_recipient_rejected_550(stack: RunningStack) -> None:
    # GIVEN an address SES does not receive for
    with smtplib.SMTP(stack.info["smtp_host"], stack.info["smtp_port"], timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail(CUSTOMER)
        # WHEN it is a recipient
        code, _ = smtp.rcpt("someone@elsewhere.example")
        # THEN 550, as for a domain without a receipt rule
        assert code == 550
        assert smtp.rcpt(f"urgent@{stack.info['support_domain']}")[0] == 250


def test_smtp_message_over_size_limit_rejected_552(stack: RunningStack) -> None:
    # GIVEN the size limit SES has, announced in EHLO
    with smtplib.SMTP(stack.info["smtp_host"], stack.info["smtp_port"], timeout=30) as smtp:
        smtp.ehlo()
        limit = int(smtp.esmtp_features["size"])
        assert limit == 40 * 1024 * 1024
        # WHEN a client declares a larger message
        code, _ = smtp.mail(CUSTOMER, options=[f"SIZE={limit + 1}"])
        # THEN 552
        assert code == 552


def test_smtp_spam_verdict_fail_opens_no_ticket(stack: RunningStack, customer_token: str) -> None:
    # GIVEN a spam-flagged mail, then a clean one, from the same contact
    spam = _unique("Cheap watches")
    clean = _unique("Is the API slow today?")
    domain = stack.info["support_domain"]
    _send_mail(
        stack, to=f"question@{domain}", subject=spam, body="Buy now.", headers={"X-Local-Verdicts": "spam=FAIL"}
    )
    _send_mail(stack, to=f"question@{domain}", subject=clean, body="Responses take 3 s since noon.")
    # WHEN the clean one has been filed (mail is processed in order)
    wait_for(
        "the clean mail's ticket", lambda: _ticket_titled(stack, customer_token, clean), timeout=ASYNC_TIMEOUT
    )
    # THEN the spam opened no ticket
    assert _ticket_titled(stack, customer_token, spam) is None


# --- the process ------------------------------------------------------------------------------


def test_stack_sigterm_leaves_no_process_or_port(tmp_path: Path) -> None:
    # GIVEN a second stack of its own (the session's one keeps serving the other tests)
    running = start_stack(tmp_path / "state")
    assert http(running, "GET", "/openapi.json").status == 200
    # WHEN it gets SIGTERM
    # THEN it exits 0, its process group is gone, its ports are closed and stack.json removed
    stop_stack(running)
    assert re.search(r"stopped", running.log_tail())


def test_stack_renews_tokens_before_they_expire_for_scripts_and_the_sign_in(tmp_path: Path) -> None:
    # GIVEN a stack that renews any token with less than 4000 s left (all of them: they last an
    # hour), checking twice a second, and the customer's token it wrote at start
    running = start_stack(tmp_path / "state", ["--token-margin", "4000", "--token-check-interval", "0.5"])
    try:
        stack_file = running.state_dir / "stack.json"
        first = running.info["tokens"]["customer"]

        def renewed() -> str | None:
            token = json.loads(stack_file.read_text())["tokens"]["customer"]
            return token if token != first else None

        # WHEN a check comes round
        fresh = wait_for("a renewed token in stack.json", renewed, timeout=30)
        # THEN the new token is a valid ID token of the same user, later to expire, and the API takes it
        old_claims = jwt.decode(first, options={"verify_signature": False})
        new_claims = jwt.decode(fresh, options={"verify_signature": False})
        assert new_claims["email"] == old_claims["email"] and new_claims["exp"] >= old_claims["exp"]
        assert http(running, "GET", "/tickets", token=fresh).status == 200
        # AND the dashboard's demo sign-in hands out a renewed token too, not the one from the start
        signed = http(running, "POST", "/local/sign-in", body={"role": "customer"})
        assert signed.status == 200 and signed.body["id_token"] != first
        assert http(running, "GET", "/tickets", token=signed.body["id_token"]).status == 200
    finally:
        stop_stack(running)


def test_schedule_due_repage_pages_next_level_and_is_deleted(
    stack: RunningStack, customer_token: str, pages: PageCollector
) -> None:
    # GIVEN an urgent incident that paged at level 1 and left its level-2 timer in Scheduler
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={
            "type": "incident",
            "priority": "urgent",
            "title": _unique("Database unreachable"),
            "description": "Connections time out since 09:00.",
            "environment": "production",
        },
    )
    ticket_id = created.body["id"]
    wait_for("the level-1 page", lambda: pages.for_ticket(ticket_id), timeout=ASYNC_TIMEOUT)
    scheduler = stack.client("scheduler")
    group = stack.info["scheduler_group"]

    def timer() -> dict[str, Any] | None:
        names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
        found = [n for n in names if n.startswith(f"page-{ticket_id}-")]
        return scheduler.get_schedule(Name=found[0], GroupName=group) if found else None

    schedule = wait_for("the re-page timer", timer, timeout=ASYNC_TIMEOUT)
    # WHEN its time comes (moved to now: nobody waits 15 minutes in a test)
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    scheduler.update_schedule(
        Name=schedule["Name"],
        GroupName=group,
        ScheduleExpression=f"at({now})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
        Target=schedule["Target"],
        ActionAfterCompletion=schedule.get("ActionAfterCompletion") or "DELETE",
    )

    # THEN the ticket pages at level 2
    def level_two() -> list[dict[str, Any]]:
        return [
            p for p in pages.for_ticket(ticket_id) if p["MessageAttributes"]["escalation_level"]["Value"] == "2"
        ]

    wait_for("the level-2 page", level_two, timeout=ASYNC_TIMEOUT)
    # AND the one-time schedule is gone (ActionAfterCompletion DELETE)
    wait_for(
        "the fired schedule's deletion",
        lambda: (
            schedule["Name"] not in [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
        ),
        timeout=ASYNC_TIMEOUT,
    )
