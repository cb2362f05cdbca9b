"""`POST /integrations/pagerduty`: PagerDuty's v3 webhooks acknowledge or resolve our tickets.

Verified by `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256 of the raw body>`, one or more,
comma-separated while PagerDuty rotates the secret) with the secret the operator pasted into the
stack's PagerDutyWebhookSecret. `incident.acknowledged` and `incident.resolved` act on the ticket
named by the incident's `incident_key` (the `dedup_key` of our pages); every other event, an
unknown or foreign key, a repeated event id or an event older than the ticket's current round is
answered 2xx and ignored, so PagerDuty neither retries nor disables the subscription. The change
comes back to PagerDuty as no new event: our stand-down of it is marked `origin=pagerduty`, which
the template's HTTPS subscription filters out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from support_common.api.services import OnCallDesk, services
from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.models import AckChannel, utcnow
from support_common.observability import count, logger
from support_common.oncall import Result

router = APIGatewayHttpRouter()

ACTIONS = ("incident.acknowledged", "incident.resolved")
# PagerDuty retries a delivery for a while; an event older than this is not acted on.
MAX_EVENT_AGE = timedelta(hours=1)
SIGNATURE_HEADER = "x-pagerduty-signature"


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether one of the header's `v1=` signatures is the HMAC-SHA256 of `body` with `secret`."""
    if not header or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    found = False
    for part in header.split(","):
        version, _, value = part.strip().partition("=")
        # Every candidate is compared (constant time each), so timing tells nothing of which matched.
        found |= version == "v1" and hmac.compare_digest(value.strip().lower(), expected)
    return found


def _answer(status: int, outcome: str, **extra: Any) -> Response[str]:
    logger.info("pagerduty webhook", status=status, outcome=outcome, **extra)
    count("PagerDutyWebhooks", outcome=outcome)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"status": outcome}),
    )


def _occurred_at(raw: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.post("/integrations/pagerduty", include_in_schema=False)
def pagerduty_webhook() -> Response[str]:
    """One PagerDuty v3 webhook delivery."""
    event = router.current_event
    body = (event.body or "").encode()
    desk: OnCallDesk = services(router.context).oncall()
    try:
        secret = desk.webhook_secret.get()
    except AWS_ERRORS as exc:
        logger.error("pagerduty webhook secret unreadable", error=error_code(exc))
        return _answer(503, "unavailable")
    if not signature_valid(secret, body, event.headers.get(SIGNATURE_HEADER)):
        return _answer(401, "bad-signature")
    try:
        payload = json.loads(body)
        data = payload["event"]
        event_type, event_id = str(data["event_type"]), str(data["id"])
    except (ValueError, KeyError, TypeError):
        return _answer(400, "unreadable")
    if event_type not in ACTIONS:
        return _answer(200, "ignored", event_type=event_type)
    incident = data.get("data") if isinstance(data.get("data"), dict) else {}
    dedup_key = str(incident.get("incident_key") or "")
    occurred = _occurred_at(data.get("occurred_at"))
    if occurred is None or utcnow() - occurred > MAX_EVENT_AGE:
        return _answer(200, "stale", event_type=event_type)
    # A replayed delivery (same event id) acts once; the claim outlives the age limit above.
    claim = f"pagerduty-event#{event_id[:100]}"
    if not desk.limits.claim(claim, int(MAX_EVENT_AGE.total_seconds()) * 2):
        return _answer(200, "duplicate", event_type=event_type)
    agent = data.get("agent") if isinstance(data.get("agent"), dict) else {}
    by = f"PagerDuty: {str(agent.get('summary') or 'someone')[:100]}"
    try:
        if event_type == "incident.acknowledged":
            result: Result = desk.oncall.acknowledge(
                dedup_key, by=by, via=AckChannel.PAGERDUTY, not_before=occurred
            )
        else:
            result = desk.oncall.resolve(dedup_key, by=by, via=AckChannel.PAGERDUTY, not_before=occurred)
    except Exception:
        # Not done: PagerDuty's retry of this delivery must not be taken for a duplicate.
        desk.limits.release(claim)
        raise
    ticket_id = result.ticket.id if result.ticket else None
    return _answer(200, str(result.outcome), event_type=event_type, ticket_id=ticket_id)
