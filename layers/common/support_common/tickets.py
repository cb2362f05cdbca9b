"""Ticket use cases shared by the dashboard and email: create, read, list, change, comment, acknowledge."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from support_common.errors import (
    Conflict,
    Forbidden,
    IdCollision,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    VersionConflict,
)
from support_common.models import (
    ID_ALPHABET,
    ID_LENGTH,
    ID_PREFIX,
    RELATED_MAX,
    Attachment,
    Channel,
    Comment,
    HistoryEntry,
    Identity,
    Priority,
    Requester,
    Status,
    Ticket,
    TicketType,
    TransitionError,
    Visibility,
    check_transition,
    history_of,
    normalize_ticket_id,
    task_description_problem,
    utcnow,
)
from support_common.observability import count, logger
from support_common.repository.history import HistoryStore
from support_common.repository.tickets import TicketFilter, TicketPage, TicketRead, TicketStore

ID_ATTEMPTS = 5
UPDATE_ATTEMPTS = 3
# Files listed on one ticket (each numbered for downloads); beyond that they stay on their comment.
TICKET_FILES_MAX = 500


def new_ticket_id(ticket_type: TicketType) -> str:
    """A fresh random id such as INC-7KQ2XH: 30 random bits, typable, not a counter."""
    body = "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
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


def _normalized_related(ids: Sequence[str], own_id: str | None = None) -> list[str]:
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


class TicketService:
    """The ticket use cases; every check of who may do what lives here."""

    def __init__(self, store: TicketStore) -> None:
        self.store = store

    def create(
        self, identity: Identity, draft: NewTicket, *, channel: Channel, filed_from: str | None = None
    ) -> Ticket:
        """Create a ticket for `identity`; retries on the rare id collision.

        `filed_from` is the SES message id of a ticket from email: the message's marker is written
        with the ticket, and MailAlreadyFiled raised when the message was filed before.
        """
        check_type_rules(draft, channel)
        title = clean_title(draft.title)
        related = _normalized_related(draft.related)
        now = utcnow()
        tenant = draft.tenant or identity.tenant
        for attempt in range(ID_ATTEMPTS):
            ticket = Ticket(
                id=draft.ticket_id if draft.ticket_id and attempt == 0 else new_ticket_id(draft.type),
                type=draft.type,
                priority=draft.priority,
                title=title,
                description=draft.description,
                channel=channel,
                tenant=tenant,
                requester=Requester(email=identity.email, name=identity.name),
                environment=(draft.environment or "").strip() or None,
                related=related,
                attachments=draft.attachments,
                message_ids=draft.message_ids,
                parse_problems=draft.parse_problems,
                full_text_key=draft.full_text_key,
                requester_verified=draft.requester_verified,
                created_at=now,
                updated_at=now,
            )
            try:
                self.store.create(
                    ticket,
                    link_tenant=None if identity.is_support else tenant,
                    require_incidents=draft.type == TicketType.PROBLEM,
                    filed_from=filed_from,
                )
            except IdCollision:
                logger.warning("ticket id collision", attempt=attempt)
                continue
            logger.info("ticket created", ticket_id=ticket.id, type=ticket.type, channel=channel, tenant=tenant)
            count("TicketsCreated", type=ticket.type.value, channel=channel.value)
            return ticket
        raise Conflict("could not allocate a ticket id; try again")

    def get(self, identity: Identity, ticket_id: str) -> tuple[Ticket, list[Comment]]:
        """A ticket with the comments the caller may see (else NotFound, never Forbidden)."""
        found = self.read(identity, ticket_id)
        return found.ticket, found.comments

    def read(self, identity: Identity, ticket_id: str) -> TicketRead:
        """A ticket, the comments the caller may see and its pending uploads, or NotFound.

        The one place that decides who reads internal notes: only support staff's reads include
        them; a customer's read cannot fetch them at all (see `TicketStore.read`).
        """
        norm = self._id(ticket_id)
        found = self.store.read(norm, notes=identity.is_support)
        if found is None or not identity.can_see(found.ticket.tenant):
            raise NotFound(f"ticket {ticket_id} not found")
        return found

    def visible(self, identity: Identity, ticket_id: str) -> Ticket:
        """The ticket without its comments, if the caller may see it (else NotFound)."""
        return self._visible(identity, self._id(ticket_id))

    def history(self, identity: Identity, ticket_id: str) -> list[HistoryEntry]:
        """Who changed what of a ticket, oldest first, for anyone who may see the ticket."""
        norm = self._id(ticket_id)
        self._visible(identity, norm)
        return HistoryStore(self.store.table).list(norm)

    def list(
        self,
        identity: Identity,
        *,
        type: TicketType | None = None,
        status: Status | None = None,
        priority: Priority | None = None,
        tenant: str | None = None,
        limit: int = 25,
        next_token: str | None = None,
    ) -> TicketPage:
        """One page of the caller's tickets, newest first; staff may list every tenant."""
        if not identity.is_support:
            if tenant and tenant != identity.tenant:
                # Another tenant's list is as empty as a tenant that does not exist.
                return TicketPage(items=[], next_token=None)
            tenant = identity.tenant
        query = TicketFilter(tenant=tenant, type=type, status=status, priority=priority)
        return self.store.list(query, limit=limit, next_token=next_token)

    def update(
        self,
        identity: Identity,
        ticket_id: str,
        changes: dict[str, Any],
        *,
        if_match: int | None = None,
        current: Ticket | None = None,
    ) -> Ticket:
        """Change a ticket's fields with optimistic locking (If-Match) and the status workflow.

        `current` is the ticket as the caller just read it, which saves reading it again.
        """
        norm = self._id(ticket_id)
        if "tenant" in changes and not identity.is_support:
            raise Forbidden("only support staff can move a ticket to another tenant")
        if "type" in changes and not identity.is_support:
            raise Forbidden("only support staff can change a ticket's type")
        if "assignee" in changes and not identity.is_support:
            self._visible(identity, norm)  # someone else's ticket stays a 404, not a 403
            raise Forbidden("only support staff can assign a ticket")
        for attempt in range(UPDATE_ATTEMPTS):
            ticket = current if current is not None and attempt == 0 else self._visible(identity, norm)
            if if_match is not None and ticket.version != if_match:
                raise _stale(ticket)
            effective = self._effective_changes(identity, ticket, changes)
            if not effective:
                return ticket
            old_related, new_related = set(ticket.related), set(effective.get("related", ticket.related))
            new_type = effective.get("type", ticket.type)
            try:
                updated = self.store.update(
                    ticket,
                    effective,
                    expected_version=ticket.version,
                    link_add=sorted(new_related - old_related),
                    link_remove=sorted(old_related - new_related),
                    link_tenant=None if identity.is_support else ticket.tenant,
                    require_incidents=new_type == TicketType.PROBLEM,
                    history=history_of(identity.email, ticket, effective),
                )
            except VersionConflict:
                if if_match is not None:
                    raise _stale(ticket) from None
                logger.info("concurrent update, retrying", ticket_id=norm, attempt=attempt)
                continue
            logger.info("ticket updated", ticket_id=norm, fields=sorted(effective), version=updated.version)
            return updated
        raise Conflict("the ticket is changing too fast; reload it and try again")

    def acknowledge(self, identity: Identity, ticket_id: str) -> Ticket:
        """Support staff take the ticket: stops re-paging. Acknowledging twice is harmless."""
        if not identity.is_support:
            norm = self._id(ticket_id)
            self._visible(identity, norm)  # someone else's ticket stays a 404, not a 403
            raise Forbidden("only support staff can acknowledge a ticket")
        ticket = self._visible(identity, self._id(ticket_id))
        if ticket.status == Status.ACKNOWLEDGED:
            return ticket
        return self.update(identity, ticket.id, {"status": Status.ACKNOWLEDGED}, current=ticket)

    def comment(
        self,
        identity: Identity,
        ticket_id: str,
        body: str,
        *,
        channel: Channel,
        attachments: Sequence[Attachment] = (),
        message_ids: Sequence[str] = (),
        current: Ticket | None = None,
        filed_from: str | None = None,
        visibility: Visibility = Visibility.PUBLIC,
    ) -> Comment:
        """Add a comment to a ticket the caller may see (`current`: the ticket as just read, if so).

        Only support staff may add an internal note; a public staff comment is the ticket's first
        response when none came before. `filed_from` is the SES message id of a comment from email
        (see `create`).
        """
        norm = self._id(ticket_id)
        if current is None or current.id != norm:
            current = self._visible(identity, norm)
        elif not identity.can_see(current.tenant):
            raise NotFound(f"ticket {ticket_id} not found")
        if visibility == Visibility.INTERNAL and not identity.is_support:
            raise Forbidden("only support staff can add an internal note", field="visibility")
        comment = Comment(
            id=new_comment_id(),
            ticket_id=norm,
            body=body,
            author=Requester(email=identity.email, name=identity.name),
            channel=channel,
            is_support=identity.is_support,
            created_at=utcnow(),
            attachments=list(attachments),
            visibility=visibility,
        )
        self.store.add_comment(
            comment,
            message_ids=message_ids,
            filed_from=filed_from,
            first_response=identity.is_support and visibility == Visibility.PUBLIC,
            list_files=len(current.attachments) + len(attachments) <= TICKET_FILES_MAX,
        )
        logger.info("comment added", ticket_id=norm, comment_id=comment.id, channel=channel, visibility=visibility)
        return comment

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _id(ticket_id: str) -> str:
        norm = normalize_ticket_id(ticket_id)
        if norm is None:
            raise NotFound(f"ticket {ticket_id} not found")
        return norm

    def _visible(self, identity: Identity, ticket_id: str) -> Ticket:
        ticket = self.store.get(ticket_id)
        if ticket is None or not identity.can_see(ticket.tenant):
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    def _effective_changes(self, identity: Identity, ticket: Ticket, changes: dict[str, Any]) -> dict[str, Any]:
        effective: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "related":
                value = _normalized_related(value, own_id=ticket.id)
            if name == "title":
                value = clean_title(value)
            elif name == "environment" and isinstance(value, str):
                value = value.strip() or None
            elif name == "assignee" and isinstance(value, str):
                value = value.strip().lower() or None
            if getattr(ticket, name) != value:
                effective[name] = value
        check_ticket_rules(
            effective.get("type", ticket.type),
            effective.get("priority", ticket.priority),
            description=effective.get("description"),
        )
        if "status" in effective:
            try:
                check_transition(ticket.status, effective["status"])
            except TransitionError as exc:
                raise Conflict(str(exc), field="status") from exc
            if effective["status"] == Status.ACKNOWLEDGED and not identity.is_support:
                raise Forbidden("only support staff can acknowledge a ticket")
            if effective["status"] == Status.ACKNOWLEDGED or (
                effective["status"] in (Status.RESOLVED, Status.CLOSED) and ticket.acknowledged_at is None
            ):
                effective["acknowledged_at"] = utcnow()
                effective["acknowledged_by"] = identity.email
                if identity.is_support and ticket.first_response_at is None:
                    # Staff taking the ticket is a response (written only if none is recorded yet).
                    effective["first_response_at"] = effective["acknowledged_at"]
        if effective:
            effective["updated_at"] = utcnow()
        return effective


def _stale(ticket: Ticket) -> PreconditionFailed:
    return PreconditionFailed(
        f"the ticket changed since you read it: it is now at version {ticket.version}", field="If-Match"
    )
