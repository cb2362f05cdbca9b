"""Domain models: tickets, comments, contacts and the rules of each ticket type."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

TRIAGE_TENANT = "unassigned"


class LazyModel(BaseModel):
    """A pydantic model whose validator and serializer are built on first use, not at import.

    Building them is most of what importing the models costs, and each function uses only some
    of the models it imports (a re-page validates a timer's input and reads no comment), so the
    cold start pays for the ones a request uses and no others. Validation is the same.
    """

    model_config = ConfigDict(defer_build=True)


# Caps keep every ticket item far below DynamoDB's 400 KB item limit, comments included
# (comments are items of their own).
TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
ENVIRONMENT_MAX = 200
COMMENT_MAX = 20_000
RELATED_MAX = 50
ATTACHMENTS_MAX = 100

TASK_DESCRIPTION_MIN_CHARS = 40
TASK_DESCRIPTION_MIN_WORDS = 8


class TicketType(StrEnum):
    INCIDENT = "incident"
    PROBLEM = "problem"
    TASK = "task"
    QUESTION = "question"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Channel(StrEnum):
    DASHBOARD = "dashboard"
    EMAIL = "email"


class AckChannel(StrEnum):
    """How an acknowledgement reached the desk (a dimension of TimeToAcknowledge)."""

    API = "api"  # the dashboard or POST /tickets/{id}/acknowledge
    LINK = "link"  # the signed link of a page
    REPLY = "reply"  # a staff member's mail answering a page
    PAGERDUTY = "pagerduty"  # PagerDuty's webhook


class Visibility(StrEnum):
    """Who sees a comment: `public` (the customer too; a staff one is mailed) or `internal` (staff only)."""

    PUBLIC = "public"
    INTERNAL = "internal"


# The ticket fields whose changes are recorded in the ticket's history.
HISTORY_FIELDS = ("status", "priority", "type", "tenant", "assignee", "title")


# Forward moves may skip a step (a question answered at once goes open -> resolved); the only
# way back is reopening a resolved ticket. Closed is final.
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.ACKNOWLEDGED, Status.RESOLVED, Status.CLOSED}),
    Status.ACKNOWLEDGED: frozenset({Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

ID_PREFIX: dict[TicketType, str] = {
    TicketType.INCIDENT: "INC",
    TicketType.PROBLEM: "PRB",
    TicketType.TASK: "TSK",
    TicketType.QUESTION: "QST",
}

# Crockford's base32: no I, L, O, U, so an id read aloud or retyped survives.
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 6
TICKET_ID_PATTERN = r"^(INC|PRB|TSK|QST)-[0-9A-HJKMNP-TV-Z]{6}$"
_ID_RE = re.compile(TICKET_ID_PATTERN)
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def normalize_ticket_id(raw: str) -> str | None:
    """Return the canonical form of a ticket id typed by a person, or None if it cannot be one."""
    candidate = raw.strip().upper()
    prefix, sep, body = candidate.partition("-")
    if not sep:
        return None
    candidate = f"{prefix}-{body.translate(_CONFUSABLES)}"
    return candidate if _ID_RE.match(candidate) else None


def utcnow() -> datetime:
    """Return the current time in UTC, to the millisecond (what the API shows)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z: fixed width, so stored values sort as times."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


UtcDatetime = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]


class TransitionError(ValueError):
    """A status change that the workflow does not allow."""


def check_transition(current: Status, new: Status) -> None:
    """Raise TransitionError unless `current -> new` is an allowed status change."""
    if new == current:
        return
    if new not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (closed is final)"
        raise TransitionError(f"cannot change status from {current} to {new}; allowed: {allowed}")


def task_description_problem(description: str) -> str | None:
    """Say what a task's description lacks to be actionable, or None when it is enough."""
    words = description.split()
    if len(description.strip()) < TASK_DESCRIPTION_MIN_CHARS or len(words) < TASK_DESCRIPTION_MIN_WORDS:
        return (
            "a task must be well described: say what should be done, on which site or environment, "
            f"and by when (at least {TASK_DESCRIPTION_MIN_WORDS} words and "
            f"{TASK_DESCRIPTION_MIN_CHARS} characters)"
        )
    return None


