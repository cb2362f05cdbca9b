"""Ticket rules stated once: what a new ticket carries, and what every ticket must obey.

Used by the ticket service (`tickets`) whatever the channel; ids of retried requests derive here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from support_common.errors import (
    InvalidInput,
)
from support_common.models import (
    ID_ALPHABET,
    ID_LENGTH,
    ID_PREFIX,
    RELATED_MAX,
    Attachment,
    Channel,
    Priority,
    Ticket,
    TicketType,
    normalize_ticket_id,
    task_description_problem,
)


def request_token(request_key: str | None) -> str:
    """The token a ticket write carries: derived from a retryable request's key, else random."""
    if request_key is None:
        return secrets.token_hex(16)
    return hashlib.sha256(request_key.encode()).hexdigest()[:32]


def keyed_ticket_id(ticket_type: TicketType, token: str) -> str:
    """The ticket id a keyed request asks for first: the same on every retry of that request."""
    number = int(token, 16)
    body = "".join(ID_ALPHABET[(number >> (5 * i)) & 31] for i in range(ID_LENGTH))
    return f"{ID_PREFIX[ticket_type]}-{body}"


def new_comment_id() -> str:
    """A random id for a comment, unique within its ticket."""
    return secrets.token_hex(6)


@dataclass
class NewTicket:
    """What a caller asks for; the requester, tenant and channel come from who is calling."""

    type: TicketType
    title: str
    description: str
    priority: Priority = Priority.NORMAL
    environment: str | None = None
    related: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    parse_problems: bool = False
    full_text_key: str | None = None
    # Email needs these chosen by the pipeline, not by the caller: a verified contact's tenant or triage.
    tenant: str | None = None
    ticket_id: str | None = None
    requester_verified: bool | None = None


def normalized_related(ids: Sequence[str], own_id: str | None = None) -> list[str]:
    out: list[str] = []
    for raw in ids:
        norm = normalize_ticket_id(raw)
        if norm is None:
            raise InvalidInput(f"'{raw}' is not a ticket id", field="related")
        if norm == own_id:
            raise InvalidInput("a ticket cannot be related to itself", field="related")
        if norm not in out:
            out.append(norm)
    if len(out) > RELATED_MAX:
        raise InvalidInput(f"at most {RELATED_MAX} related tickets", field="related")
    return sorted(out)


def clean_title(title: str) -> str:
    """A title as stored: trimmed, and never empty."""
    cleaned = title.strip()
    if not cleaned:
        raise InvalidInput("title cannot be empty", field="title")
    return cleaned


def check_ticket_rules(ticket_type: TicketType, priority: Priority, *, description: str | None) -> None:
    """The rules of each ticket type, however the ticket was made or changed.

    `description` is checked when it is new (a created ticket, a changed description).
    """
    if ticket_type == TicketType.TASK and description is not None:
        problem = task_description_problem(description)
        if problem:
            raise InvalidInput(problem, field="description")
    if ticket_type != TicketType.INCIDENT and priority == Priority.URGENT:
        # Urgent means "the site is down": that is an incident, and it pages.
        raise InvalidInput("only incidents can be urgent: a site that is down is an incident", field="priority")


def check_type_rules(draft: NewTicket, channel: Channel) -> None:
    """Apply each ticket type's own rule to a new ticket; raise InvalidInput saying what is missing."""
    if (
        draft.type == TicketType.INCIDENT
        and channel == Channel.DASHBOARD
        and not (draft.environment or "").strip()
    ):
        raise InvalidInput(
            "an incident must name the site or environment affected (e.g. production, www.example.com)",
            field="environment",
        )
    check_ticket_rules(draft.type, draft.priority, description=draft.description)


def new_ticket_id(ticket_type: TicketType) -> str:
    """A fresh random id such as INC-7KQ2XH: 30 random bits, typable, not a counter."""
    body = "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
    return f"{ID_PREFIX[ticket_type]}-{body}"


def round_changes(old: Ticket | None, new: Ticket, now: datetime) -> dict[str, Any]:
    """A ticket that becomes pageable starts a new paging round, unacknowledged again.

    Created urgent, raised to urgent, retyped, moved out of triage or reopened: each time, level 1
    pages again (once per round), so a site that is down again is never met with silence.
    """
    if not new.pages or (old is not None and old.pages):
        return {}
    changes: dict[str, Any] = {
        "page_round": (old.page_round if old is not None else 0) + 1,
        "round_started_at": now,
    }
    for name in ("acknowledged_at", "acknowledged_by", "acknowledged_via", "acknowledged_level", "resolved_via"):
        if getattr(new, name) is not None:
            changes[name] = None
    return changes
