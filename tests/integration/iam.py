"""Which AWS operations each deployed function makes, recorded across the integration tests.

moto enforces no IAM, so a call the function's policy does not allow passes every test and fails
on AWS. Every botocore session gets a hook that records the operation with the
function on whose behalf it runs (the package handler found on the call stack); the IAM test then
checks the recording against each function's policy in template.yaml.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

from botocore import handlers

# The handler module on the stack -> the function's logical id in template.yaml.
HANDLERS = {
    "support_common.api.handler": "IntakeFunction",
    "support_common.email_intake.handler": "EmailIngestFunction",
    "support_common.paging.handler": "EscalateFunction",
    "support_common.notify.handler": "NotifyFunction",
}
# An operation whose IAM action has another name (PublishBatch is authorised as Publish).
# botocore signs a presigned POST (an upload form) with the CreateBucket operation model; what S3
# checks when the form is used is PutObject on the key.
ACTION_OF = {"sns:PublishBatch": "sns:Publish", "s3:HeadObject": "s3:GetObject", "s3:CreateBucket": "s3:PutObject"}
# A transaction is authorised item by item.
TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}

RECORDED: dict[str, set[str]] = defaultdict(set)


def _function_on_stack() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        function = HANDLERS.get(frame.f_globals.get("__name__", ""))
        if function is not None:
            return function
        frame = frame.f_back  # type: ignore[assignment]
    return None


def actions_of(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one call needs."""
    if f"{service}:{operation}" == "dynamodb:TransactWriteItems":
        return {TRANSACT_ACTIONS[kind] for item in params.get("TransactItems", []) for kind in item}
    name = f"{service}:{operation}"
    return {ACTION_OF.get(name, name)}


def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
    function = _function_on_stack()
    if function is not None:
        RECORDED[function] |= actions_of(model.service_model.signing_name, model.name, params)


def install() -> None:
    """Hook every botocore session made from now on (moto gives each test a fresh default one)."""
    if ("before-parameter-build", _record) not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _record))
