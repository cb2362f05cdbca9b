"""Fixtures for tests against moto: the template's table, and the functions' environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support_common.settings import get_settings

from local.cfn import create_table

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
    with mock_aws():
        _reset_caches()
        yield
    _reset_caches()


def _reset_caches() -> None:
    get_settings.cache_clear()
    from support_common import api

    api.service.cache_clear()
    from support_common import idempotency

    idempotency._idempotent_create.cache_clear()


@pytest.fixture
def table(aws: None) -> str:
    """The tickets table, built from template.yaml's own definition."""
    return create_table(boto3.client("dynamodb", region_name=REGION), table_name=TABLE)


@pytest.fixture
def ddb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)
