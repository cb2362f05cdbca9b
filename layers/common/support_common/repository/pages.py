"""Page records: `TICKET#<id> / PAGE#<level>`, one per escalation level.

A page record is claimed (state `sending`, with a lease and a token) before the page is
published, then marked `sent`. The lease ends when the claiming invocation can no longer run,
so a crashed claim becomes retakeable and a page is never lost, only (rarely) repeated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from botocore.exceptions import ClientError

from support_common.aws_errors import condition_failed
from support_common.models import iso, utcnow
from support_common.repository.table import Table, from_item, key, ser, to_item
from support_common.repository.ticket_items import ticket_pk

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


def _page_key(ticket_id: str, level: int) -> dict[str, Any]:
    return key(ticket_pk(ticket_id), f"PAGE#{level}")


def _page_from_item(item: dict[str, Any]) -> PageRecord:
    data = from_item(item)
    return PageRecord(
        ticket_id=str(data["ticket_id"]),
        level=int(data["level"]),
        state=str(data["state"]),
        message_id=data.get("message_id"),
        sent_at=data.get("sent_at"),
        scheduled=bool(data.get("scheduled")),
    )


class PageStore:
    """Claims, marks and lists the page records of tickets."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(self, ticket_id: str, level: int, *, token: str, lease_until: float, now: float) -> PageClaim:
        """Take the right to send the page (ticket, level), or say who already has it."""
        item = {
            **_page_key(ticket_id, level),
            **to_item(
                {
                    "entity": "page",
                    "ticket_id": ticket_id,
                    "level": level,
                    "state": PAGE_SENDING,
                    "token": token,
                    "lease_until": math.ceil(lease_until),
                    "claimed_at": iso(utcnow()),
                }
            ),
        }
        try:
            self.table.client.put_item(
                TableName=self.table.name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR (#state = :sending AND lease_until < :now)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":sending": ser(PAGE_SENDING), ":now": ser(math.floor(now))},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old = from_item(cast("dict[str, Any]", exc.response.get("Item") or {}))
            if old.get("state") == PAGE_SENT:
                return PageClaim(ClaimStatus.SENT, scheduled=bool(old.get("scheduled")))
            return PageClaim(ClaimStatus.BUSY)
        return PageClaim(ClaimStatus.CLAIMED)

    def finish(
        self, ticket_id: str, level: int, *, token: str, message_id: str, sent_at: str, scheduled: bool
    ) -> bool:
        """Mark a claimed page sent; False when the claim was lost to another sender meanwhile."""
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=_page_key(ticket_id, level),
                UpdateExpression="SET #state = :sent, message_id = :mid, sent_at = :at, scheduled = :sch "
                "REMOVE lease_until",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={
                    ":sent": ser(PAGE_SENT),
                    ":mid": ser(message_id),
                    ":at": ser(sent_at),
                    ":sch": ser(scheduled),
                    ":token": ser(token),
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, ticket_id: str, level: int, *, token: str) -> None:
        """Give up a claim after a failed publish, so that the retry can page at once."""
        try:
            self.table.client.delete_item(
                TableName=self.table.name,
                Key=_page_key(ticket_id, level),
                ConditionExpression="#token = :token AND #state = :sending",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={":token": ser(token), ":sending": ser(PAGE_SENDING)},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def mark_scheduled(self, ticket_id: str, level: int) -> None:
        """Record that the next level's timer exists for a page already sent."""
        self.table.client.update_item(
            TableName=self.table.name,
            Key=_page_key(ticket_id, level),
            UpdateExpression="SET scheduled = :true",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":true": ser(True)},
        )

    def list(self, ticket_id: str) -> list[PageRecord]:
        """The page records of a ticket, lowest level first."""
        resp = self.table.client.query(
            TableName=self.table.name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :page)",
            ExpressionAttributeValues={":pk": ser(ticket_pk(ticket_id)), ":page": ser("PAGE#")},
            ConsistentRead=True,
        )
        pages = [_page_from_item(item) for item in resp.get("Items", [])]
        return sorted(pages, key=lambda page: page.level)
