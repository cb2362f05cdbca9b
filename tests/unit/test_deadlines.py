"""The target timers' names and the staff notice's text."""

from __future__ import annotations

from datetime import UTC, datetime

from support_common.models import Channel, Priority, Requester, Ticket, TicketType
from support_common.paging.deadlines import DeadlineRequest, notice_text, schedule_name
from support_common.sla import SlaPolicy, timers

DUE = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)


def urgent(title: str = "Checkout returns 502") -> Ticket:
    return Ticket(
        id="INC-7KQ2XH",
        type=TicketType.INCIDENT,
        priority=Priority.URGENT,
        title=title,
        description="Every request answers 502.",
        channel=Channel.DASHBOARD,
        tenant="acme",
        requester=Requester(email="alice@acme.example"),
        created_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        response_due_at=DUE,
        resolution_due_at=DUE,
    )


def test_schedule_name_of_each_timer_is_distinct_and_fits_the_scheduler() -> None:
    # GIVEN an urgent incident whose response and resolution are due at the same instant
    policy = SlaPolicy.parse(
        response="urgent=15m", resolution="urgent=15m", hours="Mon-Fri 09:00-17:00", zone="UTC"
    )
    needed = timers(urgent(), policy)

    # WHEN each of its four timers is named
    names = {schedule_name("INC-7KQ2XH", timer) for timer in needed}

    # THEN no two collide, and each is within EventBridge Scheduler's 64 characters
    assert len(needed) == len(names) == 4
    assert all(len(name) <= 64 for name in names)


def test_notice_text_names_ids_and_times_never_the_ticket_text() -> None:
    # GIVEN a ticket whose title carries a header injection and text nobody should see in chat
    ticket = urgent(title="Secret customer data\r\nBcc: evil@example.com")
    request = DeadlineRequest.model_validate(
        {"action": "sla", "ticket_id": ticket.id, "target": "response", "kind": "breach", "due": DUE}
    )

    # WHEN the breach notice is written
    subject, body = notice_text(ticket, request, "https://dashboard.example.com/tickets/INC-7KQ2XH")

    # THEN it names the ticket, what was missed and when, on one subject line without the title
    assert subject == "INC-7KQ2XH: first response target missed (urgent incident)"
    assert "2026-12-01 09:15 UTC" in body
    assert "Secret" not in subject + body and "\r" not in subject and "\n" not in subject
