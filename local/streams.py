"""The table's stream feeding functions as Lambda's event source mapping does.

Every 250 ms each mapping of the template on the table's stream reads new records (shard
iterators against moto's dynamodbstreams), drops those its FilterCriteria reject, and invokes its
function in batches of the mapping's BatchSize with the event Lambda would build. With
`ReportBatchItemFailures`, a `batchItemFailures` answer makes the batch resume from the first
failed record (the records after it are delivered again too, as Lambda checkpoints); an exception
retries the whole batch. Retries back off (0.25 s doubling to 5 s) and stop after the mapping's
MaximumRetryAttempts (-1, the default: until the records expire, as on AWS).

Once every mapping has read a record (into its own pending list), the record is trimmed from
moto's shard (`local.dynamodb.trim_stream`): a stack that runs for days keeps only a short tail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from local import cfn
from local.functions import FunctionNotAvailable, LocalFunction, format_exception
from local.poller import Poller
from local.stack import Stack

FilterFn = Callable[[Sequence[dict[str, Any]], dict[str, Any]], bool]

MAX_BACKOFF = 5.0


@dataclass
class _MappingState:
    mapping: cfn.StreamMapping
    function: LocalFunction
    iterators: dict[str, str | None] = field(default_factory=dict)  # shard id -> next iterator
    pending: list[dict[str, Any]] = field(default_factory=list)  # filtered records not yet processed
    attempts: dict[str, int] = field(default_factory=dict)  # sequence number -> failed deliveries
    retry_at: float = 0.0
    backoff: float = 0.0
    last_error: str | None = None  # the full traceback is logged once, repeats as one line
    bisected: int | None = None  # BisectBatchOnFunctionError: a smaller batch after a failure
    read_through: dict[str, int] = field(default_factory=dict)  # shard id -> last sequence number read


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda puts it in the event: epoch seconds, and the stream's ARN."""
    out = dict(record)
    data = dict(out.get("dynamodb") or {})
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    out["dynamodb"] = data
    out["eventSourceARN"] = stream_arn
    return out


def first_failure(batch: list[dict[str, Any]], response: Any) -> int | None:
    """Index of the record to resume from after a partial failure, or None when all succeeded.

    As Lambda: an identifier that names no record of the batch (or a malformed answer) fails the
    whole batch.
    """
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if not failures:
        return None
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    indexes: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in positions:
            return 0
        indexes.append(positions[identifier])
    return min(indexes)


