"""Faults injected into real botocore clients (moto answers; the hook decides what the caller sees)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse


def lose_first_answer(client: Any, operation: str) -> list[int]:
    """Let the first `operation` reach AWS and be applied, then make botocore retry it as if its
    answer had been lost (a timeout after the write). Returns the attempt numbers seen."""
    seen: list[int] = []

    def retry_once(attempts: int = 0, **_: Any) -> float | None:
        seen.append(attempts)
        return 0.0 if attempts == 1 else None

    client.meta.events.register(f"needs-retry.{client.meta.service_model.endpoint_prefix}.{operation}", retry_once)
    return seen


def fail_nth(client: Any, operation: str, code: str, *, nth: int = 1, status: int = 400) -> list[str]:
    """Answer the `nth` call of `operation` with an AWS error `code`, before it reaches AWS."""
    calls: list[str] = []
    event = f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}"

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls.append(operation)
        if len(calls) != nth:
            return None
        body = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("https://aws.invalid", status, {}, None), body

    client.meta.events.register(event, answer)
    return calls


def hooks_of(client: Any) -> Callable[[str, Callable[..., Any]], None]:
    return lambda event, fn: client.meta.events.register(event, fn)
