"""The escalate function (functions/escalate): stream batches and re-page timers, and its wiring."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

from support_common.observability import entry_point, logger
from support_common.pagelinks import PageSigner
from support_common.paging.deadlines import DeadlineRequest, Deadlines
from support_common.paging.decision import change_from_record
from support_common.paging.escalation import Pager
from support_common.paging.links import PageLinks
from support_common.paging.timers import Escalation, RepageRequest, Timers
from support_common.repository.outbound import OutboundStore
from support_common.repository.pages import PageStore
from support_common.repository.table import Table
from support_common.repository.tickets import TicketStore
from support_common.secret_store import SecretValue
from support_common.settings import FunctionSettings, SlaSettings, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

# A stream batch is correlated by its first record, a timer by its ticket.
entry = entry_point(correlation_id_path="Records[0].dynamodb.SequenceNumber || ticket_id")


class PagingSettings(FunctionSettings, SlaSettings):
    """The escalate function's environment (defaults as the template's parameters)."""

    pager_topic_arn: str = Field(alias="PAGER_TOPIC_ARN", min_length=1)
    # Where links in pages point (the dashboard).
    dashboard_url: str = Field(alias="DASHBOARD_URL", min_length=1)
    ack_timeout_minutes: int = Field(default=15, alias="ACK_TIMEOUT_MINUTES", ge=1, le=1440)
    max_escalation_level: int = Field(default=3, alias="MAX_ESCALATION_LEVEL", ge=1, le=10)
    scheduler_group: str = Field(alias="SCHEDULER_GROUP", min_length=1)
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", min_length=1)
    escalate_function_arn: str = Field(alias="ESCALATE_FUNCTION_ARN", min_length=1)
    # Where EventBridge Scheduler sends a re-page it could not deliver (the escalate failure queue).
    escalate_dlq_arn: str = Field(alias="ESCALATE_DLQ_ARN", min_length=1)
    # How often the last level repeats before the alarms topic hears that nobody answers.
    max_last_level_repeats: int = Field(default=8, alias="MAX_LAST_LEVEL_REPEATS", ge=0, le=1000)
    alerts_topic_arn: str = Field(alias="ALERTS_TOPIC_ARN", min_length=1)
    # Staff hear of targets about to be missed, and missed, here.
    staff_topic_arn: str = Field(alias="STAFF_TOPIC_ARN", min_length=1)
    # Acknowledgement links: the HTTP API's base URL and the secret that signs them.
    api_url: str = Field(alias="API_URL", min_length=1)
    ack_secret_arn: str = Field(alias="ACK_SECRET_ARN", min_length=1)
    ack_link_ttl_hours: int = Field(default=24, alias="ACK_LINK_TTL_HOURS", ge=1, le=24 * 14)
    # A staff reply to a page goes to urgent@ this domain.
    support_domain: str = Field(alias="SUPPORT_DOMAIN", min_length=1)


@dataclass(frozen=True)
class Wiring:
    settings: PagingSettings
    pager: Pager
    deadlines: Deadlines


@cache
def wiring() -> Wiring:
    """Settings, clients and the pager: built on the first event, kept for the process."""
    import boto3  # here, not at import: the module stays importable without AWS
    from botocore.config import Config

    settings = load_settings(PagingSettings)
    # Fail fast and let the batch retry rather than sit in long SDK back-offs while a site is down.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    escalation = Escalation(
        ack_timeout=timedelta(minutes=settings.ack_timeout_minutes),
        max_level=settings.max_escalation_level,
        group=settings.scheduler_group,
        role_arn=settings.scheduler_role_arn,
        target_arn=settings.escalate_function_arn,
        dead_letter_arn=settings.escalate_dlq_arn,
        last_level_repeats=settings.max_last_level_repeats,
    )
    table = Table(settings.table_name, boto3.client("dynamodb", region_name=settings.region, config=config))

    @cache
    def secrets_client() -> SecretsManagerClient:
        return boto3.client("secretsmanager", region_name=settings.region, config=config)

    links = PageLinks(
        signer=PageSigner(SecretValue(secrets_client, settings.ack_secret_arn).key),
        api_url=settings.api_url,
        ttl=timedelta(hours=settings.ack_link_ttl_hours),
        reply_to=f"urgent@{settings.support_domain}",
    )
    scheduler = boto3.client("scheduler", region_name=settings.region, config=config)
    # No SDK retry for publishes (not idempotent): a failed one releases its claim, Lambda retries.
    sns = boto3.client(
        "sns",
        region_name=settings.region,
        config=config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1})),
    )
    timers = Timers(scheduler, escalation)
    pager = Pager(
        tickets=TicketStore(table),
        pages=PageStore(table),
        # A failed PublishBatch releases the page claim and the record is retried by Lambda.
        sns=sns,
        timers=timers,
        topic_arn=settings.pager_topic_arn,
        dashboard_url=settings.dashboard_url,
        escalation=escalation,
        links=links,
        alerts_topic_arn=settings.alerts_topic_arn,
    )
    deadlines = Deadlines(
        tickets=TicketStore(table),
        notices=OutboundStore(table),
        timers=timers,
        sns=sns,
        policy=settings.sla_policy(),
        staff_topic_arn=settings.staff_topic_arn,
        dashboard_url=settings.dashboard_url,
    )
    return Wiring(settings=settings, pager=pager, deadlines=deadlines)


def reset() -> None:
    """Forget the wiring (tests change the environment between cases)."""
    wiring.cache_clear()


@cache
def _processor() -> BatchProcessor:
    # Imported on the first batch with a failed record: a batch without one answers
    # {"batchItemFailures": []} itself, and Powertools batch (every event class) stays unloaded.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A DynamoDB stream batch, a timer's re-page, or a target's timer."""
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    if "Records" in event:
        return _handle_stream(event, context, deadline)
    if event.get("action") == "sla":
        return _handle_deadline(event)
    try:
        request = RepageRequest.model_validate(event)
    except ValidationError:
        # Not ours to retry: the scheduler would redeliver the same bad input until it gives up.
        logger.error("unknown event ignored", keys=sorted(event)[:10])
        return {"status": "ignored"}
    paged = wiring().pager.repage(request, deadline=deadline)
    return {"ticket_id": request.ticket_id, "level": request.level, "paged": paged}


