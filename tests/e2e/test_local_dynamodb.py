"""The local stack's adapter around moto's DynamoDB (local/dynamodb.py), on moto's backend in-process.

Each test runs the same client calls the functions make, with the adapter installed as the stack
installs it; the parity tests run them once more on moto's own code and compare the answers.
"""

from __future__ import annotations

import contextlib
import gc
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item

from local import cfn, dynamodb
from local.streams import StreamPoller, _MappingState

REGION = "eu-west-1"
TABLE = "tickets"


class Clients:
    def __init__(self) -> None:
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        cfn.create_table(self.ddb, "TicketsTable", TABLE)
        self.stream_arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        # moto's mock routes dynamodbstreams only at this endpoint.
        self.streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )

    @property
    def table(self) -> Any:
        return dynamodb_backends[cfn.ACCOUNT_ID][REGION].tables[TABLE]

    def iterator(self, kind: str = "TRIM_HORIZON") -> str:
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        return str(
            self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=kind
            )["ShardIterator"]
        )

    def read(self, iterator: str) -> tuple[list[str], str]:
        """The keys (pk) of the records the iterator reads, and the next iterator."""
        got = self.streams.get_records(ShardIterator=iterator)
        return [r["dynamodb"]["Keys"]["pk"]["S"] for r in got["Records"]], got["NextShardIterator"]

    def put(self, pk: str, sk: str = "TICKET", **attrs: str) -> None:
        item = {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}
        self.ddb.put_item(TableName=TABLE, Item=item)


@pytest.fixture
def adapted() -> Iterator[Clients]:
    with dynamodb.adapter(), mock_aws():
        yield Clients()


def _cancelled_create(clients: Clients, pk: str) -> list[str]:
    """A ticket put plus a link update of a ticket that does not exist: cancelled, as POST /tickets."""
    with pytest.raises(ClientError) as raised:
        clients.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": pk}, "sk": {"S": "TICKET"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "T#MISSING"}, "sk": {"S": "TICKET"}},
                        "UpdateExpression": "SET linked = :me",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":me": {"S": pk}},
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [r.get("Code", "None") for r in raised.value.response["CancellationReasons"]]


# --- transactions --------------------------------------------------------------------------


def test_transaction_cancelled_stream_reader_sees_later_writes_only(adapted: Clients) -> None:
    # GIVEN a stream reader that has read the table's first record
    adapted.put("T#A")
    seen, iterator = adapted.read(adapted.iterator())
    assert seen == ["T#A"]
    # WHEN a transaction is cancelled, then another item is written
    assert _cancelled_create(adapted, "T#CANCELLED") == ["None", "ConditionalCheckFailed"]
    adapted.put("T#AFTER")
    # THEN the same reader gets the later write, and nothing of the cancelled transaction
    seen, _ = adapted.read(iterator)
    assert seen == ["T#AFTER"]


def test_transaction_cancelled_table_object_and_untouched_items_kept(adapted: Clients) -> None:
    # GIVEN a table with an item the transaction does not touch and one it updates
    adapted.put("T#KEEP", title="kept")
    adapted.put("T#EDIT", title="before")
    table = adapted.table
    kept = table.items[next(k for k in table.items if k.value == "T#KEEP")]
    # WHEN a transaction updates one item, deletes another, puts a third, and is cancelled
    with pytest.raises(ClientError) as raised:
        adapted.ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "T#EDIT"}, "sk": {"S": "TICKET"}},
                        "UpdateExpression": "SET title = :t",
                        "ExpressionAttributeValues": {":t": {"S": "after"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "T#KEEP"}, "sk": {"S": "TICKET"}}}},
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "T#NEW"}, "sk": {"S": "TICKET"}}}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "T#MISSING"}, "sk": {"S": "TICKET"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    # THEN the answer is DynamoDB's, the table is the same object, and every item is as before
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert adapted.table is table
    assert table.items[next(k for k in table.items if k.value == "T#KEEP")] is kept
    scanned = {i["pk"]["S"]: i.get("title", {}).get("S") for i in adapted.ddb.scan(TableName=TABLE)["Items"]}
    assert scanned == {"T#KEEP": "kept", "T#EDIT": "before"}


def test_transaction_same_item_twice_rejected_and_nothing_written(adapted: Clients) -> None:
    # GIVEN a reader at the end of the stream
    _, iterator = adapted.read(adapted.iterator())
    # WHEN a transaction names one item twice
    item = {"pk": {"S": "T#TWICE"}, "sk": {"S": "TICKET"}}
    with pytest.raises(ClientError) as raised:
        adapted.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item}},
                {"Put": {"TableName": TABLE, "Item": item}},
            ]
        )
    # THEN it is a validation error, as on DynamoDB, and neither the item nor a record exists
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert adapted.ddb.scan(TableName=TABLE)["Count"] == 0
    assert adapted.read(iterator)[0] == []


