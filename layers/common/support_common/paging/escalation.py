"""Escalation: page a ticket once per level, and again at the next level until it is acknowledged.

Once-only protocol, per (ticket, level), with the page record `TICKET#<id> / PAGE#<level>`:
1. claim: a conditional put of the record in state `sending`, with a token and a lease that ends
   when this invocation can no longer run (its deadline);
2. publish (PublishBatch, ten pages a call);
3. on success, create the next level's timer, then mark the record `sent` (token must match);
   on failure, delete the claim so the retried record can page at once.
A duplicate or retried record finds the record `sent` and does nothing; one that finds a live
`sending` claim fails and is retried after the lease. A crash between publish and mark leaves a
claim that expires with the invocation: the retry pages again, which PagerDuty folds into the same
incident (`dedup_key` = ticket id). A page is never lost, and repeats only after such a crash.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from support_common.models import TICKET_ID_PATTERN, Ticket, utcnow
from support_common.observability import count, logger, metrics
from support_common.paging.decision import Action, Change, change_from_record
from support_common.paging.message import PageMessage, build_page
from support_common.repository import ClaimStatus, TicketRepository
from support_common.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_scheduler.client import EventBridgeSchedulerClient
    from mypy_boto3_sns.client import SNSClient

PUBLISH_BATCH_MAX = 10
PUBLISH_BATCH_BYTES = 256 * 1024
# Invocations of one function share a clock source only approximately.
LEASE_MARGIN_SECONDS = 2
# A stream record older than this is checked against the table before it pages.
STALE_RECORD_SECONDS = 120
# A re-page the scheduler cannot deliver is retried for an hour, then goes to the failure queue.
SCHEDULE_RETRY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}
AWS_ERRORS = (ClientError, BotoCoreError)


class PageFailed(Exception):
    """A page that could not go out now; the record (or the timer) is retried."""


class PageInFlight(PageFailed):
    """Another invocation holds a live claim on this page: retry after its lease."""


@dataclass(frozen=True)
class Escalation:
    """How re-paging works: the acknowledgement timeout, the last level and the scheduler target."""

    ack_timeout: timedelta
    max_level: int
    group: str | None = None
    role_arn: str | None = None
    target_arn: str | None = None
    dead_letter_arn: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether timers can be created (the local stack may run without a scheduler)."""
        return bool(self.group and self.role_arn and self.target_arn)


