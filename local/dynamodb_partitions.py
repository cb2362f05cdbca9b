"""Queries that read one partition, not the whole table, for moto's DynamoDB.

moto 5.2.5's `Table.query` starts from `all_items()`: every item of the table, sorted, then
filtered by the partition key. Every query (a ticket with its comments, a page of a list) so
costs O(n log n) in the size of the *table*: 200 ms at 20,000 items, and growing for as long as
the stack runs. DynamoDB reads only the partition, and with `Limit` only as far as the page goes.

This module keeps, beside moto's items, the order of each secondary index's partitions (sort keys
as moto sorts them: the index's range key, then the table's keys) and hands `Table.query` the
candidates moto would have kept: the base table's partition, or the index partition's next
`Limit + 1` items after `ExclusiveStartKey` in the query's direction (all of the partition when a
range condition or a legacy filter decides which items count). moto then runs its own query code
on them unchanged, so results, `LastEvaluatedKey`, projections and filters are moto's.

The order is kept up to date by every write (`reindex`, called by the adapter's write hooks) and
built from the table's items the first time a table is queried, or again when its indexes change.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from typing import Any

_local = threading.local()

SortKey = tuple[Any, ...]
Primary = tuple[Any, Any]  # (hash DynamoType, range DynamoType or None)


@dataclass(frozen=True)
class _IndexShape:
    name: str
    hash_attrs: tuple[str, ...]
    range_attrs: tuple[str, ...]


@dataclass
class _Partition:
    keys: list[SortKey] = field(default_factory=list)  # sorted
    primaries: dict[SortKey, Primary] = field(default_factory=dict)


class TablePartitions:
    """The sorted partitions of every secondary index of one table."""

    def __init__(self, table: Any) -> None:
        self.signature = _signature(table)
        self.shapes = {shape.name: shape for shape in _shapes(table)}
        self.partitions: dict[str, dict[tuple[Any, ...], _Partition]] = {name: {} for name in self.shapes}
        self.entries: dict[Primary, list[tuple[str, tuple[Any, ...], SortKey]]] = {}
        for item in _ORIGINAL_ALL_ITEMS(table):
            self._add(table, item)

    def _add(self, table: Any, item: Any) -> None:
        primary = (item.hash_key, item.range_key)
        entries = []
        for shape in self.shapes.values():
            attrs = item.attrs
            if not all(a in attrs for a in shape.hash_attrs + shape.range_attrs):
                continue  # DynamoDB leaves an item out of an index that lacks one of its keys
            partition_key = tuple(attrs[a] for a in shape.hash_attrs)
            sort_key = _sort_key(shape, table, lambda a, attrs=attrs: attrs[a].cast_value)
            partition = self.partitions[shape.name].setdefault(partition_key, _Partition())
            insort(partition.keys, sort_key)
            partition.primaries[sort_key] = primary
            entries.append((shape.name, partition_key, sort_key))
        if entries:
            self.entries[primary] = entries

    def _remove(self, primary: Primary) -> None:
        for name, partition_key, sort_key in self.entries.pop(primary, []):
            partitions = self.partitions[name]
            partition = partitions[partition_key]
            at = bisect_left(partition.keys, sort_key)
            if at < len(partition.keys) and partition.keys[at] == sort_key:
                del partition.keys[at]
            partition.primaries.pop(sort_key, None)
            if not partition.keys:
                del partitions[partition_key]

    def reindex(self, table: Any, hash_value: Any, range_value: Any) -> None:
        self._remove((hash_value, range_value))
        item = _lookup(table, (hash_value, range_value))
        if item is not None:
            self._add(table, item)

    def candidates(
        self,
        table: Any,
        index_name: str,
        hash_conditions: dict[str, Any],
        limit: int | None,
        start_key: dict[str, Any] | None,
        forward: bool,
        whole_partition: bool,
    ) -> list[Any] | None:
        """The items of the partition the query names, as few as decide its answer; None: cannot tell."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        shape = self.shapes.get(index_name)
        if shape is None or set(hash_conditions) != set(shape.hash_attrs):
            return None
        partition = self.partitions[shape.name].get(tuple(hash_conditions[a] for a in shape.hash_attrs))
        if partition is None:
            return []
        keys = partition.keys
        if not whole_partition and limit is not None:
            wanted = limit + 1  # one more than the page: moto sets LastEvaluatedKey when it sees it
            if start_key:
                try:
                    start = _sort_key(shape, table, lambda a: DynamoType(start_key[a]).cast_value)
                except (KeyError, TypeError, AttributeError):
                    start = None
                if start is not None:
                    if forward:
                        at = bisect_right(keys, start)
                        keys = keys[at : at + wanted]
                    else:
                        at = bisect_left(keys, start)
                        keys = keys[max(0, at - wanted) : at]
            else:
                keys = keys[:wanted] if forward else keys[-wanted:]
        found = (_lookup(table, partition.primaries[key]) for key in keys)
        return [item for item in found if item is not None]


