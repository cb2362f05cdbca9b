"""Mail records: `MSG#<Message-ID> / MSG` (threads a reply to its ticket) and
`MAIL#<SES messageId> / MAIL` (what an inbound message became, written with it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from support_common.models import Contact
from support_common.repository.contacts import CONTACTS_PK, contact_from_item
from support_common.repository.table import TTL_ATTR, Table, TxItem, batch_get, batch_put, from_item, key, to_item

MAIL_SK = "MAIL"
MSG_SK = "MSG"
# SES retries a Lambda action for hours at most; a month covers replays of the raw mail by hand.
MAIL_MARKER_TTL_SECONDS = 30 * 24 * 3600
BATCH_GET_MAX = 100


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


def message_id_item(message_id: str, ticket_id: str) -> dict[str, Any]:
    """The item that points a Message-ID at its ticket."""
    return to_item({"pk": f"MSG#{message_id}", "sk": MSG_SK, "ticket_id": ticket_id, "entity": "message"})


def message_id_puts(table: Table, ticket_id: str, message_ids: Sequence[str]) -> list[TxItem]:
    """Transaction items pointing each Message-ID at `ticket_id` (no condition: re-pointing is refused earlier)."""
    return [
        TxItem({"Put": {"TableName": table.name, "Item": message_id_item(mid, ticket_id)}}) for mid in message_ids
    ]


def mail_marker_put(table: Table, ses_message_id: str, ticket_id: str, comment_id: str | None) -> TxItem:
    """The transaction item that marks an SES message as filed; it fails when the message already was."""
    item = to_item(
        {
            "pk": f"MAIL#{ses_message_id}",
            "sk": MAIL_SK,
            "entity": "mail",
            "ticket_id": ticket_id,
            "comment_id": comment_id,
            TTL_ATTR: int(time.time()) + MAIL_MARKER_TTL_SECONDS,
        }
    )
    return TxItem(
        {"Put": {"TableName": table.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        on_condition_failed=lambda: MailAlreadyFiled(ses_message_id),
    )


def ses_message_ids(ses_id: str, region: str) -> list[str]:
    """The Message-ID header SES gives mail it sends with id `ses_id` (us-east-1 has its own host)."""
    ids = [f"<{ses_id}@{region}.amazonses.com>"]
    if region == "us-east-1":
        ids.append(f"<{ses_id}@email.amazonses.com>")
    return ids


class MailStore:
    """What inbound mail reads, and the Message-IDs of mail we send."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def lookup(self, ses_message_id: str, message_ids: Sequence[str], sender: str | None) -> MailLookup:
        """In one BatchGetItem: what this SES message already became, which tickets own
        `message_ids`, and the sender's contact (the address first, then its domain)."""
        keys: dict[tuple[str, str], None] = {(f"MAIL#{ses_message_id}", MAIL_SK): None}
        address = (sender or "").lower()
        domain = address.rpartition("@")[2] if "@" in address else ""
        for name in (address, domain):
            if name:
                keys[(CONTACTS_PK, name)] = None
        # BatchGetItem reads at most 100 keys; the latest references are the closest in the thread.
        for mid in list(dict.fromkeys(message_ids))[-(BATCH_GET_MAX - len(keys)) :]:
            keys[(f"MSG#{mid}", MSG_SK)] = None
        found = {
            (item["pk"]["S"], item["sk"]["S"]): from_item(item)
            for item in batch_get(self.table, [key(pk, sk) for pk, sk in keys])
        }
        marker = found.get((f"MAIL#{ses_message_id}", MAIL_SK))
        owners = {
            pk.removeprefix("MSG#"): str(item["ticket_id"]) for (pk, sk), item in found.items() if sk == MSG_SK
        }
        contact = None
        for name in (address, domain):
            item = found.get((CONTACTS_PK, name)) if name else None
            if item is not None:
                contact = contact_from_item(item)
                break
        filed = None
        if marker is not None:
            filed = MailFiled(ticket_id=str(marker["ticket_id"]), comment_id=marker.get("comment_id"))
        return MailLookup(filed=filed, owners=owners, contact=contact)

    def link_message_ids(self, ticket_id: str, message_ids: Sequence[str]) -> None:
        """Record Message-IDs (e.g. of mail we sent) as a ticket's, in BatchWriteItem requests."""
        wanted = list(dict.fromkeys(message_ids))
        batch_put(self.table, [message_id_item(mid, ticket_id) for mid in wanted])
