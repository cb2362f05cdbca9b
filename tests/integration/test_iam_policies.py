"""Each function's IAM policy grants exactly the AWS actions its code makes in the integration tests."""

from __future__ import annotations

from typing import Any

import pytest

from local.cfn import resource
from tests.integration.iam import HANDLERS, RECORDED, actions_of

# Granted for AWS to act on the function's behalf, not called by its code: the stream mapping
# reads the stream, Lambda sends failed records to the on-failure queue, the scheduler target
# role is passed with each CreateSchedule, SNS encrypts with the topic's key.
USED_BY_AWS = {
    "EscalateFunction": {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "sqs:SendMessage",
        "iam:PassRole",
        # Publishing to the alarms topic, encrypted with AlertsKey, uses the key through SNS.
        "kms:Decrypt",
        "kms:GenerateDataKey",
    },
    "NotifyFunction": {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "sqs:SendMessage",
    },
    # Not called: it makes a missing raw message read as NoSuchKey rather than AccessDenied.
    "EmailIngestFunction": {"s3:ListBucket"},
}


def granted(function: str) -> set[str]:
    """The actions a function's inline policies allow."""
    actions: set[str] = set()
    for policy in resource(function).get("Policies", []):
        for statement in policy.get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def test_actions_of_transaction_names_each_item_kind() -> None:
    # GIVEN a transaction with a put, an update and a condition check
    params = {"TransactItems": [{"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}, {"Put": {}}]}

    # THEN it needs each item's own action, and PublishBatch needs Publish
    assert actions_of("dynamodb", "TransactWriteItems", params) == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    }
    assert actions_of("sns", "PublishBatch", {}) == {"sns:Publish"}


@pytest.mark.iam_check
@pytest.mark.parametrize("function", sorted(HANDLERS.values()))
def test_function_policy_grants_what_the_code_calls(function: str, request: pytest.FixtureRequest) -> None:
    # GIVEN every AWS action the function's code made in the integration tests run before this one
    used = RECORDED.get(function, set())
    complete = request.config.stash.get(COMPLETE, False)

    # THEN its policy allows each of them
    assert used - granted(function) == set(), f"{function} calls actions its policy does not grant"
    if complete:
        # AND, when the whole integration suite ran, grants nothing the code never uses
        assert used, f"{function} made no AWS call in the integration tests"
        unused = granted(function) - used - USED_BY_AWS.get(function, set())
        assert unused == set(), f"{function} is granted actions its code never uses"


COMPLETE: Any = pytest.StashKey[bool]()
