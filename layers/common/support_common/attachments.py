"""A ticket's files: downloads (short-lived presigned GETs) and uploads (presigned POSTs).

Files are numbered by their place in the ticket's `attachments` list (1-based). The list only
grows (mail attachments and the untrimmed text at creation, then those of email replies, then
uploads), so a number never changes. Who may see the ticket may see all of its files: internal
notes carry none.

An upload is a pending record (`repository/uploads.py`) plus a presigned POST. It is listed on the
ticket at the first read that finds the object in the bucket (one HeadObject per pending upload,
none once it is listed); see the README for why not an S3 notification.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import quote

from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.errors import Conflict, NotFound, VersionConflict
from support_common.models import Attachment, Comment, Identity, Ticket, iso, utcnow
from support_common.observability import logger
from support_common.repository.tickets import TicketRead
from support_common.repository.uploads import AlreadySettled, PendingUpload, UploadStore
from support_common.tickets import TICKET_FILES_MAX, TicketService

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

UPLOAD_MAX_BYTES = 10 * 1024 * 1024
DOWNLOAD_SECONDS = 300
UPLOAD_SECONDS = 300
# What the dashboard may upload: screenshots, documents, logs and archives; never HTML or scripts.
UploadType = Literal[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/json",
    "application/zip",
    "application/gzip",
    "message/rfc822",
]
UPLOAD_TYPES: tuple[str, ...] = get_args(UploadType)
# A pending upload not in the bucket by then will never be: its presigned POST expired long ago.
UPLOAD_ABANDONED = timedelta(hours=1)
_SAFE_EXT = re.compile(r"[a-z0-9]{1,10}")


@dataclass(frozen=True)
class Download:
    name: str
    content_type: str
    size: int
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class UploadForm:
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_size: int


def disposition(name: str) -> str:
    """A Content-Disposition that downloads (never renders) and keeps the name (RFC 6266)."""
    return f"attachment; filename*=UTF-8''{quote(name, safe='')}"


class TicketFiles:
    """The bucket as the API uses it: presigned URLs and the existence of uploads."""

    def __init__(self, s3: Callable[[], S3Client], bucket: str) -> None:
        self._s3 = s3  # built on first use: most requests never touch the bucket
        self.bucket = bucket

    @property
    def s3(self) -> S3Client:
        return self._s3()

    def download_url(self, attachment: Attachment, expires_in: int) -> str:
        return self.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": attachment.key or "",
                "ResponseContentDisposition": disposition(attachment.name),
            },
            ExpiresIn=expires_in,
        )

    def upload_form(
        self, key: str, content_type: str, name: str, max_size: int, expires_in: int
    ) -> dict[str, Any]:
        fields = {"Content-Type": content_type, "Content-Disposition": disposition(name)}
        conditions: list[Any] = [
            ["content-length-range", 1, max_size],
            {"Content-Type": content_type},
            {"Content-Disposition": fields["Content-Disposition"]},
        ]
        return dict(
            self.s3.generate_presigned_post(
                Bucket=self.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
            )
        )

    def stat(self, key: str) -> tuple[int, str] | None:
        """(size, content type) of an object, or None when it is not there."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head.get("ContentLength", 0)), str(head.get("ContentType") or "application/octet-stream")


class AttachmentService:
    """Downloads and uploads of a ticket's files, for whoever may see the ticket."""

    def __init__(self, tickets: TicketService, uploads: UploadStore, files: TicketFiles) -> None:
        self.tickets = tickets
        self.uploads = uploads
        self.files = files

    def view(self, identity: Identity, ticket_id: str) -> tuple[Ticket, list[Comment]]:
        """The ticket as the caller may see it, with the uploads that arrived since the last read."""
        found = self.tickets.read(identity, ticket_id)
        return self.settle(found), found.comments

    def download(self, identity: Identity, ticket_id: str, number: int) -> Download:
        ticket = self.settle(self.tickets.read(identity, ticket_id))
        if not 1 <= number <= len(ticket.attachments) or not ticket.attachments[number - 1].key:
            raise NotFound(f"ticket {ticket.id} has no attachment {number}")
        attachment = ticket.attachments[number - 1]
        url = self.files.download_url(attachment, DOWNLOAD_SECONDS)
        logger.info("attachment download", ticket_id=ticket.id, number=number)
        return Download(
            name=attachment.name,
            content_type=attachment.content_type,
            size=attachment.size,
            url=url,
            expires_at=utcnow() + timedelta(seconds=DOWNLOAD_SECONDS),
        )

    def start_upload(self, identity: Identity, ticket_id: str, name: str, content_type: str) -> UploadForm:
        """A presigned POST for one file on a ticket the caller may see."""
        ticket = self.tickets.visible(identity, ticket_id)
        if len(ticket.attachments) >= TICKET_FILES_MAX:
            raise Conflict(f"a ticket holds at most {TICKET_FILES_MAX} files", field="name")
        upload_id = secrets.token_hex(8)
        # The name stays out of the key (keys reach traces and access logs), as with mail attachments.
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        key = f"tickets/{ticket.id}/uploads/{upload_id}" + (f".{ext}" if _SAFE_EXT.fullmatch(ext) else "")
        now = utcnow()
        self.uploads.put(
            PendingUpload(
                ticket_id=ticket.id,
                upload_id=upload_id,
                key=key,
                name=name,
                content_type=content_type,
                uploaded_by=identity.email,
                created_at=iso(now),
            )
        )
        form = self.files.upload_form(key, content_type, name, UPLOAD_MAX_BYTES, UPLOAD_SECONDS)
        logger.info("upload started", ticket_id=ticket.id, upload_id=upload_id)
        return UploadForm(
            url=str(form["url"]),
            fields={k: str(v) for k, v in form["fields"].items()},
            expires_at=now + timedelta(seconds=UPLOAD_SECONDS),
            max_size=UPLOAD_MAX_BYTES,
        )

    def settle(self, found: TicketRead) -> Ticket:
        """The ticket with its pending uploads that are now in the bucket added to its files.

        A failure to check is logged, never the reader's error: the next read tries again.
        """
        ticket = found.ticket
        added: list[Attachment] = []
        for upload in found.uploads:
            try:
                attachment = self._settle_one(upload)
            except (*AWS_ERRORS, VersionConflict) as exc:
                logger.warning(
                    "upload not settled", ticket_id=ticket.id, upload_id=upload.upload_id, error=error_code(exc)
                )
                continue
            if attachment is not None:
                added.append(attachment)
        if not added:
            return ticket
        return ticket.model_copy(update={"attachments": [*ticket.attachments, *added]})

    def _settle_one(self, upload: PendingUpload) -> Attachment | None:
        stat = self.files.stat(upload.key)
        if stat is None:
            if datetime.fromisoformat(upload.created_at) < utcnow() - UPLOAD_ABANDONED:
                self.uploads.discard(upload)
            return None
        size, content_type = stat
        attachment = Attachment(name=upload.name, size=size, content_type=content_type, key=upload.key)
        try:
            self.uploads.settle(upload, attachment)
        except AlreadySettled:
            return None  # a concurrent read listed it; this reader's copy of the ticket predates that
        logger.info("upload listed", ticket_id=upload.ticket_id, upload_id=upload.upload_id)
        return attachment
