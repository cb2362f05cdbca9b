"""Machine-mail detection: mail that must never open a ticket (two robots must not loop).

Reasons, checked in this order (the first match is returned):

``bounce``
    ``multipart/report; report-type=delivery-status`` (or a bare ``message/delivery-status``),
    an ``X-Failed-Recipients`` header, a ``MAILER-DAEMON`` sender, a ``postmaster`` sender with a
    delivery-failure subject.
``report``
    ``multipart/report`` with a report type that is no delivery failure: read receipts (MDN,
    ``disposition-notification``), ARF abuse reports (``feedback-report``) and SMTP TLS
    reports (RFC 8460 ``tlsrpt``); also a TLS report by its ``TLS-Report-Domain`` header or a
    ``application/tlsrpt+gzip`` file, an ARF ``message/feedback-report`` part inside another
    multipart, and a DMARC aggregate report (RFC 7489 7.2.1.1: a ``Report Domain: x
    Submitter: y`` subject or a ``submitter!domain!begin!end`` file name, with a zip, gzip or
    XML file; these carry no ``Auto-Submitted``). A reply or forward of one is human mail.
``auto-submitted``
    RFC 3834 ``Auto-Submitted`` with any value but ``no``.
``auto-reply``
    ``X-Autoreply``, ``X-Autorespond``, ``X-Autoresponder``, ``X-Apple-Action: vacation``,
    ``Precedence: auto_reply``, or ``X-Auto-Response-Suppress: All/OOF`` together with an
    auto-reply subject ("Automatic reply:", "Out of Office", "Auto:", ...).
``bounce``
    a null envelope sender (``<>``): the SES ``mail.source``/Return-Path passed in, or a
    ``Return-Path: <>`` header. Every RFC 5321 notification uses it.
``precedence``
    ``Precedence: bulk``, ``junk`` or ``list``.
``list``
    ``List-Id`` or ``List-Post`` (a mailing list's copy). ``List-Unsubscribe`` alone is NOT
    enough: some CRMs add it to one-to-one mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

__all__ = ["robot_reason"]

_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic|matische)?[ _-]?(reply|response|respons|antwort)|auto:|autoreply|out of (the )?office|"
    r"abwesen|réponse automatique|respuesta automática|risposta automatica|afwezig|"
    r"vacation|away from|frånvaro|poissa)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered|delivery (status )?notification|delivery fail|failure notice|returned mail|"
    r"mail delivery failed|could not send|non remis|unzustellbar|nicht zustellbar|mail system error|"
    r"delivery error|returned to sender)",
    re.IGNORECASE,
)


_DMARC_SUBJECT = re.compile(r"^\s*(?:\[[^\]]{0,40}\]\s*)?report\s+domain:\s*\S+\s+submitter:\s*\S+", re.I)
_DMARC_FILENAME = re.compile(r"^[^!\s]+![^!\s]+!\d+!\d+(?:![^!\s]*)?\.(?:xml|zip|gz|xml\.gz)$", re.I)
_ARCHIVE_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/gzip", "application/x-gzip"}
    | {"application/xml", "text/xml", "application/octet-stream"}
)
_REPLY_OR_FORWARD = re.compile(r"^\s*(?:re|fwd?|aw|wg|tr|sv|vs|rv|enc|i|r)\s*(?:\[\d+\])?\s*:", re.I)
_REPORT_TYPES = frozenset(
    {"disposition-notification", "global-disposition-notification", "feedback-report", "tlsrpt"}
)
_REPORT_PARTS = frozenset({"message/feedback-report", "application/tlsrpt+gzip", "application/tlsrpt+json"})


class _HasFile(Protocol):
    @property
    def filename(self) -> str: ...

    @property
    def content_type(self) -> str: ...


class _HasHeaders(Protocol):
    @property
    def content_type(self) -> str: ...

    @property
    def report_type(self) -> str | None: ...

    @property
    def subject(self) -> str: ...

    @property
    def from_address(self) -> str | None: ...

    @property
    def attachments(self) -> Sequence[_HasFile]: ...

    def header(self, name: str) -> str | None: ...


def _null_path(value: str | None) -> bool:
    if value is None:
        return False
    return value.strip().strip("<>").strip() == ""


def _machine_report(parsed: _HasHeaders) -> bool:
    """A TLS, ARF or DMARC report that does not say so in its Content-Type (see above)."""
    subject = parsed.subject or ""
    if _REPLY_OR_FORWARD.match(subject):
        return False
    if parsed.header("tls-report-domain") is not None:
        return True
    files = parsed.attachments
    if any(item.content_type in _REPORT_PARTS for item in files):
        return True
    archives = [item for item in files if item.content_type in _ARCHIVE_TYPES]
    if not archives:
        return False
    return bool(_DMARC_SUBJECT.match(subject)) or any(_DMARC_FILENAME.match(item.filename) for item in archives)


def robot_reason(parsed: _HasHeaders, return_path: str | None = None) -> str | None:  # noqa: C901 - one flat list of robot signs, first match wins
    """Why ``parsed`` is machine mail that must not open a ticket, or None for human mail.

    ``return_path`` is the SMTP envelope sender (SES ``mail.source``; ``"<>"`` or ``""`` for
    bounces). Pass None when unknown: then only the message's own ``Return-Path`` header counts.
    """
    content_type = parsed.content_type
    subject = parsed.subject or ""
    sender = (parsed.from_address or "").lower()
    local = sender.partition("@")[0]
    if content_type == "multipart/report":
        report = (parsed.report_type or "").lower()
        return "report" if report in _REPORT_TYPES else "bounce"
    if content_type == "message/delivery-status":
        return "bounce"
    if parsed.header("x-failed-recipients") is not None:
        return "bounce"
    if local in ("mailer-daemon", "mailer_daemon", "mail-daemon"):
        return "bounce"
    if local == "postmaster" and _BOUNCE_SUBJECT.search(subject):
        return "bounce"
    if _machine_report(parsed):
        return "report"
    auto_submitted = parsed.header("auto-submitted")
    if auto_submitted is not None:
        value = auto_submitted.split(";", 1)[0].split("(", 1)[0].strip().lower()
        if value != "no":
            return "auto-submitted"
    precedence = (parsed.header("precedence") or "").split(";", 1)[0].strip().lower()
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply"):
        flag = parsed.header(name)
        if flag is not None and flag.strip().lower() not in ("no", "false", "0"):
            return "auto-reply"
    if (parsed.header("x-apple-action") or "").strip().lower() == "vacation" or precedence == "auto_reply":
        return "auto-reply"
    suppress = (parsed.header("x-auto-response-suppress") or "").lower()
    if ("all" in suppress or "oof" in suppress) and _AUTO_REPLY_SUBJECT.search(subject):
        return "auto-reply"
    if _null_path(return_path) or _null_path(parsed.header("return-path")):
        return "bounce"
    if precedence in ("bulk", "junk", "list"):
        return "precedence"
    if parsed.header("list-id") is not None or parsed.header("list-post") is not None:
        return "list"
    return None
