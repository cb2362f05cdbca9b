"""Robust bytes -> str decoding for declared (and mis-declared) MIME charsets."""

from __future__ import annotations

import codecs

__all__ = ["decode_bytes", "is_legacy_codec", "mostly_utf8", "normalize_charset"]

# Python codecs that are no MIME charset although ``codecs.lookup`` finds them: ``undefined``
# raises a bare UnicodeError on any input, ``idna``/``punycode`` raise odd errors on long input,
# the escape codecs turn ``\n`` into control characters.
_NOT_CHARSETS = frozenset({"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"})
# Legacy 8-bit and multibyte codecs: text labelled with one of them that is valid UTF-8 is
# UTF-8 (a mislabel: GB2312 decodes nearly any byte pair, so the mojibake would go unnoticed).
_LEGACY_PREFIXES = ("cp", "iso8859", "koi8", "mac", "gb", "big5", "shift_jis", "euc", "johab", "ptcp", "kz", "tis")
_EBCDIC = frozenset({"cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"})

# Labels seen in real mail mapped to the Python codec that decodes them best (mostly the
# Windows supersets, as browsers do). ``None`` means "not a charset: guess".
_ALIASES: dict[str, str | None] = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "euc-kr": "cp949",
    "euckr": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "unicode-2-0-utf-7": "utf-7",
    "x-unicode20utf7": "utf-7",
    "utf7": "utf-7",
    "utf8": "utf-8",
    "x-unknown": None,
    "unknown": None,
    "unknown-8bit": None,
    "x-user-defined": None,
    "default": None,
    "none": None,
    "us-ascii": None,
    "ascii": None,
    "ansi_x3.4-1968": None,
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "ms_kanji": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "euc-jp": "euc_jis_2004",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "cp950",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
}


def normalize_charset(charset: str | None) -> tuple[str | None, bool]:
    """Return ``(python_codec_or_None, known)`` for a MIME charset label.

    ``None`` codec means "guess (UTF-8, then windows-1252)". ``known`` is False when the label
    is not a text encoding Python knows (a defect worth reporting).
    """
    if not charset:
        return None, True
    label = charset.strip().strip("\"'").lower()
    if "*" in label:  # RFC 2231 language suffix: utf-8*en
        label = label.split("*", 1)[0]
    if label in _ALIASES:
        return _ALIASES[label], True
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None, False
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:  # base64, zlib...
        return None, False
    return info.name, True


def _guess(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    if mostly_utf8(lenient):  # UTF-8 with a few broken bytes
        return lenient, False
    return data.decode("cp1252", errors="replace"), False


def mostly_utf8(lenient: str) -> bool:
    """True when a UTF-8 decoding with replacements is still clearly UTF-8 text: valid
    non-ASCII characters outnumber the broken bytes four to one."""
    broken = lenient.count("\ufffd")
    valid = sum(1 for ch in lenient if ord(ch) > 127) - broken
    return valid >= 4 * broken


def is_legacy_codec(codec: str | None) -> bool:
    """True for a legacy (non-Unicode, ASCII-compatible) Python codec name such as ``gb2312``,
    ``cp1251`` or ``iso8859-5``: valid UTF-8 labelled with one of them is really UTF-8."""
    return bool(codec) and codec not in _EBCDIC and str(codec).startswith(_LEGACY_PREFIXES)


def _as_utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:  # noqa: C901 - one ladder of fallbacks, in the order mail software gets charsets wrong
    """Decode ``data`` declared as ``charset``; never raises.

    Unknown labels and undeclared 8-bit data are decoded as UTF-8 when valid, else as
    windows-1252. Non-ASCII data labelled with a legacy charset (GB2312, KOI8-R, ISO-8859-x,
    windows-125x...) that is valid UTF-8 is decoded as UTF-8 (``charset-mislabelled``).
    Undecodable bytes of a declared charset become U+FFFD. Problems are appended to
    ``defects`` when given.
    """
    codec, known = normalize_charset(charset)
    if not known and defects is not None:
        defects.append(f"unknown-charset:{_label(charset)}")
    if codec is None:
        if data.isascii():
            return data.decode("ascii")
        text, ok = _guess(data)
        if not ok and known and charset and defects is not None:
            defects.append(f"charset-mismatch:{_label(charset)}")
        return text
    if is_legacy_codec(codec) and not data.isascii():
        utf8 = _as_utf8(data)
        if utf8 is not None:
            if defects is not None:
                defects.append(f"charset-mislabelled:{_label(charset)}")
            return utf8
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except Exception:  # a codec that fails otherwise (LookupError, bare UnicodeError...)
        if defects is not None:
            defects.append(f"charset-errors:{_label(charset)}")
        return _guess(data)[0]
    if defects is not None:
        defects.append(f"charset-errors:{_label(charset)}")
    if codec == "utf-8":
        return data.decode("cp1252", errors="replace")
    if codec == "iso2022_jp_ext":
        try:
            return data.decode("iso2022_jp_2004")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec, errors="replace")
    except Exception:  # some CJK codecs raise odd errors on garbage: never propagate
        return _guess(data)[0]


def _label(charset: str | None) -> str:
    text = (charset or "").strip()[:40]
    return "".join(ch if ch.isprintable() else "?" for ch in text) or "empty"
