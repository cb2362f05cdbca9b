"""Ticket and comment items: `TICKET#<id> / TICKET` with its list-index attributes,
`TICKET#<id> / COMMENT#<created_at>#<comment id>` (public comments) and
`TICKET#<id> / TICKET#NOTE#<created_at>#<comment id>` (internal notes); also how stream images decode.

Every other item of a ticket's partition (history, pages, outbound mail, uploads) sorts before
`TICKET`; internal notes sort after it (`TICKET` is a prefix of `TICKET#NOTE#...`). A customer's
read of a ticket is a Query for `sk <= TICKET`: it cannot return a note, whatever else it does.
"""

from __future__ import annotations

from typing import Any

from support_common.models import TRIAGE_TENANT, Comment, Priority, Status, Ticket, TicketType, Visibility, iso
from support_common.repository.table import from_item, key, to_item
from support_common.sla import next_due

TICKET_SK = "TICKET"
# Which request wrote a ticket: a retry whose first attempt was applied recognises its own write.
CREATED_BY = "created_by_request"
COMMENT_PREFIX = "COMMENT#"
NOTE_PREFIX = f"{TICKET_SK}#NOTE#"
SORT_ATTR = "created"
BATCH_GET_MAX = 100

# Index name -> (partition attribute, the filter it serves, whether it spans all tenants).
INDEXES: dict[str, tuple[str, str | None, bool]] = {
    "by_tenant": ("t_pk", None, False),
    "by_tenant_type": ("t_type_pk", "type", False),
    "by_tenant_status": ("t_status_pk", "status", False),
    "by_tenant_priority": ("t_priority_pk", "priority", False),
    "by_all": ("a_pk", None, True),
    "by_all_type": ("a_type_pk", "type", True),
    "by_all_status": ("a_status_pk", "status", True),
    "by_all_priority": ("a_priority_pk", "priority", True),
}
# The queue of running targets (staff, across tenants): tickets with a target still running, by
# the earliest due time (`<due>#<id>`). Sparse: a ticket leaves it when its targets are met.
DUE_INDEX = "by_all_due"
DUE_PK_ATTR = "a_due_pk"
DUE_PK = "ALL#due"
DUE_SORT_ATTR = "due"
# Whether the ticket, as stored, pages ("on"/"off"): the stream's filter criteria compare it between
# the old and the new image, which they cannot do for the four fields it is made of.
PAGING_ATTR = "paging"
# Fields stored on a ticket item that are not ticket fields.
_KEY_ATTRS = frozenset(
    {"pk", "sk", SORT_ATTR, "entity", CREATED_BY, PAGING_ATTR, DUE_PK_ATTR, DUE_SORT_ATTR}
    | {attr for attr, _, _ in INDEXES.values()}
)


def ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def ticket_key(ticket_id: str) -> dict[str, Any]:
    return key(ticket_pk(ticket_id), TICKET_SK)


def paging_flag(tenant: str, type_: str, status: str, priority: str) -> str:
    """`on` when a ticket with these fields pages (Ticket.pages), else `off`."""
    pages = type_ == TicketType.INCIDENT and priority == Priority.URGENT and status == Status.OPEN
    return "on" if pages and tenant != TRIAGE_TENANT else "off"


def index_values(tenant: str, type_: str, status: str, priority: str) -> dict[str, str]:
    """The partition value of every list index for a ticket with these fields, and its paging flag."""
    values = {"type": type_, "status": status, "priority": priority}
    out: dict[str, str] = {PAGING_ATTR: paging_flag(tenant, type_, status, priority)}
    for attr, field, all_tenants in INDEXES.values():
        scope = "ALL" if all_tenants else f"T#{tenant}"
        out[attr] = scope if field is None else f"{scope}#{field}#{values[field]}"
    return out


def due_values(ticket: Ticket) -> dict[str, str | None]:
    """The due queue's attributes of a ticket (None: not in the queue, its attributes removed)."""
    due = next_due(ticket)
    if due is None:
        return {DUE_PK_ATTR: None, DUE_SORT_ATTR: None}
    return {DUE_PK_ATTR: DUE_PK, DUE_SORT_ATTR: f"{iso(due)}#{ticket.id}"}


def ticket_item(ticket: Ticket) -> dict[str, Any]:
    """A ticket as its table item, with its list-index attributes."""
    data = ticket.model_dump(mode="json", exclude_none=True)
    data["related"] = set(ticket.related)
    data["breached"] = set(ticket.breached)
    data.update({k: v for k, v in due_values(ticket).items() if v is not None})
    data.update(
        pk=ticket_pk(ticket.id),
        sk=TICKET_SK,
        entity="ticket",
        **{SORT_ATTR: f"{data['created_at']}#{ticket.id}"},
        **index_values(ticket.tenant, ticket.type, ticket.status, ticket.priority),
    )
    return to_item(data)


def ticket_from_item(item: dict[str, Any]) -> Ticket:
    data = {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRS}
    data["related"] = sorted(data.get("related") or ())
    data["breached"] = sorted(data.get("breached") or ())
    return Ticket.model_validate(data)


def comment_sk(comment: Comment, created: str) -> str:
    """A comment's sort key: public comments and internal notes live under different prefixes."""
    prefix = NOTE_PREFIX if comment.visibility == Visibility.INTERNAL else COMMENT_PREFIX
    return f"{prefix}{created}#{comment.id}"


def is_comment_sk(sk: str) -> bool:
    return sk.startswith((COMMENT_PREFIX, NOTE_PREFIX))


def comment_from_item(item: dict[str, Any]) -> Comment:
    data = {k: v for k, v in from_item(item).items() if k not in ("pk", "sk", "entity")}
    # The key decides, not an attribute: what is stored as a note is internal.
    internal = item["sk"]["S"].startswith(NOTE_PREFIX)
    data["visibility"] = Visibility.INTERNAL if internal else Visibility.PUBLIC
    return Comment.model_validate(data)


def ticket_from_image(image: dict[str, Any] | None) -> Ticket | None:
    """The ticket in a DynamoDB stream image, or None when the image is not a ticket item."""
    if not image or image.get("sk", {}).get("S") != TICKET_SK:
        return None
    return ticket_from_item(image)


def is_ticket_key(keys: dict[str, Any]) -> bool:
    """Whether a stream record's Keys name a ticket item (not a comment, page or contact)."""
    return bool(keys.get("sk", {}).get("S") == TICKET_SK and keys.get("pk", {}).get("S", "").startswith("TICKET#"))


def public_comment_from_image(image: dict[str, Any] | None) -> Comment | None:
    """The public comment in a stream image, or None (not a comment, or an internal note)."""
    if not image or not image.get("sk", {}).get("S", "").startswith(COMMENT_PREFIX):
        return None
    comment = comment_from_item(image)
    return comment if comment.visibility == Visibility.PUBLIC else None
