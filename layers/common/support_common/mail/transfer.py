"""Content-Transfer-Encoding, undone leniently (base64, quoted-printable, uuencode)."""

from __future__ import annotations

import binascii
import re

__all__ = ["decode_transfer"]


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
