"""Pending uploads: `TICKET#<id> / FILE#<upload id>`, written when a presigned POST is handed out,
and turned into an entry of the ticket's `attachments` once the object is in the bucket."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from support_common.errors import VersionConflict
from support_common.models import Attachment, iso, utcnow
from support_common.repository.table import TTL_ATTR, Table, TxItem, from_item, key, ser, to_item, transact
from support_common.repository.ticket_items import ticket_key, ticket_pk

UPLOAD_PREFIX = "FILE#"
# A presigned POST lives minutes; the record waits longer, for the first read after the upload.
PENDING_TTL_SECONDS = 7 * 24 * 3600


class AlreadySettled(Exception):
    """The upload was added to its ticket before (a concurrent read did it)."""


@dataclass(frozen=True)
class PendingUpload:
    """An upload handed out but not yet seen in the bucket."""

    ticket_id: str
    upload_id: str
    key: str
    name: str
    content_type: str
    uploaded_by: str
    created_at: str


def pending_from_item(item: dict[str, Any]) -> PendingUpload:
    data = from_item(item)
    return PendingUpload(**{name: str(data[name]) for name in PendingUpload.__dataclass_fields__})


def _upload_key(ticket_id: str, upload_id: str) -> dict[str, Any]:
    return key(ticket_pk(ticket_id), f"{UPLOAD_PREFIX}{upload_id}")


class UploadStore:
    """Records pending uploads and settles them onto their ticket."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def put(self, upload: PendingUpload, now: float | None = None) -> None:
        now = time.time() if now is None else now
        item = to_item(
            {
                **asdict(upload),
                "pk": ticket_pk(upload.ticket_id),
                "sk": f"{UPLOAD_PREFIX}{upload.upload_id}",
                "entity": "upload",
                TTL_ATTR: int(now) + PENDING_TTL_SECONDS,
            }
        )
        self.table.client.put_item(TableName=self.table.name, Item=item)

    def settle(self, upload: PendingUpload, attachment: Attachment) -> None:
        """Append the uploaded file to its ticket and drop the pending record, in one transaction.

        Raises AlreadySettled when another read settled it first, VersionConflict when the ticket is gone.
        """
        delete = {
            "Delete": {
                "TableName": self.table.name,
                "Key": _upload_key(upload.ticket_id, upload.upload_id),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        update = {
            "Update": {
                "TableName": self.table.name,
                "Key": ticket_key(upload.ticket_id),
                "UpdateExpression": "SET attachments = list_append(if_not_exists(attachments, :empty), :new), "
                "updated_at = :now",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {
                    ":empty": {"L": []},
                    ":new": ser([attachment.model_dump(mode="json", exclude_none=True)]),
                    ":now": ser(iso(utcnow())),
                },
            }
        }
        transact(
            self.table,
            [
                TxItem(delete, on_condition_failed=lambda: AlreadySettled(upload.upload_id)),
                TxItem(update, on_condition_failed=lambda: VersionConflict(upload.ticket_id)),
            ],
        )

    def discard(self, upload: PendingUpload) -> None:
        """Forget an upload that never arrived."""
        self.table.client.delete_item(
            TableName=self.table.name, Key=_upload_key(upload.ticket_id, upload.upload_id)
        )
