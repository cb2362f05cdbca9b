"""A bounded, iterative MIME structure pass over the raw bytes.

Nothing is copied or decoded here: each entity records its header fields and the byte range
of its body inside the original buffer. All caps of :class:`MailLimits` (depth, parts, header
count and size) are enforced during this pass, before any payload is decoded, and there is no
recursion (so no ``RecursionError``), no quadratic header parsing, and no copy of big payloads.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .headers import decode_header_bytes, parse_params
from .limits import MailLimits, MailRejected

__all__ = ["Entity", "build_tree", "decode_transfer", "parse_header_block"]

_HEADER_NAME = re.compile(rb"[!-9;-~]+[ \t]*:")
_BLANK_LINE = re.compile(rb"\n\r?\n")
EMBEDDED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})


@dataclass(slots=True)
class Entity:
    """One MIME entity: decoded header fields plus the byte range of its body in ``buf``."""

    buf: bytes
    headers: list[tuple[str, str]]
    body_start: int
    body_end: int
    depth: int
    content_type: str = "text/plain"
    declared_type: str = "text/plain"  # as declared, even when treated as text (no boundary)
    params: dict[str, str] = field(default_factory=dict)
    disposition: str = ""
    disposition_params: dict[str, str] = field(default_factory=dict)
    cte: str = "7bit"
    children: list[Entity] = field(default_factory=list)
    is_message: bool = False  # a message (top level or embedded), not a body part

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return first_header(self.headers, name)

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    def body(self) -> bytes:
        """The raw (still transfer-encoded) body bytes (a copy)."""
        return self.buf[self.body_start : self.body_end]

    def view(self) -> memoryview:
        """The raw body as a zero-copy view of the message buffer."""
        return memoryview(self.buf)[self.body_start : self.body_end]


def first_header(headers: list[tuple[str, str]], name: str) -> str | None:
    """First value of header ``name`` (case-insensitive) in a list of fields, or None."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def _line_end(buf: bytes, pos: int, end: int) -> int:
    nl = buf.find(b"\n", pos, end)
    return end if nl < 0 else nl + 1


def parse_header_block(  # noqa: C901 - one pass over the header block: the caps and the folding are checked together
    buf: bytes, start: int, end: int, limits: MailLimits, defects: list[str], *, message: bool = False
) -> tuple[list[tuple[str, str]], int]:
    """Parse the header block at ``buf[start:end]``; return ``(fields, body_start)``.

    Values are unfolded and decoded as UTF-8 (else windows-1252), not yet RFC 2047-decoded.
    A field longer than ``max_header_length`` is truncated (defect); a block longer than
    ``max_header_block`` or with more than ``max_headers`` fields raises MailRejected.
    """
    if message and buf.startswith(b"\xef\xbb\xbf", start):  # UTF-8 byte order mark
        start += 3
        defects.append("byte-order-mark")
    if message and buf.startswith(b"From ", start):  # mbox separator line
        start = _line_end(buf, start, end)
    if buf.startswith(b"\n", start) or buf.startswith(b"\r\n", start):
        return [], _line_end(buf, start, end)
    blank = _BLANK_LINE.search(buf, start, end)
    block_end = blank.start() + 1 if blank else end
    body_start = blank.end() if blank else end
    if block_end - start > limits.max_header_block:
        block_end = start + limits.max_header_block
        capped = True
    else:
        capped = False
    fields: list[tuple[str, list[bytes], int]] = []
    pos = start
    stopped_early = False
    while pos < block_end:
        line_end = _line_end(buf, pos, block_end)
        line = buf[pos:line_end].rstrip(b"\r\n")
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
            if len(fields) > limits.max_headers:
                raise MailRejected("too-many-headers")
        elif line.strip() or line_end < block_end:
            next_end = _line_end(buf, line_end, block_end)
            following = buf[line_end:next_end]
            if (
                fields
                and line_end < block_end
                and (following[:1] in (b" ", b"\t") or _HEADER_NAME.match(following))
            ):
                # A stray line between header fields (a broken fold): keep it in the field.
                defects.append("malformed-header-line")
                field_name, chunks, size = fields[-1]
                if size < limits.max_header_length:
                    chunks.append(b" " + line)
                fields[-1] = (field_name, chunks, size + len(line) + 1)
                pos = line_end
                continue
            # Not a header: the body starts here (missing blank line).
            if line.strip():
                defects.append("missing-header-separator")
            body_start = pos
            stopped_early = True
            break
        pos = line_end
    if capped and not stopped_early:
        raise MailRejected("header-too-long")
    result: list[tuple[str, str]] = []
    for name, chunks, size in fields:
        raw_value = b"".join(chunks)
        if size > limits.max_header_length:
            raw_value = raw_value[: limits.max_header_length]
            defects.append(f"header-truncated:{name[:40]}")
        text, fallback = decode_header_bytes(raw_value)
        if fallback:
            defects.append(f"header-8bit:{name[:40]}")
        result.append((name, text.strip()))
    return result, body_start


