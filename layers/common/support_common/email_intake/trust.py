"""Who sent a message and what they may do: authentication from SES's verdicts, and replies."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from support_common.email_intake.inbound import FAIL, PASS, InboundMail
from support_common.mail import ParsedEmail, clean_header_value
from support_common.models import TRIAGE_TENANT, Contact, Ticket

# SES's own Authentication-Results names the domain each check passed for.
_DKIM_PASS = re.compile(r"\bdkim=pass\b[^;]*?\bheader\.[di]=@?([^\s;]+)", re.IGNORECASE)
_DKIM_D = re.compile(r"(?:^|;)\s*d=([^\s;]+)", re.IGNORECASE)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".<>").lower()


def envelope_address(source: str) -> str:
    """The envelope sender as a bare address."""
    return clean_header_value(source).strip("<>").strip()


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed DMARC alignment, approximated: the same domain or one a subdomain of the other."""
    if not domain or not from_domain:
        return False
    return domain == from_domain or domain.endswith("." + from_domain) or from_domain.endswith("." + domain)


def _header(headers: Sequence[tuple[str, str]], name: str) -> Iterator[str]:
    lname = name.lower()
    return (value for key, value in headers if key.lower() == lname)


def dkim_pass_domains(ses_headers: Sequence[tuple[str, str]], parsed: ParsedEmail) -> list[str]:
    """Domains whose DKIM signature passed, from SES's own Authentication-Results header.

    SES prepends that header, so the first one from `amazonses.com` is SES's (a sender may add
    fakes further down). Without it (the local stack), the signing domains the message claims.
    """
    for value in [
        *_header(ses_headers, "authentication-results"),
        *_header(parsed.headers, "authentication-results"),
    ]:
        if value.strip().lower().startswith("amazonses.com"):
            return [domain_of(d) for d in _DKIM_PASS.findall(value)]
    return [
        d.strip().lower() for value in _header(parsed.headers, "dkim-signature") for d in _DKIM_D.findall(value)
    ]


def is_authenticated(mail: InboundMail, parsed: ParsedEmail, sender: str) -> bool:
    """Whether SES's checks prove that `sender` (the From address) sent this message."""
    verdicts = mail.verdicts
    if verdicts.dmarc == FAIL:
        return False
    if verdicts.dmarc == PASS:
        return True  # DMARC passes only on an SPF or DKIM pass aligned with From
    from_domain = domain_of(sender)
    if verdicts.spf == PASS and aligned(domain_of(mail.source), from_domain):
        return True
    return verdicts.dkim == PASS and any(aligned(d, from_domain) for d in dkim_pass_domains(mail.headers, parsed))


def may_comment(ticket: Ticket, sender: str, contact: Contact | None, authenticated: bool) -> bool:
    """Whether an authenticated sender's reply may become a comment on `ticket` (else: a new ticket)."""
    if not authenticated:
        return False
    is_requester = ticket.requester.email.lower() == sender
    if contact is not None and (contact.tenant == ticket.tenant or is_requester):
        return True
    # A stranger answering questions on their own triage ticket: the same proven address.
    return ticket.tenant == TRIAGE_TENANT and is_requester
