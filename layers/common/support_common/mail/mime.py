"""A bounded, iterative MIME structure pass over the raw bytes.

Nothing is copied or decoded here (but the payload of an opaque-signed S/MIME part, and a
transfer-encoded embedded message): each entity records its header fields and the byte range
of its body inside its buffer. All caps of :class:`MailLimits` (depth, parts, header count
and size) are enforced during this pass, before any payload is decoded, and there is no
recursion but one level per embedded message (so no ``RecursionError``), no quadratic header
parsing, and no copy of big payloads.

Embedded messages (``message/rfc822``...) are opened after the structure around them, each
on its own: one that would break a cap (a forwarded message with thousands of parts) is
kept whole and unopened (an opaque ``.eml``, defect ``embedded-over-caps:<reason>``) instead
of getting the whole message rejected. The caps of the message's own structure still reject.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .headerblock import line_end, parse_header_block
from .headers import parse_params
from .limits import MailLimits, MailRejected
from .smime import is_opaque_signed, signed_content
from .transfer import decode_transfer

__all__ = [
    "EMBEDDED_MESSAGE_TYPES",
    "Entity",
    "build_tree",
    "decode_transfer",
    "first_header",
    "parse_header_block",
]

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
    raw_8bit: dict[str, bytes] = field(default_factory=dict)  # raw bytes of 8-bit header fields

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
        part_start = line_end(buf, match.end(), end)
    else:
        if part_start is not None:
            ranges.append((part_start, end))
            defects.append("missing-final-boundary")
    if part_start is None and not closed:
        return None
    return ranges


def _take_part(budget: list[int], limits: MailLimits) -> None:
    budget[0] += 1
    if budget[0] > limits.max_parts:
        raise MailRejected("too-many-parts")


def _unwrap_signed(entity: Entity, limits: MailLimits, defects: list[str], budget: list[int]) -> Entity | None:
    """The MIME entity signed inside an opaque-signed S/MIME part, as its child (see ``smime``)."""
    inner = signed_content(decode_transfer(entity.view(), entity.cte, defects))
    if not inner:
        return None
    if entity.depth + 1 > limits.max_depth:
        raise MailRejected("too-deep")
    _take_part(budget, limits)
    headers, body = parse_header_block(inner, 0, len(inner), limits, defects)
    child = Entity(inner, headers, body, len(inner), entity.depth + 1)
    _classify(child, "text/plain", limits, defects)
    entity.children.append(child)
    return child


def _open_embedded(entity: Entity, limits: MailLimits, defects: list[str], budget: list[int]) -> None:
    if entity.depth + 1 > limits.max_depth:
        raise MailRejected("too-deep")
    _take_part(budget, limits)
    inner_buf, inner_start, inner_end = entity.buf, entity.body_start, entity.body_end
    if entity.cte not in ("7bit", "8bit", "binary"):
        inner_buf = decode_transfer(entity.view(), entity.cte, defects)
        inner_start, inner_end = 0, len(inner_buf)
    if inner_start >= inner_end:
        return
    inner_headers, inner_body = parse_header_block(
        inner_buf, inner_start, inner_end, limits, defects, message=True
    )
    child = Entity(inner_buf, inner_headers, inner_body, inner_end, entity.depth + 1, is_message=True)
    _classify(child, "text/plain", limits, defects)
    entity.children.append(child)
    _expand(child, limits, defects, budget)


def _expand(top: Entity, limits: MailLimits, defects: list[str], budget: list[int]) -> None:
    """Build the tree under ``top`` iteratively; its embedded messages after it, each alone."""
    embedded: list[Entity] = []
    stack = [top]
    while stack:
        entity = stack.pop()
        if entity.maintype == "multipart":
            boundary = entity.params.get("boundary")
            boundary = boundary.strip() if boundary is not None else None
            # boundary="" is legal enough to be sent: its delimiter lines are "--" and "----".
            ranges = _split_multipart(entity, boundary, defects) if boundary is not None else None
            if ranges is None or not ranges:
                defects.append("missing-boundary" if ranges is None else "empty-multipart")
                entity.content_type = "text/plain"
                continue
            if entity.depth + 1 > limits.max_depth:
                raise MailRejected("too-deep")
            default_type = "message/rfc822" if entity.content_type == "multipart/digest" else "text/plain"
            for part_start, part_end in ranges:
                _take_part(budget, limits)
                part_headers, part_body = parse_header_block(entity.buf, part_start, part_end, limits, defects)
                child = Entity(entity.buf, part_headers, part_body, part_end, entity.depth + 1)
                _classify(child, default_type, limits, defects)
                entity.children.append(child)
            stack.extend(reversed(entity.children))
        elif entity.content_type in EMBEDDED_MESSAGE_TYPES:
            embedded.append(entity)
        elif is_opaque_signed(entity.content_type, entity.params):
            signed = _unwrap_signed(entity, limits, defects, budget)
            if signed is not None:
                stack.append(signed)
    for entity in embedded:
        count, defect_count = budget[0], len(defects)
        try:
            _open_embedded(entity, limits, defects, budget)
        except MailRejected as exc:
            # Kept whole, unopened: the .eml attachment still has every byte of it.
            entity.children.clear()
            budget[0] = count
            del defects[defect_count:]
            defects.append(f"embedded-over-caps:{exc.reason}")


def build_tree(
    buf: bytes,
    start: int,
    limits: MailLimits,
    defects: list[str],
    check_headers: Callable[[list[tuple[str, str]]], None] | None = None,
) -> Entity:
    """Build the entity tree of the message in ``buf[start:]``, enforcing caps.

    ``check_headers`` is called on the top-level header fields before any part is looked at
    (the caller's cheap caps, e.g. the address count).
    """
    raw_8bit: dict[str, bytes] = {}
    headers, body_start = parse_header_block(
        buf, start, len(buf), limits, defects, message=True, raw_8bit=raw_8bit
    )
    if check_headers is not None:
        check_headers(headers)
    root = Entity(buf, headers, body_start, len(buf), 0, is_message=True, raw_8bit=raw_8bit)
    _classify(root, "text/plain", limits, defects)
    _expand(root, limits, defects, [1])
    return root
