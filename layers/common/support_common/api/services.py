"""What the routes use, handed to them per request through the resolver's context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from support_common.attachments import AttachmentService
from support_common.contacts import ContactService
from support_common.tickets import TicketService

if TYPE_CHECKING:
    from support_common.api.idempotency import OnceOnly
    from support_common.oncall import OnCall
    from support_common.pagelinks import PageSigner
    from support_common.repository.limits import RateLimits
    from support_common.secret_store import SecretValue


@dataclass(frozen=True)
class OnCallDesk:
    """What the page links and the PagerDuty webhook use (built on their first request)."""

    oncall: OnCall
    signer: PageSigner
    webhook_secret: SecretValue
    limits: RateLimits


@dataclass(frozen=True)
class Services:
    tickets: TicketService
    contacts: ContactService
    attachments: AttachmentService
    # Built on the first request with an Idempotency-Key (see api/idempotency.py).
    once_only: Callable[[], OnceOnly]
    # Built on the first page link or webhook request (reads the secrets then).
    oncall: Callable[[], OnCallDesk]


def services(context: dict[str, Any]) -> Services:
    """The services of the current request (the handler appends them to the resolver's context)."""
    found = context["services"]
    assert isinstance(found, Services)
    return found
