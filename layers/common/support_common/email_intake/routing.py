"""Map SES envelope recipients to a ticket type and priority (the support addresses)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route", "route_recipients"]

# local part -> (ticket type, priority, rank); lower rank = more urgent, wins.
_ROUTES: dict[str, tuple[str, str, int]] = {
    "urgent": ("incident", "urgent", 0),
    "incident": ("incident", "normal", 1),
    "problem": ("problem", "normal", 2),
    "task": ("task", "normal", 3),
    "question": ("question", "normal", 4),
}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a message goes: ``ticket_type`` (incident|problem|task|question), ``priority``
    (normal|urgent) and the support ``address`` that matched (lowercased, without +tag)."""

    ticket_type: str
    priority: str
    address: str


def route_recipients(recipients: list[str], support_domain: str) -> Route | None:
    """Pick the route for the envelope ``recipients`` (SES ``receipt.recipients``).

    Case-insensitive; plus-addressing (``incident+acme@``) is accepted; display names and angle
    brackets are tolerated. When several support addresses match, the most urgent wins
    (urgent > incident > problem > task > question). None when no recipient is a support
    address of ``support_domain``.
    """
    domain = support_domain.strip().strip(".").lower()
    best: tuple[int, Route] | None = None
    for recipient in recipients:
        if not isinstance(recipient, str):
            continue
        address = recipient.strip()
        if "<" in address and ">" in address:
            address = address[address.rfind("<") + 1 : address.rfind(">")]
        local, at, host = address.strip().lower().rpartition("@")
        if not at or host.strip(".") != domain:
            continue
        base = local.split("+", 1)[0]
        entry = _ROUTES.get(base)
        if entry is None:
            continue
        ticket_type, priority, rank = entry
        if best is None or rank < best[0]:
            best = (rank, Route(ticket_type, priority, f"{base}@{domain}"))
    return best[1] if best else None
