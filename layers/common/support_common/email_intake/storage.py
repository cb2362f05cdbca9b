"""The raw-mail bucket: reading the raw message, quarantine, and where attachments are stored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.exceptions import ClientError

from support_common.aws_errors import error_code
from support_common.mail import ParsedAttachment
from support_common.models import ATTACHMENTS_MAX, Attachment
from support_common.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

RAW_PREFIX = "inbound/"

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_SAFE_EXT = re.compile(r"[a-z0-9]{1,10}")


class RawMissing(Exception):
    """The raw message is not in the bucket."""


class RawUnreadable(Exception):
    """The function may not read the raw message: a deployment problem, worth a retry once fixed."""


class RawTooLarge(Exception):
    """The raw message is over the size cap."""


def object_key(prefix: str, index: int, filename: str) -> str:
    """`<prefix>/<n>.<ext>`: the name itself stays out of the key.

    Object keys end up in X-Ray traces and access logs, and a file name can be personal
    ("passport-jane-doe.pdf"); the name lives on the ticket and in the object's Content-Disposition.
    """
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    return f"{prefix}/{index}.{ext}" if _SAFE_EXT.fullmatch(ext) else f"{prefix}/{index}"


def safe_content_type(value: str) -> str:
    """A content type fit to store on an object, else application/octet-stream."""
    value = (value or "").strip().lower()
    return value if _CONTENT_TYPE.match(value) else "application/octet-stream"


class MailBucket:
    """The raw-mail bucket as intake uses it."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def read_raw(self, message_id: str, max_size: int) -> bytes:
        """The raw message in one GetObject; its size is checked before the body is read."""
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=RAW_PREFIX + message_id)
        except ClientError as exc:
            # The function may list inbound/, so a missing object is NoSuchKey. AccessDenied is then a
            # policy or key problem, not the message's: it fails the invocation (retried, then parked).
            if error_code(exc) in ("NoSuchKey", "404"):
                raise RawMissing(message_id) from None
            if error_code(exc) in ("AccessDenied", "403"):
                raise RawUnreadable(message_id) from exc
            raise
        body = resp["Body"]
        if resp.get("ContentLength", 0) > max_size:
            body.close()
            raise RawTooLarge(message_id)
        try:
            return body.read(max_size + 1)
        finally:
            body.close()

    def quarantine(self, message_id: str) -> None:
        """Tag a raw message that SES found to be spam or a virus (a failure is logged only)."""
        try:
            self.s3.put_object_tagging(
                Bucket=self.bucket,
                Key=RAW_PREFIX + message_id,
                Tagging={"TagSet": [{"Key": "quarantine", "Value": "true"}]},
            )
        except ClientError as exc:
            logger.warning("quarantine tag failed", message_id=message_id, error=error_code(exc))

    def store_attachments(self, prefix: str, parts: Sequence[ParsedAttachment]) -> list[Attachment]:
        """Store up to ATTACHMENTS_MAX attachments under `prefix`; beyond that they stay in the raw message."""
        if len(parts) > ATTACHMENTS_MAX:
            logger.warning("attachments capped", count=len(parts), kept=ATTACHMENTS_MAX)
        stored: list[Attachment] = []
        for index, part in enumerate(parts[:ATTACHMENTS_MAX], start=1):
            content_type = safe_content_type(part.content_type)
            key = object_key(prefix, index, part.filename)
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=part.content,
                ContentType=content_type,
                # Served as a download, never rendered: an HTML attachment must not run in a browser.
                ContentDisposition=f"attachment; filename*=UTF-8''{quote(part.filename, safe='')}",
            )
            stored.append(Attachment(name=part.filename, size=part.size, content_type=content_type, key=key))
        return stored

    def store_full_text(self, prefix: str, text: str, name: str) -> Attachment:
        """Store the untrimmed text of a message as `<prefix>/<name>`."""
        data = text.encode("utf-8")
        key = f"{prefix}/{name}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="text/plain; charset=utf-8")
        return Attachment(name=name, size=len(data), content_type="text/plain", key=key)