class RepageRequest(BaseModel):
    """The Input of a one-time schedule: page `ticket_id` at `level` if it still pages."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["repage"]
    ticket_id: str = Field(pattern=TICKET_ID_PATTERN)
    level: int = Field(ge=2, le=100)


def schedule_name(ticket_id: str, level: int) -> str:
    """The timer that pages `ticket_id` at `level`; deterministic, so a duplicate collides harmlessly."""
    return f"page-{ticket_id}-L{level}"


def repage_input(ticket_id: str, level: int) -> str:
    """The JSON a timer passes to the escalate function."""
    return json.dumps({"action": "repage", "ticket_id": ticket_id, "level": level})


def at_expression(when: datetime) -> str:
    """An EventBridge Scheduler one-time expression, in UTC, to the second."""
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


@dataclass
class _Claimed:
    ticket: Ticket
    level: int
    token: str
    message: PageMessage
    message_id: str | None = None
    published_at: datetime | None = None


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class Pager:
    """Pages on-call through SNS, at most once per (ticket, level), and escalates on a timer."""

    def __init__(
        self,
        repository: TicketRepository,
        sns: SNSClient,
        scheduler: EventBridgeSchedulerClient | None,
        *,
        topic_arn: str,
        dashboard_url: str,
        escalation: Escalation,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repository = repository
        self.sns = sns
        self.scheduler = scheduler
        self.topic_arn = topic_arn
        self.dashboard_url = dashboard_url
        self.escalation = escalation
        self.clock = clock

    # --- entry points --------------------------------------------------------------------

    def process_stream(self, records: Sequence[dict[str, Any]], *, deadline: float) -> dict[str, Exception]:
        """Page, cancel or skip each stream record; return the failures by sequence number."""
        failures: dict[str, Exception] = {}
        changes: list[Change] = []
        for record in records:
            try:
                changes.append(change_from_record(record))
            except (KeyError, TypeError, ValueError) as exc:
                # An unreadable record fails alone: retried, then parked in the failure queue.
                sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
                logger.exception("stream record unreadable", sequence_number=sequence)
                failures[sequence] = exc

        to_page: dict[str, Change] = {}
        latest: dict[str, Ticket | None] = {}
        page_records: dict[str, list[str]] = {}
        cancel_records: dict[str, list[str]] = {}
        last_page: dict[str, int] = {}
        last_cancel: dict[str, int] = {}
        for index, change in enumerate(changes):
            ticket = change.ticket
            if ticket is None:
                continue
            latest[ticket.id] = change.new
            action = change.action
            if action is Action.PAGE:
                to_page.setdefault(ticket.id, change)
                page_records.setdefault(ticket.id, []).append(change.sequence_number)
                last_page[ticket.id] = index
            elif action is Action.CANCEL:
                cancel_records.setdefault(ticket.id, []).append(change.sequence_number)
                last_cancel[ticket.id] = index

        try:
            requests = self._still_pageable(to_page, latest)
        except (*AWS_ERRORS, RuntimeError) as exc:
            logger.warning("current ticket state unreadable", tickets=len(to_page), error=_error_code(exc))
            requests = []
            for ticket_id in to_page:
                for sequence in page_records[ticket_id]:
                    failures[sequence] = exc
        for ticket_id, error in self.page(requests, deadline=deadline).items():
            for sequence in page_records[ticket_id]:
                failures[sequence] = error
        for ticket_id, sequences in cancel_records.items():
            # Pages go out first; a ticket that pages again later in the batch keeps its timers.
            if last_page.get(ticket_id, -1) > last_cancel[ticket_id]:
                continue
            try:
                self.cancel(ticket_id)
            except AWS_ERRORS as exc:
                logger.warning("re-page cancel failed", ticket_id=ticket_id, error=_error_code(exc))
                for sequence in sequences:
                    failures[sequence] = exc
        return failures

    def _still_pageable(
        self, to_page: dict[str, Change], latest: dict[str, Ticket | None]
    ) -> list[tuple[Ticket, int]]:
        """The level-1 pages to send: only tickets that still page by the newest state we know.

        A later record of the same batch may already acknowledge the ticket. A record older than
        STALE_RECORD_SECONDS (a backlog after an outage, a long retry) is checked against the
        table, one BatchGetItem for up to 100 tickets, so a backlog never pages for tickets
        acknowledged long ago. Fresh records, the usual case, cost no read.
        """
        oldest_fresh = time.time() - STALE_RECORD_SECONDS
        stale = [tid for tid, change in to_page.items() if (change.created_at or oldest_fresh) < oldest_fresh]
        current = self.repository.get_tickets(stale) if stale else {}
        requests: list[tuple[Ticket, int]] = []
        for ticket_id in to_page:
            newest = current.get(ticket_id) if ticket_id in stale else latest.get(ticket_id)
            if newest is None or not newest.pages:
                logger.info(
                    "page skipped", ticket_id=ticket_id, reason="no longer pageable", stale=ticket_id in stale
                )
                continue
            requests.append((newest, 1))
        return requests

    def repage(self, request: RepageRequest, *, deadline: float) -> bool:
        """A timer fired: page at its level if the ticket still pages; a late timer does nothing."""
        if request.level > self.escalation.max_level:
            logger.info(
                "re-page skipped", ticket_id=request.ticket_id, escalation_level=request.level, reason="max level"
            )
            return False
        ticket = self.repository.get_ticket(request.ticket_id)
        if ticket is None or not ticket.pages:
            reason = "no ticket" if ticket is None else f"ticket is {ticket.status}"
            logger.info(
                "re-page skipped", ticket_id=request.ticket_id, escalation_level=request.level, reason=reason
            )
            return False
        failures = self.page([(ticket, request.level)], deadline=deadline)
        if failures:
            raise PageFailed(f"page {ticket.id} level {request.level} failed") from failures[ticket.id]
        return True

    # --- paging --------------------------------------------------------------------------

    def page(self, requests: Sequence[tuple[Ticket, int]], *, deadline: float) -> dict[str, Exception]:
        """Send each (ticket, level) page unless already sent; return the failures by ticket id."""
        failures: dict[str, Exception] = {}
        claimed: list[_Claimed] = []
        now = time.time()
        for ticket, level in requests:
            token = secrets.token_hex(8)
            try:
                claim = self.repository.claim_page(
                    ticket.id, level, token=token, lease_until=deadline + LEASE_MARGIN_SECONDS, now=now
                )
                if claim.status is ClaimStatus.SENT:
                    logger.info("page already sent", ticket_id=ticket.id, escalation_level=level)
                    if not claim.scheduled and self._schedule_next(ticket.id, level):
                        self.repository.mark_page_scheduled(ticket.id, level)
                    continue
            except AWS_ERRORS as exc:
                logger.warning(
                    "page claim failed", ticket_id=ticket.id, escalation_level=level, error=_error_code(exc)
                )
                failures[ticket.id] = exc
                continue
            if claim.status is ClaimStatus.BUSY:
                logger.warning("page in flight elsewhere", ticket_id=ticket.id, escalation_level=level)
                failures[ticket.id] = PageInFlight(f"page {ticket.id} level {level} is being sent")
                continue
            message = build_page(ticket, level, dashboard_url=self.dashboard_url)
            claimed.append(_Claimed(ticket, level, token, message))

        sent = self._publish(claimed, failures)
        for page in sent:
            scheduled = True
            try:
                self._schedule_next(page.ticket.id, page.level)
            except AWS_ERRORS as exc:
                # The page is out and is marked sent: the retry finds it sent and only creates the timer.
                logger.warning(
                    "re-page schedule failed",
                    ticket_id=page.ticket.id,
                    escalation_level=page.level,
                    error=_error_code(exc),
                )
                failures[page.ticket.id] = exc
                scheduled = False
            self._finish(page, scheduled=scheduled)
        self._count(sent)
        return failures

    def cancel(self, ticket_id: str) -> int:
        """Delete a ticket's pending re-page timers (acknowledged, resolved...); return how many."""
        if not self.escalation.enabled or self.scheduler is None:
            return 0
        deleted = 0
        for level in range(2, self.escalation.max_level + 1):
            try:
                self.scheduler.delete_schedule(
                    Name=schedule_name(ticket_id, level), GroupName=str(self.escalation.group)
                )
            except ClientError as exc:
                if _error_code(exc) == "ResourceNotFoundException":
                    continue
                raise
            deleted += 1
        logger.info("re-pages cancelled", ticket_id=ticket_id, deleted=deleted)
        return deleted

    # --- helpers -------------------------------------------------------------------------

    def _publish(self, claimed: list[_Claimed], failures: dict[str, Exception]) -> list[_Claimed]:
        sent: list[_Claimed] = []
        for chunk in _chunks(claimed):
            entries = [page.message.entry(f"p{i}") for i, page in enumerate(chunk)]
            try:
                resp = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
            except AWS_ERRORS as exc:
                logger.warning("page publish failed", pages=len(chunk), error=_error_code(exc))
                for page in chunk:
                    self._release(page)
                    failures[page.ticket.id] = exc
                continue
            published_at = self.clock()
            ok = {e["Id"]: e["MessageId"] for e in resp.get("Successful", [])}
            failed = {e["Id"]: e for e in resp.get("Failed", [])}
            for i, page in enumerate(chunk):
                entry_id = f"p{i}"
                if entry_id in ok:
                    page.message_id = ok[entry_id]
                    page.published_at = published_at
                    sent.append(page)
                    continue
                # An entry in neither list is a failure too: only a MessageId proves delivery to SNS.
                code = str(failed.get(entry_id, {}).get("Code", "Missing"))
                logger.warning(
                    "page publish failed", ticket_id=page.ticket.id, escalation_level=page.level, error=code
                )
                self._release(page)
                failures[page.ticket.id] = PageFailed(f"publish of {page.ticket.id} failed: {code}")
        return sent

    def _release(self, page: _Claimed) -> None:
        try:
            self.repository.release_page(page.ticket.id, page.level, token=page.token)
        except AWS_ERRORS as exc:
            # The lease ends with this invocation: the retry can still take the page then.
            logger.warning(
                "page release failed",
                ticket_id=page.ticket.id,
                escalation_level=page.level,
                error=_error_code(exc),
            )

    def _finish(self, page: _Claimed, *, scheduled: bool) -> None:
        sent_at = page.published_at or self.clock()
        try:
            kept = self.repository.finish_page(
                page.ticket.id,
                page.level,
                token=page.token,
                message_id=str(page.message_id),
                sent_at=sent_at.isoformat().replace("+00:00", "Z"),
                scheduled=scheduled,
            )
        except AWS_ERRORS as exc:
            # Failing the record would page again after the lease; the page is out, so log instead.
            logger.error(
                "page sent but not recorded",
                ticket_id=page.ticket.id,
                escalation_level=page.level,
                error=_error_code(exc),
            )
            kept = True
        if not kept:
            logger.warning("page claim lost while sending", ticket_id=page.ticket.id, escalation_level=page.level)
        logger.info(
            "page sent",
            ticket_id=page.ticket.id,
            escalation_level=page.level,
            tenant=page.ticket.tenant,
            message_id=page.message_id,
            escalation_scheduled=scheduled and page.level < self.escalation.max_level and self.escalation.enabled,
        )
        if page.level == 1:
            delay_ms = (sent_at - page.ticket.created_at).total_seconds() * 1000
            metrics.add_metric(name="TimeToPage", unit=MetricUnit.Milliseconds, value=max(delay_ms, 0.0))

    def _schedule_next(self, ticket_id: str, level: int) -> bool:
        """Create the timer for level + 1 when there is one; True when it exists now."""
        nxt = level + 1
        if not self.escalation.enabled or self.scheduler is None or nxt > self.escalation.max_level:
            return False
        # Rounded up to the second: the timer never fires before the timeout.
        when = (self.clock() + self.escalation.ack_timeout + timedelta(seconds=1)).replace(microsecond=0)
        target: dict[str, Any] = {
            "Arn": str(self.escalation.target_arn),
            "RoleArn": str(self.escalation.role_arn),
            "Input": repage_input(ticket_id, nxt),
            "RetryPolicy": SCHEDULE_RETRY,
        }
        if self.escalation.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.escalation.dead_letter_arn}
        try:
            self.scheduler.create_schedule(
                Name=schedule_name(ticket_id, nxt),
                GroupName=str(self.escalation.group),
                ScheduleExpression=at_expression(when),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"page {ticket_id} at level {nxt} unless acknowledged",
                Target=target,
            )
        except ClientError as exc:
            if _error_code(exc) != "ConflictException":
                raise
            logger.info("re-page already scheduled", ticket_id=ticket_id, escalation_level=nxt)
            return True
        logger.info("re-page scheduled", ticket_id=ticket_id, escalation_level=nxt, at=when.isoformat())
        return True

    @staticmethod
    def _count(sent: list[_Claimed]) -> None:
        for level, sent_at_level in sorted(Counter(page.level for page in sent).items()):
            # The level is a dimension of PagesSent: one EMF blob per level and batch.
            count("PagesSent", sent_at_level, level=str(level))


