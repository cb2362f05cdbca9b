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


def ses_message_ids(ses_id: str, region: str) -> list[str]:
    """The Message-ID header SES gives mail it sends with id `ses_id` (us-east-1 has its own host)."""
    ids = [f"<{ses_id}@{region}.amazonses.com>"]
    if region == "us-east-1":
        ids.append(f"<{ses_id}@email.amazonses.com>")
    return ids
