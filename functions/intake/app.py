"""The dashboard HTTP API (API Gateway HTTP API, payload 2.0)."""

from typing import Any

from support_common.api.handler import entry, handle


@entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
