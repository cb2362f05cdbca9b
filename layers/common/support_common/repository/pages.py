"""Page records, one per (round, level, repeat), and notice records, one per (round, kind).

Keys: `TICKET#<id> / PAGE#<round>#<level>` (a repeat of the last level: `PAGE#<round>#<level>#<n>`)
and `TICKET#<id> / NOTICE#<round>#<kind>` (the stand-downs `acknowledge` and `resolve`, and
`alarm`: the alarms topic told that nobody answers). Each is claimed (state `sending`, with a lease and
a token) before its message is published, then marked `sent`. The lease ends when the claiming
invocation can no longer run, so a crashed claim becomes retakeable and a message is never lost,
only (rarely) repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from support_common.aws_errors import condition_failed
from support_common.repository.table import LEASE_SENDING, Table, claim_lease, from_item, key, ser
from support_common.repository.ticket_items import ticket_pk

PAGE_SENDING = LEASE_SENDING
PAGE_SENT = "sent"


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # ours to publish
    SENT = "sent"  # someone already sent this one
    BUSY = "busy"  # another invocation holds a live claim


@dataclass(frozen=True)
class PageClaim:
    status: ClaimStatus
    # For SENT: whether the next step's timer was created after that page.
    scheduled: bool = False


@dataclass(frozen=True)
class PageRecord:
    ticket_id: str
    level: int
    state: str
    message_id: str | None
    sent_at: str | None
    scheduled: bool
    round: int = 1
    repeat: int = 0


@dataclass(frozen=True)
class NoticeRecord:
    ticket_id: str
    round: int
    kind: str
    state: str
    sent_at: str | None


def page_sort_key(round_: int, level: int, repeat: int = 0) -> str:
    return f"PAGE#{round_}#{level}" + (f"#{repeat}" if repeat else "")


def _page_key(ticket_id: str, level: int, round_: int, repeat: int) -> dict[str, Any]:
    return key(ticket_pk(ticket_id), page_sort_key(round_, level, repeat))


def _notice_key(ticket_id: str, round_: int, kind: str) -> dict[str, Any]:
    return key(ticket_pk(ticket_id), f"NOTICE#{round_}#{kind}")


def _page_from_item(item: dict[str, Any]) -> PageRecord:
    data = from_item(item)
    return PageRecord(
        ticket_id=str(data["ticket_id"]),
        level=int(data["level"]),
        state=str(data["state"]),
        message_id=data.get("message_id"),
        sent_at=data.get("sent_at"),
        scheduled=bool(data.get("scheduled")),
        round=int(data.get("round", 1)),
        repeat=int(data.get("repeat", 0)),
    )


class PageStore:
    """Claims, marks and lists the page and notice records of tickets."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # --- pages ---------------------------------------------------------------------------

    def claim(
        self,
        ticket_id: str,
        level: int,
        *,
        token: str,
        lease_until: float,
        now: float,
        round: int = 1,
        repeat: int = 0,
    ) -> PageClaim:
        """Take the right to send the page (ticket, round, level, repeat), or say who already has it."""
        fields = {"entity": "page", "ticket_id": ticket_id, "level": level, "round": round, "repeat": repeat}
        return self._claim(_page_key(ticket_id, level, round, repeat), fields, token, lease_until, now)

    def finish(
        self,
        ticket_id: str,
        level: int,
        *,
        token: str,
        message_id: str,
        sent_at: str,
        scheduled: bool,
        round: int = 1,
        repeat: int = 0,
    ) -> bool:
        """Mark a claimed page sent; False when the claim was lost to another sender meanwhile."""
        values = {"message_id": message_id, "sent_at": sent_at, "scheduled": scheduled}
        return self._finish(_page_key(ticket_id, level, round, repeat), token, values)

    def release(self, ticket_id: str, level: int, *, token: str, round: int = 1, repeat: int = 0) -> None:
        """Give up a claim after a failed publish, so that the retry can page at once."""
        self._release(_page_key(ticket_id, level, round, repeat), token)

    def mark_scheduled(self, ticket_id: str, level: int, *, round: int = 1, repeat: int = 0) -> None:
        """Record that the next step's timer exists for a page already sent."""
        self.table.client.update_item(
            TableName=self.table.name,
            Key=_page_key(ticket_id, level, round, repeat),
            UpdateExpression="SET scheduled = :true",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":true": ser(True)},
        )

    # --- notices: stand-downs and alarms -------------------------------------------------

    def claim_notice(
        self,
        ticket_id: str,
        round: int,
        kind: str,
        *,
        token: str,
        lease_until: float,
        now: float,
    ) -> PageClaim:
        """Take the right to send the notice (ticket, round, kind), or say who has it."""
        fields = {"entity": "notice", "ticket_id": ticket_id, "round": round, "kind": kind}
        return self._claim(_notice_key(ticket_id, round, kind), fields, token, lease_until, now)

    def finish_notice(
        self,
        ticket_id: str,
        round: int,
        kind: str,
        *,
        token: str,
        message_id: str,
        sent_at: str,
    ) -> bool:
        values = {"message_id": message_id, "sent_at": sent_at}
        return self._finish(_notice_key(ticket_id, round, kind), token, values)

    def release_notice(self, ticket_id: str, round: int, kind: str, *, token: str) -> None:
        self._release(_notice_key(ticket_id, round, kind), token)

    def notices(self, ticket_id: str) -> list[NoticeRecord]:
        """The notice records of a ticket, by round."""
        found = []
        for item in self._query(ticket_id, "NOTICE#"):
            data = from_item(item)
            found.append(
                NoticeRecord(
                    ticket_id=str(data["ticket_id"]),
                    round=int(data["round"]),
                    kind=str(data["kind"]),
                    state=str(data["state"]),
                    sent_at=data.get("sent_at"),
                )
            )
        return sorted(found, key=lambda record: (record.round, record.kind))

    # --- the claim protocol --------------------------------------------------------------

    def _claim(
        self, item_key: dict[str, Any], fields: dict[str, Any], token: str, lease_until: float, now: float
    ) -> PageClaim:
        old = claim_lease(self.table, item_key, fields, token, lease_until, now)
        if old is None:
            return PageClaim(ClaimStatus.CLAIMED)
        if old.get("state") == PAGE_SENT:
            return PageClaim(ClaimStatus.SENT, scheduled=bool(old.get("scheduled")))
        return PageClaim(ClaimStatus.BUSY)

    def _finish(self, item_key: dict[str, Any], token: str, values: dict[str, Any]) -> bool:
        names = {"#state": "state", "#token": "token"}
        sets = ["#state = :sent"]
        expression_values = {":sent": ser(PAGE_SENT), ":token": ser(token)}
        for i, (name, value) in enumerate(values.items()):
            names[f"#v{i}"] = name
            sets.append(f"#v{i} = :v{i}")
            expression_values[f":v{i}"] = ser(value)
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=item_key,
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE lease_until",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _release(self, item_key: dict[str, Any], token: str) -> None:
        try:
            self.table.client.delete_item(
                TableName=self.table.name,
                Key=item_key,
                ConditionExpression="#token = :token AND #state = :sending",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={":token": ser(token), ":sending": ser(PAGE_SENDING)},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def _query(self, ticket_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": ser(ticket_pk(ticket_id)), ":prefix": ser(prefix)},
            "ConsistentRead": True,
        }
        while True:
            resp = self.table.client.query(**kwargs)
            items += resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def list(self, ticket_id: str, round: int | None = None) -> list[PageRecord]:
        """The page records of a ticket (of one round, if given), in the order they were sent."""
        prefix = "PAGE#" if round is None else f"PAGE#{round}#"
        pages = [_page_from_item(item) for item in self._query(ticket_id, prefix)]
        return sorted(pages, key=lambda page: (page.round, page.level, page.repeat))
