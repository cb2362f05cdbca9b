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
- **Line ends**: CR-only line ends (anywhere in the message, also mixed with CRLF) are read
  as line ends (``cr-line-endings``); the raw message is not changed.
- **8-bit headers**: a raw 8-bit Subject or From that is not UTF-8 is decoded with the legacy
  charset the body declares (GB2312, KOI8-R...) when that fits, else as windows-1252.
- **Caps**: an embedded message over a cap stays an unopened ``.eml`` (see ``mime``); more
  than ``max_attachments`` attachments are counted in ``attachments_omitted``, not kept.

See ``collect`` for the walk (flowed text, S/MIME, TNEF) and ``headerblock`` for header
blocks without a blank line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .charsets import decode_bytes, is_legacy_codec, normalize_charset
from .collect import Collector, clean_text, header_text, render
from .headers import (
    clean_header_value,
    decode_rfc2047,
    first_address,
    parse_message_id,
    parse_message_ids,
    parse_params,
)
from .limits import MailLimits, MailRejected
from .mime import Entity, build_tree
from .model import ParsedAttachment, ParsedEmail
from .quotes import truncate_text
from .robots import robot_reason
from .titles import NO_SUBJECT, find_ticket_refs, is_forward_subject, make_title

__all__ = ["ParsedAttachment", "ParsedEmail", "find_ticket_refs", "make_title", "parse_email"]

_ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to", "sender")
_LONE_CR = re.compile(rb"\r+(?![\r\n])")


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


def _header_8bit(root: Entity, name: str, charsets: list[str]) -> str | None:
    """Raw 8-bit header ``name`` decoded with a legacy charset the body declares, if one fits."""
    raw = root.raw_8bit.get(name)
    if raw is None:
        return None
    for label in charsets:
        codec, known = normalize_charset(label)
        if codec is None or not known or not is_legacy_codec(codec):
            continue
        try:
            return raw.decode(codec).strip()
        except (UnicodeError, LookupError, ValueError):
            continue
    return None


def _build(raw: bytes, limits: MailLimits, defects: list[str], return_path: str | None) -> ParsedEmail:
    checker = _check_root_headers(limits)
    root = build_tree(raw, 0, limits, defects, checker)
    attachments: list[ParsedAttachment] = []
    collector = Collector(limits, defects, attachments)
    collector.walk(root, True)
    subject_8bit = _header_8bit(root, "subject", collector.charsets)
    if subject_8bit is not None:
        subject = clean_header_value(decode_rfc2047(subject_8bit, defects))
    else:
        subject = header_text(root, "subject", defects)
    trim = not is_forward_subject(subject)
    full_text, description, html_only = render(collector, limits, defects, trim)
    from_name, from_address = first_address(_header_8bit(root, "from", collector.charsets) or root.header("from"))
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
        attachments_omitted=collector.omitted,
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
    full_text = clean_text(decode_bytes(body[: limits.max_html_chars], None))
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


def _line_ends(raw: bytes, defects: list[str]) -> bytes:
    """CR-only line ends (a whole message from old Macs, or pieces of one) as LF; CRLF kept."""
    carriage_returns = raw.count(b"\r")
    if not carriage_returns or carriage_returns == raw.count(b"\r\n"):
        return raw
    if b"\n" not in raw:
        fixed, changed = raw.replace(b"\r", b"\n"), carriage_returns
    else:
        fixed, changed = _LONE_CR.subn(lambda match: b"\n" * len(match.group()), raw)
    if changed:
        defects.append("cr-line-endings")
    return fixed


def _empty(defects: list[str]) -> ParsedEmail:
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
    raw = _line_ends(raw, defects)
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
        return _empty(defects)
