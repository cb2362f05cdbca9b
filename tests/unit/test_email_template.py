"""template.yaml's email resources: what cfn-lint cannot know we meant."""

from __future__ import annotations

from typing import Any

from local.cfn import resource, template

SUPPORT_ADDRESSES = ("urgent", "incident", "problem", "task", "question")


def _text(value: Any) -> str:
    """An intrinsic (!Sub, !Ref...) or a plain value, as text for assertions."""
    return str(getattr(value, "value", value))


def _statements(logical_id: str) -> list[dict[str, Any]]:
    props = resource(logical_id)
    return [s for policy in props.get("Policies", []) for s in policy.get("Statement", [])]


def test_receipt_rule_stores_then_invokes_for_support_addresses_only() -> None:
    # GIVEN the receipt rule
    rule = resource("MailReceiptRule")["Rule"]

    # THEN the five support addresses, scanned, over TLS, S3 first then the function asynchronously
    assert [_text(r) for r in rule["Recipients"]] == [f"{a}@${{SupportDomain}}" for a in SUPPORT_ADDRESSES]
    assert (rule["ScanEnabled"], rule["TlsPolicy"], rule["Enabled"]) == (True, "Require", True)
    s3_action, lambda_action = rule["Actions"]
    assert s3_action["S3Action"]["ObjectKeyPrefix"] == "inbound/"
    assert _text(s3_action["S3Action"]["BucketName"]) == "RawMailBucket"
    assert lambda_action["LambdaAction"]["InvocationType"] == "Event"
    assert _text(lambda_action["LambdaAction"]["FunctionArn"]) == "EmailIngestFunction.Arn"


def test_receipt_rule_created_after_ses_may_write_and_invoke() -> None:
    # GIVEN / THEN SES checks both permissions when the rule is created
    depends = template()["Resources"]["MailReceiptRule"]["DependsOn"]
    assert set(depends) == {"RawMailBucketPolicy", "EmailIngestSesPermission"}


def test_raw_mail_bucket_is_private_encrypted_and_expires_raw_mail() -> None:
    # GIVEN the bucket
    props = resource("RawMailBucket")

    # THEN encrypted, no public access of any kind, raw mail expiring after the parameter
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    [raw_rule] = [r for r in props["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "inbound/"]
    assert _text(raw_rule["ExpirationInDays"]) == "RawMailRetentionDays"
    assert "RawMailRetentionDays" in template()["Parameters"]


def test_raw_mail_bucket_policy_enforces_tls_and_lets_only_this_accounts_rule_write() -> None:
    # GIVEN the bucket policy
    statements = resource("RawMailBucketPolicy")["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}

    # THEN plain HTTP is denied, and SES may only put objects under inbound/ for this account's rule
    tls = by_sid["DenyInsecureTransport"]
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    ses = by_sid["AllowSesToStoreInboundMail"]
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    assert ses["Action"] == "s3:PutObject"
    assert _text(ses["Resource"]).endswith("/inbound/*")
    assert _text(ses["Condition"]["StringEquals"]["aws:SourceAccount"]) == "AWS::AccountId"
    assert ":receipt-rule/support-addresses" in _text(ses["Condition"]["ArnLike"]["aws:SourceArn"])


def test_ses_lambda_permission_is_scoped_to_account_and_rule() -> None:
    props = resource("EmailIngestSesPermission")
    assert props["Principal"] == "ses.amazonaws.com"
    assert _text(props["SourceAccount"]) == "AWS::AccountId"
    assert ":receipt-rule/support-addresses" in _text(props["SourceArn"])


def test_email_ingest_function_least_privilege() -> None:
    # GIVEN the function's policy statements
    statements = _statements("EmailIngestFunction")

    # THEN no wildcard action or resource, and each action on the narrowest resource
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in actions), statement
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(_text(r) != "*" for r in resources), statement
    by_sid = {s["Sid"]: s for s in statements}
    assert _text(by_sid["ReadRawMail"]["Resource"]).endswith("/inbound/*")
    assert _text(by_sid["StoreAttachments"]["Resource"]).endswith("/tickets/*")
    assert "identity/${SupportDomain}" in _text(by_sid["Acknowledge"]["Resource"])
    assert "/index/" not in _text(by_sid["Tickets"]["Resource"])


def test_email_ingest_function_settings_and_log_retention() -> None:
    # GIVEN the function
    props = resource("EmailIngestFunction")

    # THEN explicit limits sized for 40 MB mail, the environment the code reads, and kept logs
    assert (props["CodeUri"], props["Handler"]) == ("functions/email_ingest/", "app.lambda_handler")
    assert props["Timeout"] >= 30
    assert props["MemorySize"] >= 1024
    env = props["Environment"]["Variables"]
    assert {"RAW_MAIL_BUCKET", "SUPPORT_DOMAIN", "POWERTOOLS_SERVICE_NAME"} <= env.keys()
    assert env["POWERTOOLS_SERVICE_NAME"] == "email_ingest"
    logs = resource("EmailIngestLogs")
    assert "EmailIngestFunction" in _text(logs["LogGroupName"])
    assert _text(logs["RetentionInDays"]) == "LogRetentionDays"
