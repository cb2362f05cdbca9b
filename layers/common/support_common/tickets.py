"""Ticket use cases shared by the dashboard and email: create, read, list, change, comment, acknowledge."""

from __future__ import annotations

from collections.abc import Sequence
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
    utcnow,
)
from support_common.observability import count, logger
from support_common.repository.comments import CommentAlreadyPosted
from support_common.repository.history import HistoryStore
from support_common.repository.tickets import TicketFilter, TicketPage, TicketRead, TicketStore
from support_common.sla import SlaPolicy, counts_as_response
from support_common.ticket_rules import (
    NewTicket,
    check_ticket_rules,
    check_type_rules,
    clean_title,
    keyed_ticket_id,
    new_comment_id,
    new_ticket_id,
    normalized_related,
    request_token,
    round_changes,
)

ID_ATTEMPTS = 5
UPDATE_ATTEMPTS = 3
# Files listed on one ticket (each numbered for downloads); beyond that they stay on their comment.
TICKET_FILES_MAX = 500


class TicketService:
    """The ticket use cases; every check of who may do what lives here."""

    def __init__(self, store: TicketStore, policy: SlaPolicy) -> None:
        self.store = store
        self.policy = policy

    def create(
        self,
        identity: Identity,
        draft: NewTicket,
        *,
        channel: Channel,
        filed_from: str | None = None,
        request_key: str | None = None,
    ) -> Ticket:
        """Create a ticket for `identity`; retries on the rare id collision.

        `filed_from` is the SES message id of a ticket from email: the message's marker is written
        with the ticket, and MailAlreadyFiled raised when the message was filed before.
        `request_key` names a request that may be retried (an Idempotency-Key with its caller): its
        ticket id and token derive from it, so a retry finds the ticket the first try wrote, even
        when the first answer never came back.
        """
        check_type_rules(draft, channel)
        title = clean_title(draft.title)
        related = normalized_related(draft.related)
        now = utcnow()
        tenant = draft.tenant or identity.tenant
        due = self.policy.due_times(draft.type, draft.priority, now)
        token = request_token(request_key)
        first_id = draft.ticket_id or (keyed_ticket_id(draft.type, token) if request_key else None)
        for attempt in range(ID_ATTEMPTS):
            ticket = Ticket(
                id=first_id if first_id and attempt == 0 else new_ticket_id(draft.type),
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
                response_due_at=due.response,
                resolution_due_at=due.resolution,
            )
            ticket = ticket.model_copy(update=round_changes(None, ticket, now))
            try:
                ticket = self.store.create(
                    ticket,
                    token=token,
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
        sla: str | None = None,
        limit: int = 25,
        next_token: str | None = None,
    ) -> TicketPage:
        """One page of the caller's tickets, newest first (by due time for running targets); staff
        may list every tenant."""
        if not identity.is_support:
            if tenant and tenant != identity.tenant:
                # Another tenant's list is as empty as a tenant that does not exist.
                return TicketPage(items=[], next_token=None)
            tenant = identity.tenant
        query = TicketFilter(tenant=tenant, type=type, status=status, priority=priority, sla=sla)
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
        request_key: str | None = None,
    ) -> Comment:
        """Add a comment to a ticket the caller may see (`current`: the ticket as just read, if so).

        Only support staff may add an internal note; a public staff comment is the ticket's first
        response when none came before. `filed_from` is the SES message id of a comment from email
        (see `create`). `request_key` names a request that may be retried (an Idempotency-Key with
        its caller): the comment is posted once, and a retry gets that comment back.
        """
        norm = self._id(ticket_id)
        if current is None or current.id != norm:
            current = self._visible(identity, norm)
        elif not identity.can_see(current.tenant):
            raise NotFound(f"ticket {ticket_id} not found")
        if visibility == Visibility.INTERNAL and not identity.is_support:
            raise Forbidden("only support staff can add an internal note", field="visibility")
        answers = counts_as_response(
            by_staff=identity.is_support, public=visibility == Visibility.PUBLIC, automatic=False
        )
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
        request = None
        if request_key is not None:
            request = (request_token(request_key), request_token(f"{visibility}|{body}"))
        try:
            self.store.add_comment(
                comment,
                message_ids=message_ids,
                filed_from=filed_from,
                first_response=current if answers else None,
                list_files=len(current.attachments) + len(attachments) <= TICKET_FILES_MAX,
                request=request,
            )
        except CommentAlreadyPosted:
            assert request is not None  # only a keyed request writes a marker
            return self._posted_before(norm, *request)
        logger.info("comment added", ticket_id=norm, comment_id=comment.id, channel=channel, visibility=visibility)
        return comment

    # --- helpers -------------------------------------------------------------------------

    def _posted_before(self, ticket_id: str, token: str, body_hash: str) -> Comment:
        """The comment a keyed request already posted; a reused key with another text is refused."""
        comment, posted_hash = self.store.posted_by(ticket_id, token)
        if posted_hash != body_hash:
            raise InvalidInput("this Idempotency-Key was used for another comment", field="Idempotency-Key")
        if comment is None:
            raise Conflict("the comment of this request is being written; try again")
        logger.info("comment request repeated", ticket_id=ticket_id, comment_id=comment.id)
        return comment

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
                value = normalized_related(value, own_id=ticket.id)
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
        if "type" in effective or "priority" in effective:
            effective.update(self._retargeted(ticket, effective))
        if effective:
            effective["updated_at"] = utcnow()
            effective.update(round_changes(ticket, ticket.model_copy(update=effective), effective["updated_at"]))
        return effective

    def _retargeted(self, ticket: Ticket, effective: dict[str, Any]) -> dict[str, Any]:
        """The due times after a change of type or priority (see `SlaPolicy.retargeted`)."""
        due = self.policy.retargeted(
            effective.get("type", ticket.type),
            effective.get("priority", ticket.priority),
            ticket.created_at,
            utcnow(),
        )
        changes: dict[str, Any] = {}
        if due.response != ticket.response_due_at:
            changes["response_due_at"] = due.response
        if due.resolution != ticket.resolution_due_at:
            changes["resolution_due_at"] = due.resolution
        return changes


def _stale(ticket: Ticket) -> PreconditionFailed:
    return PreconditionFailed(
        f"the ticket changed since you read it: it is now at version {ticket.version}", field="If-Match"
    )
