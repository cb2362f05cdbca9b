"""What template.yaml must keep true: checks cfn-lint and checkov do not make for SAM resources."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.cfn import _Tag, template

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = template()["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
GLOBAL_FUNCTION = template()["Globals"]["Function"]


def _statements(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            found.append(node)
        for value in node.values():
            found += _statements(value)
    elif isinstance(node, list):
        for value in node:
            found += _statements(value)
    elif isinstance(node, _Tag):
        found += _statements(node.value)
    return found


def test_template_functions_are_python313_arm64_traced_with_explicit_limits() -> None:
    # GIVEN every function of the template
    assert GLOBAL_FUNCTION["Runtime"] == "python3.13"
    assert GLOBAL_FUNCTION["Architectures"] == ["arm64"]
    for name, fn in FUNCTIONS.items():
        props = fn["Properties"]
        # THEN each is traced and states its own timeout and memory
        assert props.get("Tracing", GLOBAL_FUNCTION.get("Tracing")) == "Active", name
        assert "Timeout" in props, name
        assert "MemorySize" in props, name
        assert props["Handler"] == "app.lambda_handler", name


def test_template_policies_have_no_wildcard_actions_or_resources() -> None:
    # GIVEN every IAM statement anywhere in the template (functions, roles, bucket and topic policies)
    statements = [s for s in _statements(RESOURCES) if s["Effect"] == "Allow"]
    assert statements
    # (A Deny may be broad on purpose, e.g. refusing every s3 action over plain HTTP.)
    key_policies = [
        statement
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::KMS::Key"
        for statement in resource["Properties"]["KeyPolicy"]["Statement"]
    ]
    for statement in statements:
        if statement in key_policies:
            # In a key policy, Resource "*" names the key itself; its actions must still be explicit.
            assert all("*" not in a for a in statement["Action"]), statement
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if not isinstance(resources, list) else resources
        # THEN no action is a wildcard, and no resource is everything
        assert all("*" not in a for a in actions if isinstance(a, str)), statement
        assert "*" not in resources, statement


def test_template_http_api_requires_jwt_on_every_route_but_openapi_and_page_credentials() -> None:
    # GIVEN the HTTP API and the routes the functions declare on it
    api = RESOURCES["HttpApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "CognitoJwt"
    assert "JwtConfiguration" in api["Auth"]["Authorizers"]["CognitoJwt"]
    assert "DefaultRouteSettings" in api and "AccessLogSettings" in api
    public = []
    for fn in FUNCTIONS.values():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            auth = event["Properties"].get("Auth", {})
            if auth.get("Authorizer") == "NONE":
                public.append(event["Properties"]["Path"])
    # THEN only the OpenAPI document is public, and the routes whose requests carry their own
    # credential: a page's signed link, PagerDuty's signed webhook
    assert sorted(public) == ["/ack/{token}", "/ack/{token}", "/integrations/pagerduty", "/openapi.json"]


def test_template_paging_secrets_readable_only_by_functions_that_need_them() -> None:
    # GIVEN the template's secrets and every statement that grants reading a secret
    secrets = {k for k, v in RESOURCES.items() if v["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets == {"AckSigningSecret", "PagerDutyWebhookSecret"}
    readers: dict[str, set[str]] = {name: set() for name in secrets}
    for fn_name, fn in FUNCTIONS.items():
        for statement in _statements(fn["Properties"].get("Policies", [])):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "secretsmanager:GetSecretValue" not in actions:
                continue
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                readers[resource.value].add(fn_name)
    # THEN the signing key: escalate signs, intake and email_ingest verify; the webhook secret: intake
    assert readers == {
        "AckSigningSecret": {"EscalateFunction", "IntakeFunction", "EmailIngestFunction"},
        "PagerDutyWebhookSecret": {"IntakeFunction"},
    }
    # AND each secret is generated, never written into the template
    for name in secrets:
        props = RESOURCES[name]["Properties"]
        assert "SecretString" not in props and props["GenerateSecretString"]["PasswordLength"] >= 32


def test_template_table_is_encrypted_recoverable_streamed_with_ttl() -> None:
    table = RESOURCES["TicketsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize("logical_id", ["CommonLayer"])
def test_template_layer_builds_for_arm64_without_bundling_boto(logical_id: str) -> None:
    layer = RESOURCES[logical_id]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text().lower().splitlines()
    pins = [line.split("==")[0] for line in lines if line and not line.startswith("#")]
    assert pins
    assert not {"boto3", "botocore", "s3transfer"} & set(pins)


def test_template_stream_mappings_avoid_sam_events_that_attach_wildcard_managed_policies() -> None:
    # GIVEN the functions' SAM events
    stream_events = [
        (name, event_name)
        for name, fn in FUNCTIONS.items()
        for event_name, event in fn["Properties"].get("Events", {}).items()
        if event["Type"] in ("DynamoDB", "Kinesis", "SQS")
    ]
    # THEN none: SAM would attach AWSLambdaDynamoDBExecutionRole (Resource "*"); plain mappings are used
    assert stream_events == []
    mappings = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Lambda::EventSourceMapping"}
    assert set(mappings) == {"EscalateStreamMapping", "NotifyStreamMapping"}


def test_template_alarms_watch_what_could_lose_a_page_or_a_mail() -> None:
    # GIVEN the template's alarms
    alarms = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms.values()}
    # THEN the failure queues, escalate's errors and stream lag, and unexpected mail failures alarm
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/Lambda", "Errors"),
        ("SupportDesk", "MailFailed"),
    } <= watched
    queues = {
        str(a["Dimensions"][0]["Value"].value).split(".")[0]
        for a in alarms.values()
        if a["Namespace"] == "AWS/SQS"
    }
    assert queues == {"EscalateFailureQueue", "EmailIngestFailureQueue", "NotifyFailureQueue"}
    # and every alarm notifies the encrypted alarms topic (not the pager topic: CloudWatch cannot
    # use the AWS-managed SNS key)
    for alarm in alarms.values():
        assert [action.value for action in alarm["AlarmActions"]] == ["AlertsTopic"]
    topic = RESOURCES["AlertsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"].value == "AlertsKey"
    assert RESOURCES["AlertsKey"]["Properties"]["EnableKeyRotation"] is True


def test_template_only_notify_and_the_acknowledgement_may_send_mail() -> None:
    # GIVEN every function's policy statements
    senders = {
        name
        for name, fn in FUNCTIONS.items()
        for statement in _statements(fn["Properties"].get("Policies", []))
        if any(str(a).startswith("ses:Send") for a in _as_list(statement.get("Action")))
    }
    # THEN only notify (replies, notices) and email_ingest (the acknowledgement of a new ticket) send
    assert senders == {"NotifyFunction", "EmailIngestFunction"}
    # AND notify's mapping reports partial failures and parks what still fails in an encrypted queue
    mapping = RESOURCES["NotifyStreamMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = mapping["DestinationConfig"]["OnFailure"]["Destination"].value
    assert queue == ["NotifyFailureQueue", "Arn"] or str(queue).startswith("NotifyFailureQueue")
    assert RESOURCES["NotifyFailureQueue"]["Properties"]["SqsManagedSseEnabled"] is True


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_template_layer_package_ships_unchecked_bytecode_for_every_module(tmp_path: Path) -> None:
    # GIVEN the layer's own code packaged by the recipe its sam build runs
    layer = ROOT / "layers" / "common"
    subprocess.run(
        ["make", "-s", "-C", str(layer), "package", f"DIR={tmp_path}", f"PYTHON={sys.executable}"], check=True
    )
    sources = sorted(tmp_path.rglob("*.py"))
    # WHEN each module's bytecode is looked up where the interpreter looks for it
    compiled = {source: Path(importlib.util.cache_from_source(str(source))) for source in sources}
    # THEN every module of support_common is there, compiled, and trusted without a look at its
    # source (a read-only layer cannot be recompiled and rewritten on a cold start)
    assert {s.relative_to(tmp_path) for s in sources} == {
        s.relative_to(layer) for s in (layer / "support_common").rglob("*.py")
    }
    for source, pyc in compiled.items():
        assert pyc.is_file(), source
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, (source, flags)
