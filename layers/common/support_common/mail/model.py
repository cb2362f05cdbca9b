"""The result of :func:`parse_email`: :class:`ParsedEmail` and its :class:`ParsedAttachment` s."""

from __future__ import annotations

from dataclasses import dataclass, field

from .mime import first_header

__all__ = ["ParsedAttachment", "ParsedEmail"]


@dataclass(slots=True)
class ParsedAttachment:
    """One attachment or inline part.

    ``filename`` is decoded (RFC 2231, RFC 2047, 8-bit) and sanitized to a safe basename, never
    empty (``attachment-N.<ext>``). ``content`` is the transfer-decoded payload; ``size`` its
    length. ``inline`` is True for inline parts (``Content-Disposition: inline`` or a
    ``Content-ID`` without disposition, e.g. images referenced by the HTML).
    """

    filename: str
    content_type: str
    size: int
    content: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False


@dataclass(slots=True)
class ParsedEmail:
    """The parts of an inbound message that ticket intake needs. See :func:`parse_email`.

    ``attachments`` holds at most ``MailLimits.max_attachments`` files; ``attachments_omitted``
    counts the ones left out (they are only in the raw message).
    """

    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    subject: str
    title: str
    from_address: str | None
    from_name: str | None
    reply_to: str | None
    to: list[str]
    cc: list[str]
    date: str | None
    auto_submitted: str | None
    precedence: str | None
    list_id: str | None
    content_type: str
    report_type: str | None
    description: str
    full_text: str
    html_only: bool
    attachments: list[ParsedAttachment]
    degraded: bool
    defects: list[str]
    ticket_refs: list[str]
    headers: list[tuple[str, str]] = field(repr=False)
    robot_reason: str | None = None
    attachments_omitted: int = 0

    def header(self, name: str) -> str | None:
        """First raw (unfolded, not RFC 2047-decoded) value of top-level header ``name``."""
        return first_header(self.headers, name)

    @property
    def is_reply(self) -> bool:
        """True when threading headers or a ticket token make this a comment candidate."""
        return bool(self.in_reply_to or self.references or self.ticket_refs)
