"""Rate-limit claims: `RATE#<what>#<who> / RATE`, with a TTL."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from support_common.aws_errors import condition_failed
from support_common.repository.table import TTL_ATTR, Table, key, ser


class RateLimits:
    """Time-limited claims (e.g. one acknowledgement per ticket per interval)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(self, name: str, ttl_seconds: int, now: float | None = None, *, holder: str = "") -> bool:
        """Take a time-limited claim on `name`; False when it is already held by another `holder`.

        The same holder takes its own claim again: a retry whose first attempt was applied (the
        answer lost, or the invocation died after it) is not refused by itself.
        """
        now = time.time() if now is None else now
        try:
            self.table.client.put_item(
                TableName=self.table.name,
                Item={**key(f"RATE#{name}", "RATE"), TTL_ATTR: ser(int(now + ttl_seconds)), "holder": ser(holder)},
                # DynamoDB's TTL deletes lazily: an expired claim still present counts as free.
                ConditionExpression="attribute_not_exists(pk) OR #ttl < :now"
                + (" OR holder = :holder" if holder else ""),
                ExpressionAttributeNames={"#ttl": TTL_ATTR},
                ExpressionAttributeValues={":now": ser(int(now)), **({":holder": ser(holder)} if holder else {})},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def take(self, name: str, limit: int, window_seconds: int, now: float | None = None) -> bool:
        """Count one use of `name` in the current fixed window; False when `limit` uses are spent."""
        now = time.time() if now is None else now
        window = int(now // window_seconds)
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=key(f"RATE#{name}#{window}", "RATE"),
                UpdateExpression="ADD uses :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(uses) OR uses < :limit",
                ExpressionAttributeNames={"#ttl": TTL_ATTR},
                ExpressionAttributeValues={
                    ":one": ser(1),
                    ":limit": ser(limit),
                    ":ttl": ser((window + 1) * window_seconds),
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, name: str) -> None:
        """Give a claim back (the action it guarded did not happen)."""
        self.table.client.delete_item(TableName=self.table.name, Key=key(f"RATE#{name}", "RATE"))
