"""Which DynamoDB stream records page, which stand down (and cancel re-pages), which only cancel,
and which do nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from support_common.models import Status, Ticket
from support_common.repository.ticket_items import is_ticket_key, ticket_from_image


class Action(StrEnum):
    PAGE = "page"  # the ticket became pageable: a new round, page level 1
    # A ticket with paging rounds was acknowledged, or resolved or closed: tell whoever was paged
    # (the values are PagerDuty's event_action) and drop pending re-pages.
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    CANCEL = "cancel"  # the ticket stopped being pageable (downgraded, moved to triage...): drop re-pages
    NONE = "none"

    @property
    def stands_down(self) -> bool:
        return self in (Action.ACKNOWLEDGE, Action.RESOLVE)

    @property
    def cancels(self) -> bool:
        return self in (Action.ACKNOWLEDGE, Action.RESOLVE, Action.CANCEL)


@dataclass(frozen=True)
class Change:
    """One stream record, reduced to what paging needs."""

    sequence_number: str
    event_name: str
    old: Ticket | None
    new: Ticket | None
    # When DynamoDB wrote the record (epoch seconds), if the record says.
    created_at: float | None = None

    @property
    def ticket(self) -> Ticket | None:
        """The ticket as it is after the change (before it, for a REMOVE)."""
        return self.new or self.old

    @property
    def action(self) -> Action:
        """What this change asks of the pager."""
        return action_for(self.old, self.new)


def becomes_pageable(old: Ticket | None, new: Ticket | None) -> bool:
    """Whether a change turns a ticket into one that pages (created so, raised, retyped or moved)."""
    return new is not None and new.pages and not (old is not None and old.pages)


def stops_paging(old: Ticket | None, new: Ticket | None) -> bool:
    """Whether a change turns a paging ticket into one that no longer pages (e.g. acknowledged)."""
    return old is not None and old.pages and not (new is not None and new.pages)


def stand_down(old: Ticket | None, new: Ticket | None) -> Action | None:
    """ACKNOWLEDGE or RESOLVE when a ticket that has paging rounds is handled; else None.

    Open -> acknowledged acknowledges; open or acknowledged -> resolved or closed resolves. Whether
    anyone was actually paged in the round is for the pager to check (its page records).
    """
    if old is None or new is None or new.page_round < 1 or old.status == new.status:
        return None
    if old.status == Status.OPEN and new.status == Status.ACKNOWLEDGED:
        return Action.ACKNOWLEDGE
    if old.status in (Status.OPEN, Status.ACKNOWLEDGED) and new.status in (Status.RESOLVED, Status.CLOSED):
        return Action.RESOLVE
    return None


def action_for(old: Ticket | None, new: Ticket | None) -> Action:
    """The pager's action for a ticket that changed from `old` to `new` (None: absent)."""
    if becomes_pageable(old, new):
        return Action.PAGE
    handled = stand_down(old, new)
    if handled is not None:
        return handled
    if stops_paging(old, new):
        return Action.CANCEL
    return Action.NONE


def change_from_record(record: dict[str, Any]) -> Change:
    """Parse a DynamoDB stream record (as Lambda delivers it); non-ticket items give no tickets."""
    data = record["dynamodb"]
    sequence_number = str(data["SequenceNumber"])
    event_name = str(record.get("eventName", ""))
    created = data.get("ApproximateCreationDateTime")
    created_at = float(created) if isinstance(created, int | float) else None
    if not is_ticket_key(data.get("Keys", {})):
        return Change(sequence_number, event_name, None, None, created_at)
    return Change(
        sequence_number,
        event_name,
        old=ticket_from_image(data.get("OldImage")),
        new=ticket_from_image(data.get("NewImage")),
        created_at=created_at,
    )