def _classify(entity: Entity, default_type: str, limits: MailLimits, defects: list[str]) -> None:
    raw_type = entity.header("content-type")
    if raw_type is None:
        entity.content_type = entity.declared_type = default_type
    else:
        main, params, truncated = parse_params(raw_type, limits.max_params)
        if truncated:
            defects.append("too-many-params")
        main = main.lower().strip()
        if "/" not in main:
            defects.append("bad-content-type")
            named = "name" in params
            main = "text/plain" if main in ("", "text") and not named else "application/octet-stream"
        maintype, _, subtype = main.partition("/")
        if not maintype or not subtype or any(ch.isspace() for ch in main):
            defects.append("bad-content-type")
            main = "text/plain"
        entity.content_type = main
        entity.declared_type = main
        entity.params = params
    raw_disp = entity.header("content-disposition")
    if raw_disp:
        disposition, dparams, truncated = parse_params(raw_disp, limits.max_params)
        if truncated:
            defects.append("too-many-params")
        entity.disposition = disposition.lower().strip()
        entity.disposition_params = dparams
    cte = (entity.header("content-transfer-encoding") or "7bit").strip().lower()
    entity.cte = cte or "7bit"


def _split_multipart(entity: Entity, boundary: str, defects: list[str]) -> list[tuple[int, int]] | None:
    buf, start, end = entity.buf, entity.body_start, entity.body_end
    pattern = re.compile(
        rb"^--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + rb"(--)?[ \t]*\r?$",
        re.MULTILINE,
    )
    ranges: list[tuple[int, int]] = []
    part_start: int | None = None
    closed = False
    for match in pattern.finditer(buf, start, end):
        if part_start is not None:
            part_end = match.start()
            if part_end > part_start and buf[part_end - 1 : part_end] == b"\n":
                part_end -= 1
                if part_end > part_start and buf[part_end - 1 : part_end] == b"\r":
                    part_end -= 1
            ranges.append((part_start, max(part_start, part_end)))
        if match.group(1):
            closed = True
            break
        part_start = _line_end(buf, match.end(), end)
    else:
        if part_start is not None:
            ranges.append((part_start, end))
            defects.append("missing-final-boundary")
    if part_start is None and not closed:
        return None
    return ranges


def decode_transfer(data: bytes | memoryview, cte: str, defects: list[str]) -> bytes:
    """Undo a Content-Transfer-Encoding leniently; unknown encodings pass through (defect).

    ``data`` may be a memoryview: base64 and quoted-printable decode from it without a copy.
    """
    if cte in ("7bit", "8bit", "binary", ""):
        return bytes(data)
    if cte == "base64":
        try:
            return binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            defects.append("bad-base64")
            cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", bytes(data))
            cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
            try:
                return binascii.a2b_base64(cleaned)
            except (binascii.Error, ValueError):
                return bytes(data)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return _uudecode(bytes(data), defects)
    defects.append(f"unknown-transfer-encoding:{cte[:30]}")
    return bytes(data)


def _uudecode(data: bytes, defects: list[str]) -> bytes:
    out: list[bytes] = []
    started = False
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`"):
            if line.strip() == b"end":
                break
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            try:  # some encoders pad lines wrongly
                nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3
                out.append(binascii.a2b_uu(line[:nbytes]))
            except (binascii.Error, IndexError):
                defects.append("bad-uuencode")
                return data
    if not started:
        defects.append("bad-uuencode")
        return data
    return b"".join(out)


def build_tree(
    buf: bytes,
    start: int,
    limits: MailLimits,
    defects: list[str],
    check_headers: Callable[[list[tuple[str, str]]], None] | None = None,
) -> Entity:
    """Build the entity tree of the message in ``buf[start:]`` iteratively, enforcing caps.

    ``check_headers`` is called on the top-level header fields before any part is looked at
    (the caller's cheap caps, e.g. the address count).
    """
    headers, body_start = parse_header_block(buf, start, len(buf), limits, defects, message=True)
    if check_headers is not None:
        check_headers(headers)
    root = Entity(buf, headers, body_start, len(buf), 0, is_message=True)
    _classify(root, "text/plain", limits, defects)
    count = 1
    stack = [root]
    while stack:
        entity = stack.pop()
        if entity.maintype == "multipart":
            boundary = (entity.params.get("boundary") or "").strip()
            ranges = _split_multipart(entity, boundary, defects) if boundary else None
            if ranges is None or not ranges:
                defects.append("missing-boundary" if ranges is None else "empty-multipart")
                entity.content_type = "text/plain"
                continue
            if entity.depth + 1 > limits.max_depth:
                raise MailRejected("too-deep")
            default_type = "message/rfc822" if entity.content_type == "multipart/digest" else "text/plain"
            for part_start, part_end in ranges:
                count += 1
                if count > limits.max_parts:
                    raise MailRejected("too-many-parts")
                part_headers, part_body = parse_header_block(buf, part_start, part_end, limits, defects)
                child = Entity(entity.buf, part_headers, part_body, part_end, entity.depth + 1)
                _classify(child, default_type, limits, defects)
                entity.children.append(child)
            stack.extend(reversed(entity.children))
        elif entity.content_type in EMBEDDED_MESSAGE_TYPES:
            if entity.depth + 1 > limits.max_depth:
                raise MailRejected("too-deep")
            count += 1
            if count > limits.max_parts:
                raise MailRejected("too-many-parts")
            inner_buf, inner_start, inner_end = entity.buf, entity.body_start, entity.body_end
            if entity.cte not in ("7bit", "8bit", "binary"):
                inner_buf = decode_transfer(entity.view(), entity.cte, defects)
                inner_start, inner_end = 0, len(inner_buf)
            if inner_start >= inner_end:
                continue
            inner_headers, inner_body = parse_header_block(
                inner_buf, inner_start, inner_end, limits, defects, message=True
            )
            child = Entity(inner_buf, inner_headers, inner_body, inner_end, entity.depth + 1, is_message=True)
            _classify(child, "text/plain", limits, defects)
            entity.children.append(child)
            stack.append(child)
    return root
