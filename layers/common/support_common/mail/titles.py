"""Ticket titles from subjects, and the ``[#ABC-123456]`` ticket tokens in them."""

from __future__ import annotations

import re

from .headers import clean_header_value

__all__ = ["NO_SUBJECT", "TITLE_MAX", "find_ticket_refs", "is_forward_subject", "make_title"]

TITLE_MAX = 200
NO_SUBJECT = "(no subject)"

_TICKET_REF = re.compile(r"\[#\s*([A-Za-z]{3}-[0-9A-Za-z]{6})\s*\]")
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|rif|r|i|antw|odp|enc|res|rv|ref|fs|vb)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]\s*)+",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(r"^\s*(?:fwd?|wg|tr|i|enc|rv|fs|vb|vl)\s*(?:\[\d+\])?\s*[:\uff1a]|^\s*\[fwd?:", re.I)


def is_forward_subject(subject: str) -> bool:
    """True for a subject of a forward (``Fwd:``, ``FW:``, ``WG:``, ``TR:``, ``I:``...)."""
    return bool(_FORWARD_PREFIX.match(subject))


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
