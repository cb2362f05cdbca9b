"""The event source mapping's filter criteria (template.yaml) against records to admit and reject."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from support_common.models import TRIAGE_TENANT
from support_common.paging.decision import Action, change_from_record
from support_common.repository.ticket_items import paging_flag

from local.cfn import resource
from local.event_filter import admitted, matches
from tests.conftest import load_event


def patterns() -> list[str]:
    props = resource("EscalateStreamMapping")
    return [f["Pattern"] for f in props["FilterCriteria"]["Filters"]]


def _image(base: dict[str, Any], fields: dict[str, str], page_round: int) -> dict[str, Any]:
    """A ticket item image as the repository writes it: the fields, their paging flag, the round."""
    image = {**base, **{k: {"S": v} for k, v in fields.items()}}
    flag = paging_flag(*(image[f]["S"] for f in ("tenant", "type", "status", "priority")))
    return {**image, "paging": {"S": flag}, "page_round": {"N": str(page_round)}}


def _pages(fields: dict[str, str]) -> bool:
    return paging_flag(fields["tenant"], fields["type"], fields["status"], fields["priority"]) == "on"


def insert(**fields: str) -> dict[str, Any]:
    record = load_event("dynamodb_stream_insert_urgent_incident")["Records"][0]
    base = record["dynamodb"]["NewImage"]
    merged = {f: base[f]["S"] for f in ("tenant", "type", "status", "priority")} | fields
    record["dynamodb"]["NewImage"] = _image(base, fields, 1 if _pages(merged) else 0)
    return record


def modify(
    old: dict[str, str], new: dict[str, str], *, paged: bool | None = None, **extra_new: Any
) -> dict[str, Any]:
    """A MODIFY from `old` to `new`; the round as TicketService keeps it (`paged`: the old round > 0)."""
    record = load_event("dynamodb_stream_modify_acknowledged")["Records"][0]
    base = load_event("dynamodb_stream_insert_urgent_incident")["Records"][0]["dynamodb"]["NewImage"]
    old_round = int(_pages(old) if paged is None else paged)
    new_round = old_round + 1 if _pages(new) and not _pages(old) else old_round
    record["dynamodb"]["OldImage"] = _image(base, old, old_round)
    record["dynamodb"]["NewImage"] = {**_image(base, new, new_round), **extra_new}
    return record


URGENT = {"type": "incident", "priority": "urgent", "status": "open", "tenant": "acme"}


def test_template_filters_fit_lambda_limits() -> None:
    # GIVEN the template's filters
    # WHEN they are read
    found = patterns()
    # THEN they are within Lambda's quota (5 filters) and size limit, and valid JSON objects
    assert 1 <= len(found) <= 5
    assert all(len(p) < 4096 and isinstance(json.loads(p), dict) for p in found)


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(insert(), id="urgent incident created"),
        pytest.param(modify({**URGENT, "priority": "high"}, URGENT), id="raised to urgent"),
        pytest.param(modify({**URGENT, "type": "problem", "priority": "high"}, URGENT), id="retyped"),
        pytest.param(modify({**URGENT, "tenant": TRIAGE_TENANT}, URGENT), id="moved out of triage"),
        pytest.param(modify(URGENT, {**URGENT, "status": "acknowledged"}), id="acknowledged"),
        pytest.param(modify(URGENT, {**URGENT, "status": "resolved"}), id="resolved"),
        pytest.param(modify(URGENT, {**URGENT, "status": "closed"}), id="closed"),
        pytest.param(modify({**URGENT, "status": "resolved"}, URGENT, paged=True), id="reopened"),
        pytest.param(modify(URGENT, {**URGENT, "priority": "high"}), id="downgraded"),
        pytest.param(modify(URGENT, {**URGENT, "tenant": TRIAGE_TENANT}), id="moved to triage"),
        pytest.param(modify(URGENT, {**URGENT, "type": "problem", "priority": "high"}), id="retyped away"),
        pytest.param(
            modify({**URGENT, "status": "acknowledged"}, {**URGENT, "status": "resolved"}, paged=True),
            id="paged, acknowledged -> resolved",
        ),
        pytest.param(
            modify({**URGENT, "status": "acknowledged"}, {**URGENT, "status": "closed"}, paged=True),
            id="paged, acknowledged -> closed",
        ),
        pytest.param(
            modify(
                {**URGENT, "priority": "high"}, {**URGENT, "priority": "high", "status": "resolved"}, paged=True
            ),
            id="paged then downgraded, resolved",
        ),
    ],
)
def test_template_filters_record_that_pages_or_cancels_admitted(record: dict[str, Any]) -> None:
    # GIVEN a record the pager must see
    # WHEN the event source mapping filters it
    passed = admitted(patterns(), record)
    # THEN the function is invoked
    assert passed


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(insert(priority="high"), id="high incident created"),
        pytest.param(insert(type="question", priority="normal"), id="question created"),
        pytest.param(
            modify(URGENT, URGENT, updated_at={"S": "2026-11-26T09:30:00.000Z"}, comment_count={"N": "1"}),
            id="comment on an open incident",
        ),
        pytest.param(modify(URGENT, {**URGENT, "title": "Checkout returns 503"}), id="title edited"),
        pytest.param(modify({**URGENT, "priority": "low"}, {**URGENT, "priority": "high"}), id="low->high"),
    ],
)
def test_template_filters_change_of_an_open_ticket_admitted_for_its_targets(record: dict[str, Any]) -> None:
    # GIVEN a new ticket, or a change of one that is not done: its response target's due time,
    # first response or resolution may move with it (the filters cannot compare the images)
    # WHEN the event source mapping filters it
    passed = admitted(patterns(), record)
    # THEN the function sees it
    assert passed


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(
            modify({**URGENT, "status": "resolved"}, {**URGENT, "status": "closed"}, paged=True),
            id="resolved->closed",
        ),
        pytest.param(
            modify(
                {**URGENT, "status": "closed"},
                {**URGENT, "status": "closed"},
                comment_count={"N": "2"},
            ),
            id="comment on a closed ticket",
        ),
        pytest.param(
            modify({**URGENT, "status": "resolved"}, {**URGENT, "status": "resolved", "title": "x"}),
            id="resolved ticket edited",
        ),
    ],
)
def test_template_filters_change_of_a_done_ticket_rejected(record: dict[str, Any]) -> None:
    # GIVEN a change of a resolved or closed ticket that does not reopen it
    # WHEN the event source mapping filters it
    passed = admitted(patterns(), record)
    # THEN the function is not invoked (no page, no target runs)
    assert not passed


@pytest.mark.parametrize("sk", ["COMMENT#2026-11-26T09:20:00.000Z#a1b2c3", "PAGE#1", "PAGE#2"])
def test_template_filters_other_items_of_ticket_rejected(sk: str) -> None:
    # GIVEN a comment or a page record written in the ticket's partition, with ticket-like fields
    record = insert()
    record["dynamodb"]["Keys"]["sk"] = {"S": sk}
    # WHEN the event source mapping filters it
    passed = admitted(patterns(), record)
    # THEN it never reaches the function
    assert not passed


def test_template_filters_remove_rejected() -> None:
    # GIVEN a ticket item deleted (REMOVE has only an OldImage)
    record = modify(URGENT, URGENT)
    record["eventName"] = "REMOVE"
    del record["dynamodb"]["NewImage"]
    # WHEN filtered
    # THEN it is dropped
    assert not admitted(patterns(), record)


STATES = [
    dict(zip(("type", "priority", "status", "tenant"), combo, strict=True))
    for combo in itertools.product(
        ("incident", "problem"),
        ("high", "urgent"),
        ("open", "acknowledged", "resolved", "closed"),
        ("acme", TRIAGE_TENANT),
    )
]


def test_template_filters_every_state_change_agrees_with_pager() -> None:
    # GIVEN every change between ticket states that matter to paging (INSERTs, and MODIFYs of
    # tickets that paged before and of tickets that never did)
    records = [insert(**new) for new in STATES] + [
        modify(old, new, paged=paged) for old in STATES for new in STATES for paged in (False, True)
    ]
    for record in records:
        # WHEN the filter and the pager each judge it
        passed = admitted(patterns(), record)
        action = change_from_record(record).action
        # THEN everything the pager would do reaches it (targets need more: see above)
        if action is not Action.NONE:
            assert passed, (action, record["dynamodb"])


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x"]}, {"a": "y"}, False),
        ({"a": ["x"]}, {}, False),
        ({"a": [{"prefix": "TICK"}]}, {"a": "TICKET"}, True),
        ({"a": [{"prefix": "TICK"}]}, {"a": "PAGE#1"}, False),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "y"}, True),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "x"}, False),
        ({"a": [{"anything-but": ["x"]}]}, {}, False),
        ({"a": [{"anything-but": {"prefix": "x"}}]}, {"a": "xy"}, False),
        ({"a": [{"exists": True}]}, {"a": 1}, True),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"exists": False}]}, {"a": "x"}, False),
        ({"a": {"b": [{"exists": False}]}}, {}, True),
        ({"a": [{"numeric": [">=", 2]}]}, {"a": 3}, True),
        ({"a": [{"numeric": [">", 0, "<", 2]}]}, {"a": 2}, False),
        ({"a": ["x", "y"]}, {"a": ["z", "y"]}, True),
    ],
)
def test_matches_pattern_syntax_follows_lambda_semantics(
    pattern: dict[str, Any], event: dict[str, Any], expected: bool
) -> None:
    # GIVEN a pattern and an event
    # WHEN matched
    result = matches(pattern, event)
    # THEN the result is Lambda's
    assert result is expected


def test_matches_unknown_operator_raises() -> None:
    # GIVEN an operator the evaluator does not know
    # WHEN matched
    # THEN it fails loudly rather than guessing
    with pytest.raises(ValueError, match="unsupported"):
        matches({"a": [{"suffix": "x"}]}, {"a": "yx"})


def _ticket_states() -> list[Any]:
    from datetime import UTC, datetime, timedelta

    from support_common.models import Channel, Priority, Requester, Status, Ticket, TicketType

    created = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    base = Ticket(
        id="INC-7KQ2XH",
        type=TicketType.INCIDENT,
        title="t",
        description="d",
        channel=Channel.DASHBOARD,
        tenant="acme",
        requester=Requester(email="a@acme.example"),
        created_at=created,
        updated_at=created,
    )
    states = []
    for status, priority, responded, due_minutes in itertools.product(
        list(Status), (Priority.NORMAL, Priority.URGENT), (False, True), (15, 240)
    ):
        states.append(
            base.model_copy(
                update={
                    "status": status,
                    "priority": priority,
                    "first_response_at": created if responded else None,
                    "response_due_at": created + timedelta(minutes=due_minutes),
                }
            )
        )
    return states


def test_template_filters_admit_every_change_that_moves_a_target() -> None:
    # GIVEN every change between ticket states that matter to response targets
    from support_common.models import ALLOWED_TRANSITIONS
    from support_common.repository.ticket_items import ticket_item
    from support_common.sla import SlaPolicy, met_late, timers

    policy = SlaPolicy.default()
    states = _ticket_states()
    template = load_event("dynamodb_stream_modify_acknowledged")["Records"][0]
    checked = 0
    for old, new in itertools.product(states, states):
        if new.status != old.status and new.status not in ALLOWED_TRANSITIONS[old.status]:
            continue  # the service refuses the change: it never reaches the stream
        if timers(old, policy) == timers(new, policy) and not met_late(old, new):
            continue
        record = json.loads(json.dumps(template))
        record["dynamodb"]["OldImage"] = ticket_item(old)
        record["dynamodb"]["NewImage"] = ticket_item(new)
        # WHEN the filters judge it THEN the function sees it
        assert admitted(patterns(), record), (old.status, new.status, old.first_response_at, new.first_response_at)
        checked += 1
    assert checked > 100