def test_transaction_committed_writes_items_and_records_in_order(adapted: Clients) -> None:
    # GIVEN an existing ticket
    adapted.put("T#A", title="a")
    _, iterator = adapted.read(adapted.iterator())
    # WHEN a transaction adds a comment and updates the ticket
    adapted.ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "T#A"}, "sk": {"S": "C#1"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "T#A"}, "sk": {"S": "TICKET"}},
                    "UpdateExpression": "SET title = :t",
                    "ExpressionAttributeValues": {":t": {"S": "b"}},
                }
            },
        ]
    )
    # THEN both are written and the stream has their records in order
    got = adapted.streams.get_records(ShardIterator=iterator)["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in got] == [
        ("INSERT", "C#1"),
        ("MODIFY", "TICKET"),
    ]
    assert got[1]["dynamodb"]["NewImage"]["title"] == {"S": "b"}


def test_moto_without_adapter_loses_stream_after_cancelled_transaction() -> None:
    # GIVEN moto's own transaction code (no adapter) and a stream reader
    assert not dynamodb.installed()
    with mock_aws():
        clients = Clients()
        _, iterator = clients.read(clients.iterator())
        # WHEN a transaction is cancelled and an item is written afterwards
        _cancelled_create(clients, "T#CANCELLED")
        clients.put("T#AFTER")
        seen, iterator = clients.read(iterator)
        seen += clients.read(iterator)[0]
    # THEN the reader sees the cancelled put and never the later one: what the adapter fixes
    assert seen == ["T#CANCELLED"]


# --- stream records and iterators ----------------------------------------------------------


def test_trim_stream_keeps_tail_and_sequence_numbers(adapted: Clients) -> None:
    # GIVEN ten records read by a consumer
    for n in range(10):
        adapted.put(f"T#{n}")
    records = adapted.streams.get_records(ShardIterator=adapted.iterator())["Records"]
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    stale = adapted.iterator()
    # WHEN the stream is trimmed through the eighth record, keeping two
    dropped = dynamodb.trim_stream(cfn.ACCOUNT_ID, REGION, TABLE, sequences[7], keep=2)
    adapted.put("T#NEXT")
    # THEN six records are gone, the rest keep their numbers, and the next one counts on
    assert dropped == 6
    assert len(adapted.table.stream_shard.items) == 5
    horizon = adapted.streams.get_records(ShardIterator=adapted.iterator())["Records"]
    assert [int(r["dynamodb"]["SequenceNumber"]) for r in horizon] == [*sequences[6:], sequences[-1] + 1]
    # AND an iterator from before the trim reads from the oldest record left
    assert adapted.read(stale)[0] == ["T#6", "T#7", "T#8", "T#9", "T#NEXT"]


class _Recorder:
    """Stands in for the function the mapping invokes: records what it was given."""

    folder = "escalate"

    def __init__(self) -> None:
        self.keys: list[str] = []

    def invoke(self, event: dict[str, Any]) -> None:
        self.keys += [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]


