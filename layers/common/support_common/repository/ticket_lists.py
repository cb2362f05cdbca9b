"""Lists of tickets: one Query on one of the sparse GSIs of `ticket_items`.

Newest first on the eight list indexes sorted by `created` (<created_at>#<id>): by tenant, by tenant
and type/status/priority, and the same four across all tenants (support staff). Tickets with a
running target come from the due queue instead, the earliest due first.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from support_common.errors import InvalidInput
from support_common.models import Priority, Status, Ticket, TicketType, iso, utcnow
from support_common.repository.table import Table, ser
from support_common.repository.ticket_items import (
    DUE_INDEX,
    DUE_PK,
    DUE_PK_ATTR,
    DUE_SORT_ATTR,
    INDEXES,
    SORT_ATTR,
    ticket_from_item,
    ticket_key,
)

# How far ahead `sla=due_soon` looks.
DUE_SOON = timedelta(hours=1)


@dataclass(frozen=True)
class TicketFilter:
    """What a list asks for: a tenant (None: all tenants, staff only) and optional filters."""

    tenant: str | None
    type: TicketType | None = None
    status: Status | None = None
    priority: Priority | None = None
    # "breached": a target was missed; "running": a target still runs (by due time); "due_soon":
    # running and due within DUE_SOON or overdue.
    sla: str | None = None


@dataclass(frozen=True)
class TicketPage:
    items: list[Ticket]
    next_token: str | None


def _encode_token(index: str, sort_value: str, ticket_id: str) -> str:
    raw = json.dumps([index, sort_value, ticket_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, str, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        index, sort_value, ticket_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not all(isinstance(v, str) for v in (index, sort_value, ticket_id)):
            raise TypeError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("next_token is not a token this API issued", field="next_token") from exc
    return index, sort_value, ticket_id


def _filters(equal: dict[str, Any]) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """A FilterExpression's parts for fields that must equal values."""
    filters = [f"#{f} = :{f}" for f in equal]
    names = {f"#{f}": f for f in equal}
    values = {f":{f}": ser(str(v)) for f, v in equal.items()}
    return filters, names, values


def list_tickets(table: Table, query: TicketFilter, *, limit: int, next_token: str | None) -> TicketPage:
    """One Query for one page of tickets: newest first, or by due time for running targets."""
    wanted = {"type": query.type, "status": query.status, "priority": query.priority}
    if query.sla in ("running", "due_soon"):
        return _list_due(table, query, wanted, limit=limit, next_token=next_token)
    # The index serves the first filter given; any other is a filter on that index's page.
    index_field = next((f for f in ("status", "type", "priority") if wanted[f] is not None), None)
    all_tenants = query.tenant is None
    index = next(
        name for name, (_, field, spans) in INDEXES.items() if field == index_field and spans == all_tenants
    )
    scope = "ALL" if all_tenants else f"T#{query.tenant}"
    partition = scope if index_field is None else f"{scope}#{index_field}#{wanted[index_field]}"
    extra = {f: v for f, v in wanted.items() if v is not None and f != index_field}
    filters, names, values = _filters(extra)
    if query.sla == "breached":
        filters.append("attribute_exists(breached)")
    return _query(
        table, index, INDEXES[index][0], SORT_ATTR, partition, None, (filters, names, values),
        forward=False, limit=limit, next_token=next_token,
    )  # fmt: skip


def _list_due(
    table: Table, query: TicketFilter, wanted: dict[str, Any], *, limit: int, next_token: str | None
) -> TicketPage:
    """Tickets with a running target, the earliest due first (overdue ones on top)."""
    filters, names, values = _filters({f: v for f, v in wanted.items() if v is not None})
    if query.tenant is not None:
        filters.append("tenant = :tenant")
        values[":tenant"] = ser(query.tenant)
    until = None
    if query.sla == "due_soon":
        # "~" sorts after every ticket id: everything due up to that instant, whatever its id.
        until = f"{iso(utcnow() + DUE_SOON)}#~"
    return _query(
        table, DUE_INDEX, DUE_PK_ATTR, DUE_SORT_ATTR, DUE_PK, until, (filters, names, values),
        forward=True, limit=limit, next_token=next_token,
    )  # fmt: skip


def _query(
    table: Table,
    index: str,
    partition_attr: str,
    sort_attr: str,
    partition: str,
    until: str | None,
    filter_parts: tuple[list[str], dict[str, str], dict[str, Any]],
    *,
    forward: bool,
    limit: int,
    next_token: str | None,
) -> TicketPage:
    filters, names, values = filter_parts
    condition = "#p = :p" + (" AND #s <= :until" if until is not None else "")
    names = {**names, "#p": partition_attr}
    values = {**values, ":p": ser(partition)}
    if until is not None:
        names["#s"] = sort_attr
        values[":until"] = ser(until)
    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": forward,
        "Limit": limit,
    }
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
    if next_token:
        token_index, sort_value, ticket_id = _decode_token(next_token)
        if token_index != index:
            raise InvalidInput("next_token belongs to a different list", field="next_token")
        # The start key is rebuilt from this caller's own partition: a forged token can only
        # move the position inside the caller's list, never into another tenant's.
        kwargs["ExclusiveStartKey"] = {
            partition_attr: ser(partition),
            sort_attr: ser(sort_value),
            **ticket_key(ticket_id),
        }
    resp = table.client.query(**kwargs)
    items = [ticket_from_item(item) for item in resp.get("Items", [])]
    last = resp.get("LastEvaluatedKey")
    token = None
    if last:
        token = _encode_token(index, last[sort_attr]["S"], last["pk"]["S"].removeprefix("TICKET#"))
    return TicketPage(items=items, next_token=token)
