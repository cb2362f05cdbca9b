"""History entries: `TICKET#<id> / HIST#<at>#<version>#<n>`, one per changed field, written in the
same transaction as the change they record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from support_common.models import HistoryEntry
from support_common.repository.table import Table, TxItem, from_item, ser, to_item
from support_common.repository.ticket_items import ticket_pk

HIST_PREFIX = "HIST#"


def history_puts(table: Table, ticket_id: str, version: int, entries: Sequence[HistoryEntry]) -> list[TxItem]:
    """Transaction items for the entries of one change (the ticket's new `version` keeps keys unique)."""
    items: list[TxItem] = []
    for n, entry in enumerate(entries):
        data = entry.model_dump(mode="json")
        data.update(
            pk=ticket_pk(ticket_id),
            sk=f"{HIST_PREFIX}{data['at']}#{version:010d}#{n:02d}",
            entity="history",
        )
        item = to_item(data)
        # `old`/`new` may be null (an assignee set for the first time): kept as explicit NULLs.
        for name in ("old", "new"):
            item.setdefault(name, {"NULL": True})
        items.append(TxItem({"Put": {"TableName": table.name, "Item": item}}))
    return items


def history_from_item(item: dict[str, Any]) -> HistoryEntry:
    data = from_item(item)
    return HistoryEntry.model_validate({k: data.get(k) for k in ("at", "actor", "field", "old", "new")})


class HistoryStore:
    """Reads a ticket's history, oldest first."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def list(self, ticket_id: str) -> list[HistoryEntry]:
        kwargs: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :hist)",
            "ExpressionAttributeValues": {":pk": ser(ticket_pk(ticket_id)), ":hist": ser(HIST_PREFIX)},
            "ConsistentRead": True,
        }
        entries: list[HistoryEntry] = []
        while True:
            resp = self.table.client.query(**kwargs)
            entries += [history_from_item(item) for item in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return entries
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