class Identity(LazyModel):
    """Who is calling: from the JWT authorizer's claims or a verified email sender."""

    model_config = ConfigDict(frozen=True)

    email: str
    tenant: str
    is_support: bool = False
    name: str | None = None

    def can_see(self, tenant: str) -> bool:
        """Whether this caller may see a ticket of `tenant`."""
        return self.is_support or self.tenant == tenant


class Requester(LazyModel):
    email: str
    name: str | None = None


class Attachment(LazyModel):
    name: str
    size: int
    content_type: str
    key: str | None = None  # object key in the raw-mail bucket


class Comment(LazyModel):
    id: str
    ticket_id: str
    body: str
    author: Requester
    channel: Channel
    is_support: bool = False
    created_at: UtcDatetime
    attachments: list[Attachment] = Field(default_factory=list)
    visibility: Visibility = Visibility.PUBLIC


class HistoryEntry(LazyModel):
    """One change of one field of a ticket: who made it, when, from what to what."""

    at: UtcDatetime
    actor: str
    field: str
    old: str | None
    new: str | None


class Ticket(LazyModel):
    id: str
    type: TicketType
    priority: Priority = Priority.NORMAL
    status: Status = Status.OPEN
    title: str
    description: str
    channel: Channel
    tenant: str
    requester: Requester
    environment: str | None = None
    related: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int = 1
    # Email threading: Message-IDs that belong to this ticket (the original and our replies).
    message_ids: list[str] = Field(default_factory=list)
    # Set when the email body had to be decoded with fallbacks.
    parse_problems: bool = False
    # Where the untrimmed email text lives (an object key in the raw-mail bucket).
    full_text_key: str | None = None
    acknowledged_at: UtcDatetime | None = None
    acknowledged_by: str | None = None
    # Paging rounds: 1 when the ticket first pages, +1 each time it becomes pageable again
    # (reopened, raised to urgent again, moved out of triage...). 0: it never paged.
    page_round: int = 0
    round_started_at: UtcDatetime | None = None
    # Where the acknowledgement came from (None: the dashboard/API) and, for a page's link, its level.
    acknowledged_via: AckChannel | None = None
    acknowledged_level: int | None = None
    # Set only when PagerDuty resolved it (its stand-down is then not sent back to PagerDuty).
    resolved_via: AckChannel | None = None
    # A support engineer's address (support staff set it).
    assignee: str | None = None
    # The first public staff comment or the acknowledgement by staff, whichever came first; set once.
    first_response_at: UtcDatetime | None = None
    # Email only: whether SES proved the requester's address sent the first message (else never mailed).
    requester_verified: bool | None = None
    # When the first response and the resolution are due (see `sla`); None: no target applies.
    response_due_at: UtcDatetime | None = None
    resolution_due_at: UtcDatetime | None = None
    # The targets missed ("response", "resolution"), marked when their due time passed unmet.
    breached: list[str] = Field(default_factory=list)

    @property
    def pages(self) -> bool:
        """Whether this ticket, as it is now, is one that pages on-call."""
        return (
            self.type == TicketType.INCIDENT
            and self.priority == Priority.URGENT
            and self.status == Status.OPEN
            and self.tenant != TRIAGE_TENANT
        )


def history_of(actor: str, ticket: Ticket, changes: dict[str, Any]) -> list[HistoryEntry]:
    """The history entries of a change to `ticket`: one per recorded field it changes."""
    at = changes.get("updated_at") or utcnow()

    def text(value: Any) -> str | None:
        return None if value is None else str(getattr(value, "value", value))

    return [
        HistoryEntry(at=at, actor=actor, field=name, old=text(getattr(ticket, name)), new=text(changes[name]))
        for name in HISTORY_FIELDS
        if name in changes
    ]


class Contact(LazyModel):
    """An email address or a whole domain that belongs to a tenant."""

    address: str  # "alice@acme.example" or "acme.example" for a whole domain
    tenant: str
    name: str | None = None
    created_at: UtcDatetime
    created_by: str
