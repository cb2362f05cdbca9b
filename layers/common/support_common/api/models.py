"""What the HTTP API accepts and returns: separate from the domain models and the table items."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from support_common.attachments import UploadType
from support_common.models import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    ENVIRONMENT_MAX,
    RELATED_MAX,
    TITLE_MAX,
    Channel,
    Comment,
    Contact,
    HistoryEntry,
    LazyModel,
    Priority,
    Status,
    Ticket,
    TicketType,
    UtcDatetime,
    Visibility,
)

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class CreateTicketRequest(LazyModel):
    """A new ticket. The requester and tenant are the caller's, never fields of the body."""

    model_config = ConfigDict(extra="forbid")

    type: TicketType
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX)
    priority: Priority = Priority.NORMAL
    environment: str | None = Field(default=None, max_length=ENVIRONMENT_MAX)
    related: list[str] = Field(default_factory=list, max_length=RELATED_MAX)


def _changes_schema(schema: dict[str, Any]) -> None:
    """The document says what the validator enforces: at least one field, and null only where a
    field can be cleared (the others are optional, not nullable)."""
    schema["minProperties"] = 1
    for name, prop in schema.get("properties", {}).items():
        if name in NULLABLE_CHANGES or "anyOf" not in prop:
            continue
        kinds = [k for k in prop.pop("anyOf") if k.get("type") != "null"]
        prop.pop("default", None)
        prop.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})


# Fields a PATCH may set to null (clearing them).
NULLABLE_CHANGES = frozenset({"environment", "assignee"})


class UpdateTicketRequest(LazyModel):
    """Fields to change; `tenant` and `type` are for support staff only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_changes_schema)

    status: Status | None = None
    priority: Priority | None = None
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(default=None, min_length=1, max_length=DESCRIPTION_MAX)
    environment: str | None = Field(default=None, max_length=ENVIRONMENT_MAX)
    related: list[str] | None = Field(default=None, max_length=RELATED_MAX)
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    type: TicketType | None = None
    assignee: str | None = Field(
        default=None,
        max_length=254,
        pattern=EMAIL_PATTERN,
        description="support staff: a staff email; null clears",
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateTicketRequest:
        if not self.model_fields_set:
            raise ValueError("nothing to change: send at least one field")
        for name in self.model_fields_set - NULLABLE_CHANGES:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CommentRequest(LazyModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=COMMENT_MAX)
    visibility: Visibility = Field(
        default=Visibility.PUBLIC,
        description="public (the customer sees it; a staff reply is mailed) or internal (support staff only)",
    )


class ContactRequest(LazyModel):
    """Register an email address, or a whole domain, as belonging to a tenant."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        min_length=3,
        max_length=254,
        pattern=r"^([^@\s]+@)?[A-Za-z0-9.-]+\.[A-Za-z]{2,}$",
        description="an address (alice@acme.example) or a domain (acme.example)",
    )
    tenant: str = Field(pattern=TENANT_PATTERN)
    name: str | None = Field(default=None, max_length=200)


class RequesterOut(LazyModel):
    email: str
    name: str | None = None


class AttachmentOut(LazyModel):
    name: str
    size: int
    content_type: str
    n: int | None = Field(default=None, description="its number in GET /tickets/{id}/attachments/{n}")


def _numbered(attachments: list[dict[str, object]], numbers: dict[str, int]) -> list[dict[str, object]]:
    return [{**a, "n": numbers.get(str(a.get("key")))} for a in attachments]


class CommentOut(LazyModel):
    id: str
    body: str
    author: RequesterOut
    channel: Channel
    is_support: bool
    visibility: Visibility
    created_at: UtcDatetime
    attachments: list[AttachmentOut]

    @classmethod
    def of(cls, comment: Comment, numbers: dict[str, int] | None = None) -> CommentOut:
        data = comment.model_dump()
        data["attachments"] = _numbered(data["attachments"], numbers or {})
        return cls.model_validate(data)


class TicketOut(LazyModel):
    id: str = Field(examples=["INC-7KQ2XH"])
    type: TicketType
    priority: Priority
    status: Status
    title: str
    description: str
    channel: Channel
    tenant: str
    requester: RequesterOut
    environment: str | None
    related: list[str]
    attachments: list[AttachmentOut]
    comments: list[CommentOut]
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int
    acknowledged_at: UtcDatetime | None
    assignee: str | None
    first_response_at: UtcDatetime | None = Field(
        description="the first public staff comment or the acknowledgement by staff, whichever came first"
    )
    parse_problems: bool = Field(description="the email behind this ticket could only be read with fallbacks")
    response_due_at: UtcDatetime | None = Field(
        description="when the first response is due (the response target); null: no target applies"
    )
    resolution_due_at: UtcDatetime | None = Field(description="when the resolution is due; null: no target")
    breached: list[Literal["response", "resolution"]] = Field(description="the targets missed")

    @classmethod
    def of(cls, ticket: Ticket, comments: list[Comment] | None = None) -> TicketOut:
        """The ticket as the API shows it; `comments` are those the caller may see (already filtered)."""
        data = ticket.model_dump()
        numbers = {a.key: n for n, a in enumerate(ticket.attachments, start=1) if a.key}
        data["attachments"] = _numbered(data["attachments"], numbers)
        data["comments"] = [CommentOut.of(c, numbers) for c in comments or []]
        return cls.model_validate(data)


class SlaFilter(StrEnum):
    BREACHED = "breached"
    RUNNING = "running"
    DUE_SOON = "due_soon"


SLA_DOC = (
    "breached: a target was missed; running: a target still runs, the earliest due first; "
    "due_soon: running and due within the hour, or overdue"
)


class TicketListOut(LazyModel):
    items: list[TicketOut]
    next_token: str | None = Field(description="pass back as next_token for the next page; null on the last")


class HistoryEntryOut(LazyModel):
    """One change of one field: `from` and `to` are the values before and after (null: none)."""

    model_config = ConfigDict(populate_by_name=True)

    at: UtcDatetime
    actor: str = Field(description="who made the change (an email address)")
    field: str
    old: str | None = Field(alias="from")
    new: str | None = Field(alias="to")

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryEntryOut:
        return cls(at=entry.at, actor=entry.actor, field=entry.field, old=entry.old, new=entry.new)


class DownloadOut(LazyModel):
    name: str
    content_type: str
    size: int
    url: str = Field(description="a presigned GET of the file, valid until expires_at")
    expires_at: UtcDatetime


class UploadRequest(LazyModel):
    """One file to upload to a ticket."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f/\\]+$")
    content_type: UploadType


class UploadOut(LazyModel):
    url: str = Field(description="POST the file here as multipart/form-data: `fields` first, then `file`")
    fields: dict[str, str]
    expires_at: UtcDatetime
    max_size: int = Field(description="the largest file accepted, in bytes")


class ContactOut(LazyModel):
    address: str
    tenant: str
    name: str | None
    created_at: UtcDatetime
    created_by: str

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls.model_validate(contact.model_dump())


class ContactListOut(LazyModel):
    items: list[ContactOut]


class ErrorDetail(LazyModel):
    field: str | None = Field(description="the offending field, dotted; null when the request as a whole")
    reason: str


class ErrorBody(LazyModel):
    """Every 4xx carries this body; API Gateway's own 401 (`{"message": "Unauthorized"}`) fits it too."""

    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)
