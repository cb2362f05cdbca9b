"""The single table: its codec, one transaction helper and one batch retry policy."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from support_common.aws_errors import CONDITION_FAILED, Unprocessed, cancellation_reasons, error_code
from support_common.models import iso, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

TTL_ATTR = "expiration"
# One policy for every batch call: DynamoDB returns what it could not do now; back off and retry,
# and when it still cannot, fail (the caller's invocation is retried), never drop items silently.
BATCH_ATTEMPTS = 5
BATCH_BACKOFF_SECONDS = 0.05

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def ser(value: Any) -> dict[str, Any]:
    """One value as a DynamoDB attribute value."""
    return dict(_serializer.serialize(value))


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """A dict as a DynamoDB item; None, empty lists and empty sets are left out."""
    return {k: ser(v) for k, v in data.items() if v is not None and v != [] and v != set()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": ser(pk), "sk": ser(sk)}


@dataclass(frozen=True)
class Table:
    """The table's name and the client that reaches it."""

    name: str
    client: DynamoDBClient


@dataclass(frozen=True)
class TxItem:
    """One item of a transaction and what it means when its condition fails.

    `on_condition_failed` builds the exception the caller gets (None: the item has no condition).
    """

    op: dict[str, Any]
    on_condition_failed: Callable[[], Exception] | None = None


def transact(table: Table, items: Sequence[TxItem], *, client_token: str | None = None) -> None:
    """Write `items` in one transaction.

    A cancellation by a failed condition raises the first such item's own exception; a cancellation
    for any other reason (throttling, a conflicting transaction) re-raises the ClientError, which
    `aws_errors.is_transient` classifies. `client_token` makes a retry of the same transaction
    within ten minutes succeed without writing again (its first answer may have been lost).
    """
    ops = cast("list[TransactWriteItemTypeDef]", [item.op for item in items])
    try:
        if client_token is None:
            table.client.transact_write_items(TransactItems=ops)
        else:
            table.client.transact_write_items(TransactItems=ops, ClientRequestToken=client_token)
    except ClientError as exc:
        reasons = cancellation_reasons(exc)
        for item, reason in zip(items, reasons, strict=False):
            if reason == "ConditionalCheckFailed" and item.on_condition_failed is not None:
                raise item.on_condition_failed() from exc
        raise


def put_if_absent(table: Table, item: dict[str, Any], on_condition_failed: Callable[[], Exception]) -> None:
    """A PutItem that must not overwrite an item with the same key."""
    try:
        table.client.put_item(TableName=table.name, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        if error_code(exc) == CONDITION_FAILED:
            raise on_condition_failed() from exc
        raise


def batch_get(table: Table, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of up to 100 keys (missing ones left out), consistently read, under the batch policy."""
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table.name: {"Keys": list(keys), "ConsistentRead": True}}
    for attempt in range(BATCH_ATTEMPTS):
        resp = table.client.batch_get_item(RequestItems=pending)
        found += resp.get("Responses", {}).get(table.name, [])
        pending = dict(resp.get("UnprocessedKeys") or {})
        if not pending:
            return found
        time.sleep(BATCH_BACKOFF_SECONDS * 2**attempt)
    raise Unprocessed(f"DynamoDB left keys unprocessed after {BATCH_ATTEMPTS} attempts")


def batch_put(table: Table, items: Sequence[dict[str, Any]]) -> None:
    """Put items, 25 a request, under the batch policy."""
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table.name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        for attempt in range(BATCH_ATTEMPTS):
            resp = table.client.batch_write_item(RequestItems=pending)
            pending = dict(resp.get("UnprocessedItems") or {})
            if not pending:
                break
            time.sleep(BATCH_BACKOFF_SECONDS * 2**attempt)
        else:
            raise Unprocessed(f"DynamoDB left items unprocessed after {BATCH_ATTEMPTS} attempts")


LEASE_SENDING = "sending"


def claim_lease(
    table: Table, item_key: dict[str, Any], fields: dict[str, Any], token: str, lease_until: float, now: float
) -> dict[str, Any] | None:
    """Take a once-only claim on a send: a conditional put in state `sending` with a token and a
    lease. A crashed claim (lease over) is retakeable. Returns None when claimed (also when the claim
    met is this one's own, written by an attempt whose answer was lost), else the item
    that holds the send (sent, or a live claim elsewhere) for the caller to read."""
    item = {
        **item_key,
        **to_item(
            {
                **fields,
                "state": LEASE_SENDING,
                "token": token,
                "lease_until": math.ceil(lease_until),
                "claimed_at": iso(utcnow()),
            }
        ),
    }
    try:
        table.client.put_item(
            TableName=table.name,
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR (#state = :sending AND lease_until < :now)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":sending": ser(LEASE_SENDING), ":now": ser(math.floor(now))},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) != CONDITION_FAILED:
            raise
        held = from_item(cast("dict[str, Any]", exc.response.get("Item") or {}))
        if held.get("state") == LEASE_SENDING and held.get("token") == token:
            # Our own claim: the SDK's first attempt was applied and its answer lost, so this
            # retry met it. Read as someone else's claim, the send would wait out its own lease.
            return None
        return held
    return None