def _chunks(pages: list[_Claimed]) -> Iterator[list[_Claimed]]:
    """Consecutive groups that fit one PublishBatch: ten entries and 256 KiB at most."""
    chunk: list[_Claimed] = []
    size = 0
    for page in pages:
        if chunk and (len(chunk) == PUBLISH_BATCH_MAX or size + page.message.size > PUBLISH_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(page)
        size += page.message.size
    if chunk:
        yield chunk


# --- the function's entry point -----------------------------------------------------------

_processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def pager() -> Pager:
    """The pager with its AWS clients, built on first use and kept for the process."""
    settings = get_settings()
    if not settings.pager_topic_arn:
        raise RuntimeError("PAGER_TOPIC_ARN is not set")
    # Fail fast and let the batch retry rather than sit in long SDK back-offs while a site is down.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    escalation = Escalation(
        ack_timeout=timedelta(minutes=settings.ack_timeout_minutes),
        max_level=settings.max_escalation_level,
        group=settings.scheduler_group,
        role_arn=settings.scheduler_role_arn,
        target_arn=settings.escalate_function_arn,
        dead_letter_arn=settings.escalate_dlq_arn,
    )
    return Pager(
        TicketRepository(
            settings.table_name, boto3.client("dynamodb", region_name=settings.region, config=config)
        ),
        boto3.client("sns", region_name=settings.region, config=config),
        boto3.client("scheduler", region_name=settings.region, config=config) if escalation.enabled else None,
        topic_arn=settings.pager_topic_arn,
        dashboard_url=settings.dashboard_url,
        escalation=escalation,
    )


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The escalate function: a DynamoDB stream batch, or a timer's re-page."""
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    if "Records" in event:
        return _handle_stream(event, context, deadline)
    try:
        request = RepageRequest.model_validate(event)
    except ValidationError:
        # Not ours to retry: the scheduler would redeliver the same bad input until it gives up.
        logger.error("unknown event ignored", keys=sorted(event)[:10])
        return {"status": "ignored"}
    paged = pager().repage(request, deadline=deadline)
    return {"ticket_id": request.ticket_id, "level": request.level, "paged": paged}


def _handle_stream(event: dict[str, Any], context: LambdaContext, deadline: float) -> dict[str, Any]:
    if not event["Records"]:
        return {"batchItemFailures": []}
    failures = pager().process_stream(event["Records"], deadline=deadline)

    def record_handler(record: DynamoDBRecord) -> None:
        # The work is done for the whole batch above (pages go out ten per call); the processor
        # turns each record's outcome into batchItemFailures.
        error = failures.get(str(record.dynamodb.sequence_number if record.dynamodb else ""))
        if error is not None:
            raise error

    if failures:
        logger.warning("stream records failed", failed=len(failures), records=len(event["Records"]))
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=_processor, context=context
    )
    return dict(response)
