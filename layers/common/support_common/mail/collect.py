"""The walk over the entity tree: body text, attachments, forwarded messages (see ``parse``).

Besides the MIME rules of ``parse``: ``format=flowed`` text is rejoined (``flowed``); an
opaque-signed S/MIME part's signed content is read like the part itself would be, the
``.p7m`` stays an attachment (``smime``); the files inside a TNEF ``winmail.dat`` become
attachments of their own, before the ``winmail.dat`` (kept for what is not read from it:
RTF-only bodies, embedded Outlook items), and its body is the message's body when the
message has no other text (``tnef``); attachments beyond ``max_attachments`` are counted,
not kept.
"""

from __future__ import annotations

import mimetypes
import re

from .charsets import decode_bytes
from .flowed import unflow
from .headers import clean_header_value, decode_rfc2047
from .html import html_to_text
from .limits import MailLimits
from .mime import EMBEDDED_MESSAGE_TYPES, Entity, decode_transfer
from .model import ParsedAttachment
from .quotes import trim_reply
from .smime import is_opaque_signed

__all__ = ["FORWARD_HEADING", "Collector", "clean_text", "header_text", "render"]

FORWARD_HEADING = "---------- Forwarded message ----------"

# A TNEF stream by its type or by Outlook's file name. The reader (``tnef``) is imported only when
# one appears: most mail has none.
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


def is_tnef(content_type: str, filename: str | None) -> bool:
    """True for a part that is a TNEF stream by its type or by Outlook's file name."""
    return content_type in _TNEF_TYPES or (filename or "").strip().lower() == "winmail.dat"


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


def clean_text(text: str) -> str:
    """Text with LF line ends and without control characters (tab and LF kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_TEXT.sub("", text)


class Collector:
    """Walks the entity tree: body text pieces, attachments, forwarded messages.

    ``attachments`` is None for a forwarded message's walk (its files are in its ``.eml``).
    ``charsets`` lists the charsets declared by the body's text parts, in order.
    """

    def __init__(self, limits: MailLimits, defects: list[str], attachments: list[ParsedAttachment] | None):
        self.limits = limits
        self.defects = defects
        self.pieces: list[tuple[str, str]] = []  # ("plain"|"html", text)
        self.tnef_pieces: list[tuple[str, str]] = []  # a winmail.dat's own body
        self.attachments = attachments
        self.omitted = 0
        self.forwards: list[Entity] = []
        self.charsets: list[str] = []

    def text_of(self, entity: Entity) -> str:
        data = decode_transfer(entity.view(), entity.cte, self.defects)
        text = clean_text(decode_bytes(data, entity.params.get("charset"), self.defects))
        if entity.content_type == "text/plain" and entity.params.get("format", "").strip().lower() == "flowed":
            text = unflow(text, entity.params.get("delsp", "").strip().lower() == "yes")
        return text

    @staticmethod
    def filename_of(entity: Entity) -> str | None:
        raw = entity.disposition_params.get("filename") or entity.params.get("name")
        if raw is None:
            return None
        return clean_header_value(decode_rfc2047(raw)) or None

    def is_attachment(self, entity: Entity) -> bool:
        return entity.disposition == "attachment" or self.filename_of(entity) is not None

    def _room(self) -> bool:
        if self.attachments is None:
            return False
        if len(self.attachments) >= self.limits.max_attachments:
            self.omitted += 1
            return False
        return True

    def attach(self, entity: Entity, in_related: bool = False) -> None:
        if self.attachments is None:
            return
        name = self.filename_of(entity)
        if is_tnef(entity.content_type, name):
            content = decode_transfer(entity.view(), entity.cte, self.defects)
            self._unpack_tnef(content)
            if not self._room():  # the winmail.dat itself stays too: RTF and Outlook items
                return
        elif not self._room():
            return
        else:
            content = decode_transfer(entity.view(), entity.cte, self.defects)
        content_id = entity.header("content-id")
        content_id = clean_header_value(content_id) if content_id else None
        inline = entity.disposition == "inline" or (
            entity.disposition == "" and (content_id is not None or in_related)
        )
        self.attachments.append(
            ParsedAttachment(
                filename=_safe_filename(name, len(self.attachments) + 1, entity.content_type),
                content_type=entity.content_type,
                size=len(content),
                content=content,
                content_id=content_id or None,
                inline=inline,
            )
        )

    def _unpack_tnef(self, content: bytes) -> None:
        """The files and body of a TNEF stream become the message's."""
        from .tnef import read_tnef

        unpacked = read_tnef(content)
        if unpacked is None:
            self.defects.append("tnef-unreadable")
            return
        for item in unpacked.attachments:
            if not self._room() or self.attachments is None:
                continue
            content_type = item.content_type or mimetypes.guess_type(item.name)[0] or "application/octet-stream"
            content_type = (
                content_type if re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type) else "application/octet-stream"
            )
            self.attachments.append(
                ParsedAttachment(
                    filename=_safe_filename(item.name, len(self.attachments) + 1, content_type),
                    content_type=content_type,
                    size=len(item.data),
                    content=item.data,
                    content_id=clean_header_value(item.content_id) or None if item.content_id else None,
                    inline=False,
                )
            )
        if unpacked.body and unpacked.body.strip():
            self.tnef_pieces.append(("plain", clean_text(unpacked.body)))
        elif unpacked.html:
            self.tnef_pieces.append(("html", clean_text(unpacked.html)))

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

    def walk(self, entity: Entity, as_body: bool, in_related: bool = False) -> None:  # noqa: C901 - one walk over the MIME tree; each part kind is one branch
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
        elif kids and is_opaque_signed(ctype, entity.params):
            self.attach(entity, in_related)  # the signature: kept for whoever wants to check it
            self.walk(kids[0], as_body, in_related)
        elif ctype in ("text/plain", "text/html") and not self.is_attachment(entity):
            if as_body:
                self.pieces.append(("html" if ctype == "text/html" else "plain", self.text_of(entity)))
                charset = entity.params.get("charset")
                if charset:
                    self.charsets.append(charset)
        elif entity.maintype == "multipart":  # multipart without parts: nothing inside
            return
        else:
            self.attach(entity, in_related)


