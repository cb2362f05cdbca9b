"""Fixtures for tests against moto: the template's table, and the functions' environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.cfn import create_table
from tests.conftest import Stores, reset_functions

REGION = "eu-west-1"
TABLE = "tickets"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call, with fake credentials and no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SupportDesk")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # What the template's Globals give every function.
    monkeypatch.setenv("DASHBOARD_URL", "https://dashboard.example.com")
    monkeypatch.setenv("DASHBOARD_ORIGIN", "https://dashboard.example.com")
    # The raw-mail bucket, which also holds tickets' files (intake presigns their URLs).
    monkeypatch.setenv("RAW_MAIL_BUCKET", "support-desk-raw-mail-test")
    with mock_aws():
        reset_functions()
        yield
    reset_functions()


@pytest.fixture
def table(aws: None) -> str:
    """The tickets table, built from template.yaml's own definition."""
    return create_table(boto3.client("dynamodb", region_name=REGION), table_name=TABLE)


@pytest.fixture
def ddb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def stores(table: str, ddb: Any) -> Stores:
    """The repository's stores on the test table, for arranging and inspecting state."""
    return Stores.on(ddb, table)