def _handle_deadline(event: dict[str, Any]) -> dict[str, Any]:
    try:
        request = DeadlineRequest.model_validate(event)
    except ValidationError:
        logger.error("unknown target timer ignored", keys=sorted(event)[:10])
        return {"status": "ignored"}
    # A failure raises: the scheduler retries the timer, then parks it in the failure queue.
    outcome = wiring().deadlines.fire(request)
    return {"ticket_id": request.ticket_id, "target": request.target, "kind": request.kind, "outcome": outcome}


def _handle_stream(event: dict[str, Any], context: LambdaContext, deadline: float) -> dict[str, Any]:
    if not event["Records"]:
        return {"batchItemFailures": []}
    wired = wiring()
    failures = wired.pager.process_stream(event["Records"], deadline=deadline)
    for sequence, error in wired.deadlines.process([change_from_record(r) for r in event["Records"]]).items():
        failures.setdefault(sequence, error)
    if not failures:
        return {"batchItemFailures": []}
    from aws_lambda_powertools.utilities.batch import process_partial_response

    def record_handler(record: DynamoDBRecord) -> None:
        # The work is done for the whole batch above (pages go out ten per call); the processor
        # turns each record's outcome into batchItemFailures.
        error = failures.get(str(record.dynamodb.sequence_number if record.dynamodb else ""))
        if error is not None:
            raise error

    logger.warning("stream records failed", failed=len(failures), records=len(event["Records"]))
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=_processor(), context=context
    )
    return dict(response)
