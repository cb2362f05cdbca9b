"""Pages on-call: DynamoDB stream batches of tickets, and EventBridge Scheduler re-pages."""

from typing import Any

from support_common.paging.handler import entry, handle


@entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
