"""Header decoding in bounded (linear) time: RFC 2047 words, RFC 2231 parameters, addresses.

The stdlib's structured header parser is avoided on purpose: it is quadratic on headers with
thousands of parameters and recursive on nesting. Everything here is a single pass.
"""

from __future__ import annotations

import binascii
import re
from email.utils import parseaddr
from urllib.parse import unquote_to_bytes

from .charsets import decode_bytes, mostly_utf8

__all__ = [
    "clean_header_value",
    "decode_header_bytes",
    "decode_rfc2047",
    "first_address",
    "parse_message_id",
    "parse_message_ids",
    "parse_params",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_MSG_ID = re.compile(r"<([^<>\s]{1,900})>")


def clean_header_value(value: str | None) -> str:
    """Strip CR, LF, NUL and every other C0/DEL control, collapse whitespace, trim.

    Use it on any header value reused in a title or in outgoing mail (header injection).
    """
    if not value:
        return ""
    return _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()


def decode_header_bytes(raw: bytes) -> tuple[str, bool]:
    """Decode a raw header value: UTF-8 (RFC 6532) else windows-1252. Returns (text, was_8bit_fallback)."""
    if raw.isascii():
        return raw.decode("ascii"), False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    lenient = raw.decode("utf-8", errors="replace")
    if mostly_utf8(lenient):  # UTF-8 cut mid-character (a truncated filename)
        return lenient, True
    return raw.decode("cp1252", errors="replace"), True


def _decode_word_payload(encoding: str, text: str) -> bytes:
    if encoding in "Bb":
        compact = text.strip()
        compact += "=" * (-len(compact) % 4)
        try:
            return binascii.a2b_base64(compact.encode("ascii", "replace"))
        except (binascii.Error, ValueError):
            return text.encode("utf-8", "replace")
    return binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)


def decode_rfc2047(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words (any charset, lenient) in linear time.

    Whitespace between adjacent encoded words is dropped; adjacent words in the same charset
    are joined as bytes first, so a multibyte character split across two words survives.
    The result may contain control characters: pass it through :func:`clean_header_value`
    before reusing it.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset, defects))
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if between and not (pending_charset is not None and between.isspace()):
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0].lower()
        payload = _decode_word_payload(match.group(2), match.group(3))
        if pending_charset is not None and charset != pending_charset:
            flush()
        pending_charset = charset
        pending += payload
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def parse_message_id(value: str | None) -> str | None:
    """Normalize a Message-ID/In-Reply-To value to ``<id>`` (first one), or None."""
    if not value:
        return None
    if "=?" in value:
        # Python's email package encodes a long id as an RFC 2047 word when it folds the header.
        value = decode_rfc2047(value)
    match = _MSG_ID.search(value)
    if match:
        return f"<{match.group(1)}>"
    token = value.strip().split()[0] if value.strip() else ""
    token = token.strip("<>\"'")
    if "@" in token and len(token) <= 900 and not _CONTROL.search(token):
        return f"<{token}>"
    return None


def parse_message_ids(value: str | None, limit: int = 100) -> list[str]:
    """All ``<id>`` tokens of a References value (at most ``limit``, the LAST ones kept)."""
    if not value:
        return []
    if "=?" in value:
        value = decode_rfc2047(value)
    ids = [f"<{m}>" for m in _MSG_ID.findall(value)]
    return ids[-limit:]


def first_address(value: str | None) -> tuple[str | None, str | None]:
    """Parse the first mailbox of an address header: ``(display_name, lowercased_addr_spec)``."""
    if not value:
        return None, None
    value = value[:4096]
    name, addr = parseaddr(value)
    if not addr or "@" not in addr:
        match = re.search(r"[^\s<>,;:\"()\[\]]+@[^\s<>,;:\"()\[\]]+", value)
        addr = match.group(0) if match else ""
        if not name and match:
            name = value[: match.start()].strip(" <\"'")
    display = clean_header_value(decode_rfc2047(name)) if name else ""
    address = clean_header_value(addr).lower() if addr else ""
    if " " in address:
        address = ""
    return (display or None), (address or None)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        value = re.sub(r"\\(.)", r"\1", value)
    return value


def parse_params(value: str, max_params: int = 64) -> tuple[str, dict[str, str], bool]:  # noqa: C901 - one scanner over RFC 2231 parameter syntax
    """Split ``type/subtype; a=b; c*=utf-8''x`` into ``(main value, params, truncated)``.

    Single pass, quotes respected, at most ``max_params`` parameters (``truncated`` tells when
    some were ignored). RFC 2231 continuations (``name*0*``, ``name*1``) and charsets are
    joined and decoded; RFC 2047 words inside a value (a common violation) are decoded too.
    Keys are lowercased; the first occurrence of a key wins.
    """
    pieces: list[str] = []
    start = 0
    in_quote = False
    escape = False
    truncated = False
    for index, char in enumerate(value):
        if escape:
            escape = False
        elif char == "\\" and in_quote:
            escape = True
        elif char == '"':
            in_quote = not in_quote
        elif char == ";" and not in_quote:
            pieces.append(value[start:index])
            start = index + 1
            if len(pieces) > max_params:
                truncated = True
                break
    else:
        pieces.append(value[start:])
    main = pieces[0].strip() if pieces else ""
    simple: dict[str, str] = {}
    continued: dict[str, dict[int, tuple[str, bool]]] = {}
    for piece in pieces[1 : max_params + 1]:
        if "=" not in piece:
            continue
        key, _, raw_value = piece.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        extended = key.endswith("*")
        base = key[:-1] if extended else key
        section: int | None = None
        if "*" in base:
            base, _, number = base.partition("*")
            if number.isdigit() and len(number) < 4:
                section = int(number)
            else:
                continue
        if section is None and not extended:
            simple.setdefault(base, _unquote(raw_value))
        else:
            continued.setdefault(base, {}).setdefault(section or 0, (raw_value.strip(), extended))
    params: dict[str, str] = {}
    for key, sections in continued.items():
        params[key] = _join_rfc2231(sections)
    for key, item in simple.items():
        params.setdefault(key, item)
    for key, item in list(params.items()):
        if "=?" in item:
            params[key] = decode_rfc2047(item)
    return main, params, truncated


def _join_rfc2231(sections: dict[int, tuple[str, bool]]) -> str:
    charset: str | None = None
    chunks: list[bytes] = []
    for number in sorted(sections):
        raw_value, extended = sections[number]
        if extended:
            text = raw_value.strip('"')
            if number == sorted(sections)[0] and text.count("'") >= 2:
                charset, _, rest = text.partition("'")
                _, _, text = rest.partition("'")
            chunks.append(unquote_to_bytes(text))
        else:
            chunks.append(_unquote(raw_value).encode("utf-8", "surrogateescape"))
    return decode_bytes(b"".join(chunks), charset or "utf-8")
