"""Hostile MIME through the whole email_ingest handler on moto: a ticket or a logged rejection,
never an exception, and the raw message always kept."""

from __future__ import annotations

import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.integration.mailroom import Mailroom
from tests.unit.test_mail_hostile import _message

HANDLER_HOSTILE = settings(
    max_examples=40,
    deadline=None,  # moto on a shared machine: bounded by the example count instead
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@HANDLER_HOSTILE
@given(raw=_message())
def test_ingest_hostile_mime_is_filed_or_rejected_never_raised(raw: bytes, mailroom: Mailroom) -> None:
    # GIVEN a generated hostile message stored as SES stores it
    ses_id = secrets.token_hex(10)

    # WHEN the handler files it
    result: dict[str, Any] = mailroom.deliver(raw, ses_id=ses_id)

    # THEN it is a ticket or a logged rejection (never a failure, never an exception)
    assert result["kind"] in ("ticket", "comment", "rejected"), result
    # AND the raw message stays in the bucket, byte for byte
    assert mailroom.object(f"inbound/{ses_id}")["Body"].read() == raw
