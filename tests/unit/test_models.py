"""Ticket rules: ids, the status workflow, each type's rule, identity from claims."""

from __future__ import annotations

import re

import pytest
from support_common.api.auth import identity_from_claims, parse_groups
from support_common.errors import InvalidInput, Unauthorized
from support_common.models import (
    ALLOWED_TRANSITIONS,
    Channel,
    Priority,
    Status,
    TicketType,
    TransitionError,
    check_transition,
    normalize_ticket_id,
    task_description_problem,
)
from support_common.ticket_rules import NewTicket, check_type_rules, new_ticket_id


@pytest.mark.parametrize(("ticket_type", "prefix"), [("incident", "INC"), ("problem", "PRB"), ("task", "TSK")])
def test_new_ticket_id_any_type_is_short_typable_and_prefixed(ticket_type: str, prefix: str) -> None:
    # GIVEN a ticket type
    # WHEN ids are drawn
    ids = {new_ticket_id(TicketType(ticket_type)) for _ in range(200)}
    # THEN each is the prefix plus six Crockford base32 characters, and they do not repeat
    assert all(re.fullmatch(rf"{prefix}-[0-9A-HJKMNP-TV-Z]{{6}}", i) for i in ids)
    assert len(ids) == 200


def test_normalize_ticket_id_typed_by_a_person_forgives_case_and_lookalikes() -> None:
    # GIVEN ids as a customer might type them
    # WHEN normalized
    # THEN case and O/0, I/L/1 confusions map to the canonical id; garbage is refused
    assert normalize_ticket_id(" inc-7kq2xh ") == "INC-7KQ2XH"
    assert normalize_ticket_id("INC-OKQIXL") == "INC-0KQ1X1"
    assert normalize_ticket_id("ABC-7KQ2XH") is None
    assert normalize_ticket_id("INC7KQ2XH") is None
    assert normalize_ticket_id("INC-7KQ2X") is None


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("open", "acknowledged"),
        ("acknowledged", "resolved"),
        ("resolved", "closed"),
        ("resolved", "open"),
        ("open", "resolved"),
        ("open", "open"),
    ],
)
def test_check_transition_allowed_move_passes(current: str, new: str) -> None:
    # GIVEN / WHEN / THEN: the workflow's allowed moves raise nothing
    check_transition(Status(current), Status(new))


@pytest.mark.parametrize(
    ("current", "new"),
    [("closed", "open"), ("acknowledged", "open"), ("closed", "resolved"), ("resolved", "acknowledged")],
)
def test_check_transition_invalid_move_raises_with_allowed_list(current: str, new: str) -> None:
    # GIVEN a move the workflow does not allow
    # WHEN checked
    with pytest.raises(TransitionError) as err:
        check_transition(Status(current), Status(new))
    # THEN the message names both ends
    assert f"from {current} to {new}" in str(err.value)


def test_allowed_transitions_closed_is_final() -> None:
    assert ALLOWED_TRANSITIONS[Status.CLOSED] == frozenset()


def test_task_description_problem_too_short_says_what_is_missing() -> None:
    # GIVEN a terse task description
    # WHEN checked
    problem = task_description_problem("give me access")
    # THEN it asks for what, where and when
    assert problem is not None
    assert "what should be done" in problem
    assert "which site or environment" in problem


def test_task_description_problem_well_described_passes() -> None:
    text = "Please grant bob@acme.example read access to the production logs of www.acme.example by Friday."
    assert task_description_problem(text) is None


def test_check_type_rules_dashboard_incident_without_environment_refused() -> None:
    # GIVEN a dashboard incident that does not say what is affected
    draft = NewTicket(type=TicketType.INCIDENT, title="broken", description="it is broken")
    # WHEN / THEN
    with pytest.raises(InvalidInput) as err:
        check_type_rules(draft, Channel.DASHBOARD)
    assert err.value.field == "environment"


def test_check_type_rules_email_incident_without_environment_accepted() -> None:
    # GIVEN an emailed incident: email has no field for the environment
    draft = NewTicket(type=TicketType.INCIDENT, title="broken", description="it is broken")
    # WHEN / THEN no error
    check_type_rules(draft, Channel.EMAIL)


def test_check_type_rules_urgent_question_refused() -> None:
    # GIVEN a question marked urgent
    draft = NewTicket(type=TicketType.QUESTION, title="q", description="d", priority=Priority.URGENT)
    # WHEN / THEN: urgent is for incidents (site down), which page
    with pytest.raises(InvalidInput) as err:
        check_type_rules(draft, Channel.DASHBOARD)
    assert err.value.field == "priority"


def test_parse_groups_http_api_string_claim_gives_list() -> None:
    # GIVEN the HTTP API's rendering of an array claim
    # WHEN parsed / THEN the groups come back as a list
    assert parse_groups("[support other]") == ["support", "other"]
    assert parse_groups("[]") == []
    assert parse_groups(["support"]) == ["support"]
    assert parse_groups(None) == []


def test_identity_from_claims_support_group_is_staff() -> None:
    # GIVEN claims of a staff member (no tenant) and of a customer
    staff = identity_from_claims({"email": "OnCall@Support.example.com", "cognito:groups": "[support]"})
    customer = identity_from_claims({"email": "alice@acme.example", "custom:tenant": "acme"})
    # THEN staff see every tenant, the customer only theirs
    assert staff.is_support and staff.email == "oncall@support.example.com"
    assert staff.can_see("globex")
    assert not customer.is_support
    assert customer.can_see("acme") and not customer.can_see("globex")


@pytest.mark.parametrize(
    "claims", [None, {}, {"custom:tenant": "acme"}, {"email": "alice@acme.example"}], ids=repr
)
def test_identity_from_claims_incomplete_is_unauthorized(claims: dict[str, str] | None) -> None:
    # GIVEN claims lacking an email, or a customer's tenant
    # WHEN / THEN 401
    with pytest.raises(Unauthorized):
        identity_from_claims(claims)


ORDER = [Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED, Status.CLOSED]


@pytest.mark.parametrize("current", ORDER)
@pytest.mark.parametrize("new", ORDER)
def test_check_transition_follows_the_documented_workflow(current: Status, new: Status) -> None:
    # GIVEN the README's workflow: a forward move may skip steps, a resolved ticket may be
    # reopened, closed is final, anything else is refused (a 409); the same status is no change
    forward = ORDER.index(new) >= ORDER.index(current)
    documented = forward or (current, new) == (Status.RESOLVED, Status.OPEN)

    # WHEN the move is checked, THEN it is allowed exactly when the README says so
    if documented:
        check_transition(current, new)
    else:
        with pytest.raises(TransitionError):
            check_transition(current, new)
