"""Threading: which ticket a reply names, and the Message-IDs that mail we send will carry."""

from __future__ import annotations

from support_common.mail import ParsedEmail
from support_common.models import normalize_ticket_id


def thread_target(parsed: ParsedEmail, owners: dict[str, str]) -> str | None:
    """The ticket a reply names: by Message-ID (the closest reference first), else by subject token."""
    refs = [*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
    for mid in reversed(refs):
        if mid in owners:
            return owners[mid]
    for ref in parsed.ticket_refs:
        ticket_id = normalize_ticket_id(ref)
        if ticket_id:
            return ticket_id
    return None
