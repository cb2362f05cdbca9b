"""Fixtures for tests against moto: the template's table, and the functions' environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support_common.email_intake import handler as email

from local.cfn import create_secret, create_table
from tests.conftest import Stores, reset_functions
from tests.integration import iam
from tests.integration.faults import INJECTOR
from tests.integration.mailroom import BUCKET, DOMAIN, Mailroom
from tests.integration.names import REGION, TABLE
from tests.integration.test_iam_policies import COMPLETE

ACK_SECRET = "support-desk-ack-signing"
WEBHOOK_SECRET = "support-desk-pagerduty-webhook"


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
        # The paging secrets, generated as the template does (every function reads ACK_SECRET_ARN).
        secrets = boto3.client("secretsmanager", region_name=REGION)
        monkeypatch.setenv("ACK_SECRET_ARN", create_secret(secrets, "AckSigningSecret", ACK_SECRET))
        monkeypatch.setenv(
            "PAGERDUTY_WEBHOOK_SECRET_ARN", create_secret(secrets, "PagerDutyWebhookSecret", WEBHOOK_SECRET)
        )
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


@pytest.fixture
def mailroom(table: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Iterator[Mailroom]:
    monkeypatch.setenv("RAW_MAIL_BUCKET", BUCKET)
    monkeypatch.setenv("SUPPORT_DOMAIN", DOMAIN)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "email_ingest")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=DOMAIN)
    email.reset()
    room = Mailroom(s3, Stores.on(boto3.client("dynamodb", region_name=REGION), TABLE), lambda_context)
    room.add_contact("acme.example", "acme")
    yield room
    email.reset()


# --- the IAM check: record each function's calls, check them last ---------------------------

DRIVEN_MODULES = ("test_intake_api.py", "test_email_ingest.py", "test_escalate.py", "test_conversation.py")


def pytest_configure(config: pytest.Config) -> None:
    iam.install()
    INJECTOR.handlers.update(iam.HANDLERS)
    INJECTOR.install()


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[_DESELECTED] = True


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The IAM checks read what every other test recorded: they run last.
    checks = [i for i in items if i.get_closest_marker("iam_check")]
    items[:] = [i for i in items if not i.get_closest_marker("iam_check")] + checks
    modules = {i.path.name for i in items}
    complete = all(m in modules for m in DRIVEN_MODULES) and not config.stash.get(_DESELECTED, False)
    config.stash[COMPLETE] = complete


_DESELECTED = pytest.StashKey[bool]()
