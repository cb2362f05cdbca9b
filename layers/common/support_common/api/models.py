"""What the HTTP API accepts and returns: separate from the domain models and the table items."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from support_common.models import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    ENVIRONMENT_MAX,
    RELATED_MAX,
    TITLE_MAX,
    Channel,
    Comment,
    Contact,
    Priority,
    Status,
    Ticket,
    TicketType,
    UtcDatetime,
)

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class CreateTicketRequest(BaseModel):
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
NULLABLE_CHANGES = frozenset({"environment"})


class UpdateTicketRequest(BaseModel):
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

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateTicketRequest:
        if not self.model_fields_set:
            raise ValueError("nothing to change: send at least one field")
        for name in self.model_fields_set - NULLABLE_CHANGES:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=COMMENT_MAX)


class ContactRequest(BaseModel):
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


class RequesterOut(BaseModel):
    email: str
    name: str | None = None


class AttachmentOut(BaseModel):
    name: str
    size: int
    content_type: str


class CommentOut(BaseModel):
    id: str
    body: str
    author: RequesterOut
    channel: Channel
    is_support: bool
    created_at: UtcDatetime
    attachments: list[AttachmentOut]

    @classmethod
    def of(cls, comment: Comment) -> CommentOut:
        return cls.model_validate(comment.model_dump())


class TicketOut(BaseModel):
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
    parse_problems: bool = Field(description="the email behind this ticket could only be read with fallbacks")

    @classmethod
    def of(cls, ticket: Ticket, comments: list[Comment] | None = None) -> TicketOut:
        data = ticket.model_dump()
        data["comments"] = [CommentOut.of(c) for c in comments or []]
        return cls.model_validate(data)


class TicketListOut(BaseModel):
    items: list[TicketOut]
    next_token: str | None = Field(description="pass back as next_token for the next page; null on the last")


class ContactOut(BaseModel):
    address: str
    tenant: str
    name: str | None
    created_at: UtcDatetime
    created_by: str

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls.model_validate(contact.model_dump())


class ContactListOut(BaseModel):
    items: list[ContactOut]


class ErrorDetail(BaseModel):
    field: str | None = Field(description="the offending field, dotted; null when the request as a whole")
    reason: str


class ErrorBody(BaseModel):
    """Every 4xx carries this body; API Gateway's own 401 (`{"message": "Unauthorized"}`) fits it too."""

    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)
