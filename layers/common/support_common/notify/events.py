"""Which stream records become mail: a public staff comment (a reply) or a status notice.

A `PublicReply` is made only from a stream image stored as a public comment by support staff:
an internal note (stored under its own key prefix, with `visibility` internal) can never become
one, and the mail builder accepts nothing else as the body of a reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from support_common.models import Status, Ticket, Visibility
from support_common.repository.ticket_items import public_comment_from_image, ticket_from_image


class NoticeKind(StrEnum):
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


@dataclass(frozen=True)
class PublicReply:
    """A public comment by support staff: what a reply mail may say, and nothing else."""

    ticket_id: str
    comment_id: str
    body: str
    author_email: str
    author_name: str | None

    @property
    def ref(self) -> str:
        return f"reply#{self.comment_id}"


@dataclass(frozen=True)
class StatusNotice:
    """A ticket resolved, closed or reopened; `ticket` is its state right after the change."""

    ticket: Ticket
    kind: NoticeKind

    @property
    def ticket_id(self) -> str:
        return self.ticket.id

    @property
    def ref(self) -> str:
        return f"notice#{self.ticket.version}"


Outgoing = PublicReply | StatusNotice


def outgoing_from_record(record: dict[str, Any]) -> Outgoing | None:
    """The mail a stream record asks for, or None (most records ask for none)."""
    data = record.get("dynamodb") or {}
    event = record.get("eventName")
    if event == "INSERT":
        comment = public_comment_from_image(data.get("NewImage"))
        if comment is None or not comment.is_support or comment.visibility != Visibility.PUBLIC:
            return None
        return PublicReply(
            ticket_id=comment.ticket_id,
            comment_id=comment.id,
            body=comment.body,
            author_email=comment.author.email,
            author_name=comment.author.name,
        )
    if event == "MODIFY":
        old, new = ticket_from_image(data.get("OldImage")), ticket_from_image(data.get("NewImage"))
        if old is None or new is None or old.status == new.status:
            return None
        if new.status in (Status.RESOLVED, Status.CLOSED):
            return StatusNotice(new, NoticeKind(new.status.value))
        if old.status == Status.RESOLVED and new.status == Status.OPEN:
            return StatusNotice(new, NoticeKind.REOPENED)
    return None
