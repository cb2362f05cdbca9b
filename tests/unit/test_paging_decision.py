"""When a ticket change pages, cancels re-pages, or does nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support_common.models import TRIAGE_TENANT, Priority, Requester, Status, Ticket, TicketType
from support_common.paging.decision import Action, action_for, becomes_pageable, change_from_record, stops_paging

from tests.conftest import load_event

NOW = datetime(2026, 11, 26, 9, 14, tzinfo=UTC)


def ticket(**changes: Any) -> Ticket:
    base: dict[str, Any] = {
        "id": "INC-7KQ2XH",
        "type": TicketType.INCIDENT,
        "priority": Priority.URGENT,
        "status": Status.OPEN,
        "title": "Checkout returns 502",
        "description": "every request fails",
        "channel": "dashboard",
        "tenant": "acme",
        "requester": Requester(email="alice@acme.example"),
        "environment": "production",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Ticket.model_validate({**base, **changes})


URGENT = ticket()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(None, URGENT, id="created urgent"),
        pytest.param(ticket(priority=Priority.HIGH), URGENT, id="raised to urgent"),
        pytest.param(ticket(type=TicketType.PROBLEM, priority=Priority.HIGH), URGENT, id="retyped to incident"),
        pytest.param(ticket(tenant=TRIAGE_TENANT), URGENT, id="moved out of triage"),
    ],
)
def test_action_for_ticket_becoming_pageable_pages(old: Ticket | None, new: Ticket) -> None:
    # GIVEN a change that turns a ticket into an open urgent incident of a real tenant
    # WHEN the pager decides
    action = action_for(old, new)
    # THEN it pages
    assert action is Action.PAGE
    assert becomes_pageable(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(None, ticket(priority=Priority.HIGH), id="created high"),
        pytest.param(None, ticket(type=TicketType.QUESTION, priority=Priority.NORMAL), id="created question"),
        pytest.param(None, ticket(status=Status.ACKNOWLEDGED), id="created acknowledged"),
        pytest.param(None, ticket(tenant=TRIAGE_TENANT), id="created in triage"),
        pytest.param(URGENT, ticket(title="Checkout returns 503", version=2), id="title edited"),
        pytest.param(URGENT, ticket(updated_at=datetime(2026, 11, 26, 10, tzinfo=UTC)), id="commented"),
        pytest.param(ticket(priority=Priority.LOW), ticket(priority=Priority.HIGH), id="raised below urgent"),
    ],
)
def test_action_for_change_that_does_not_start_paging_does_not_page(old: Ticket | None, new: Ticket) -> None:
    # GIVEN a change that leaves the ticket non-pageable, or pageable as it already was
    # WHEN the pager decides
    action = action_for(old, new)
    # THEN no page goes out
    assert action is not Action.PAGE


def test_action_for_reopened_urgent_incident_pages_only_if_never_paged() -> None:
    # GIVEN an urgent incident going from resolved back to open
    old, new = ticket(status=Status.RESOLVED), URGENT
    # WHEN the pager decides
    action = action_for(old, new)
    # THEN it is "becoming pageable": the page record PAGE#1 keeps it to one page per level, and
    # the event source mapping's filters do not even deliver a reopen
    assert action is Action.PAGE


@pytest.mark.parametrize(
    "new",
    [
        pytest.param(ticket(status=Status.ACKNOWLEDGED), id="acknowledged"),
        pytest.param(ticket(status=Status.RESOLVED), id="resolved"),
        pytest.param(ticket(status=Status.CLOSED), id="closed"),
        pytest.param(ticket(priority=Priority.HIGH), id="downgraded"),
        pytest.param(ticket(tenant=TRIAGE_TENANT), id="moved to triage"),
    ],
)
def test_action_for_paging_ticket_that_stops_paging_cancels(new: Ticket) -> None:
    # GIVEN an urgent open incident that stops being one
    # WHEN the pager decides
    action = action_for(URGENT, new)
    # THEN pending re-pages are cancelled
    assert action is Action.CANCEL
    assert stops_paging(URGENT, new)


def test_change_from_record_sample_insert_reads_ticket() -> None:
    # GIVEN a real DynamoDB stream INSERT of an urgent incident
    record = load_event("dynamodb_stream_insert_urgent_incident")["Records"][0]
    # WHEN it is parsed
    change = change_from_record(record)
    # THEN the new ticket is read from the image and it pages
    assert change.old is None
    assert change.new is not None and change.new.id == "INC-7KQ2XH"
    assert change.sequence_number == record["dynamodb"]["SequenceNumber"]
    assert change.action is Action.PAGE


def test_change_from_record_sample_acknowledged_stands_down() -> None:
    # GIVEN a real MODIFY that acknowledges an incident in its first paging round
    record = load_event("dynamodb_stream_modify_acknowledged")["Records"][0]
    # WHEN it is parsed
    change = change_from_record(record)
    # THEN it stands down whoever was paged (and so cancels re-pages)
    assert change.action is Action.ACKNOWLEDGE
    assert change.action.cancels


@pytest.mark.parametrize("sk", ["COMMENT#2026-11-26T09:20:00.000Z#a1b2c3", "PAGE#1"])
def test_change_from_record_non_ticket_item_does_nothing(sk: str) -> None:
    # GIVEN a record of another item of the ticket's partition (comment, page record)
    record = load_event("dynamodb_stream_insert_urgent_incident")["Records"][0]
    record["dynamodb"]["Keys"]["sk"] = {"S": sk}
    record["dynamodb"]["NewImage"]["sk"] = {"S": sk}
    # WHEN it is parsed
    change = change_from_record(record)
    # THEN there is no ticket and nothing to do
    assert change.ticket is None
    assert change.action is Action.NONE
