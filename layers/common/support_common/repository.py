"""The DynamoDB single table: the only module that knows key shapes and index attributes.

Items (pk / sk):
- ticket            TICKET#<id> / TICKET           plus list-index attributes below
- comment           TICKET#<id> / COMMENT#<created_at>#<comment id>
- page record       TICKET#<id> / PAGE#<level>     (one per escalation level, conditional put)
- message id        MSG#<message-id> / MSG          threads email replies to a ticket
- contact           CONTACTS / <address or domain>  who belongs to which tenant
- rate limit        RATE#<what>#<who> / RATE        with a TTL (e.g. one acknowledgement per sender)
- idempotency       IDEMPOTENCY#<function> / <hash> (Powertools' records, with a TTL)

Every list is a Query on one of eight sparse GSIs, all sorted by `created` (<created_at>#<id>):
by tenant, by tenant and type/status/priority, and the same four across all tenants (support staff).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from support_common.errors import IdCollision, InvalidInput, VersionConflict
from support_common.models import Comment, Contact, Priority, Status, Ticket, TicketType, iso, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TICKET_SK = "TICKET"
CONTACTS_PK = "CONTACTS"
SORT_ATTR = "created"
TTL_ATTR = "expiration"
IDEMPOTENCY_PK = "IDEMPOTENCY#intake"

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
# Fields stored on a ticket item that are not ticket fields.
_KEY_ATTRS = frozenset({"pk", "sk", SORT_ATTR, "entity"} | {attr for attr, _, _ in INDEXES.values()})

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _ser(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


def _to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser(v) for k, v in data.items() if v is not None and v != [] and v != set()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def _index_values(tenant: str, type_: str, status: str, priority: str) -> dict[str, str]:
    """The partition value of every list index for a ticket with these fields."""
    values = {"type": type_, "status": status, "priority": priority}
    out: dict[str, str] = {}
    for attr, field, all_tenants in INDEXES.values():
        scope = "ALL" if all_tenants else f"T#{tenant}"
        out[attr] = scope if field is None else f"{scope}#{field}#{values[field]}"
    return out


def _ticket_item(ticket: Ticket) -> dict[str, Any]:
    data = ticket.model_dump(mode="json", exclude_none=True)
    data["related"] = set(ticket.related)
    data.update(
        pk=_ticket_pk(ticket.id),
        sk=TICKET_SK,
        entity="ticket",
        **{SORT_ATTR: f"{data['created_at']}#{ticket.id}"},
        **_index_values(ticket.tenant, ticket.type, ticket.status, ticket.priority),
    )
    return _to_item(data)


def _ticket_from_item(item: dict[str, Any]) -> Ticket:
    data = {k: v for k, v in _from_item(item).items() if k not in _KEY_ATTRS}
    data["related"] = sorted(data.get("related") or ())
    return Ticket.model_validate(data)


def _comment_from_item(item: dict[str, Any]) -> Comment:
    data = {k: v for k, v in _from_item(item).items() if k not in ("pk", "sk", "entity")}
    return Comment.model_validate(data)


@dataclass(frozen=True)
class TicketFilter:
    """What a list asks for: a tenant (None: all tenants, staff only) and optional filters."""

    tenant: str | None
    type: TicketType | None = None
    status: Status | None = None
    priority: Priority | None = None


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


class TicketRepository:
    """Reads and writes tickets, comments, contacts and page records in the single table."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    # --- tickets -------------------------------------------------------------------------

    def create_ticket(
        self, ticket: Ticket, *, link_tenant: str | None = None, require_incidents: bool = False
    ) -> None:
        """Write a new ticket; raise IdCollision when its id is taken.

        Message ids and reverse links of `related` are written in the same transaction, so a
        ticket never exists half-linked. `link_tenant` confines related tickets to one tenant.
        """
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": _ticket_item(ticket),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if not ticket.related and not ticket.message_ids:
            try:
                self.client.put_item(**put)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    raise IdCollision(ticket.id) from exc
                raise
            return
        items: list[dict[str, Any]] = [{"Put": put}]
        items += [self._message_id_put(mid, ticket.id) for mid in ticket.message_ids]
        items += [
            self._link_update(other, ticket.id, add=True, tenant=link_tenant, needs_incident=require_incidents)
            for other in ticket.related
        ]
        self._transact(items, collision_id=ticket.id)

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        """Return a ticket without its comments, or None."""
        resp = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": _ser(_ticket_pk(ticket_id)), "sk": _ser(TICKET_SK)},
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return _ticket_from_item(item) if item else None

    def get_ticket_with_comments(self, ticket_id: str) -> tuple[Ticket, list[Comment]] | None:
        """Return a ticket and its comments (oldest first) in one Query, or None."""
        ticket: Ticket | None = None
        comments: list[Comment] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _ser(_ticket_pk(ticket_id))},
            "ConsistentRead": True,
        }
        while True:
            resp = self.client.query(**kwargs)
            for item in resp.get("Items", []):
                sk = item["sk"]["S"]
                if sk == TICKET_SK:
                    ticket = _ticket_from_item(item)
                elif sk.startswith("COMMENT#"):
                    comments.append(_comment_from_item(item))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return (ticket, comments) if ticket else None

    def update_ticket(
        self,
        ticket: Ticket,
        changes: dict[str, Any],
        *,
        expected_version: int,
        link_add: Sequence[str] = (),
        link_remove: Sequence[str] = (),
        link_tenant: str | None = None,
        require_incidents: bool = False,
    ) -> Ticket:
        """Apply `changes` to a ticket read at `expected_version`; raise VersionConflict if it moved on.

        Reverse links of related tickets are added and removed in the same transaction.
        """
        updated = ticket.model_copy(update={**changes, "version": expected_version + 1})
        names: dict[str, str] = {}
        values: dict[str, Any] = {":expected": _ser(expected_version), ":one": _ser(1)}
        sets: list[str] = []
        removes: list[str] = []
        new_data = updated.model_dump(mode="json")
        fields = {k: new_data[k] for k in changes}
        if {"tenant", "type", "status", "priority"} & changes.keys():
            fields.update(_index_values(updated.tenant, updated.type, updated.status, updated.priority))
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            if name == "related":
                value = set(value)
            if value is None or value == set():
                removes.append(f"#f{i}")
            else:
                sets.append(f"#f{i} = :v{i}")
                values[f":v{i}"] = _ser(value)
        sets.append("version = version + :one")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": _ser(_ticket_pk(ticket.id)), "sk": _ser(TICKET_SK)},
            "UpdateExpression": expression,
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if not link_add and not link_remove:
            try:
                resp = self.client.update_item(**update, ReturnValues="ALL_NEW")
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    raise VersionConflict(ticket.id) from exc
                raise
            return _ticket_from_item(resp["Attributes"])
        items: list[dict[str, Any]] = [{"Update": update}]
        items += [
            self._link_update(other, ticket.id, add=True, tenant=link_tenant, needs_incident=require_incidents)
            for other in link_add
        ]
        items += [
            self._link_update(other, ticket.id, add=False, tenant=None, needs_incident=False)
            for other in link_remove
        ]
        self._transact(items, collision_id=None)
        return updated

    def list_tickets(self, query: TicketFilter, *, limit: int, next_token: str | None) -> TicketPage:
        """One Query for one page of tickets, newest first."""
        wanted = {"type": query.type, "status": query.status, "priority": query.priority}
        # The index serves the first filter given; any other is a filter on that index's page.
        index_field = next((f for f in ("status", "type", "priority") if wanted[f] is not None), None)
        all_tenants = query.tenant is None
        index = next(
            name for name, (_, field, spans) in INDEXES.items() if field == index_field and spans == all_tenants
        )
        attr = INDEXES[index][0]
        scope = "ALL" if all_tenants else f"T#{query.tenant}"
        partition = scope if index_field is None else f"{scope}#{index_field}#{wanted[index_field]}"
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": attr},
            "ExpressionAttributeValues": {":p": _ser(partition)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        extra = {f: v for f, v in wanted.items() if v is not None and f != index_field}
        if extra:
            kwargs["FilterExpression"] = " AND ".join(f"#{f} = :{f}" for f in extra)
            kwargs["ExpressionAttributeNames"].update({f"#{f}": f for f in extra})
            kwargs["ExpressionAttributeValues"].update({f":{f}": _ser(str(v)) for f, v in extra.items()})
        if next_token:
            token_index, sort_value, ticket_id = _decode_token(next_token)
            if token_index != index:
                raise InvalidInput("next_token belongs to a different list", field="next_token")
            # The start key is rebuilt from this caller's own partition: a forged token can only
            # move the position inside the caller's list, never into another tenant's.
            kwargs["ExclusiveStartKey"] = {
                attr: _ser(partition),
                SORT_ATTR: _ser(sort_value),
                "pk": _ser(_ticket_pk(ticket_id)),
                "sk": _ser(TICKET_SK),
            }
        resp = self.client.query(**kwargs)
        items = [_ticket_from_item(item) for item in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        token = None
        if last:
            token = _encode_token(index, last[SORT_ATTR]["S"], last["pk"]["S"].removeprefix("TICKET#"))
        return TicketPage(items=items, next_token=token)

    # --- comments ------------------------------------------------------------------------

    def add_comment(self, comment: Comment, *, message_ids: Sequence[str] = ()) -> None:
        """Store a comment and touch its ticket's `updated_at`, in one transaction."""
        data = comment.model_dump(mode="json", exclude_none=True)
        created = data["created_at"]
        data.update(pk=_ticket_pk(comment.ticket_id), sk=f"COMMENT#{created}#{comment.id}", entity="comment")
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": _to_item(data),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": _ser(_ticket_pk(comment.ticket_id)), "sk": _ser(TICKET_SK)},
                    "UpdateExpression": "SET updated_at = :now ADD comment_count :one",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":now": _ser(created), ":one": _ser(1)},
                }
            },
        ]
        items += [self._message_id_put(mid, comment.ticket_id) for mid in message_ids]
        self._transact(items, collision_id=None)

    # --- email threading -----------------------------------------------------------------

    def find_ticket_by_message_ids(self, message_ids: Iterable[str]) -> str | None:
        """Return the id of the ticket that one of these Message-IDs belongs to, if any."""
        wanted = list(dict.fromkeys(message_ids))[-100:]  # BatchGetItem reads at most 100 keys
        if not wanted:
            return None
        keys = [{"pk": _ser(f"MSG#{mid}"), "sk": _ser("MSG")} for mid in wanted]
        resp = self.client.batch_get_item(RequestItems={self.table_name: {"Keys": keys}})
        found = {
            i["pk"]["S"].removeprefix("MSG#"): i["ticket_id"]["S"] for i in resp["Responses"][self.table_name]
        }
        # The most recent reference names the closest message in the thread.
        for mid in reversed(wanted):
            if mid in found:
                return found[mid]
        return None

    def add_message_ids(self, ticket_id: str, message_ids: Sequence[str]) -> None:
        """Record Message-IDs (e.g. of mail we sent) as belonging to a ticket."""
        for mid in message_ids:
            self.client.put_item(
                TableName=self.table_name,
                Item=_to_item({"pk": f"MSG#{mid}", "sk": "MSG", "ticket_id": ticket_id, "entity": "message"}),
            )

    # --- contacts ------------------------------------------------------------------------

    def put_contact(self, contact: Contact) -> None:
        """Register (or re-register) an address or a domain as a contact of a tenant."""
        data = contact.model_dump(mode="json", exclude_none=True)
        data.update(pk=CONTACTS_PK, sk=contact.address, entity="contact")
        self.client.put_item(TableName=self.table_name, Item=_to_item(data))

    def delete_contact(self, address: str) -> bool:
        """Remove a contact; return whether it existed."""
        resp = self.client.delete_item(
            TableName=self.table_name,
            Key={"pk": _ser(CONTACTS_PK), "sk": _ser(address)},
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in resp

    def list_contacts(self, tenant: str | None = None) -> list[Contact]:
        """All contacts, or those of one tenant."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _ser(CONTACTS_PK)},
        }
        if tenant:
            kwargs["FilterExpression"] = "tenant = :t"
            kwargs["ExpressionAttributeValues"][":t"] = _ser(tenant)
        contacts: list[Contact] = []
        while True:
            resp = self.client.query(**kwargs)
            for item in resp.get("Items", []):
                data = {k: v for k, v in _from_item(item).items() if k not in ("pk", "sk", "entity")}
                contacts.append(Contact.model_validate(data))
            if "LastEvaluatedKey" not in resp:
                return contacts
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def find_contact(self, email: str) -> Contact | None:
        """The contact for an address: the address itself first, else its domain."""
        email = email.lower()
        domain = email.rpartition("@")[2]
        keys = [{"pk": _ser(CONTACTS_PK), "sk": _ser(k)} for k in dict.fromkeys([email, domain]) if k]
        resp = self.client.batch_get_item(RequestItems={self.table_name: {"Keys": keys}})
        by_key = {i["sk"]["S"]: i for i in resp["Responses"][self.table_name]}
        for key in (email, domain):
            if key in by_key:
                data = {k: v for k, v in _from_item(by_key[key]).items() if k not in ("pk", "sk", "entity")}
                return Contact.model_validate(data)
        return None

    # --- paging and rate limits ----------------------------------------------------------

    def claim_once(self, key: str, ttl_seconds: int, now: float | None = None) -> bool:
        """Take a time-limited claim on `key`; False when it is already held (rate limits)."""
        now = time.time() if now is None else now
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_to_item({"pk": f"RATE#{key}", "sk": "RATE", TTL_ATTR: int(now + ttl_seconds)}),
                # DynamoDB's TTL deletes lazily: an expired claim still present counts as free.
                ConditionExpression="attribute_not_exists(pk) OR #ttl < :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTR},
                ExpressionAttributeValues={":now": _ser(int(now))},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- helpers -------------------------------------------------------------------------

    def _message_id_put(self, message_id: str, ticket_id: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _to_item(
                    {"pk": f"MSG#{message_id}", "sk": "MSG", "ticket_id": ticket_id, "entity": "message"}
                ),
            }
        }

    def _link_update(
        self, other: str, ticket_id: str, *, add: bool, tenant: str | None, needs_incident: bool
    ) -> dict[str, Any]:
        conditions = ["attribute_exists(pk)"]
        values: dict[str, Any] = {":me": {"SS": [ticket_id]}, ":now": _ser(_now_iso()), ":one": _ser(1)}
        names: dict[str, str] = {}
        if tenant is not None:
            conditions.append("tenant = :tenant")
            values[":tenant"] = _ser(tenant)
        if needs_incident:
            conditions.append("#type = :incident")
            names["#type"] = "type"
            values[":incident"] = _ser(TicketType.INCIDENT.value)
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": _ser(_ticket_pk(other)), "sk": _ser(TICKET_SK)},
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
        return {"Update": update}

    def _transact(self, items: list[dict[str, Any]], *, collision_id: str | None) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                if collision_id is not None:
                    raise IdCollision(collision_id) from exc
                raise VersionConflict("") from exc
            failed = [
                _key_id(items[i]) for i, code in enumerate(reasons) if code == "ConditionalCheckFailed" and i > 0
            ]
            if failed:
                raise InvalidInput(
                    f"related ticket {failed[0]} does not exist or cannot be linked here", field="related"
                ) from exc
            raise


def _key_id(item: dict[str, Any]) -> str:
    op = next(iter(item.values()))
    return str(op["Key"]["pk"]["S"]).removeprefix("TICKET#") if "Key" in op else "?"


def _now_iso() -> str:
    return iso(utcnow())
