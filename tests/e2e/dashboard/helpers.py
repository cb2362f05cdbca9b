"""Tickets and tokens for the browser tests, made through the API as any client would."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import RunningStack, http


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def token(stack: RunningStack, role: str) -> str:
    return str(stack.info["tokens"][role])


def create(stack: RunningStack, **body: Any) -> dict[str, Any]:
    """A ticket of the demo customer, created through the API."""
    body.setdefault("description", "Details of what happens, written by the demo customer for this test.")
    if body.get("type") == "incident":
        body.setdefault("environment", "production")
    created = http(stack, "POST", "/tickets", token=token(stack, "customer"), body=body)
    assert created.status == 201, created.body
    return dict(created.body)


def read(stack: RunningStack, ticket_id: str, role: str = "support") -> dict[str, Any]:
    got = http(stack, "GET", f"/tickets/{ticket_id}", token=token(stack, role))
    assert got.status == 200, got.body
    return dict(got.body)
