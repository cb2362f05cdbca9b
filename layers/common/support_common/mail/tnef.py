"""TNEF (``winmail.dat``, ``application/ms-tnef``): the body and files Outlook wrapped in it.

A bounded reader of the MS-OXTNEF stream: a signature, then attributes (level, id, size,
data, checksum). Read: the plain body (``attBody`` or ``PidTagBody``), the HTML body
(``PidTagBodyHtml``), and each attachment (``attAttachRendData`` starts one; its data is
``attAttachData`` or ``PidTagAttachDataBinary``, its name the long file name, else the
display name, else ``attAttachTitle``; its MIME type ``PidTagAttachMimeTag``). RTF-only
bodies and embedded Outlook items are left out (the caller keeps the ``winmail.dat``).

Every count read from the stream is checked against the bytes that remain before it is
used, so the work is linear in the size of the data whatever it claims; checksums are not
checked (a wrong one costs nothing: the data is used as it is).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["TnefAttachment", "TnefContent", "read_tnef"]

SIGNATURE = 0x223E9F78

# Attribute ids (low 16 bits of the attribute id; the high 16 are its type).
_ATT_BODY = 0x800C
_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACH_TITLE = 0x8010
_ATT_ATTACH_REND_DATA = 0x9002
_ATT_MSG_PROPS = 0x9003
_ATT_ATTACHMENT = 0x9005
_ATT_OEM_CODEPAGE = 0x9007
_LEVEL_ATTACHMENT = 2

# MAPI property ids.
_PID_BODY = 0x1000
_PID_BODY_HTML = 0x1013
_PID_INTERNET_CPID = 0x3FDE
_PID_DISPLAY_NAME = 0x3001
_PID_ATTACH_DATA = 0x3701
_PID_ATTACH_FILENAME = 0x3704
_PID_ATTACH_LONG_FILENAME = 0x3707
_PID_ATTACH_MIME_TAG = 0x370E
_PID_ATTACH_CONTENT_ID = 0x3712

# MAPI property types: fixed sizes in a TNEF stream (16-bit values are padded to 4 bytes).
_FIXED = {0x0002: 4, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x000B: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8}
_FIXED |= {0x0014: 8, 0x0040: 8, 0x0048: 16, 0x0001: 0}
_STRING8, _UNICODE, _OBJECT, _BINARY = 0x001E, 0x001F, 0x000D, 0x0102
_VARIABLE = frozenset({_STRING8, _UNICODE, _OBJECT, _BINARY})
_MULTI = 0x1000
_NAMED = 0x8000
_CODEPAGES = {65001: "utf-8", 20127: "ascii", 28591: "cp1252", 1252: "cp1252", 20866: "koi8-r"}


@dataclass(slots=True)
class TnefAttachment:
    """One file of a TNEF stream."""

    name: str
    data: bytes
    content_type: str | None = None
    content_id: str | None = None


@dataclass(slots=True)
class TnefContent:
    """What a TNEF stream holds that a ticket can use."""

    body: str | None = None
    html: str | None = None
    attachments: list[TnefAttachment] = field(default_factory=list)


def _codec(codepage: int | None) -> str:
    if codepage is None:
        return "cp1252"
    return _CODEPAGES.get(codepage, f"cp{codepage}")


def _text(data: bytes, codec: str) -> str:
    data = data.split(b"\x00", 1)[0]
    try:
        return data.decode(codec)
    except (LookupError, UnicodeError, ValueError):
        return data.decode("cp1252", errors="replace")


def _props(data: bytes, start: int, end: int) -> dict[int, tuple[int, bytes]]:  # noqa: C901 - one branch per TNEF property type, each bounded by the bytes left
    """The single-valued MAPI properties of a property list: ``{id: (type, raw value)}``.

    Multi-valued and named properties are skipped over; a malformed list ends the read.
    """
    found: dict[int, tuple[int, bytes]] = {}
    if end - start < 4:
        return found
    (count,) = struct.unpack_from("<I", data, start)
    pos = start + 4
    for _ in range(min(count, (end - pos) // 4)):  # each property takes at least 4 bytes
        if pos + 4 > end:
            break
        ptype, pid = struct.unpack_from("<HH", data, pos)
        pos += 4
        if pid >= _NAMED:  # a GUID, a kind, then a number or a padded UTF-16 name
            if pos + 20 > end:
                break
            (kind,) = struct.unpack_from("<I", data, pos + 16)
            pos += 20
            if kind == 0:
                pos += 4
            else:
                if pos + 4 > end:
                    break
                (length,) = struct.unpack_from("<I", data, pos)
                pos += 4 + length + (-length % 4)
        multi = bool(ptype & _MULTI)
        base = ptype & ~_MULTI
        values = 1
        if multi or base in _VARIABLE:
            if pos + 4 > end:
                break
            (values,) = struct.unpack_from("<I", data, pos)
            pos += 4
        if base in _FIXED:
            size = _FIXED[base] * values
            if multi and base in (0x0002, 0x000B):  # 16-bit values packed, padded once
                size = 2 * values + (2 * values) % 4
            if pos + size > end:
                break
            if not multi:
                found.setdefault(pid, (base, data[pos : pos + size]))
            pos += size
        elif base in _VARIABLE:
            if values > (end - pos) // 4:
                break
            for _ in range(values):
                if pos + 4 > end:
                    return found
                (length,) = struct.unpack_from("<I", data, pos)
                pos += 4
                if pos + length > end:
                    return found
                if not multi:
                    found.setdefault(pid, (base, data[pos : pos + length]))
                pos += length + (-length % 4)
        else:
            break  # an unknown type: its size cannot be known, the rest is unreadable
        if pos > end:
            break
    return found


def _prop_text(props: dict[int, tuple[int, bytes]], pid: int, codec: str) -> str | None:
    item = props.get(pid)
    if item is None:
        return None
    ptype, raw = item
    if ptype == _UNICODE:
        return raw.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    if ptype in (_STRING8, _BINARY):
        return _text(raw, codec)
    return None


def _int_prop(props: dict[int, tuple[int, bytes]], pid: int) -> int | None:
    item = props.get(pid)
    if item is None or item[0] != 0x0003 or len(item[1]) < 4:
        return None
    return int(struct.unpack_from("<i", item[1])[0])


def read_tnef(data: bytes) -> TnefContent | None:
    """Read a TNEF stream; None when ``data`` is not one. Never raises."""
    if len(data) < 6 or struct.unpack_from("<I", data)[0] != SIGNATURE:
        return None
    content = TnefContent()
    codepage: int | None = None
    current: dict[str, object] | None = None
    files: list[dict[str, object]] = []
    pos, end = 6, len(data)
    while pos + 9 <= end:
        level = data[pos]
        (attr_id, size) = struct.unpack_from("<II", data, pos + 1)
        start = pos + 9
        if size > end - start:
            break  # a truncated stream: keep what was read
        stop = start + size
        pos = stop + 2  # the checksum
        name = attr_id & 0xFFFF
        if name == _ATT_OEM_CODEPAGE and size >= 4:
            codepage = struct.unpack_from("<I", data, start)[0]
        elif name == _ATT_ATTACH_REND_DATA:
            current = {}
            files.append(current)
        elif level == _LEVEL_ATTACHMENT and current is not None:
            if name == _ATT_ATTACH_DATA:
                current.setdefault("data", data[start:stop])
            elif name == _ATT_ATTACH_TITLE:
                current["title"] = _text(data[start:stop], _codec(codepage))
            elif name == _ATT_ATTACHMENT:
                current["props"] = _props(data, start, stop)
        elif name == _ATT_BODY:
            content.body = _text(data[start:stop], _codec(codepage))
        elif name == _ATT_MSG_PROPS:
            props = _props(data, start, stop)
            cpid = _int_prop(props, _PID_INTERNET_CPID)
            codec = _codec(cpid if cpid is not None else codepage)
            content.body = _prop_text(props, _PID_BODY, codec) or content.body
            content.html = _prop_text(props, _PID_BODY_HTML, codec)
    for item in files:
        content_file = _attachment(item, _codec(codepage))
        if content_file is not None:
            content.attachments.append(content_file)
    return content


def _attachment(item: dict[str, object], codec: str) -> TnefAttachment | None:
    props = item.get("props")
    props = props if isinstance(props, dict) else {}
    raw = item.get("data")
    blob = props.get(_PID_ATTACH_DATA)
    if blob is not None and blob[0] == _BINARY:
        raw = blob[1]  # exact length: no padding to strip
    if not isinstance(raw, bytes):
        return None  # an embedded Outlook item or OLE object: not a file
    title = item.get("title")
    name = (
        _prop_text(props, _PID_ATTACH_LONG_FILENAME, codec)
        or _prop_text(props, _PID_DISPLAY_NAME, codec)
        or _prop_text(props, _PID_ATTACH_FILENAME, codec)
        or (title if isinstance(title, str) else "")
    )
    mime = _prop_text(props, _PID_ATTACH_MIME_TAG, codec)
    cid = _prop_text(props, _PID_ATTACH_CONTENT_ID, codec)
    return TnefAttachment(
        name=name,
        data=raw,
        content_type=(mime or "").strip().lower() or None,
        content_id=f"<{cid.strip('<> ')}>" if cid and cid.strip("<> ") else None,
    )