class StreamPoller(Poller):
    name = "stream"

    def __init__(self) -> None:
        super().__init__()
        self.states: list[_MappingState] = []
        self.client: Any = None
        self.stream_arn = ""
        self.admitted: FilterFn = lambda patterns, record: True
        self.trim: Callable[[int], int] | None = None  # drops the shard's records up to a sequence number

    def setup(self, stack: Stack) -> None:
        self.interval = stack.config.stream_interval
        self.stream_arn = stack.names.get("stream_arn", "")
        if not self.stream_arn:
            raise RuntimeError("the table has no stream: nothing to poll")
        by_logical = {f.logical_id: f for f in stack.functions.values() if f.logical_id}
        mappings = cfn.stream_mappings(stack.names["table_logical_id"])
        for mapping in mappings:
            function = by_logical.get(mapping.function)
            if function is None:
                self.log.warning("mapping to %s: not a function of functions/: skipped", mapping.function)
                continue
            self.states.append(_MappingState(mapping, function))
        if not self.states:
            raise RuntimeError("template.yaml has no event source mapping on the table's stream")
        self.admitted = self._filter_evaluator()
        self.client = stack.client("dynamodbstreams")
        from local import dynamodb

        if dynamodb.installed():
            table_name = stack.names["table_name"]
            self.trim = lambda through: dynamodb.trim_stream(cfn.ACCOUNT_ID, stack.region, table_name, through)
        for state in self.states:
            self._refresh_shards(state)
            m = state.mapping
            self.log.info(
                "%s <- stream: batch %d, %d filter(s), %s, starting %s",
                state.function.folder,
                m.batch_size,
                len(m.filter_patterns),
                "partial batch failures" if m.report_batch_item_failures else "whole-batch retries",
                m.starting_position,
            )

    def _filter_evaluator(self) -> FilterFn:
        """The project's evaluator of Lambda's filter syntax (one implementation, shared with the tests)."""
        try:
            from local.event_filter import admitted
        except ImportError as exc:
            if any(s.mapping.filter_patterns for s in self.states):
                self.log.warning("no filter evaluator (%s): every record goes to the function", exc)
            return lambda patterns, record: True
        return admitted

    def _refresh_shards(self, state: _MappingState) -> None:
        shards = self.client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in state.iterators:
                continue
            state.iterators[shard_id] = self.client.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=state.mapping.starting_position
                if state.mapping.starting_position in ("TRIM_HORIZON", "LATEST")
                else "TRIM_HORIZON",
            )["ShardIterator"]

    def tick(self) -> None:
        for state in self.states:
            self._read(state)
        self._trim()
        for state in self.states:
            self._deliver(state)

    def _trim(self) -> None:
        """Trim what every mapping has read: each keeps the records it still has to deliver itself."""
        if self.trim is None or not self.states:
            return
        shards = set.intersection(*(set(state.read_through) for state in self.states))
        for shard_id in shards:
            self.trim(min(state.read_through[shard_id] for state in self.states))

    def _read(self, state: _MappingState) -> None:
        for shard_id, iterator in list(state.iterators.items()):
            if iterator is None:
                continue
            response = self.client.get_records(ShardIterator=iterator, Limit=1000)
            state.iterators[shard_id] = response.get("NextShardIterator")
            for raw in response.get("Records", []):
                sequence = int(raw["dynamodb"]["SequenceNumber"])
                state.read_through[shard_id] = max(state.read_through.get(shard_id, sequence), sequence)
                record = lambda_record(raw, self.stream_arn)
                patterns = state.mapping.filter_patterns
                # No FilterCriteria: Lambda passes every record.
                if not patterns or self.admitted(patterns, record):
                    state.pending.append(record)

    def _deliver(self, state: _MappingState) -> None:
        while state.pending and not self.stopping and time.monotonic() >= state.retry_at:
            batch = state.pending[: state.bisected or state.mapping.batch_size]
            try:
                resume = self._invoke(state, batch)
            except FunctionNotAvailable:
                # Nothing to deliver to yet: drop, as a mapping to a missing function would never run.
                self.log.warning("%s not available: %d record(s) dropped", state.function.folder, len(batch))
                state.pending = state.pending[len(batch) :]
                continue
            if resume is None:
                state.bisected = None
                for record in batch:
                    state.attempts.pop(record["dynamodb"]["SequenceNumber"], None)
                state.pending = state.pending[len(batch) :]
                state.backoff = 0.0
                continue
            self._retry(state, batch, resume)
            return

    def _invoke(self, state: _MappingState, batch: list[dict[str, Any]]) -> int | None:
        names = ", ".join(f"{r['eventName']} {_key(r)}" for r in batch[:3]) + (" ..." if len(batch) > 3 else "")
        started = time.monotonic()
        try:
            response = state.function.invoke({"Records": batch})
        except FunctionNotAvailable:
            raise
        except Exception as exc:
            text = format_exception(exc)
            if text == state.last_error:
                self.log.error(
                    "%s failed again on %d record(s): %s: %s",
                    state.function.folder,
                    len(batch),
                    type(exc).__name__,
                    exc,
                )
            else:
                self.log.error(
                    "%s failed on %d record(s) [%s]:\n%s", state.function.folder, len(batch), names, text
                )
            state.last_error = text
            if state.mapping.bisect_on_error and len(batch) > 1:
                # As Lambda: split the failing batch so that one poison record cannot hold back the rest.
                state.bisected = max(1, len(batch) // 2)
            return 0
        state.last_error = None
        took = (time.monotonic() - started) * 1000
        resume = first_failure(batch, response) if state.mapping.report_batch_item_failures else None
        if resume is None:
            self.log.info("%s <- %d record(s) [%s] ok in %.0f ms", state.function.folder, len(batch), names, took)
        else:
            self.log.warning(
                "%s <- %d record(s) [%s]: batchItemFailures, resuming at record %d",
                state.function.folder,
                len(batch),
                names,
                resume,
            )
        return resume

    def _retry(self, state: _MappingState, batch: list[dict[str, Any]], resume: int) -> None:
        done = batch[:resume]
        state.pending = state.pending[resume:]
        for record in done:
            state.attempts.pop(record["dynamodb"]["SequenceNumber"], None)
        head = state.pending[0]["dynamodb"]["SequenceNumber"]
        state.attempts[head] = state.attempts.get(head, 0) + 1
        limit = state.mapping.maximum_retry_attempts
        if limit >= 0 and state.attempts[head] > limit:
            self.log.error(
                "record %s failed %d time(s), over MaximumRetryAttempts %d: discarded"
                " (on AWS it would go to the mapping's OnFailure destination)",
                head,
                state.attempts[head],
                limit,
            )
            state.attempts.pop(head, None)
            state.pending = state.pending[1:]
            state.backoff = 0.0
            return
        state.backoff = min(MAX_BACKOFF, max(self.interval, state.backoff * 2))
        state.retry_at = time.monotonic() + state.backoff


def _key(record: dict[str, Any]) -> str:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    return "/".join(str(next(iter(v.values()))) for v in keys.values() if isinstance(v, dict))
