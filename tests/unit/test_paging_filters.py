"""The event source mapping's filter criteria (template.yaml) against records to admit and reject."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from support_common.models import TRIAGE_TENANT
from support_common.paging.decision import Action, change_from_record

from local.cfn import resource
from local.event_filter import admitted, matches
from tests.conftest import load_event


def patterns() -> list[str]:
    props = resource("EscalateStreamMapping")
    return [f["Pattern"] for f in props["FilterCriteria"]["Filters"]]


def insert(**fields: str) -> dict[str, Any]:
    record = load_event("dynamodb_stream_insert_urgent_incident")["Records"][0]
    for name, value in fields.items():
        record["dynamodb"]["NewImage"][name] = {"S": value}
    return record


def modify(old: dict[str, str], new: dict[str, str], **extra_new: Any) -> dict[str, Any]:
    record = load_event("dynamodb_stream_modify_acknowledged")["Records"][0]
    base = load_event("dynamodb_stream_insert_urgent_incident")["Records"][0]["dynamodb"]["NewImage"]
    record["dynamodb"]["OldImage"] = {**base, **{k: {"S": v} for k, v in old.items()}}
    record["dynamodb"]["NewImage"] = {**base, **{k: {"S": v} for k, v in new.items()}, **extra_new}
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
        pytest.param(insert(tenant=TRIAGE_TENANT), id="triage incident created"),
        pytest.param(insert(status="acknowledged"), id="acknowledged incident created"),
        pytest.param(
            modify(URGENT, URGENT, updated_at={"S": "2026-11-26T09:30:00.000Z"}, comment_count={"N": "1"}),
            id="comment on paged incident",
        ),
        pytest.param(modify(URGENT, {**URGENT, "title": "Checkout returns 503"}), id="title edited"),
        pytest.param(
            modify({**URGENT, "status": "acknowledged"}, {**URGENT, "status": "resolved"}), id="ack->resolved"
        ),
        pytest.param(modify({**URGENT, "status": "resolved"}, URGENT), id="reopened"),
        pytest.param(modify({**URGENT, "priority": "low"}, {**URGENT, "priority": "high"}), id="low->high"),
        pytest.param(modify(URGENT, {**URGENT, "priority": "high"}), id="downgraded (late timer no-ops)"),
    ],
)
def test_template_filters_record_without_paging_effect_rejected(record: dict[str, Any]) -> None:
    # GIVEN a record that neither starts paging nor leaves `open`
    # WHEN the event source mapping filters it
    passed = admitted(patterns(), record)
    # THEN the function is not invoked
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
        ("incident", "problem"), ("high", "urgent"), ("open", "acknowledged", "resolved"), ("acme", TRIAGE_TENANT)
    )
]


def test_template_filters_every_state_change_agrees_with_pager() -> None:
    # GIVEN every change between ticket states that matter to paging (INSERTs and MODIFYs)
    records = [insert(**new) for new in STATES] + [modify(old, new) for old in STATES for new in STATES]
    for record in records:
        # WHEN the filter and the pager each judge it
        passed = admitted(patterns(), record)
        action = change_from_record(record).action
        reopened = record["eventName"] == "MODIFY" and record["dynamodb"]["OldImage"]["status"]["S"] != "open"
        # THEN every page the pager would send reaches it (reopens excepted: one page per level),
        # and everything that reaches it has something to do
        if action is Action.PAGE and not reopened:
            assert passed, record["dynamodb"]
        if passed:
            assert action is not Action.NONE, record["dynamodb"]
        if action is Action.CANCEL and record["dynamodb"]["NewImage"]["status"]["S"] != "open":
            assert passed, record["dynamodb"]


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
