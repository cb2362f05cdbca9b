"""Escalation: page a ticket once per (round, level), and again until it is acknowledged.

Once-only protocol, per (ticket, round, level[, repeat]), with the page record
`TICKET#<id> / PAGE#<round>#<level>`:
1. claim: a conditional put of the record in state `sending`, with a token and a lease that ends
   when this invocation can no longer run (its deadline);
2. publish (PublishBatch, ten pages a call);
3. on success, create the next step's timer, then mark the record `sent` (token must match);
   on failure, delete the claim so the retried record can page at once.
A duplicate or retried record finds the record `sent` and does nothing; one that finds a live
`sending` claim fails and is retried after the lease. A crash between publish and mark leaves a
claim that expires with the invocation: the retry pages again, which PagerDuty folds into the same
incident (`dedup_key` = ticket id). A page is never lost, and repeats only after such a crash.

Past the last level the last level repeats every timeout (`last_level_repeats` times); the step
after the last repeat tells the alarms topic that nobody answers. A round ends when the ticket
stops paging: its timers are deleted, and whoever was paged gets a stand-down (`standdown.py`).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.metrics import MetricUnit

from support_common.aws_errors import AWS_ERRORS, Unprocessed, error_code, is_transient
from support_common.models import Ticket, utcnow
from support_common.observability import count, logger, metrics
from support_common.paging.alarm import AlarmFailed, Alarms
from support_common.paging.batch import Batch, read_changes
from support_common.paging.decision import Change
from support_common.paging.links import PageLinks
from support_common.paging.message import PageMessage, build_page
from support_common.paging.standdown import StandDownFailed, StandDowns
from support_common.paging.timers import Escalation, RepageRequest, Timers
from support_common.repository.pages import ClaimStatus, PageStore
from support_common.repository.tickets import TicketStore

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

PUBLISH_BATCH_MAX = 10
PUBLISH_BATCH_BYTES = 256 * 1024
# Invocations of one function share a clock source only approximately.
LEASE_MARGIN_SECONDS = 2
# A stream record older than this is checked against the table before it pages.
STALE_RECORD_SECONDS = 120
# Marking a sent page: our attempts on top of the SDK's, with a short back-off.
FINISH_ATTEMPTS = 4
FINISH_BACKOFF_SECONDS = 0.1


class PageFailed(Exception):
    """A page that could not go out now; the record (or the timer) is retried."""


class PageInFlight(PageFailed):
    """Another invocation holds a live claim on this page: retry after its lease."""


@dataclass(frozen=True)
class PageRequest:
    """One page to send: `ticket` (its current round) at `level`, the `repeat`-th time past the last."""

    ticket: Ticket
    level: int
    repeat: int = 0

    @property
    def round(self) -> int:
        return max(self.ticket.page_round, 1)


@dataclass
class _Claimed:
    request: PageRequest
    token: str
    message: PageMessage
    message_id: str | None = None
    published_at: datetime | None = None

    @property
    def ticket(self) -> Ticket:
        return self.request.ticket

    @property
    def level(self) -> int:
        return self.request.level

    @property
    def where(self) -> dict[str, int]:
        """The record's key fields, as PageStore takes them."""
        return {"round": self.request.round, "repeat": self.request.repeat}


