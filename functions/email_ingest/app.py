"""SES receipt events -> tickets, comments on tickets, or logged rejections."""

from typing import Any

from support_common.email_intake.handler import entry, handle


@entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