def test_stream_poller_trims_what_it_read_and_keeps_delivering(adapted: Clients) -> None:
    # GIVEN the stack's stream poller on the table's stream, trimming as the stack sets it up
    function = _Recorder()
    poller = StreamPoller()
    poller.client, poller.stream_arn = adapted.streams, adapted.stream_arn
    poller.states = [
        _MappingState(cfn.StreamMapping(function="Escalate", starting_position="TRIM_HORIZON"), function)
    ]  # type: ignore[arg-type]
    poller._refresh_shards(poller.states[0])
    poller.trim = lambda through: dynamodb.trim_stream(cfn.ACCOUNT_ID, REGION, TABLE, through)
    # WHEN 300 items are written and the poller runs, then one more
    for n in range(300):
        adapted.put(f"T#{n}")
    poller.tick()
    poller.tick()
    adapted.put("T#LAST")
    poller.tick()
    # THEN every record reached the function once, in order, and the shard kept only a short tail
    assert function.keys == [f"T#{n}" for n in range(300)] + ["T#LAST"]
    assert len(adapted.table.stream_shard.items) <= dynamodb.STREAM_RECORDS_KEPT


def test_shard_iterators_bounded_newest_still_reads(adapted: Clients) -> None:
    # GIVEN a poller that takes a fresh iterator on every read, far more often than the bound
    iterator = adapted.iterator()
    for _ in range(dynamodb.ITERATORS_KEPT + 500):
        _, iterator = adapted.read(iterator)
    # WHEN a record arrives
    adapted.put("T#LATE")
    # THEN the emulation holds at most the bound, and the newest iterator reads the record
    backend = dynamodb.streams_backend(cfn.ACCOUNT_ID, REGION)
    assert len(backend.shard_iterators) <= dynamodb.ITERATORS_KEPT
    assert adapted.read(iterator)[0] == ["T#LATE"]


def test_get_item_missing_key_adds_no_partition(adapted: Clients) -> None:
    # GIVEN a table with one ticket
    adapted.put("T#A")
    # WHEN a thousand missing tickets are read, as a fuzzer does
    for n in range(1000):
        got = adapted.ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"T#NONE{n}"}, "sk": {"S": "TICKET"}})
        assert "Item" not in got
    # THEN the table holds one partition, not a thousand empty ones
    assert len(adapted.table.items) == 1


def test_query_results_not_kept_by_moto_registry(adapted: Clients) -> None:
    # GIVEN a page of tickets
    for n in range(25):
        adapted.put(f"T#{n}", t_pk="T#acme", created=f"c{n:03d}")
    # WHEN it is listed 200 times, as the dashboard does
    for _ in range(200):
        page = adapted.ddb.query(
            TableName=TABLE,
            IndexName="by_tenant",
            KeyConditionExpression="t_pk = :p",
            ExpressionAttributeValues={":p": {"S": "T#acme"}},
            Limit=25,
        )
        assert len(page["Items"]) == 25
    # THEN no copy of a result stays alive: only the table's own 25 items exist
    gc.collect()
    assert sum(1 for o in gc.get_objects() if isinstance(o, Item)) == 25
    assert Item.instances_tracked == []


# --- queries read one partition, with moto's answers ----------------------------------------


def _ticket(n: int, rng: random.Random) -> dict[str, Any]:
    tenant = rng.choice(["acme", "globex"])
    status = rng.choice(["open", "acknowledged", "resolved"])
    # Several tickets share a creation time: the table's keys break the tie, as moto sorts.
    created = f"2026-01-01T00:00:{rng.randrange(20):02d}#T{n:04d}"
    attrs = {
        "pk": f"T#{n:04d}",
        "sk": "TICKET",
        "created": created,
        "t_pk": f"T#{tenant}",
        "t_status_pk": f"T#{tenant}#status#{status}",
        "a_pk": "ALL",
        "status": status,
        "title": f"ticket {n}",
    }
    return {k: {"S": v} for k, v in attrs.items()}


