"""The DynamoDB single table: the only module that knows key shapes and index attributes.

Items (pk / sk):
- ticket            TICKET#<id> / TICKET           plus list-index attributes below
- comment           TICKET#<id> / COMMENT#<created_at>#<comment id>
- page record       TICKET#<id> / PAGE#<level>     (one per escalation level, conditional put)
- message id        MSG#<message-id> / MSG          threads email replies to a ticket
- mail marker       MAIL#<SES messageId> / MAIL     what an inbound message became (one ticket or comment)
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
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
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
# Where Powertools idempotency keeps its records in this table (DynamoDBPersistenceLayer's arguments).
# Its attribute names stay apart from a ticket's own (`status`), since both live in one table.
IDEMPOTENCY_LAYOUT: dict[str, str] = {
    "key_attr": "pk",
    "sort_key_attr": "sk",
    "static_pk_value": "IDEMPOTENCY#intake",
    "expiry_attr": TTL_ATTR,
    "status_attr": "idempotency_status",
    "data_attr": "idempotency_data",
    "validation_key_attr": "idempotency_validation",
}

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
        # Validated, not copied: callers may pass plain strings for enum fields.
        updated = Ticket.model_validate({**ticket.model_dump(), **changes, "version": expected_version + 1})
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
        items = self._comment_items(comment, message_ids)
        self._transact(items, collision_id=None)

    def _comment_items(self, comment: Comment, message_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Transaction items of a comment: the comment, its ticket's `updated_at`, its Message-IDs."""
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
        return items + [self._message_id_put(mid, comment.ticket_id) for mid in message_ids]

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

    # --- paging: page records, TICKET#<id> / PAGE#<level> ---------------------------------
    # A page record is claimed (state `sending`, with a lease and a token) before the page is
    # published, then marked `sent`. The lease ends when the claiming invocation can no longer run,
    # so a crashed claim becomes retakeable and a page is never lost, only (rarely) repeated.

    def claim_page(self, ticket_id: str, level: int, *, token: str, lease_until: float, now: float) -> PageClaim:
        """Take the right to send the page (ticket, level), or say who already has it."""
        item = {
            "pk": _ticket_pk(ticket_id),
            "sk": _page_sk(level),
            "entity": "page",
            "ticket_id": ticket_id,
            "level": level,
            "state": PAGE_SENDING,
            "token": token,
            "lease_until": math.ceil(lease_until),
            "claimed_at": iso(utcnow()),
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_to_item(item),
                ConditionExpression="attribute_not_exists(pk) OR (#state = :sending AND lease_until < :now)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":sending": _ser(PAGE_SENDING), ":now": _ser(math.floor(now))},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = _from_item(exc.response.get("Item") or {})
            if old.get("state") == PAGE_SENT:
                return PageClaim(ClaimStatus.SENT, scheduled=bool(old.get("scheduled")))
            return PageClaim(ClaimStatus.BUSY)
        return PageClaim(ClaimStatus.CLAIMED)

    def finish_page(
        self, ticket_id: str, level: int, *, token: str, message_id: str, sent_at: str, scheduled: bool
    ) -> bool:
        """Mark a claimed page sent; False when the claim was lost to another sender meanwhile."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": _ser(_ticket_pk(ticket_id)), "sk": _ser(_page_sk(level))},
                UpdateExpression="SET #state = :sent, message_id = :mid, sent_at = :at, scheduled = :sch "
                "REMOVE lease_until",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={
                    ":sent": _ser(PAGE_SENT),
                    ":mid": _ser(message_id),
                    ":at": _ser(sent_at),
                    ":sch": _ser(scheduled),
                    ":token": _ser(token),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_page(self, ticket_id: str, level: int, *, token: str) -> None:
        """Give up a claim after a failed publish, so that the retry can page at once."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"pk": _ser(_ticket_pk(ticket_id)), "sk": _ser(_page_sk(level))},
                ConditionExpression="#token = :token AND #state = :sending",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={":token": _ser(token), ":sending": _ser(PAGE_SENDING)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def mark_page_scheduled(self, ticket_id: str, level: int) -> None:
        """Record that the next level's timer exists for a page already sent."""
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": _ser(_ticket_pk(ticket_id)), "sk": _ser(_page_sk(level))},
            UpdateExpression="SET scheduled = :true",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":true": _ser(True)},
        )

    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        """The current state of several tickets (BatchGetItem, 100 a request), by id; missing ones left out."""
        found: dict[str, Ticket] = {}
        wanted = list(dict.fromkeys(ticket_ids))
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [
                        {"pk": _ser(_ticket_pk(i)), "sk": _ser(TICKET_SK)} for i in wanted[start : start + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            for _ in range(5):
                resp = self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table_name, []):
                    ticket = _ticket_from_item(item)
                    found[ticket.id] = ticket
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise RuntimeError("DynamoDB left keys unprocessed after 5 attempts")
        return found

    def list_pages(self, ticket_id: str) -> list[PageRecord]:
        """The page records of a ticket, lowest level first."""
        resp = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :page)",
            ExpressionAttributeValues={":pk": _ser(_ticket_pk(ticket_id)), ":page": _ser("PAGE#")},
            ConsistentRead=True,
        )
        pages = [_page_from_item(item) for item in resp.get("Items", [])]
        return sorted(pages, key=lambda page: page.level)

    # --- email intake: MAIL#<SES messageId> / MAIL markers (issue 3) ---------------------

    def mail_lookup(self, ses_message_id: str, message_ids: Sequence[str], sender: str | None) -> MailLookup:
        """In one BatchGetItem: what this SES message already became, which tickets own
        `message_ids`, and the sender's contact (the address first, then its domain)."""
        keys: dict[tuple[str, str], None] = {(_mail_pk(ses_message_id), MAIL_SK): None}
        address = (sender or "").lower()
        domain = address.rpartition("@")[2] if "@" in address else ""
        for key in (address, domain):
            if key:
                keys[(CONTACTS_PK, key)] = None
        # BatchGetItem reads at most 100 keys; the latest references are the closest in the thread.
        for mid in list(dict.fromkeys(message_ids))[-(100 - len(keys)) :]:
            keys[(f"MSG#{mid}", "MSG")] = None
        pending: dict[str, Any] = {
            self.table_name: {
                "Keys": [{"pk": _ser(pk), "sk": _ser(sk)} for pk, sk in keys],
                "ConsistentRead": True,
            }
        }
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for _ in range(MAIL_READ_ATTEMPTS):
            resp = self.client.batch_get_item(RequestItems=pending)
            for item in resp["Responses"].get(self.table_name, []):
                found[(item["pk"]["S"], item["sk"]["S"])] = _from_item(item)
            pending = resp.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("DynamoDB left keys unprocessed; retry the message")
        marker = found.get((_mail_pk(ses_message_id), MAIL_SK))
        owners = {
            pk.removeprefix("MSG#"): str(item["ticket_id"]) for (pk, sk), item in found.items() if sk == "MSG"
        }
        contact = None
        for key in (address, domain):
            item = found.get((CONTACTS_PK, key)) if key else None
            if item is not None:
                contact = Contact.model_validate(
                    {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
                )
                break
        filed = None
        if marker is not None:
            filed = MailFiled(ticket_id=str(marker["ticket_id"]), comment_id=marker.get("comment_id"))
        return MailLookup(filed=filed, owners=owners, contact=contact)

    def create_mail_ticket(
        self,
        ticket: Ticket,
        ses_message_id: str,
        *,
        link_tenant: str | None = None,
        require_incidents: bool = False,
    ) -> None:
        """Write a ticket from email, its Message-IDs and the SES message's marker in one transaction.

        Raises IdCollision when the ticket id is taken and MailAlreadyFiled when the marker exists.
        """
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": _ticket_item(ticket),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        items += [self._message_id_put(mid, ticket.id) for mid in ticket.message_ids]
        items += [
            self._link_update(other, ticket.id, add=True, tenant=link_tenant, needs_incident=require_incidents)
            for other in ticket.related
        ]
        items.append(self._mail_marker_put(ses_message_id, ticket.id, None))
        self._transact_mail(items, ses_message_id, collision=IdCollision(ticket.id))

    def add_mail_comment(self, comment: Comment, ses_message_id: str, message_ids: Sequence[str] = ()) -> None:
        """Store a comment from email with its Message-IDs and the SES message's marker, in one transaction.

        Raises MailAlreadyFiled when the marker exists and VersionConflict when the ticket is gone.
        """
        items = self._comment_items(comment, message_ids)
        items.append(self._mail_marker_put(ses_message_id, comment.ticket_id, comment.id))
        self._transact_mail(items, ses_message_id, collision=VersionConflict(comment.ticket_id))

    def link_message_ids(self, ticket_id: str, message_ids: Sequence[str]) -> None:
        """Record Message-IDs (e.g. of an acknowledgement we sent) as a ticket's, in one BatchWriteItem."""
        wanted = list(dict.fromkeys(message_ids))
        for start in range(0, len(wanted), 25):
            requests: list[Any] = [
                {"PutRequest": {"Item": self._message_id_put(mid, ticket_id)["Put"]["Item"]}}
                for mid in wanted[start : start + 25]
            ]
            pending: dict[str, Any] = {self.table_name: requests}
            for _ in range(MAIL_READ_ATTEMPTS):
                resp = self.client.batch_write_item(RequestItems=pending)
                pending = resp.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05)

    def _mail_marker_put(self, ses_message_id: str, ticket_id: str, comment_id: str | None) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _to_item(
                    {
                        "pk": _mail_pk(ses_message_id),
                        "sk": MAIL_SK,
                        "entity": "mail",
                        "ticket_id": ticket_id,
                        "comment_id": comment_id,
                        TTL_ATTR: int(time.time()) + MAIL_MARKER_TTL_SECONDS,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact_mail(self, items: list[dict[str, Any]], ses_message_id: str, *, collision: Exception) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) == len(items) and reasons[-1] == "ConditionalCheckFailed":
                raise MailAlreadyFiled(ses_message_id) from exc
            if "ConditionalCheckFailed" in reasons[:2]:
                raise collision from exc
            raise

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


# --- paging: page records and stream images -----------------------------------------------

PAGE_SENDING = "sending"
PAGE_SENT = "sent"


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # ours to publish
    SENT = "sent"  # someone already paged this level
    BUSY = "busy"  # another invocation holds a live claim


@dataclass(frozen=True)
class PageClaim:
    status: ClaimStatus
    # For SENT: whether the next level's timer was created after that page.
    scheduled: bool = False


@dataclass(frozen=True)
class PageRecord:
    ticket_id: str
    level: int
    state: str
    message_id: str | None
    sent_at: str | None
    scheduled: bool


def _page_sk(level: int) -> str:
    return f"PAGE#{level}"


def _page_from_item(item: dict[str, Any]) -> PageRecord:
    data = _from_item(item)
    return PageRecord(
        ticket_id=str(data["ticket_id"]),
        level=int(data["level"]),
        state=str(data["state"]),
        message_id=data.get("message_id"),
        sent_at=data.get("sent_at"),
        scheduled=bool(data.get("scheduled")),
    )


def ticket_from_image(image: dict[str, Any] | None) -> Ticket | None:
    """The ticket in a DynamoDB stream image, or None when the image is not a ticket item."""
    if not image or image.get("sk", {}).get("S") != TICKET_SK:
        return None
    return _ticket_from_item(image)


def is_ticket_key(keys: dict[str, Any]) -> bool:
    """Whether a stream record's Keys name a ticket item (not a comment, page or contact)."""
    return bool(keys.get("sk", {}).get("S") == TICKET_SK and keys.get("pk", {}).get("S", "").startswith("TICKET#"))


# --- email intake: markers and the repository as one inbound message sees it (issue 3) ----

MAIL_SK = "MAIL"
# SES retries a Lambda action for hours at most; a month covers replays of the raw mail by hand.
MAIL_MARKER_TTL_SECONDS = 30 * 24 * 3600
MAIL_READ_ATTEMPTS = 5


def _mail_pk(ses_message_id: str) -> str:
    return f"MAIL#{ses_message_id}"


class MailAlreadyFiled(Exception):
    """This SES message already became a ticket or a comment (a redelivery)."""


@dataclass(frozen=True)
class MailFiled:
    """What an SES message became: a ticket, or a comment on one."""

    ticket_id: str
    comment_id: str | None


@dataclass(frozen=True)
class MailLookup:
    """Everything intake reads from the table for one message, fetched in one request."""

    filed: MailFiled | None
    owners: dict[str, str]  # Message-ID -> the ticket it belongs to
    contact: Contact | None


class MailScopedRepository(TicketRepository):
    """The repository while filing one inbound message: its ticket or comment is written in the
    same transaction as the message's MAIL# marker, so a redelivered message never writes twice."""

    def __init__(self, base: TicketRepository, ses_message_id: str) -> None:
        super().__init__(base.table_name, base.client)
        self.ses_message_id = ses_message_id

    def create_ticket(
        self, ticket: Ticket, *, link_tenant: str | None = None, require_incidents: bool = False
    ) -> None:
        """Write the message's ticket with its marker (see create_mail_ticket)."""
        self.create_mail_ticket(
            ticket, self.ses_message_id, link_tenant=link_tenant, require_incidents=require_incidents
        )

    def add_comment(self, comment: Comment, *, message_ids: Sequence[str] = ()) -> None:
        """Write the message's comment with its marker (see add_mail_comment)."""
        self.add_mail_comment(comment, self.ses_message_id, message_ids)
