"""Reading and writing tickets and their comments (items in `ticket_items`); lists are in
`ticket_lists`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from support_common.aws_errors import condition_failed
from support_common.errors import IdCollision, InvalidInput, VersionConflict
from support_common.models import (
    Comment,
    HistoryEntry,
    Ticket,
    TicketType,
    iso,
    utcnow,
)
from support_common.repository.comments import comment_tx_items, request_marker, request_marker_put
from support_common.repository.history import history_puts
from support_common.repository.messages import mail_marker_put, message_id_puts
from support_common.repository.table import Table, TxItem, batch_get, put_if_absent, ser, transact
from support_common.repository.ticket_items import (
    CREATED_BY,
    TICKET_SK,
    comment_from_item,
    due_values,
    index_values,
    is_comment_sk,
    ticket_from_item,
    ticket_item,
    ticket_key,
    ticket_pk,
)
from support_common.repository.ticket_lists import TicketFilter, TicketPage, list_tickets
from support_common.repository.uploads import UPLOAD_PREFIX, PendingUpload, pending_from_item


@dataclass(frozen=True)
class TicketRead:
    """A ticket as one Query reads it: its comments (oldest first) and its pending uploads."""

    ticket: Ticket
    comments: list[Comment]
    uploads: list[PendingUpload]


# Fields written once: a later write keeps the first value (if_not_exists).
SET_ONCE = frozenset({"first_response_at"})
# Fields the due queue's position depends on (see `sla.next_due`).
DUE_FIELDS = frozenset({"status", "response_due_at", "resolution_due_at", "first_response_at"})


BATCH_GET_MAX = 100


def _unlinkable(other: str) -> InvalidInput:
    return InvalidInput(f"related ticket {other} does not exist or cannot be linked here", field="related")


class TicketStore:
    """Reads and writes tickets and comments."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # --- tickets -------------------------------------------------------------------------

    def create(
        self,
        ticket: Ticket,
        *,
        token: str,
        link_tenant: str | None = None,
        require_incidents: bool = False,
        filed_from: str | None = None,
    ) -> Ticket:
        """Write a new ticket and return it as stored; raise IdCollision when its id is taken.

        `token` names the request: when the id is taken by a ticket this very request wrote (its
        first attempt was applied but the answer lost, and the SDK or the caller retried), that
        ticket is returned instead of a collision, so no retry makes a second ticket. Message ids
        and reverse links of `related` are written in the same transaction, so a ticket never
        exists half-linked. `link_tenant` confines related tickets to one tenant. `filed_from`
        names the SES message the ticket comes from: its marker is written in the same
        transaction, and MailAlreadyFiled is raised when that message was filed before.
        """
        item = {**ticket_item(ticket), CREATED_BY: ser(token)}
        if not ticket.related and not ticket.message_ids and filed_from is None:
            try:
                put_if_absent(self.table, item, lambda: IdCollision(ticket.id))
            except IdCollision:
                return self._written_by(ticket.id, token)
            return ticket
        put = {
            "Put": {"TableName": self.table.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }
        items = [TxItem(put, on_condition_failed=lambda: IdCollision(ticket.id))]
        items += message_id_puts(self.table, ticket.id, ticket.message_ids)
        items += [
            self._link_update(other, ticket.id, add=True, tenant=link_tenant, needs_incident=require_incidents)
            for other in ticket.related
        ]
        if filed_from is not None:
            # First: a message filed before is a duplicate, whatever else the transaction meets.
            items.insert(0, mail_marker_put(self.table, filed_from, ticket.id, None))
        try:
            transact(self.table, items, client_token=token)
        except IdCollision:
            return self._written_by(ticket.id, token)
        return ticket

    def _written_by(self, ticket_id: str, token: str) -> Ticket:
        """The ticket `ticket_id` if the request `token` wrote it; else IdCollision."""
        resp = self.table.client.get_item(
            TableName=self.table.name, Key=ticket_key(ticket_id), ConsistentRead=True
        )
        item = resp.get("Item")
        if item is None or item.get(CREATED_BY, {}).get("S") != token:
            raise IdCollision(ticket_id)
        return ticket_from_item(item)

    def get(self, ticket_id: str) -> Ticket | None:
        """Return a ticket without its comments, or None."""
        resp = self.table.client.get_item(
            TableName=self.table.name, Key=ticket_key(ticket_id), ConsistentRead=True
        )
        item = resp.get("Item")
        return ticket_from_item(item) if item else None

    def get_many(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        """The current state of several tickets (BatchGetItem, 100 a request), by id; missing ones left out."""
        wanted = list(dict.fromkeys(ticket_ids))
        found: dict[str, Ticket] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            for item in batch_get(self.table, [ticket_key(i) for i in wanted[start : start + BATCH_GET_MAX]]):
                ticket = ticket_from_item(item)
                found[ticket.id] = ticket
        return found

    def get_with_comments(self, ticket_id: str, *, notes: bool = True) -> tuple[Ticket, list[Comment]] | None:
        """Return a ticket and its comments (oldest first) in one Query, or None."""
        found = self.read(ticket_id, notes=notes)
        return (found.ticket, found.comments) if found else None

    def read(self, ticket_id: str, *, notes: bool) -> TicketRead | None:
        """A ticket with its comments and pending uploads in one Query, or None.

        Without `notes` (a customer's read) the Query's key condition stops at the ticket item, so
        internal notes, which sort after it, are never read.
        """
        ticket: Ticket | None = None
        comments: list[Comment] = []
        uploads: list[PendingUpload] = []
        values: dict[str, Any] = {":pk": ser(ticket_pk(ticket_id))}
        condition = "pk = :pk"
        if not notes:
            condition += " AND sk <= :ticket"
            values[":ticket"] = ser(TICKET_SK)
        kwargs: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            resp = self.table.client.query(**kwargs)
            for item in resp.get("Items", []):
                sk = item["sk"]["S"]
                if sk == TICKET_SK:
                    ticket = ticket_from_item(item)
                elif is_comment_sk(sk):
                    comments.append(comment_from_item(item))
                elif sk.startswith(UPLOAD_PREFIX):
                    uploads.append(pending_from_item(item))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        if ticket is None:
            return None
        comments.sort(key=lambda c: (c.created_at, c.id))
        return TicketRead(ticket, comments, uploads)

    def update(
        self,
        ticket: Ticket,
        changes: dict[str, Any],
        *,
        expected_version: int,
        link_add: Sequence[str] = (),
        link_remove: Sequence[str] = (),
        link_tenant: str | None = None,
        require_incidents: bool = False,
        history: Sequence[HistoryEntry] = (),
    ) -> Ticket:
        """Apply `changes` to a ticket read at `expected_version`; raise VersionConflict if it moved on.

        Reverse links of related tickets and the `history` entries of the change are written in
        the same transaction.
        """
        # Validated, not copied: callers may pass plain strings for enum fields.
        updated = Ticket.model_validate({**ticket.model_dump(), **changes, "version": expected_version + 1})
        update = self._update_op(ticket.id, updated, changes, expected_version)
        if not link_add and not link_remove and not history:
            try:
                resp = self.table.client.update_item(**update, ReturnValues="ALL_NEW")
            except ClientError as exc:
                if condition_failed(exc):
                    raise VersionConflict(ticket.id) from exc
                raise
            return ticket_from_item(resp["Attributes"])
        items = [TxItem({"Update": update}, on_condition_failed=lambda: VersionConflict(ticket.id))]
        items += [
            self._link_update(other, ticket.id, add=True, tenant=link_tenant, needs_incident=require_incidents)
            for other in link_add
        ]
        items += [
            self._link_update(other, ticket.id, add=False, tenant=None, needs_incident=False)
            for other in link_remove
        ]
        items += history_puts(self.table, ticket.id, updated.version, history)
        transact(self.table, items)
        return updated

    def _update_op(
        self, ticket_id: str, updated: Ticket, changes: dict[str, Any], expected_version: int
    ) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":expected": ser(expected_version), ":one": ser(1)}
        sets: list[str] = []
        removes: list[str] = []
        new_data = updated.model_dump(mode="json")
        fields = {k: new_data[k] for k in changes}
        if {"tenant", "type", "status", "priority"} & changes.keys():
            fields.update(index_values(updated.tenant, updated.type, updated.status, updated.priority))
        if DUE_FIELDS & changes.keys():
            fields.update(due_values(updated))
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            if name in ("related", "breached"):
                value = set(value)
            if value is None or value == set():
                removes.append(f"#f{i}")
            elif name in SET_ONCE:
                sets.append(f"#f{i} = if_not_exists(#f{i}, :v{i})")
                values[f":v{i}"] = ser(value)
            else:
                sets.append(f"#f{i} = :v{i}")
                values[f":v{i}"] = ser(value)
        sets.append("version = version + :one")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return {
            "TableName": self.table.name,
            "Key": ticket_key(ticket_id),
            "UpdateExpression": expression,
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def list(self, query: TicketFilter, *, limit: int, next_token: str | None) -> TicketPage:
        """One page of tickets (see `ticket_lists`)."""
        return list_tickets(self.table, query, limit=limit, next_token=next_token)

    def posted_by(self, ticket_id: str, token: str) -> tuple[Comment | None, str | None]:
        """The comment a keyed request posted on a ticket, and the hash of its body (else None)."""
        marker = request_marker(self.table, ticket_id, token)
        if marker is None:
            return None, None
        found = self.read(ticket_id, notes=True)
        comments = found.comments if found is not None else []
        comment = next((c for c in comments if c.id == marker["comment_id"]), None)
        return comment, str(marker.get("body_hash") or "")

    def mark_breached(self, ticket_id: str, target: str, due: datetime) -> bool:
        """Record that `target` ("response", "resolution") was missed at `due`; False when it was
        marked before or its due time has moved since (the ticket was retargeted)."""
        due_attr = f"{target}_due_at"
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=ticket_key(ticket_id),
                # Not a user's edit: the version stays, so nobody's open form is refused for it.
                UpdateExpression="ADD breached :target",
                ConditionExpression="#due = :due AND NOT contains(breached, :name)",
                ExpressionAttributeNames={"#due": due_attr},
                ExpressionAttributeValues={
                    ":target": {"SS": [target]},
                    ":name": ser(target),
                    ":due": ser(iso(due)),
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    # --- comments ------------------------------------------------------------------------

    def add_comment(
        self,
        comment: Comment,
        *,
        message_ids: Sequence[str] = (),
        filed_from: str | None = None,
        first_response: Ticket | None = None,
        list_files: bool = False,
        request: tuple[str, str] | None = None,
    ) -> None:
        """Store a comment, and what it changes on its ticket, in one transaction (see `comments`).

        Raises VersionConflict when the ticket is gone; with `filed_from` (the SES message the
        comment comes from), its marker is written too and MailAlreadyFiled is raised when it exists.
        With `request` (a keyed request's token and its body's hash), the request's marker is
        written too and CommentAlreadyPosted raised when that request posted before.
        """
        items = comment_tx_items(self.table, comment, first_response=first_response, list_files=list_files)
        if request is not None:
            items.insert(0, request_marker_put(self.table, comment.ticket_id, request[0], comment.id, request[1]))
        items += message_id_puts(self.table, comment.ticket_id, message_ids)
        if filed_from is not None:
            # First: a message filed before is a duplicate, whatever else the transaction meets.
            items.insert(0, mail_marker_put(self.table, filed_from, comment.ticket_id, comment.id))
        transact(self.table, items)

    # --- helpers -------------------------------------------------------------------------

    def _link_update(
        self, other: str, ticket_id: str, *, add: bool, tenant: str | None, needs_incident: bool
    ) -> TxItem:
        conditions = ["attribute_exists(pk)"]
        values: dict[str, Any] = {":me": {"SS": [ticket_id]}, ":now": ser(iso(utcnow())), ":one": ser(1)}
        names: dict[str, str] = {}
        if tenant is not None:
            conditions.append("tenant = :tenant")
            values[":tenant"] = ser(tenant)
        if needs_incident:
            conditions.append("#type = :incident")
            names["#type"] = "type"
            values[":incident"] = ser(TicketType.INCIDENT.value)
        update: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": ticket_key(other),
            # The other ticket changed too: its version moves, so its own editors' If-Match notices.
            "UpdateExpression": (
                "ADD related :me, version :one SET updated_at = :now"
                if add
                else "DELETE related :me ADD version :one SET updated_at = :now"
            ),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return TxItem({"Update": update}, on_condition_failed=lambda: _unlinkable(other))
