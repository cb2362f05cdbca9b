"""Pages on-call: DynamoDB stream batches of tickets, and EventBridge Scheduler re-pages."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from support_common.observability import logger, metrics, tracer
from support_common.paging import escalation


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return escalation.handle(event, context)
