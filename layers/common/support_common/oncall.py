"""On-call acting from outside the dashboard: a page's link, a staff reply, PagerDuty's webhook.

Each of those carries a credential checked before it gets here (a signed link, a reply code from
an authenticated staff address, a signed webhook). The rule stated here: such a credential may
acknowledge (PagerDuty also resolve) a ticket that paged, and only in the round it was issued
for; anything else about the ticket stays with TicketService and its staff rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from support_common.errors import Conflict, NotFound
from support_common.models import AckChannel, Identity, Status, Ticket, TicketType, normalize_ticket_id
from support_common.observability import logger
from support_common.tickets import TicketService

# Not a person: whoever holds the page's credential acts as on-call staff for this one change.
_ON_CALL_TENANT = "support"
_FINAL = (Status.RESOLVED, Status.CLOSED)


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"  # acknowledged now
    RESOLVED = "resolved"  # resolved now
    ALREADY = "already"  # someone got there first: nothing changed
    STALE = "stale"  # the credential is for an earlier round (the ticket was reopened since)
    NOT_PAGED = "not-paged"  # no such ticket, or one that never paged


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    ticket: Ticket | None = None


class OnCall:
    """Acknowledge or resolve paged tickets for holders of a page credential."""

    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets

    def find(self, ticket_id: str) -> Ticket | None:
        """The paged ticket named by a credential, or None (unknown, never paged, or not an id)."""
        norm = normalize_ticket_id(ticket_id)
        ticket = self.tickets.store.get(norm) if norm else None
        if ticket is None or ticket.type != TicketType.INCIDENT or ticket.page_round < 1:
            return None
        return ticket

    def acknowledge(
        self,
        ticket_id: str,
        *,
        by: str,
        via: AckChannel,
        round_: int | None = None,
        level: int | None = None,
        not_before: datetime | None = None,
    ) -> Result:
        """Acknowledge the paged ticket (round `round_`, if the credential names one)."""
        return self._change(
            ticket_id, Status.ACKNOWLEDGED, by=by, via=via, round_=round_, level=level, since=not_before
        )

    def resolve(self, ticket_id: str, *, by: str, via: AckChannel, not_before: datetime | None = None) -> Result:
        """Resolve the paged ticket (PagerDuty's incident was resolved)."""
        return self._change(ticket_id, Status.RESOLVED, by=by, via=via, round_=None, level=None, since=not_before)

    def _change(
        self,
        ticket_id: str,
        status: Status,
        *,
        by: str,
        via: AckChannel,
        round_: int | None,
        level: int | None,
        since: datetime | None,
    ) -> Result:
        ticket = self.find(ticket_id)
        if ticket is None:
            return Result(Outcome.NOT_PAGED)
        stale = round_ is not None and round_ != ticket.page_round
        # An event from before this round began (a late webhook about the previous incident).
        late = since is not None and ticket.round_started_at is not None and since < ticket.round_started_at
        if stale or late:
            logger.info("on-call change ignored", ticket_id=ticket.id, reason="earlier round", via=str(via))
            return Result(Outcome.STALE, ticket)
        handled = ticket.status != Status.OPEN if status == Status.ACKNOWLEDGED else ticket.status in _FINAL
        if handled:
            return Result(Outcome.ALREADY, ticket)
        changes: dict[str, Any] = {"status": status}
        if ticket.acknowledged_at is None:
            changes.update(acknowledged_via=via, acknowledged_level=level)
        if status == Status.RESOLVED:
            changes["resolved_via"] = via
        identity = Identity(email=by, tenant=_ON_CALL_TENANT, is_support=True)
        try:
            updated = self.tickets.update(identity, ticket.id, changes, current=ticket)
        except (Conflict, NotFound):
            # Changed meanwhile (resolved, closed, or gone): whoever did it got there first.
            return Result(Outcome.ALREADY, self.tickets.store.get(ticket.id))
        if updated.status != status:
            return Result(Outcome.ALREADY, updated)
        logger.info(
            "on-call change", ticket_id=ticket.id, status=str(status), via=str(via), escalation_level=level
        )
        return Result(Outcome.ACKNOWLEDGED if status == Status.ACKNOWLEDGED else Outcome.RESOLVED, updated)
