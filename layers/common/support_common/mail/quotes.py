"""Trim quoted history and signatures from a plain-text reply.

Cut points (everything from the first one on is dropped):

- an attribution line "On <date>, <who> wrote:" (also split over two lines, and the German,
  French, Spanish, Italian, Dutch, Portuguese and Swedish forms), unless it introduces an
  inline (interleaved) reply, in which case only the quoted lines are removed;
- "-----Original Message-----", "----- Original Message -----" and localized variants;
- a "From: ... / Sent: ... / To: ... / Subject: ..." header block (Outlook), and an
  underscore separator line followed by such a block;
- a signature delimiter line "-- " (or "--"), and mobile footers ("Sent from my iPhone").

Lines starting with ">" are removed. If trimming would leave nothing, the full text is kept:
a message that only holds quoted content (a bare forward) keeps its content.
"""

from __future__ import annotations

import re

__all__ = ["TRUNCATION_MARKER", "trim_reply", "truncate_text"]

TRUNCATION_MARKER = "[truncated: the full text is attached]"

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\b.{0,300}\bwrote\s*:"
    r"|Am\b.{0,300}\bschrieb\b.{0,200}:"
    r"|Le\b.{0,300}\ba\s+écrit\s*:"
    r"|El\b.{0,300}\bescribió\s*:"
    r"|Il\b.{0,300}\bha\s+scritto\s*:"
    r"|Op\b.{0,300}\bschreef\b.{0,200}:"
    r"|Em\b.{0,300}\bescreveu\s*:"
    r"|Den\b.{0,300}\bskrev\b.{0,200}:"
    r")\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"^\s*(On|Am|Le|El|Il|Op|Em|Den)\s", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    r"(\bwrote|\bschrieb\b.{0,200}|\ba\s+écrit|\bescribió|\bha\s+scritto|\bschreef\b.{0,200}|"
    r"\bescreveu|\bskrev\b.{0,200})\s*:\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(Original Message|Original|Ursprüngliche Nachricht|Message d'origine|"
    r"Messaggio originale|Mensaje original|Oorspronkelijk bericht|Mensagem original|"
    r"Originalmeddelande|Alkuperäinen viesti|Forwarded message|Message transféré|"
    r"Weitergeleitete Nachricht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"^\s*-{2,}\s*(Forwarded message|Message transféré|Weitergeleitete Nachricht|Begin forwarded message)",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(From|De|Von|Da|Van|Od|Fra|Från|Lähettäjä)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(Sent|Date|Gesendet|Datum|Envoyé|Date d'envoi|Inviato|Data|Enviado|Fecha|Verzonden|Skickat)"
    r"\s*:\*?\s*\S",
    re.IGNORECASE,
)
_HEADER_TO_SUBJECT = re.compile(
    r"^\s*\*?(To|Subject|An|Betreff|À|Objet|A|Oggetto|Para|Asunto|Aan|Onderwerp|Till|Ämne|Cc)\s*:\*?",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_SIGNATURE = re.compile(r"^-- ?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(Sent from my \w+|Sent from (Mail|Outlook|Yahoo Mail|Gmail|Samsung)\b.*|Get Outlook for \w+.*|"
    r"Von meinem \w+ gesendet|Envoyé de mon \w+|Enviado desde mi \w+)\s*$",
    re.IGNORECASE,
)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _header_block_at(lines: list[str], index: int) -> bool:
    """An Outlook-style "From:/Sent:/To:/Subject:" block starts at ``index``."""
    if not _HEADER_FROM.match(lines[index]):
        return False
    window = lines[index + 1 : index + 7]
    has_sent = any(_HEADER_SENT.match(line) for line in window)
    has_to = any(_HEADER_TO_SUBJECT.match(line) for line in window)
    return has_sent and has_to


def _attribution_at(lines: list[str], index: int) -> int:
    """Number of lines (1 or 2) of an attribution starting at ``index``, else 0."""
    line = lines[index]
    if len(line) > 600:
        return 0
    if _ATTRIBUTION.match(line):
        return 1
    if (
        _ATTRIBUTION_START.match(line)
        and index + 1 < len(lines)
        and len(lines[index + 1]) < 300
        and _ATTRIBUTION.match(line + " " + lines[index + 1].strip())
    ):
        return 2
    if _ATTRIBUTION_END.search(line) and index > 0 and _ATTRIBUTION_START.match(lines[index - 1]):
        return 1
    if len(line) < 200 and _ATTRIBUTION_END.search(line):
        # "Marc Slemko wrote:" followed by quoted lines.
        following = next((x for x in lines[index + 1 : index + 4] if x.strip()), "")
        if _is_quoted(following):
            return 1
    return 0


def _has_unquoted_text_after(lines: list[str], index: int) -> bool:
    seen_quote = False
    for line in lines[index:]:
        if _is_quoted(line):
            seen_quote = True
        elif line.strip():
            if _SIGNATURE.match(line) or _MOBILE_FOOTER.match(line):
                return False
            return seen_quote
    return False


def trim_reply(text: str) -> str:
    """Return the new part of a reply: quoted history and signature removed.

    Never returns an empty string for a non-blank input: when everything would be trimmed the
    full text (stripped) is returned.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    index = 0
    forward_context = False
    while index < len(lines):
        line = lines[index]
        if _FORWARD_MARKER.match(line):
            forward_context = True
        if not forward_context:
            size = _attribution_at(lines, index)
            if size:
                if _has_unquoted_text_after(lines, index + size):
                    index += size  # inline reply: drop the attribution, keep going
                    continue
                break
            if _ORIGINAL_MESSAGE.match(line) and not _FORWARD_MARKER.match(line):
                break
            if _UNDERSCORES.match(line) and any(_HEADER_FROM.match(x) for x in lines[index + 1 : index + 4]):
                break
            if _header_block_at(lines, index):
                break
        if _SIGNATURE.match(line) or _MOBILE_FOOTER.match(line):
            break
        if not _is_quoted(line):
            kept.append(line.rstrip())
        index += 1
    result = "\n".join(kept).strip()
    result = re.sub(r"\n{3,}", "\n\n", result)
    if not result:
        return text.strip()
    return result


def truncate_text(text: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut ``text`` to at most ``limit`` characters (marker included) at a line or word boundary."""
    if len(text) <= limit:
        return text
    budget = max(0, limit - len(marker) - 2)
    cut = text[:budget]
    boundary = cut.rfind("\n")
    if boundary < budget * 0.8:
        boundary = cut.rfind(" ")
    if boundary > budget * 0.5:
        cut = cut[:boundary]
    return cut.rstrip() + "\n\n" + marker
