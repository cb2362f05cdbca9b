"""An adapter around moto's DynamoDB that lets the local stack run for days.

moto 5.2.5 has four behaviours that a long-running stack cannot live with; `install()` (called
at stack start, before moto serves a request) replaces exactly those, and nothing else:

1. `DynamoDBBackend.transact_write_items` deep-copies every table a transaction names, once per
   transaction item, then on a cancelled transaction *replaces* the table object with the copy.
   The copy is as slow as the table is large (the whole table and every stream record), and the
   replacement orphans the stream shard that shard iterators hold: the stream poller keeps
   reading the old table's shard, gets the cancelled transaction's records (which never happened)
   and never sees another one. Here a transaction remembers only the items it touches and, when
   it is cancelled, puts them back into the *same* table object and drops the stream records it
   appended, as DynamoDB shows a cancelled transaction: no item changed, no stream record.
2. `StreamShard` keeps every stream record for ever (DynamoDB keeps them 24 hours). `trim_stream`
   drops the records the stack's poller has read, keeping a small tail; sequence numbers keep
   counting (the trimmed records move the shard's starting sequence number, as the trim horizon
   moves on AWS), and an iterator behind the horizon reads from the oldest record left.
3. `DynamoDBStreamsBackend` keeps every shard iterator it ever handed out (the poller gets a new
   one four times a second). Here only the newest `ITERATORS_KEPT` stay valid (AWS: 15 minutes).
4. `Table.query` sorts the whole table for every query; `local.dynamodb_partitions` hands it only
   the partition the query reads (see there).
5. Every moto model object ever made (`BaseModel.__new__`) is appended to its class's
   `instances_tracked` list, for moto's dashboard (`/moto-api/data.json`), and never dropped:
   each query result's item copies, each stream record, each shard iterator, each SQS message, in
   any service. Here models are made without that registry (the local stack has no dashboard).

Writers (puts, updates, deletes, transactions) and stream reads and trims share one lock: moto
serves requests on many threads, and a cancelled transaction can take back its stream records
only if no other writer appended one in between.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from local import dynamodb_partitions as partitions
from local import logs

log = logs.get("aws")

MOTO_VERSION = "5.2.5"  # the moto whose source this adapter replaces; another one is reported
ITERATORS_KEPT = 1024  # shard iterators that stay valid; the poller needs the newest one only
STREAM_RECORDS_KEPT = 100  # consumed records left on a shard, for a script reading the stream too

_lock = threading.RLock()
_originals: dict[tuple[type, str], Any] = {}


def installed() -> bool:
    return bool(_originals)


def install() -> None:
    """Replace moto's transaction, stream shard and shard iterator behaviour (idempotent)."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    if installed():
        return
    if moto.__version__ != MOTO_VERSION:
        log.warning(
            "moto %s: the DynamoDB adapter was written against %s; the local tests say whether it still fits",
            moto.__version__,
            MOTO_VERSION,
        )
    _replace(DynamoDBBackend, "transact_write_items", transact_write_items)
    _replace(DynamoDBBackend, "execute_statement", _locked(DynamoDBBackend.execute_statement))
    _replace(DynamoDBBackend, "update_item", _update_item(DynamoDBBackend.update_item))
    _replace(Table, "put_item", _table_put_item(Table.put_item))
    _replace(Table, "delete_item", _table_delete_item(Table.delete_item))
    partitions.bind(Table.all_items, Table.query, Table.get_item)
    _replace(Table, "all_items", partitions.all_items)
    _replace(Table, "query", _locked(partitions.query))
    _replace(Table, "get_item", partitions.get_item)
    _replace(StreamShard, "get", _shard_get)
    _untrack_models()
    _replace(DynamoDBStreamsBackend, "get_shard_iterator", _bounded(DynamoDBStreamsBackend.get_shard_iterator))
    _replace(DynamoDBStreamsBackend, "get_records", _bounded(DynamoDBStreamsBackend.get_records))


def uninstall() -> None:
    """Put moto's own methods back (for tests that compare with moto's behaviour)."""
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()


@contextmanager
def adapter() -> Iterator[None]:
    """The adapter installed for the duration of a block (it was not installed before)."""
    was = installed()
    install()
    try:
        yield
    finally:
        if not was:
            uninstall()


def _untrack_models() -> None:
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data

    def untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    _replace(BaseModel, "__new__", staticmethod(untracked_new))
    reset_model_data()  # what was tracked before the adapter is let go too


def _replace(owner: type, name: str, replacement: Any) -> None:
    _originals[(owner, name)] = owner.__dict__[name]
    setattr(owner, name, replacement)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return locked


# Every write that changes an item moves it in the query partitions too.