def header_text(entity: Entity, name: str, defects: list[str]) -> str:
    """Header ``name`` of ``entity``, RFC 2047-decoded and cleaned, or ``""``."""
    value = entity.header(name)
    return clean_header_value(decode_rfc2047(value, defects)) if value else ""


def _texts(pieces: list[tuple[str, str]], limits: MailLimits, defects: list[str]) -> tuple[str, str]:
    full_parts: list[str] = []
    desc_parts: list[str] = []
    for kind, text in pieces:
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
    return full_text, description


def render(
    collector: Collector, limits: MailLimits, defects: list[str], trim: bool, depth: int = 0
) -> tuple[str, str, bool]:
    """(full_text, description_source, html_only) of a collector's pieces and forwards."""
    pieces = collector.pieces
    full_text, description = _texts(pieces, limits, defects)
    if not full_text.strip() and collector.tnef_pieces:
        pieces = collector.tnef_pieces
        full_text, description = _texts(pieces, limits, defects)
    has_plain = any(kind == "plain" for kind, _ in pieces)
    has_html = any(kind == "html" for kind, _ in pieces)
    # Only the head of a long text can end up in the (capped) description: bound the work.
    description = description[: limits.max_description_chars * 4]
    if trim and description:
        description = trim_reply(description)
    if not description.strip():
        description = full_text.strip()
    for forwarded in collector.forwards:
        inner = Collector(limits, defects, None)
        inner.walk(forwarded, True)
        inner_full, _, _ = render(inner, limits, defects, trim=False, depth=depth + 1)
        lines = [FORWARD_HEADING]
        for name in ("From", "Date", "Subject", "To"):
            value = header_text(forwarded, name, defects)
            if value:
                lines.append(f"{name}: {value}")
        section = "\n".join(lines) + "\n\n" + inner_full.strip()
        full_text = (full_text + "\n\n" + section).strip()
        description = (description + "\n\n" + section).strip()
    return full_text, description, (has_html and not has_plain)
