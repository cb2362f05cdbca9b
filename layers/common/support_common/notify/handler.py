"""The notify function (functions/notify): stream batches -> mail to requesters, and its wiring."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import Field

from support_common.notify.sender import Notifier
from support_common.observability import entry_point, logger
from support_common.repository.limits import RateLimits
from support_common.repository.messages import MailStore
from support_common.repository.outbound import OutboundStore
from support_common.repository.table import Table
from support_common.repository.tickets import TicketStore
from support_common.settings import FunctionSettings, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_ses.client import SESClient

entry = entry_point(correlation_id_path="Records[0].dynamodb.SequenceNumber")


class NotifySettings(FunctionSettings):
    """The notify function's environment."""

    support_domain: str = Field(alias="SUPPORT_DOMAIN", min_length=1)
    # Where links in mail point (the dashboard).
    dashboard_url: str = Field(alias="DASHBOARD_URL", min_length=1)


@dataclass(frozen=True)
class Wiring:
    settings: NotifySettings
    notifier: Notifier


@cache
def wiring() -> Wiring:
    """Settings, clients and the notifier: built on the first batch, kept for the process."""
    import boto3  # here, not at import: the module stays importable without AWS
    from botocore.config import Config

    settings = load_settings(NotifySettings)
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    # SendRawEmail is not idempotent: an SDK retry after a lost answer could mail twice. One
    # attempt; the once-only claim and the mapping's retry of the record do the retrying.
    ses_config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=10)
    table = Table(settings.table_name, boto3.client("dynamodb", region_name=settings.region, config=config))

    @cache
    def ses() -> SESClient:
        return boto3.client("ses", region_name=settings.region, config=ses_config)

    notifier = Notifier(
        tickets=TicketStore(table),
        outbound=OutboundStore(table),
        limits=RateLimits(table),
        messages=MailStore(table),
        ses=ses,
        support_domain=settings.support_domain,
        dashboard_url=settings.dashboard_url,
        region=settings.region,
    )
    return Wiring(settings=settings, notifier=notifier)


def reset() -> None:
    """Forget the wiring (tests change the environment between cases)."""
    wiring.cache_clear()


# A batch whose every record failed is still answered with batchItemFailures (not an invocation
# error), so the mapping retries from the failed record as it does for a partial failure.
@cache
def _processor() -> BatchProcessor:
    # Imported on the first batch with a failed record: a batch without one answers
    # {"batchItemFailures": []} itself, and Powertools batch (every event class) stays unloaded.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One DynamoDB stream batch: the mail its records ask for, failures as batchItemFailures."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        logger.error("unknown event ignored", keys=sorted(event)[:10] if isinstance(event, dict) else [])
        return {"batchItemFailures": []}
    if not records:
        return {"batchItemFailures": []}
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    failures = wiring().notifier.process_stream(records, deadline=deadline)
    if not failures:
        return {"batchItemFailures": []}
    from aws_lambda_powertools.utilities.batch import process_partial_response

    def record_handler(record: DynamoDBRecord) -> None:
        error = failures.get(str(record.dynamodb.sequence_number if record.dynamodb else ""))
        if error is not None:
            raise error

    logger.warning("stream records failed", failed=len(failures), records=len(records))
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=_processor(), context=context
        )
    )
