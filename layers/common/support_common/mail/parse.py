"""``parse_email``: raw RFC 5322/MIME bytes -> :class:`ParsedEmail`, for ticket intake.

Contract: :func:`parse_email` never raises anything but :class:`MailRejected` (a cap of
:class:`MailLimits` was exceeded). Broken input is parsed leniently and flagged ``degraded``
with the problems in ``defects``; if the structured parse fails unexpectedly, a raw-text
fallback is used (also ``degraded``).

Decisions:

- **Body**: in ``multipart/alternative`` the ``text/plain`` alternative is used (when not
  blank), else the HTML one turned into text (``html_only``). In ``multipart/mixed`` every
  inline text part without a file name is body (Apple Mail splits the body around inline
  images); text parts with a file name or ``Content-Disposition: attachment`` are attachments.
  ``multipart/related`` uses its root part; ``multipart/signed`` its first part.
- **Forwarded messages** (``message/rfc822``, ``message/global``, ``message/news``): the
  embedded message becomes an ``.eml`` attachment (its exact bytes, attachments included)
  AND its text is appended to ``full_text`` and ``description`` under a
  ``---------- Forwarded message ----------`` heading with its From, Date, Subject and To.
  Its own attachments are not listed separately (they are inside the ``.eml``). Nothing is
  lost.
- **Description**: the body with quoted history and signature trimmed (see ``quotes``), except
  for forwards (subject ``Fwd:``/``FW:``/``WG:``/``TR:``/``I:``...) whose content IS the point:
  those keep the full text. Capped at ``max_description_chars`` with
  ``[truncated: the full text is attached]``. ``full_text`` is not capped.
- **Title**: the decoded subject with reply/forward prefixes (Re:, Fwd:, AW:, WG:, R:, I:, SV:,
  TR:...) and ticket tokens ``[#ABC-123456]`` removed, at most 200 characters cut at a word
  boundary; without a subject, the first line of the description; else ``(no subject)``.
- **Long headers**: a header field longer than ``max_header_length`` is truncated, not
  rejected (real mail has 100 KB+ subjects); the parse stays linear whatever the content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .charsets import decode_bytes
from .headers import (
    clean_header_value,
    decode_rfc2047,
    first_address,
    parse_message_id,
    parse_message_ids,
    parse_params,
)
from .html import html_to_text
from .limits import MailLimits, MailRejected
from .mime import EMBEDDED_MESSAGE_TYPES, Entity, build_tree, decode_transfer, first_header
from .quotes import trim_reply, truncate_text
from .robots import robot_reason

__all__ = ["ParsedAttachment", "ParsedEmail", "find_ticket_refs", "make_title", "parse_email"]

TITLE_MAX = 200
NO_SUBJECT = "(no subject)"
FORWARD_HEADING = "---------- Forwarded message ----------"

_TICKET_REF = re.compile(r"\[#\s*([A-Za-z]{3}-[0-9A-Za-z]{6})\s*\]")
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|rif|r|i|antw|odp|enc|res|rv|ref|fs|vb)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]\s*)+",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(r"^\s*(?:fwd?|wg|tr|i|enc|rv|fs|vb|vl)\s*(?:\[\d+\])?\s*[:\uff1a]|^\s*\[fwd?:", re.I)
_ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to", "sender")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]+')
_EXTENSIONS: dict[str, str] = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/x-gzip": ".gz",
    "application/gzip": ".gz",
    "application/msword": ".doc",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pgp-signature": ".asc",
    "application/postscript": ".ps",
    "application/json": ".json",
    "application/xml": ".xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "image/svg+xml": ".svg",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/calendar": ".ics",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
    "text/rfc822-headers": ".txt",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/news": ".eml",
    "message/delivery-status": ".txt",
    "message/global-delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}


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
    """The parts of an inbound message that ticket intake needs. See :func:`parse_email`."""

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

    def header(self, name: str) -> str | None:
        """First raw (unfolded, not RFC 2047-decoded) value of top-level header ``name``."""
        return first_header(self.headers, name)

    @property
    def is_reply(self) -> bool:
        """True when threading headers or a ticket token make this a comment candidate."""
        return bool(self.in_reply_to or self.references or self.ticket_refs)


def find_ticket_refs(subject: str) -> list[str]:
    """Ticket ids written as ``[#INC-7KQ2XH]`` in ``subject``, upper-cased, without duplicates."""
    seen: list[str] = []
    for match in _TICKET_REF.finditer(subject or ""):
        ref = match.group(1).upper()
        if ref not in seen:
            seen.append(ref)
    return seen


def _shorten(text: str, limit: int = TITLE_MAX) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def make_title(subject: str, body: str = "") -> str:
    """A ticket title: ``subject`` without reply/forward prefixes and ticket tokens, else the
    first line of ``body``, else ``(no subject)``; at most 200 characters, cut at a word."""
    title = clean_header_value(_TICKET_REF.sub(" ", _PREFIX.sub("", subject or "")))
    title = clean_header_value(_PREFIX.sub("", title))
    if not title:
        for line in (body or "").splitlines():
            candidate = clean_header_value(line)
            if candidate and not candidate.startswith(">"):
                title = candidate
                break
    return _shorten(title) if title else NO_SUBJECT


def _safe_filename(name: str | None, index: int, content_type: str) -> str:
    ext = _EXTENSIONS.get(content_type, ".bin")
    cleaned = ""
    if name:
        base = re.split(r"[/\\]", name.replace("\x00", "").replace("\ufffd", ""))[-1]
        cleaned = _UNSAFE_FILENAME.sub("_", base)
        cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")
        if len(cleaned) > 200:
            stem, dot, suffix = cleaned.rpartition(".")
            keep_suffix = bool(dot) and 0 < len(suffix) <= 10
            cleaned = stem[: 199 - len(suffix)] + "." + suffix if keep_suffix else cleaned[:200]
    if not cleaned or set(cleaned) <= {"_", "."}:
        return f"attachment-{index}{ext}"
    return cleaned


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_TEXT.sub("", text)


class _Collector:
    """Walks the entity tree: body text pieces, attachments, forwarded messages."""

    def __init__(self, limits: MailLimits, defects: list[str], attachments: list[ParsedAttachment] | None):
        self.limits = limits
        self.defects = defects
        self.pieces: list[tuple[str, str]] = []  # ("plain"|"html", text)
        self.attachments = attachments
        self.forwards: list[Entity] = []

    def text_of(self, entity: Entity) -> str:
        data = decode_transfer(entity.view(), entity.cte, self.defects)
        return _clean_text(decode_bytes(data, entity.params.get("charset"), self.defects))

    @staticmethod
    def filename_of(entity: Entity) -> str | None:
        raw = entity.disposition_params.get("filename") or entity.params.get("name")
        if raw is None:
            return None
        return clean_header_value(decode_rfc2047(raw)) or None

    def is_attachment(self, entity: Entity) -> bool:
        return entity.disposition == "attachment" or self.filename_of(entity) is not None

    def attach(self, entity: Entity, in_related: bool = False) -> None:
        if self.attachments is None:
            return
        content = decode_transfer(entity.view(), entity.cte, self.defects)
        content_id = entity.header("content-id")
        content_id = clean_header_value(content_id) if content_id else None
        index = len(self.attachments) + 1
        inline = entity.disposition == "inline" or (
            entity.disposition == "" and (content_id is not None or in_related)
        )
        self.attachments.append(
            ParsedAttachment(
                filename=_safe_filename(self.filename_of(entity), index, entity.content_type),
                content_type=entity.content_type,
                size=len(content),
                content=content,
                content_id=content_id or None,
                inline=inline,
            )
        )

    def choose_alternative(self, kids: list[Entity]) -> Entity | None:
        for kid in kids:
            if kid.content_type == "text/plain" and not self.is_attachment(kid) and self.text_of(kid).strip():
                return kid
        for kid in reversed(kids):
            if kid.content_type == "text/html" or kid.maintype == "multipart":
                return kid
        return kids[0] if kids else None

    @staticmethod
    def related_root(entity: Entity) -> Entity:
        """RFC 2387: the part named by ``start``, else the first of the ``type`` given, else the first."""
        kids = entity.children
        start = (entity.params.get("start") or "").strip()
        if start:
            for kid in kids:
                if (kid.header("content-id") or "").strip() == start:
                    return kid
        root_type = (entity.params.get("type") or "").strip().lower()
        if root_type:
            for kid in kids:
                if kid.content_type == root_type:
                    return kid
        return kids[0]

    def walk(self, entity: Entity, as_body: bool, in_related: bool = False) -> None:
        ctype = entity.content_type
        kids = entity.children
        if entity.maintype == "multipart" and kids:
            if ctype == "multipart/alternative" and as_body:
                chosen = self.choose_alternative(kids)
                for kid in kids:
                    self.walk(kid, kid is chosen)
            elif ctype == "multipart/related":
                root = self.related_root(entity) if as_body else None
                for kid in kids:
                    self.walk(kid, kid is root, in_related=True)
            elif ctype in ("multipart/signed", "multipart/encrypted"):
                for position, kid in enumerate(kids):
                    self.walk(kid, as_body and position == 0)
            else:
                for kid in kids:
                    self.walk(kid, as_body)
        elif ctype in EMBEDDED_MESSAGE_TYPES:
            self.attach(entity)
            if as_body and kids:
                self.forwards.append(kids[0])
        elif ctype in ("text/plain", "text/html") and not self.is_attachment(entity):
            if as_body:
                self.pieces.append(("html" if ctype == "text/html" else "plain", self.text_of(entity)))
        elif entity.maintype == "multipart":  # multipart without parts: nothing inside
            return
        else:
            self.attach(entity, in_related)


def _header_text(entity: Entity, name: str, defects: list[str]) -> str:
    value = entity.header(name)
    return clean_header_value(decode_rfc2047(value, defects)) if value else ""


def _render(
    collector: _Collector, limits: MailLimits, defects: list[str], trim: bool, depth: int = 0
) -> tuple[str, str, bool]:
    """(full_text, description_source, html_only) of a collector's pieces and forwards."""
    full_parts: list[str] = []
    desc_parts: list[str] = []
    has_plain = any(kind == "plain" for kind, _ in collector.pieces)
    has_html = any(kind == "html" for kind, _ in collector.pieces)
    for kind, text in collector.pieces:
        if kind == "plain":
            full_parts.append(text.strip("\n"))
            desc_parts.append(text.strip("\n"))
            continue
        if len(text) > limits.max_html_chars:
            defects.append("html-truncated")
            text = text[: limits.max_html_chars]
        full_parts.append(html_to_text(text))
        desc_parts.append(html_to_text(text, strip_quotes=True))
    full_text = "\n".join(p for p in full_parts if p.strip())
    description = "\n".join(p for p in desc_parts if p.strip())
    # Only the head of a long text can end up in the (capped) description: bound the work.
    description = description[: limits.max_description_chars * 4]
    if trim and description:
        description = trim_reply(description)
    if not description.strip():
        description = full_text.strip()
    for forwarded in collector.forwards:
        inner = _Collector(limits, defects, None)
        inner.walk(forwarded, True)
        inner_full, _, _ = _render(inner, limits, defects, trim=False, depth=depth + 1)
        lines = [FORWARD_HEADING]
        for name in ("From", "Date", "Subject", "To"):
            value = _header_text(forwarded, name, defects)
            if value:
                lines.append(f"{name}: {value}")
        section = "\n".join(lines) + "\n\n" + inner_full.strip()
        full_text = (full_text + "\n\n" + section).strip()
        description = (description + "\n\n" + section).strip()
    return full_text, description, (has_html and not has_plain)


def _address_list(value: str | None, limit: int) -> list[str]:
    if not value:
        return []
    found: list[str] = []
    for piece in value.split(","):
        if "@" not in piece:
            continue
        _, address = first_address(piece)
        if address and address not in found:
            found.append(address)
        if len(found) >= limit:
            break
    return found


def _check_root_headers(limits: MailLimits) -> Callable[[list[tuple[str, str]]], None]:
    def check(headers: list[tuple[str, str]]) -> None:
        count = 0
        for name, value in headers:
            if name.lower() in _ADDRESS_HEADERS:
                count += sum(1 for piece in value.split(",") if "@" in piece)
        if count > limits.max_addresses:
            raise MailRejected("too-many-addresses")

    return check


def _build(raw: bytes, limits: MailLimits, defects: list[str], return_path: str | None) -> ParsedEmail:
    checker = _check_root_headers(limits)
    root = build_tree(raw, 0, limits, defects, checker)
    attachments: list[ParsedAttachment] = []
    collector = _Collector(limits, defects, attachments)
    collector.walk(root, True)
    subject = _header_text(root, "subject", defects)
    trim = not _FORWARD_PREFIX.match(subject)
    full_text, description, html_only = _render(collector, limits, defects, trim)
    from_name, from_address = first_address(root.header("from"))
    _, reply_to = first_address(root.header("reply-to"))
    report_type = None
    if root.declared_type == "multipart/report":
        report_type = (root.params.get("report-type") or "").strip().lower() or None
    parsed = ParsedEmail(
        message_id=parse_message_id(root.header("message-id")),
        in_reply_to=parse_message_id(root.header("in-reply-to")),
        references=parse_message_ids(root.header("references")),
        subject=subject,
        title=make_title(subject, description),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to,
        to=_address_list(root.header("to"), limits.max_addresses),
        cc=_address_list(root.header("cc"), limits.max_addresses),
        date=clean_header_value(root.header("date")) or None,
        auto_submitted=clean_header_value(root.header("auto-submitted")) or None,
        precedence=clean_header_value(root.header("precedence")) or None,
        list_id=clean_header_value(root.header("list-id")) or None,
        content_type=root.declared_type,
        report_type=report_type,
        description=truncate_text(description, limits.max_description_chars),
        full_text=full_text,
        html_only=html_only,
        attachments=attachments,
        degraded=bool(defects),
        defects=defects,
        ticket_refs=find_ticket_refs(subject),
        headers=root.headers,
    )
    parsed.robot_reason = robot_reason(parsed, return_path)
    return parsed


_FALLBACK_HEADER = re.compile(rb"^([A-Za-z0-9-]+)[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)


def _fallback(raw: bytes, limits: MailLimits, defects: list[str], return_path: str | None) -> ParsedEmail:
    """Raw-text extraction used when the structured parse failed unexpectedly."""
    split = re.search(rb"\r?\n\r?\n", raw[: limits.max_header_block])
    header_block = raw[: split.start()] if split else raw[: limits.max_header_block]
    body = raw[split.end() :] if split else b""
    headers: list[tuple[str, str]] = []
    for match in _FALLBACK_HEADER.finditer(header_block):
        if len(headers) >= limits.max_headers:
            break
        value = match.group(2)[: limits.max_header_length]
        headers.append((match.group(1).decode("ascii"), decode_bytes(value, None).replace("\r", "")))

    def get(name: str) -> str | None:
        return next((v for k, v in headers if k.lower() == name), None)

    subject = clean_header_value(decode_rfc2047(get("subject") or ""))
    full_text = _clean_text(decode_bytes(body[: limits.max_html_chars], None))
    from_name, from_address = first_address(get("from"))
    parsed = ParsedEmail(
        message_id=parse_message_id(get("message-id")),
        in_reply_to=parse_message_id(get("in-reply-to")),
        references=parse_message_ids(get("references")),
        subject=subject,
        title=make_title(subject, full_text),
        from_address=from_address,
        from_name=from_name,
        reply_to=first_address(get("reply-to"))[1],
        to=_address_list(get("to"), limits.max_addresses),
        cc=_address_list(get("cc"), limits.max_addresses),
        date=clean_header_value(get("date")) or None,
        auto_submitted=clean_header_value(get("auto-submitted")) or None,
        precedence=clean_header_value(get("precedence")) or None,
        list_id=clean_header_value(get("list-id")) or None,
        content_type=parse_params(get("content-type") or "text/plain")[0].lower(),
        report_type=None,
        description=truncate_text(full_text.strip(), limits.max_description_chars),
        full_text=full_text,
        html_only=False,
        attachments=[],
        degraded=True,
        defects=defects,
        ticket_refs=find_ticket_refs(subject),
        headers=headers,
    )
    parsed.robot_reason = robot_reason(parsed, return_path)
    return parsed


def parse_email(
    raw: bytes | bytearray | memoryview, limits: MailLimits | None = None, *, return_path: str | None = None
) -> ParsedEmail:
    """Parse a raw message. Never raises anything but :class:`MailRejected`.

    ``limits`` defaults to :class:`MailLimits()`. ``return_path`` is the SMTP envelope sender
    (SES ``mail.source``; ``"<>"`` for bounces) used for ``robot_reason``; recompute with
    :func:`robot_reason` if it becomes known later.
    """
    limits = limits or MailLimits()
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    if len(raw) > limits.max_size:
        raise MailRejected("too-large")
    defects: list[str] = []
    head = raw[:65536]
    if b"\n" not in head and b"\r" in head:
        raw = raw.replace(b"\r", b"\n")
        defects.append("cr-line-endings")
    try:
        return _build(raw, limits, defects, return_path)
    except MailRejected:
        raise
    except Exception as exc:  # the contract: fall back, flag, never crash the handler
        defects.append(f"parser-error:{type(exc).__name__}")
    try:
        return _fallback(raw, limits, defects, return_path)
    except Exception as exc:
        defects.append(f"fallback-error:{type(exc).__name__}")
        return ParsedEmail(
            message_id=None,
            in_reply_to=None,
            references=[],
            subject="",
            title=NO_SUBJECT,
            from_address=None,
            from_name=None,
            reply_to=None,
            to=[],
            cc=[],
            date=None,
            auto_submitted=None,
            precedence=None,
            list_id=None,
            content_type="text/plain",
            report_type=None,
            description="",
            full_text="",
            html_only=False,
            attachments=[],
            degraded=True,
            defects=defects,
            ticket_refs=[],
            headers=[],
        )
