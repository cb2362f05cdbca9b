"""Hard caps applied to inbound mail before (and while) it is parsed.

Every cap is checked on the raw bytes (size, header blocks, boundary lines) before any
payload is decoded, so hostile input costs bounded time and memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MailLimits", "MailRejected"]


@dataclass(frozen=True, slots=True)
class MailLimits:
    """Caps for :func:`parse_email`. Exceeding one raises :class:`MailRejected`.

    Attributes:
        max_size: total message size in bytes (SES accepts at most 40 MB).
        max_depth: MIME nesting depth (multiparts and embedded messages).
        max_parts: total number of MIME entities, embedded messages included.
        max_headers: header fields in one header block (top level or part).
        max_header_length: bytes kept of one header field; a longer field is TRUNCATED (the
            message is flagged degraded), not rejected: real mail with 100 KB+ headers exists.
        max_header_block: bytes of one header block; beyond it the message is rejected
            (``header-too-long``).
        max_addresses: addresses in To/Cc/Bcc/From/Reply-To/Sender of the top-level header.
        max_params: parameters parsed from one Content-Type/Content-Disposition value (the
            rest are ignored and the message is flagged degraded).
        max_html_chars: characters of one HTML body turned into text (the rest is dropped
            from the text and the message is flagged degraded; the raw mail keeps it).
        max_description_chars: length cap of ``ParsedEmail.description``.
        max_attachments: attachments kept in ``ParsedEmail.attachments``; the rest are counted
            in ``ParsedEmail.attachments_omitted`` (they stay in the raw message), not rejected.

    An embedded (forwarded) message that breaks a cap is not rejected either: it is kept as an
    unopened ``.eml`` attachment; only the caps of the message's own structure reject.
    """

    max_size: int = 40 * 1024 * 1024
    max_depth: int = 20
    max_parts: int = 500
    max_headers: int = 500
    max_header_length: int = 64 * 1024
    max_header_block: int = 1024 * 1024
    max_addresses: int = 100
    max_params: int = 64
    max_html_chars: int = 1_000_000
    max_description_chars: int = 16_000
    max_attachments: int = 100


class MailRejected(Exception):
    """The message exceeds a cap of :class:`MailLimits`; ``reason`` is a short machine code.

    Reasons: ``too-large``, ``too-deep``, ``too-many-parts``, ``too-many-headers``,
    ``header-too-long``, ``too-many-addresses``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
