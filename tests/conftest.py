"""Shared test helpers: real event samples and the moto-backed table from template.yaml."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"

# Powertools reads these when its objects are built, at import of the handlers: before any fixture.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SupportDesk")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")


@cache
def _read_event(name: str) -> str:
    return (EVENTS / f"{name}.json").read_text()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of a real AWS event sample from tests/events/."""
    return copy.deepcopy(json.loads(_read_event(name)))


class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "support-desk-intake"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:support-desk-intake"
    aws_request_id = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name = "/aws/lambda/support-desk-intake"
    log_stream_name = "2026/11/26/[$LATEST]0123456789abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def reset_functions() -> None:
    """The one reset point: every function forgets its settings, clients and services."""
    from support_common.api import handler as api
    from support_common.email_intake import handler as email
    from support_common.notify import handler as notify
    from support_common.paging import handler as paging

    for module in (api, email, paging, notify):
        module.reset()


@dataclass(frozen=True)
class Stores:
    """The repository's stores on one table, as tests arrange and inspect it."""

    table: Any
    tickets: Any
    contacts: Any
    pages: Any
    messages: Any

    @classmethod
    def on(cls, client: Any, table_name: str) -> Stores:
        from support_common.repository.contacts import ContactStore
        from support_common.repository.messages import MailStore
        from support_common.repository.pages import PageStore
        from support_common.repository.table import Table
        from support_common.repository.tickets import TicketStore

        table = Table(table_name, client)
        return cls(table, TicketStore(table), ContactStore(table), PageStore(table), MailStore(table))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