def _sort_key(shape: _IndexShape, table: Any, value: Any) -> SortKey:
    """As moto sorts an index's items: its range keys, then the table's hash and range keys."""
    attrs = [*shape.range_attrs, table.hash_key_attr]
    if table.range_key_attr:
        attrs.append(table.range_key_attr)
    return tuple(value(a) for a in attrs)


def _shapes(table: Any) -> list[_IndexShape]:
    shapes = []
    for index in table.all_indexes():
        hash_attrs = tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
        range_attrs = tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE")
        if hash_attrs:
            shapes.append(_IndexShape(index.name, hash_attrs, range_attrs))
    return shapes


def _signature(table: Any) -> tuple[Any, ...]:
    shapes = [(s.name, s.hash_attrs, s.range_attrs) for s in _shapes(table)]
    return (*shapes, table.hash_key_attr, table.range_key_attr)


def _lookup(table: Any, primary: Primary) -> Any:
    hash_value, range_value = primary
    found = table.items.get(hash_value)  # .get: moto's items is a defaultdict
    if found is None or table.range_key_attr is None:
        return found
    return found.get(range_value)


def partitions_of(table: Any) -> TablePartitions:
    """The table's partitions, built now when the table has none or its indexes changed."""
    current = table.__dict__.get("_local_partitions")
    if current is None or current.signature != _signature(table):
        current = TablePartitions(table)
        table.__dict__["_local_partitions"] = current
    return current


def reindex(table: Any, hash_value: Any, range_value: Any) -> None:
    """After a write of one item: move it in every index partition (nothing until first queried)."""
    current = table.__dict__.get("_local_partitions")
    if current is not None:
        current.reindex(table, hash_value, range_value)


# --- the replacements for moto's Table.query, Table.all_items and Table.get_item ----------------

_ORIGINAL_ALL_ITEMS: Any = None
_ORIGINAL_QUERY: Any = None
_ORIGINAL_GET_ITEM: Any = None


def bind(all_items: Any, query_method: Any, get_item: Any) -> None:
    """Record moto's own methods, which the replacements call."""
    global _ORIGINAL_ALL_ITEMS, _ORIGINAL_QUERY, _ORIGINAL_GET_ITEM
    _ORIGINAL_ALL_ITEMS, _ORIGINAL_QUERY, _ORIGINAL_GET_ITEM = all_items, query_method, get_item


def all_items(self: Any) -> list[Any]:
    """Table.all_items; inside `query`, only the candidates chosen for it."""
    chosen = getattr(_local, "candidates", None)
    if chosen is not None and chosen[0] is self:
        return list(chosen[1])
    return list(_ORIGINAL_ALL_ITEMS(self))


def query(
    self: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    limit: int,
    exclusive_start_key: dict[str, Any],
    scan_index_forward: bool,
    projection_expressions: Any,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, Any]] | None = None,
    range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
    **filter_kwargs: Any,
) -> Any:
    """Table.query, run by moto on the candidates of one partition."""
    chosen: list[Any] | None = None
    if index_name is None:
        if hash_key is not None:
            found = self.items.get(hash_key)
            chosen = [] if found is None else list(found.values()) if self.range_key_attr else [found]
    else:
        conditions = dict(hash_key_conditions or [])
        chosen = partitions_of(self).candidates(
            self,
            index_name,
            conditions,
            limit,
            exclusive_start_key,
            scan_index_forward is not False,
            whole_partition=bool(range_comparison or range_key_conditions or filter_kwargs),
        )
    args = (hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward)
    kwargs = dict(
        projection_expressions=projection_expressions,
        index_name=index_name,
        consistent_read=consistent_read,
        filter_expression=filter_expression,
        hash_key_conditions=hash_key_conditions,
        range_key_conditions=range_key_conditions,
        **filter_kwargs,
    )
    if chosen is None:
        return _ORIGINAL_QUERY(self, *args, **kwargs)
    _local.candidates = (self, chosen)
    try:
        return _ORIGINAL_QUERY(self, *args, **kwargs)
    finally:
        _local.candidates = None


def get_item(self: Any, hash_key: Any, range_key: Any = None, projection_expression: Any = None) -> Any:
    """Table.get_item without adding an empty partition to moto's defaultdict for a missing key."""
    if range_key and hash_key not in self.items:
        return None
    return _ORIGINAL_GET_ITEM(self, hash_key, range_key, projection_expression)
