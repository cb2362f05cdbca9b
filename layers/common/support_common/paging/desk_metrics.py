"""How the desk is doing, read off each change of a ticket: response, resolution, acknowledgement.

Each metric comes from the difference between a stream record's old and new image, so it needs no
read and no write. Dimensions are values the code chooses (enum values and levels), never text a
user typed, so the dashboard's SEARCH widgets show every value without a cardinality surprise.
"""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from support_common.models import Status, Ticket
from support_common.observability import count, measure

# The statuses from which becoming resolved is not a new resolution.
_DONE = frozenset({Status.RESOLVED, Status.CLOSED})

# Acknowledged without a page's level (the dashboard, the API) or without a channel recorded.
NO_LEVEL = "none"
DASHBOARD = "dashboard"


def emit_change_metrics(old: Ticket | None, new: Ticket | None) -> None:
    """Emit the desk metrics that the change `old -> new` of one ticket completes.

    - `TimeToFirstResponse` (seconds from `created_at`) when `first_response_at` appears, by
      `type` and `priority`;
    - `TimeToResolution` (seconds from `created_at` to the change's `updated_at`) when the status
      becomes resolved from anything but resolved or closed (a reopened ticket resolved again
      counts again, from its creation), by `type` and `priority`;
    - `TicketsAcknowledged` (count) and `TimeToAcknowledge` (seconds from the paging round's start,
      or from `created_at` for a ticket that never paged) when `acknowledged_at` appears, by
      `level` (the page's level, or `none`) and `via` (the channel, or `dashboard`).

    `old` is None for a new ticket, `new` None for a removed one (nothing to emit). A redelivered
    stream record emits its metrics again: metrics are samples, not sends, so no claim guards
    them, and one duplicate sample barely moves a percentile.
    """
    if new is None:
        return
    kind, priority = new.type.value, new.priority.value
    if new.first_response_at is not None and (old is None or old.first_response_at is None):
        first_response = _seconds(new.created_at, new.first_response_at)
        measure("TimeToFirstResponse", first_response, MetricUnit.Seconds, type=kind, priority=priority)
    if new.status == Status.RESOLVED and (old is None or old.status not in _DONE):
        resolution = _seconds(new.created_at, new.updated_at)
        measure("TimeToResolution", resolution, MetricUnit.Seconds, type=kind, priority=priority)
    if new.acknowledged_at is not None and (old is None or old.acknowledged_at is None):
        level = NO_LEVEL if new.acknowledged_level is None else str(new.acknowledged_level)
        via = DASHBOARD if new.acknowledged_via is None else new.acknowledged_via.value
        count("TicketsAcknowledged", level=level, via=via)
        acknowledge = _seconds(new.round_started_at or new.created_at, new.acknowledged_at)
        measure("TimeToAcknowledge", acknowledge, MetricUnit.Seconds, level=level, via=via)


def _seconds(start: datetime, end: datetime) -> float:
    """Seconds from `start` to `end`, never negative (the clocks of two functions may disagree)."""
    return max((end - start).total_seconds(), 0.0)
