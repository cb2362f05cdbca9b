"""Pure inbound-email parsing for the support desk (no AWS; the standard library, and asn1crypto
only when an opaque-signed S/MIME part appears).

Public API::

    parse_email(raw, limits=None, *, return_path=None) -> ParsedEmail   # raises only MailRejected
    robot_reason(parsed, return_path=None) -> str | None
    html_to_text(html, strip_quotes=False) -> str
    trim_reply(text) -> str
    clean_header_value(value) -> str
    decode_rfc2047(value) -> str
    find_ticket_refs(subject) -> list[str]
    make_title(subject, body="") -> str
    MailLimits, MailRejected, ParsedEmail, ParsedAttachment

See ``parse`` for the decisions (body choice, forwarded messages, titles, long headers),
``collect`` for the walk (flowed text, S/MIME, TNEF), ``headerblock`` for header blocks,
``robots`` for machine-mail detection and ``limits`` for the caps.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .headers import clean_header_value, decode_rfc2047
    from .html import html_to_text
    from .limits import MailLimits, MailRejected
    from .parse import ParsedAttachment, ParsedEmail, find_ticket_refs, make_title, parse_email
    from .quotes import TRUNCATION_MARKER, trim_reply
    from .robots import robot_reason

# Each name is imported from its module on first use: a function that only cleans header values
# (the outbound mail) loads `headers` and not the parser.
_MODULE_OF = {
    "clean_header_value": "headers",
    "decode_rfc2047": "headers",
    "html_to_text": "html",
    "MailLimits": "limits",
    "MailRejected": "limits",
    "ParsedAttachment": "parse",
    "ParsedEmail": "parse",
    "find_ticket_refs": "parse",
    "make_title": "parse",
    "parse_email": "parse",
    "TRUNCATION_MARKER": "quotes",
    "trim_reply": "quotes",
    "robot_reason": "robots",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "TRUNCATION_MARKER",
    "MailLimits",
    "MailRejected",
    "ParsedAttachment",
    "ParsedEmail",
    "clean_header_value",
    "decode_rfc2047",
    "find_ticket_refs",
    "html_to_text",
    "make_title",
    "parse_email",
    "robot_reason",
    "trim_reply",
]
