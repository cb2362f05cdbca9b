"""Address routing: which support address means which ticket type and priority."""

from __future__ import annotations

import pytest
from support_common.email_intake.routing import Route, route_recipients

DOMAIN = "support.example.com"


@pytest.mark.parametrize(
    ("local", "ticket_type", "priority"),
    [
        ("urgent", "incident", "urgent"),
        ("incident", "incident", "normal"),
        ("problem", "problem", "normal"),
        ("task", "task", "normal"),
        ("question", "question", "normal"),
    ],
)
def test_route_recipients_each_support_address_maps_to_type_and_priority(
    local: str, ticket_type: str, priority: str
) -> None:
    # GIVEN one envelope recipient at the support domain
    # WHEN routed
    route = route_recipients([f"{local}@{DOMAIN}"], DOMAIN)
    # THEN it maps to its type and priority
    assert route == Route(ticket_type, priority, f"{local}@{DOMAIN}")


def test_route_recipients_plus_addressing_and_case_are_accepted() -> None:
    # GIVEN a plus-addressed, upper-case recipient
    route = route_recipients(["Incident+ACME@Support.Example.COM"], DOMAIN)
    # THEN it routes like incident@
    assert route is not None and (route.ticket_type, route.priority) == ("incident", "normal")


def test_route_recipients_other_domain_or_local_part_is_none() -> None:
    # GIVEN recipients that are not support addresses
    recipients = ["urgent@other.example", "sales@support.example.com", "urgent@evil-support.example.com"]
    # WHEN routed / THEN no route
    assert route_recipients(recipients, DOMAIN) is None
    assert route_recipients([], DOMAIN) is None


def test_route_recipients_several_matches_most_urgent_wins() -> None:
    # GIVEN several support recipients
    recipients = [f"question@{DOMAIN}", f"task@{DOMAIN}", "x@elsewhere.example", f"urgent@{DOMAIN}"]
    # WHEN routed
    route = route_recipients(recipients, DOMAIN)
    # THEN urgent wins; without it, problem beats task and question
    assert route is not None and (route.ticket_type, route.priority) == ("incident", "urgent")
    second = route_recipients([f"question@{DOMAIN}", f"problem@{DOMAIN}", f"task@{DOMAIN}"], DOMAIN)
    assert second is not None and second.ticket_type == "problem"


def test_route_recipients_display_name_form_is_tolerated() -> None:
    # GIVEN a recipient written with a display name
    route = route_recipients([f'"Support" <task@{DOMAIN}>'], DOMAIN)
    # THEN it is routed
    assert route is not None and route.ticket_type == "task"


# -- headers -------------------------------------------------------------------------------