def _table_put_item(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            item = method(self, *args, **kwargs)
            partitions.reindex(self, item.hash_key, item.range_key)
            return item

    return put_item


def _table_delete_item(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _lock:
            item = method(self, hash_key, range_key)
            partitions.reindex(self, hash_key, range_key)
            return item

    return delete_item


def _update_item(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType

        with _lock:
            try:
                return method(self, table_name, key, *args, **kwargs)
            finally:
                # moto changes the item in place, and may have changed it before it failed.
                table = self.tables.get(table_name)
                if table is not None and isinstance(key, dict) and table.hash_key_attr in key:
                    range_attr = table.range_key_attr
                    range_value = DynamoType(key[range_attr]) if range_attr and range_attr in key else None
                    partitions.reindex(table, DynamoType(key[table.hash_key_attr]), range_value)

    return update_item


# --- 1. transactions that roll back in place -------------------------------------------------


@dataclass
class _Undo:
    """What a transaction changed: the items before it touched them, and each shard's length."""

    items: dict[tuple[int, Any, Any], tuple[Any, Any, Any, Any]] = field(default_factory=dict)
    shards: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def remember(self, table: Any, key: dict[str, Any]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        shard = table.stream_shard
        if shard is not None and id(shard) not in self.shards:
            self.shards[id(shard)] = (shard, len(shard.items))
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        slot = (id(table), hash_value, range_value)
        if slot in self.items:
            return
        before = table.get_item(hash_value, range_value)
        # moto updates items in place: only a copy keeps what the item was.
        self.items[slot] = (table, hash_value, range_value, copy.deepcopy(before))

    def restore(self) -> None:
        for table, hash_value, range_value, before in self.items.values():
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before
            else:
                bucket = table.items[hash_value]
                if before is None:
                    bucket.pop(range_value, None)
                    if not bucket:
                        del table.items[hash_value]
                else:
                    bucket[range_value] = before
            partitions.reindex(table, hash_value, range_value)
        for shard, length in self.shards.values():
            del shard.items[length:]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:  # noqa: C901 - moto 5.2.5 line for line but the rollback, to diff against it
    """moto 5.2.5's TransactWriteItems, checks and errors unchanged, with the in-place rollback."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _lock:
        undo = _Undo()
        target_items: set[tuple[str, str]] = set()
        errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                table = self.get_table(table_name)
                if op_type == "Put":
                    attrs = op["Item"]
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                unique = (str(table_name), str(dict(sorted(key.items()))))
                if unique in target_items:
                    raise MultipleTransactionsException()
                target_items.add(unique)

                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition = get_filter_expression(condition_expression, names, values)
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type != "ConditionCheck":
                    undo.remember(table, key)
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                undo.restore()
                raise
            except ConditionalCheckFailed as exc:
                errors.append(("ConditionalCheckFailed", str(exc.message), original_item))
            except Exception as exc:
                errors.append((type(exc).__name__, str(exc), original_item))
        if any(code is not None for code, _, _ in errors):
            undo.restore()
            raise TransactionCanceledException(errors)


# --- 2. stream records trimmed once consumed -------------------------------------------------


def _shard_get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
    """StreamShard.get, reading from the oldest record left when `start` is behind the horizon."""
    with _lock:
        offset = max(0, start - self.starting_sequence_number)
        return [record.to_json() for record in self.items[offset : offset + quantity]]


def trim_stream(
    account_id: str, region: str, table_name: str, through: int, keep: int = STREAM_RECORDS_KEPT
) -> int:
    """Drop the table's stream records up to sequence number `through`, but the last `keep` of them.

    Returns how many records were dropped. Sequence numbers stay as they were: the shard's
    starting sequence number moves up by as many records as were dropped.
    """
    from moto.dynamodb.models import dynamodb_backends

    with _lock:
        table = dynamodb_backends[account_id][region].get_table(table_name)
        shard = table.stream_shard
        if shard is None:
            return 0
        consumed = through - shard.starting_sequence_number + 1
        drop = max(0, min(consumed - keep, len(shard.items)))
        if drop:
            del shard.items[:drop]
            shard.starting_sequence_number += drop
        return drop


# --- 3. a bounded set of shard iterators ----------------------------------------------------


def streams_backend(account_id: str, region: str) -> Any:
    """moto's DynamoDB Streams backend of one account and region."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    return dynamodbstreams_backends[account_id][region]


def _bounded(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def bounded(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            result = method(self, *args, **kwargs)
            iterators = self.shard_iterators
            # Insertion order is age: the oldest iterators go first.
            for arn in list(iterators)[: max(0, len(iterators) - ITERATORS_KEPT)]:
                del iterators[arn]
            return result

    return bounded
