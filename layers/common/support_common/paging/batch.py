"""A stream batch, read and grouped by ticket: which tickets page, which rounds end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from support_common.models import Ticket
from support_common.observability import logger
from support_common.paging.decision import Action, Change, change_from_record


def read_changes(records: Sequence[dict[str, Any]], failures: dict[str, Exception]) -> list[Change]:
    """The batch's records as changes; an unreadable record fails alone (retried, then parked)."""
    changes: list[Change] = []
    for record in records:
        try:
            changes.append(change_from_record(record))
        except (KeyError, TypeError, ValueError) as exc:
            sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
            logger.exception("stream record unreadable", sequence_number=sequence)
            failures[sequence] = exc
    return changes


@dataclass
class Batch:
    """A stream batch grouped by ticket: what pages, which rounds end, and which records asked."""

    to_page: dict[str, Change] = field(default_factory=dict)
    latest: dict[str, Ticket | None] = field(default_factory=dict)
    page_records: dict[str, list[str]] = field(default_factory=dict)
    # (ticket id, round) -> the changes that end it (cancel timers; stand down if they say so).
    ends: dict[tuple[str, int], list[Change]] = field(default_factory=dict)

    @classmethod
    def of(cls, changes: Sequence[Change]) -> Batch:
        batch = cls()
        for change in changes:
            ticket = change.ticket
            if ticket is None:
                continue
            batch.latest[ticket.id] = change.new
            action = change.action
            if action is Action.PAGE:
                batch.to_page.setdefault(ticket.id, change)
                batch.page_records.setdefault(ticket.id, []).append(change.sequence_number)
            elif action.cancels:
                # Timers are per round: ending round n never touches a round n+1 paged later.
                round_ = max((change.old or ticket).page_round, 1)
                batch.ends.setdefault((ticket.id, round_), []).append(change)
        return batch

    def fail_pages(self, ticket_id: str, error: Exception, failures: dict[str, Exception]) -> None:
        """Fail every record that asked to page `ticket_id`."""
        for sequence in self.page_records.get(ticket_id, []):
            failures[sequence] = error
