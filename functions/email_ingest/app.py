"""SES receipt events -> tickets, comments on tickets, or logged rejections."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from support_common.email_intake import handle_ses_event
from support_common.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="Records[0].ses.mail.messageId")
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_ses_event(event)