def _history(clients: Clients) -> None:
    """Tickets, comments, edits that move tickets between partitions, deletes, a cancelled transaction."""
    rng = random.Random(7)
    for n in range(120):
        clients.ddb.put_item(TableName=TABLE, Item=_ticket(n, rng))
        if n % 3 == 0:
            clients.put(f"T#{n:04d}", f"C#{n}", body="comment")
    for n in range(0, 120, 7):
        clients.ddb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"T#{n:04d}"}, "sk": {"S": "TICKET"}},
            UpdateExpression="SET t_status_pk = :p, #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "T#acme#status#closed"}, ":s": {"S": "closed"}},
        )
    for n in range(5, 120, 11):
        clients.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": f"T#{n:04d}"}, "sk": {"S": "TICKET"}})
    _cancelled_create(clients, "T#9999")


QUERIES: list[dict[str, Any]] = [
    {"IndexName": "by_tenant", "partition": ("t_pk", "T#acme"), "Limit": 7, "ScanIndexForward": False},
    {"IndexName": "by_tenant", "partition": ("t_pk", "T#globex"), "Limit": 10, "ScanIndexForward": True},
    {"IndexName": "by_all", "partition": ("a_pk", "ALL"), "Limit": 25, "ScanIndexForward": False},
    {"IndexName": "by_tenant_status", "partition": ("t_status_pk", "T#acme#status#closed"), "Limit": 4},
    {
        "IndexName": "by_tenant",
        "partition": ("t_pk", "T#acme"),
        "Limit": 6,
        "ScanIndexForward": False,
        "FilterExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "open"}},
    },
    {
        "IndexName": "by_all",
        "partition": ("a_pk", "ALL"),
        "range": "created < :before",
        "ExpressionAttributeValues": {":before": {"S": "2026-01-01T00:00:10"}},
        "Limit": 9,
    },
    {"IndexName": "by_tenant", "partition": ("t_pk", "T#nobody"), "Limit": 5},
    {"partition": ("pk", "T#0003")},
    {
        "partition": ("pk", "T#0003"),
        "range": "begins_with(sk, :c)",
        "ExpressionAttributeValues": {":c": {"S": "C#"}},
    },
]


def _all_pages(ddb: Any, spec: dict[str, Any]) -> list[tuple[list[str], Any]]:
    attr, value = spec["partition"]
    condition = "#p = :p" + (f" AND {spec['range']}" if "range" in spec else "")
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {"#p": attr, **spec.get("ExpressionAttributeNames", {})},
        "ExpressionAttributeValues": {":p": {"S": value}, **spec.get("ExpressionAttributeValues", {})},
    }
    kwargs.update(
        {k: v for k, v in spec.items() if k in ("IndexName", "Limit", "ScanIndexForward", "FilterExpression")}
    )
    pages = []
    while True:
        got = ddb.query(**kwargs)
        pages.append(([f"{i['pk']['S']}/{i['sk']['S']}" for i in got["Items"]], got.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in got or len(pages) > 100:
            return pages
        kwargs["ExclusiveStartKey"] = got["LastEvaluatedKey"]


def test_query_pages_same_as_moto_after_writes_and_cancelled_transaction() -> None:
    # GIVEN the same history of writes on moto alone and on moto with the adapter
    answers = []
    for adapter_on in (False, True):
        with dynamodb.adapter() if adapter_on else contextlib.nullcontext(), mock_aws():
            clients = Clients()
            if adapter_on:
                # The partitions are built at the first query, then kept by each write: cover both.
                _all_pages(clients.ddb, QUERIES[0])
            _history(clients)
            # WHEN every query is paged to its end
            answers.append([_all_pages(clients.ddb, spec) for spec in QUERIES])
            # (the adapter's answers came from its partitions, not from moto's whole-table sort)
            assert ("_local_partitions" in clients.table.__dict__) == adapter_on
    # THEN every page, its items in order and its LastEvaluatedKey, is moto's own
    moto_answers, adapted_answers = answers
    assert adapted_answers == moto_answers
    assert sum(len(items) for items, _ in moto_answers[0]) > 20  # the queries did find tickets