class Pager:
    """Pages on-call through SNS, at most once per (ticket, level), and escalates on a timer."""

    def __init__(
        self,
        *,
        tickets: TicketStore,
        pages: PageStore,
        sns: SNSClient,
        timers: Timers,
        topic_arn: str,
        dashboard_url: str,
        escalation: Escalation,
        links: PageLinks | None = None,
        alerts_topic_arn: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tickets = tickets
        self.pages = pages
        self.sns = sns
        self.timers = timers
        self.topic_arn = topic_arn
        self.dashboard_url = dashboard_url
        self.escalation = escalation
        self.links = links
        self.standdowns = StandDowns(pages=pages, sns=sns, topic_arn=topic_arn)
        self.alarms = Alarms(
            pages=pages, sns=sns, topic_arn=alerts_topic_arn, escalation=escalation, dashboard_url=dashboard_url
        )
        self.clock = clock

    # --- entry points --------------------------------------------------------------------

    def process_stream(self, records: Sequence[dict[str, Any]], *, deadline: float) -> dict[str, Exception]:
        """Page, cancel or skip each stream record; return the failures by sequence number."""
        failures: dict[str, Exception] = {}
        batch = Batch.of(read_changes(records, failures))
        try:
            requests = self._still_pageable(batch.to_page, batch.latest)
        except (*AWS_ERRORS, Unprocessed) as exc:
            logger.warning("current ticket state unreadable", tickets=len(batch.to_page), error=error_code(exc))
            requests = []
            for ticket_id in batch.to_page:
                batch.fail_pages(ticket_id, exc, failures)
        for ticket_id, error in self.page(requests, deadline=deadline).items():
            batch.fail_pages(ticket_id, error, failures)
        for (ticket_id, round_), changes in batch.ends.items():
            try:
                self.end_round(ticket_id, round_, changes, deadline=deadline)
            except (*AWS_ERRORS, StandDownFailed) as exc:
                logger.warning("round end failed", ticket_id=ticket_id, page_round=round_, error=error_code(exc))
                for change in changes:
                    failures[change.sequence_number] = exc
        return failures

    def end_round(self, ticket_id: str, round_: int, changes: Sequence[Change], *, deadline: float) -> None:
        """A round is over (acknowledged, resolved, downgraded...): delete its timers, stand down."""
        records = self.pages.list(ticket_id, round_)
        self.timers.cancel(ticket_id, round_, [(r.level, r.repeat) for r in records])
        for change in changes:
            if change.action.stands_down and change.new is not None and change.old is not None:
                self.standdowns.send(change.new, change.action, records, deadline=deadline)

    def _still_pageable(self, to_page: dict[str, Change], latest: dict[str, Ticket | None]) -> list[PageRequest]:
        """The level-1 pages to send: only tickets that still page by the newest state we know.

        A later record of the same batch may already acknowledge the ticket. A record older than
        STALE_RECORD_SECONDS (a backlog after an outage, a long retry) is checked against the
        table, one BatchGetItem for up to 100 tickets, so a backlog never pages for tickets
        acknowledged long ago. Fresh records, the usual case, cost no read.
        """
        oldest_fresh = time.time() - STALE_RECORD_SECONDS
        stale = [tid for tid, change in to_page.items() if (change.created_at or oldest_fresh) < oldest_fresh]
        current = self.tickets.get_many(stale) if stale else {}
        requests: list[PageRequest] = []
        for ticket_id in to_page:
            newest = current.get(ticket_id) if ticket_id in stale else latest.get(ticket_id)
            if newest is None or not newest.pages:
                logger.info(
                    "page skipped", ticket_id=ticket_id, reason="no longer pageable", stale=ticket_id in stale
                )
                continue
            requests.append(PageRequest(newest, 1))
        return requests

    def repage(self, request: RepageRequest, *, deadline: float) -> bool:
        """A timer fired: page its step if the ticket still pages in its round; else nothing."""
        where: dict[str, object] = {
            "ticket_id": request.ticket_id,
            "escalation_level": request.level,
            "page_round": request.round,
        }
        if request.level > self.escalation.max_level:
            logger.info("re-page skipped", extra={**where, "reason": "max level"})
            return False
        ticket = self.tickets.get(request.ticket_id)
        reason = None
        if ticket is None or not ticket.pages:
            reason = "no ticket" if ticket is None else f"ticket is {ticket.status}"
        elif max(ticket.page_round, 1) != request.round:
            reason = "round over"
        if ticket is None or reason is not None:
            logger.info("re-page skipped", extra={**where, "reason": reason})
            return False
        failures = self.page([PageRequest(ticket, request.level, request.repeat)], deadline=deadline)
        if failures:
            raise PageFailed(f"page {ticket.id} level {request.level} failed") from failures[ticket.id]
        if self.escalation.is_alarm(request.level, request.repeat):
            try:
                self.alarms.raise_for(ticket, deadline=deadline)
            except AlarmFailed as exc:
                # The page is recorded sent: the retried timer only raises the alarm.
                raise PageFailed(str(exc)) from exc
        return True

    # --- paging --------------------------------------------------------------------------

    def page(self, requests: Sequence[PageRequest], *, deadline: float) -> dict[str, Exception]:
        """Send each page unless already sent; return the failures by ticket id."""
        failures: dict[str, Exception] = {}
        claimed: list[_Claimed] = []
        now = time.time()
        for request in requests:
            ticket, level, where = (
                request.ticket,
                request.level,
                {"round": request.round, "repeat": request.repeat},
            )
            token = secrets.token_hex(8)
            try:
                claim = self.pages.claim(
                    ticket.id, level, token=token, lease_until=deadline + LEASE_MARGIN_SECONDS, now=now, **where
                )
                if claim.status is ClaimStatus.SENT:
                    logger.info(
                        "page already sent", ticket_id=ticket.id, escalation_level=level, page_round=request.round
                    )
                    if not claim.scheduled and self.timers.schedule_next(
                        ticket.id, level, request.round, request.repeat
                    ):
                        self.pages.mark_scheduled(ticket.id, level, **where)
                    continue
            except AWS_ERRORS as exc:
                logger.warning(
                    "page claim failed", ticket_id=ticket.id, escalation_level=level, error=error_code(exc)
                )
                failures[ticket.id] = exc
                continue
            if claim.status is ClaimStatus.BUSY:
                logger.warning("page in flight elsewhere", ticket_id=ticket.id, escalation_level=level)
                failures[ticket.id] = PageInFlight(f"page {ticket.id} level {level} is being sent")
                continue
            ack = self.links.ack_info(ticket, level) if self.links else None
            message = build_page(ticket, level, dashboard_url=self.dashboard_url, ack=ack, repeat=request.repeat)
            claimed.append(_Claimed(request, token, message))

        sent = self._publish(claimed, failures)
        for page in sent:
            scheduled = True
            try:
                self.timers.schedule_next(page.ticket.id, page.level, page.request.round, page.request.repeat)
            except AWS_ERRORS as exc:
                # The page is out and is marked sent: the retry finds it sent and only creates the timer.
                logger.warning(
                    "re-page schedule failed",
                    ticket_id=page.ticket.id,
                    escalation_level=page.level,
                    error=error_code(exc),
                )
                failures[page.ticket.id] = exc
                scheduled = False
            self._finish(page, scheduled=scheduled)
        self._count(sent)
        return failures

    # --- helpers -------------------------------------------------------------------------

    def _publish(self, claimed: list[_Claimed], failures: dict[str, Exception]) -> list[_Claimed]:
        sent: list[_Claimed] = []
        for chunk in _chunks(claimed):
            entries = cast(
                "list[PublishBatchRequestEntryTypeDef]",
                [page.message.entry(f"p{i}") for i, page in enumerate(chunk)],
            )
            try:
                resp = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
            except AWS_ERRORS as exc:
                logger.warning("page publish failed", pages=len(chunk), error=error_code(exc))
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
                code = failed[entry_id]["Code"] if entry_id in failed else "Missing"
                logger.warning(
                    "page publish failed", ticket_id=page.ticket.id, escalation_level=page.level, error=code
                )
                self._release(page)
                failures[page.ticket.id] = PageFailed(f"publish of {page.ticket.id} failed: {code}")
        return sent

    def _release(self, page: _Claimed) -> None:
        try:
            self.pages.release(page.ticket.id, page.level, token=page.token, **page.where)
        except AWS_ERRORS as exc:
            # The lease ends with this invocation: the retry can still take the page then.
            logger.warning(
                "page release failed",
                ticket_id=page.ticket.id,
                escalation_level=page.level,
                error=error_code(exc),
            )

    def _finish(self, page: _Claimed, *, scheduled: bool) -> None:
        sent_at = page.published_at or self.clock()
        kept = True
        # The page is out: a claim left `sending` would be retaken after its lease and page again,
        # so marking it sent is retried here (the SDK's own retries included) before giving up.
        for attempt in range(FINISH_ATTEMPTS):
            try:
                kept = self.pages.finish(
                    page.ticket.id,
                    page.level,
                    token=page.token,
                    message_id=str(page.message_id),
                    sent_at=sent_at.isoformat().replace("+00:00", "Z"),
                    scheduled=scheduled,
                    **page.where,
                )
                break
            except AWS_ERRORS as exc:
                if attempt + 1 < FINISH_ATTEMPTS and is_transient(exc):
                    time.sleep(FINISH_BACKOFF_SECONDS * 2**attempt)
                    continue
                logger.error(
                    "page sent but not recorded",
                    ticket_id=page.ticket.id,
                    escalation_level=page.level,
                    error=error_code(exc),
                )
                break
        if not kept:
            logger.warning("page claim lost while sending", ticket_id=page.ticket.id, escalation_level=page.level)
        logger.info(
            "page sent",
            ticket_id=page.ticket.id,
            escalation_level=page.level,
            tenant=page.ticket.tenant,
            message_id=page.message_id,
            page_round=page.request.round,
            repeat=page.request.repeat,
            escalation_scheduled=scheduled and self.escalation.enabled,
        )
        if page.level == 1 and page.request.round == 1:
            delay_ms = (sent_at - page.ticket.created_at).total_seconds() * 1000
            metrics.add_metric(name="TimeToPage", unit=MetricUnit.Milliseconds, value=max(delay_ms, 0.0))

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
