"""One header block (of a message or a MIME part) in a single bounded pass over the bytes.

Where the blank line between headers and body is missing, the body starts at the first line
that is not a header field. A line that is not a field between two fields is a broken fold
(kept in the field before it) only when it does not read like prose and a field with a
known name follows: ``Hello team,`` followed by ``Note: the server is down`` is body, not a
continued Subject and a ``Note`` header. For the same reason, fields with names no mail
software writes (``Error: disk full``) just before such a body belong to the body.
"""

from __future__ import annotations

import re

from .headers import decode_header_bytes
from .limits import MailLimits, MailRejected

__all__ = ["is_known_header", "line_end", "parse_header_block"]

_HEADER_NAME = re.compile(rb"[!-9;-~]+[ \t]*:")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_PROSE = re.compile(rb"[^\W\d_]{2,}[ \t]+[^\W\d_]{2,}")
_KNOWN_NAMES = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "date",
        "subject",
        "sender",
        "reply-to",
        "message-id",
        "in-reply-to",
        "references",
        "comments",
        "keywords",
        "received",
        "return-path",
        "precedence",
        "importance",
        "priority",
        "sensitivity",
        "organization",
        "user-agent",
        "mime-version",
        "lines",
        "path",
        "newsgroups",
        "xref",
        "followup-to",
        "approved",
        "expires",
        "supersedes",
        "face",
        "status",
        "errors-to",
        "bounces-to",
        "encoding",
        "accept-language",
        "acceptlanguage",
        "suggested-by",
        "autocrypt",
        "require-recipient-valid-since",
        "mail-followup-to",
        "mail-reply-to",
        "mailing-list",
        "domainkey-signature",
        "apparently-to",
        "disposition-notification-to",
        "return-receipt-to",
    }
)
_KNOWN_PREFIXES = (
    "x-", "list-", "arc-", "dkim-", "content-", "resent-", "authentication-", "thread-", "original-",
    "auto", "received-", "delivered-", "envelope-", "feedback-", "tls-report", "ms-", "spam", "openpgp",
    "message-", "reply-", "in-", "return-", "archived-", "disposition-", "old-", "mail-", "iron", "dlp",
)  # fmt: skip


def is_known_header(name: str) -> bool:
    """True for a field name that mail software writes (standard, ``X-``, vendor prefixes)."""
    lname = name.strip().lower()
    return lname in _KNOWN_NAMES or lname.startswith(_KNOWN_PREFIXES)


def line_end(buf: bytes, pos: int, end: int) -> int:
    """The position just after the line starting at ``pos`` (its LF included), at most ``end``."""
    nl = buf.find(b"\n", pos, end)
    return end if nl < 0 else nl + 1


def _field_name(line: bytes) -> str:
    return line.partition(b":")[0].strip().decode("ascii", "replace")


def _broken_fold(buf: bytes, line: bytes, following_start: int, block_end: int) -> bool:
    """A stray ``line`` before ``buf[following_start:]`` continues the field before it."""
    following = buf[following_start : line_end(buf, following_start, block_end)]
    if following[:1] in (b" ", b"\t"):
        return True
    if not _HEADER_NAME.match(following) or not is_known_header(_field_name(following)):
        return False
    return b"@" in line or b"=?" in line or not _PROSE.search(line)


def parse_header_block(  # noqa: C901 - one pass over the header block: caps, folding and stray body lines are decided together
    buf: bytes,
    start: int,
    end: int,
    limits: MailLimits,
    defects: list[str],
    *,
    message: bool = False,
    raw_8bit: dict[str, bytes] | None = None,
) -> tuple[list[tuple[str, str]], int]:
    """Parse the header block at ``buf[start:end]``; return ``(fields, body_start)``.

    Values are unfolded and decoded as UTF-8 (else windows-1252), not yet RFC 2047-decoded;
    the raw bytes of a field that needed the windows-1252 fallback go in ``raw_8bit`` (first
    one per lower-cased name) so a caller can decode them with a better guess. A field longer
    than ``max_header_length`` is truncated (defect); a block longer than ``max_header_block``
    or with more than ``max_headers`` fields raises MailRejected.
    """
    if message and buf.startswith(b"\xef\xbb\xbf", start):  # UTF-8 byte order mark
        start += 3
        defects.append("byte-order-mark")
    if message and buf.startswith(b"From ", start):  # mbox separator line
        start = line_end(buf, start, end)
    if buf.startswith(b"\n", start) or buf.startswith(b"\r\n", start):
        return [], line_end(buf, start, end)
    blank = _BLANK_LINE.search(buf, start, end)
    block_end = blank.start() + 1 if blank else end
    body_start = blank.end() if blank else end
    capped = block_end - start > limits.max_header_block
    if capped:
        block_end = start + limits.max_header_block
    fields: list[tuple[str, list[bytes], int]] = []
    starts: list[int] = []  # where each field's first line starts
    pos = start
    stopped_early = False
    while pos < block_end:
        end_of_line = line_end(buf, pos, block_end)
        line = buf[pos:end_of_line].rstrip(b"\r\n")
        if line[:1] in (b" ", b"\t"):
            if fields:
                field_name, chunks, size = fields[-1]
                if size < limits.max_header_length:
                    chunks.append(line)
                fields[-1] = (field_name, chunks, size + len(line))
            elif line.strip():
                defects.append("header-continuation-first")
        elif _HEADER_NAME.match(line):
            raw_name, _, rest = line.partition(b":")
            fields.append((raw_name.strip().decode("ascii", "replace"), [rest], len(rest)))
            starts.append(pos)
            if len(fields) > limits.max_headers:
                raise MailRejected("too-many-headers")
        elif line.strip() or end_of_line < block_end:
            if fields and end_of_line < block_end and _broken_fold(buf, line, end_of_line, block_end):
                defects.append("malformed-header-line")
                field_name, chunks, size = fields[-1]
                if size < limits.max_header_length:
                    chunks.append(b" " + line)
                fields[-1] = (field_name, chunks, size + len(line) + 1)
                pos = end_of_line
                continue
            # Not a header: the body starts here (missing blank line).
            if line.strip():
                defects.append("missing-header-separator")
            body_start = pos
            stopped_early = True
            break
        pos = end_of_line
    if capped and not stopped_early:
        raise MailRejected("header-too-long")
    if stopped_early or blank is None:
        # Fields with unknown names right before a body without a blank line are body lines.
        keep = len(fields)
        while keep > 1 and not is_known_header(fields[keep - 1][0]) and is_known_header(fields[0][0]):
            keep -= 1
        if keep < len(fields):
            body_start = starts[keep]
            del fields[keep:]
            if "missing-header-separator" not in defects:
                defects.append("missing-header-separator")
    result: list[tuple[str, str]] = []
    for name, chunks, size in fields:
        raw_value = b"".join(chunks)
        if size > limits.max_header_length:
            raw_value = raw_value[: limits.max_header_length]
            defects.append(f"header-truncated:{name[:40]}")
        text, fallback = decode_header_bytes(raw_value)
        if fallback:
            defects.append(f"header-8bit:{name[:40]}")
            if raw_8bit is not None:
                raw_8bit.setdefault(name.lower(), raw_value)
        result.append((name, text.strip()))
    return result, body_start
