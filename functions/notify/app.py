"""Mails requesters: staff replies and status notices, from DynamoDB stream batches."""

from typing import Any

from support_common.notify.handler import entry, handle


@entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
