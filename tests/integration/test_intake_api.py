"""The dashboard API end to end through functions.intake.app.lambda_handler, on moto's DynamoDB."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.intake.app import lambda_handler
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.apigw import ALICE, BOB, MALLORY, ONCALL, http_event

pytestmark = pytest.mark.usefixtures("table")

INCIDENT = {
    "type": "incident",
    "title": "Site down: www.acme.example returns 502",
    "description": "Since 18:20 UTC every page returns 502 Bad Gateway.",
    "priority": "urgent",
    "environment": "production",
}
TASK = {
    "type": "task",
    "title": "Staging database access for Bob",
    "description": "Please grant bob@acme.example read access to the staging database of www.acme.example by Friday.",
}
QUESTION = {
    "type": "question",
    "title": "Do you support PHP 8.4?",
    "description": "We plan to upgrade next month.",
}


def call(event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    resp = lambda_handler(event, FakeLambdaContext())
    body = json.loads(resp["body"]) if resp.get("body") else None
    return resp["statusCode"], body, resp.get("headers", {})


def create(body: dict[str, Any], claims: dict[str, str] = ALICE, **kw: Any) -> dict[str, Any]:
    status, ticket, _ = call(http_event("POST", "/tickets", body=body, claims=claims, **kw))
    assert status == 201, ticket
    return ticket


# --- create -----------------------------------------------------------------------------------


def test_create_ticket_real_event_returns_201_location_and_caller_as_requester() -> None:
    # GIVEN the recorded API Gateway event of a customer reporting their site down
    event = load_event("apigw_http_create_ticket")
    # WHEN it reaches the function
    status, ticket, headers = call(event)
    # THEN the ticket exists, belongs to the caller's tenant and is theirs
    assert status == 201
    assert headers["Location"] == f"/tickets/{ticket['id']}"
    assert ticket["id"].startswith("INC-")
    assert ticket["type"] == "incident"
    assert ticket["priority"] == "urgent"
    assert ticket["status"] == "open"
    assert ticket["channel"] == "dashboard"
    assert ticket["tenant"] == "acme"
    assert ticket["requester"] == {"email": "alice@acme.example", "name": None}
    assert ticket["environment"] == "production"
    assert ticket["version"] == 1
    assert ticket["created_at"].endswith("Z")
    assert ticket["comments"] == [] and ticket["attachments"] == [] and ticket["related"] == []


def test_create_ticket_default_priority_is_normal() -> None:
    # GIVEN a question without a priority
    # WHEN created
    ticket = create(QUESTION)
    # THEN it is normal priority
    assert ticket["priority"] == "normal"
    assert ticket["id"].startswith("QST-")


def test_create_ticket_requester_or_tenant_in_body_is_refused() -> None:
    # GIVEN a body that tries to choose its requester and tenant
    body = {**QUESTION, "tenant": "globex", "requester": {"email": "ceo@globex.example"}}
    # WHEN posted
    status, error, _ = call(http_event("POST", "/tickets", body=body))
    # THEN 422 naming both fields: the requester is always the caller
    assert status == 422
    assert {e["field"] for e in error["errors"]} == {"tenant", "requester"}


def test_create_task_too_short_is_refused_with_what_is_missing() -> None:
    # GIVEN a task that does not say what, where, when
    body = {**TASK, "description": "need access"}
    # WHEN posted
    status, error, _ = call(http_event("POST", "/tickets", body=body))
    # THEN 422 on the description with a message saying what to add
    assert status == 422
    assert error["errors"][0]["field"] == "description"
    assert "which site or environment" in error["errors"][0]["reason"]


def test_create_incident_without_environment_is_refused() -> None:
    body = {k: v for k, v in INCIDENT.items() if k != "environment"}
    status, error, _ = call(http_event("POST", "/tickets", body=body))
    assert status == 422
    assert error["errors"][0]["field"] == "environment"


def test_create_problem_linking_incidents_is_visible_from_both_sides() -> None:
    # GIVEN two incidents
    first, second = create(INCIDENT), create({**INCIDENT, "priority": "high"})
    # WHEN a problem names them as related
    problem = create(
        {
            "type": "problem",
            "title": "Memory leak in PHP workers",
            "description": "Workers grow until OOM-killed; causes the 502s.",
            "related": [first["id"], second["id"].lower()],
        }
    )
    # THEN the problem lists both, and each incident lists the problem
    assert problem["related"] == sorted([first["id"], second["id"]])
    for incident in (first, second):
        _, seen, _ = call(http_event("GET", f"/tickets/{incident['id']}"))
        assert seen["related"] == [problem["id"]]
        assert seen["version"] == 2


def test_create_problem_linking_a_question_is_refused() -> None:
    # GIVEN a question
    question = create(QUESTION)
    # WHEN a problem tries to name it as an incident it causes
    body = {"type": "problem", "title": "Cause", "description": "d", "related": [question["id"]]}
    status, error, _ = call(http_event("POST", "/tickets", body=body))
    # THEN 422 on related, and no problem was created
    assert status == 422
    assert error["errors"][0]["field"] == "related"
    _, page, _ = call(http_event("GET", "/tickets", query={"type": "problem"}))
    assert page["items"] == []


def test_create_problem_linking_another_tenants_incident_is_refused() -> None:
    # GIVEN globex's incident
    theirs = create(INCIDENT, claims=MALLORY)
    # WHEN acme links it
    body = {"type": "problem", "title": "Cause", "description": "d", "related": [theirs["id"]]}
    status, _, _ = call(http_event("POST", "/tickets", body=body))
    # THEN refused, and globex's ticket is untouched
    assert status == 422
    _, seen, _ = call(http_event("GET", f"/tickets/{theirs['id']}", claims=MALLORY))
    assert seen["related"] == [] and seen["version"] == 1


def test_create_ticket_malformed_json_is_422_not_500() -> None:
    status, error, _ = call(http_event("POST", "/tickets", raw_body='{"type": "incident",'))
    assert status == 422
    assert error["message"] == "the request is invalid"


def test_create_ticket_title_over_cap_is_422() -> None:
    status, error, _ = call(http_event("POST", "/tickets", body={**QUESTION, "title": "x" * 201}))
    assert status == 422
    assert error["errors"][0]["field"] == "title"


def test_create_ticket_huge_body_is_413() -> None:
    # GIVEN a body far beyond anything a ticket can hold
    body = {**QUESTION, "description": "x" * 200_000}
    # WHEN posted, plain and base64-encoded
    plain = call(http_event("POST", "/tickets", body=body))
    event = http_event("POST", "/tickets", body=body)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    encoded = call(event)
    # THEN 413 with the error body, never a 5xx
    assert plain[0] == 413 and encoded[0] == 413
    assert "limit" in plain[1]["message"]


def test_create_ticket_base64_body_is_decoded() -> None:
    event = http_event("POST", "/tickets", body=QUESTION)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    status, ticket, _ = call(event)
    assert status == 201
    assert ticket["title"] == QUESTION["title"]


def test_create_ticket_without_identity_is_401() -> None:
    status, error, _ = call(http_event("POST", "/tickets", body=QUESTION, claims=None))
    assert status == 401
    assert error["errors"][0]["reason"]


# --- idempotency ------------------------------------------------------------------------------


def test_create_ticket_retry_with_same_key_returns_same_ticket() -> None:
    # GIVEN a create with an Idempotency-Key
    headers = {"Idempotency-Key": "6f1c1a4e-retry"}
    first = create(QUESTION, headers=headers)
    # WHEN the browser retries the same request
    again = create(QUESTION, headers=headers)
    # THEN the same ticket comes back and only one exists
    assert again == first
    _, page, _ = call(http_event("GET", "/tickets"))
    assert [t["id"] for t in page["items"]] == [first["id"]]


def test_create_ticket_same_key_other_body_is_refused() -> None:
    headers = {"Idempotency-Key": "6f1c1a4e-reuse"}
    create(QUESTION, headers=headers)
    status, error, _ = call(http_event("POST", "/tickets", body={**QUESTION, "title": "Other"}, headers=headers))
    assert status == 422
    assert error["errors"][0]["field"] == "Idempotency-Key"


def test_create_ticket_same_key_other_tenant_makes_its_own_ticket() -> None:
    # GIVEN two tenants that happen to use the same key
    headers = {"Idempotency-Key": "same-key"}
    ours = create(QUESTION, headers=headers)
    # WHEN the other tenant creates with it
    theirs = create(QUESTION, claims=MALLORY, headers=headers)
    # THEN they get their own ticket, never a replay of ours
    assert theirs["id"] != ours["id"]
    assert theirs["tenant"] == "globex"


# --- read and list ----------------------------------------------------------------------------


def test_get_ticket_other_tenant_is_404_and_staff_see_it() -> None:
    # GIVEN acme's ticket
    ticket = create(QUESTION)
    # WHEN globex and support staff ask for it
    theirs = call(http_event("GET", f"/tickets/{ticket['id']}", claims=MALLORY))
    staff = call(http_event("GET", f"/tickets/{ticket['id']}", claims=ONCALL))
    # THEN globex sees nothing (not even that it exists), staff see it
    assert theirs[0] == 404
    assert staff[0] == 200 and staff[1]["id"] == ticket["id"]


def test_get_ticket_unknown_or_garbage_id_is_404() -> None:
    assert call(http_event("GET", "/tickets/INC-000000"))[0] == 404
    assert call(http_event("GET", "/tickets/not-an-id"))[0] == 404


def test_list_tickets_newest_first_paginates_without_gaps() -> None:
    # GIVEN seven tickets
    created = [create({**QUESTION, "title": f"Question {i}"})["id"] for i in range(7)]
    # WHEN listed three at a time
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": "3", **({"next_token": token} if token else {})}
        status, page, _ = call(http_event("GET", "/tickets", query=query))
        assert status == 200
        seen += [t["id"] for t in page["items"]]
        pages += 1
        token = page["next_token"]
        if not token:
            break
    # THEN every ticket appears once, newest first, over three pages
    assert seen == list(reversed(created))
    assert pages == 3


def test_list_tickets_filters_by_type_status_and_priority() -> None:
    # GIVEN tickets of several kinds, one of them resolved
    urgent = create(INCIDENT)
    high = create({**INCIDENT, "priority": "high"})
    question = create(QUESTION)
    call(http_event("PATCH", f"/tickets/{high['id']}", body={"status": "resolved"}))

    def ids(query: dict[str, str]) -> list[str]:
        status, page, _ = call(http_event("GET", "/tickets", query=query))
        assert status == 200
        return [t["id"] for t in page["items"]]

    # WHEN filtered / THEN only matching tickets come back
    assert ids({"type": "incident"}) == [high["id"], urgent["id"]]
    assert ids({"status": "open"}) == [question["id"], urgent["id"]]
    assert ids({"priority": "urgent"}) == [urgent["id"]]
    assert ids({"type": "incident", "status": "resolved"}) == [high["id"]]
    assert ids({"type": "question", "priority": "urgent"}) == []


def test_list_tickets_customer_sees_only_own_tenant_staff_see_all() -> None:
    # GIVEN tickets of two tenants
    ours = create(QUESTION)
    theirs = create(QUESTION, claims=MALLORY)
    # WHEN each lists
    _, acme, _ = call(http_event("GET", "/tickets"))
    _, globex, _ = call(http_event("GET", "/tickets", claims=MALLORY))
    _, staff, _ = call(http_event("GET", "/tickets", claims=ONCALL))
    _, staff_acme, _ = call(http_event("GET", "/tickets", claims=ONCALL, query={"tenant": "acme"}))
    _, sneaky, _ = call(http_event("GET", "/tickets", claims=MALLORY, query={"tenant": "acme"}))
    # THEN customers see their own only; staff see all, or one tenant when asked
    assert [t["id"] for t in acme["items"]] == [ours["id"]]
    assert [t["id"] for t in globex["items"]] == [theirs["id"]]
    assert [t["id"] for t in staff["items"]] == [theirs["id"], ours["id"]]
    assert [t["id"] for t in staff_acme["items"]] == [ours["id"]]
    assert sneaky["items"] == []


def test_list_tickets_forged_next_token_cannot_reach_another_tenant() -> None:
    # GIVEN globex's tickets and a token from globex's own listing
    for i in range(3):
        create({**QUESTION, "title": f"globex {i}"}, claims=MALLORY)
    mine = create(QUESTION)
    _, page, _ = call(http_event("GET", "/tickets", claims=MALLORY, query={"limit": "1"}))
    stolen = page["next_token"]
    # WHEN acme replays globex's token, and a hand-made token naming globex's partition
    _, replay, _ = call(http_event("GET", "/tickets", query={"next_token": stolen}))
    forged = base64.urlsafe_b64encode(json.dumps(["by_tenant", "9999", "QST-000000"]).encode()).decode()
    _, forged_page, _ = call(http_event("GET", "/tickets", query={"next_token": forged}))
    # THEN acme only ever sees acme's tickets
    for listing in (replay, forged_page):
        assert all(t["tenant"] == "acme" for t in listing["items"])
    assert [t["id"] for t in forged_page["items"]] == [mine["id"]]


def test_list_tickets_garbage_next_token_is_422() -> None:
    status, error, _ = call(http_event("GET", "/tickets", query={"next_token": "%%%not-a-token"}))
    assert status == 422
    assert error["errors"][0]["field"] == "next_token"


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"status": "sleeping"}])
def test_list_tickets_bad_query_is_422(query: dict[str, str]) -> None:
    assert call(http_event("GET", "/tickets", query=query))[0] == 422


# --- change -----------------------------------------------------------------------------------


def test_update_ticket_with_current_version_applies_and_bumps_version() -> None:
    # GIVEN a ticket at version 1
    ticket = create(QUESTION)
    # WHEN changed with If-Match "1" (quoted, as an ETag)
    status, updated, headers = call(
        http_event(
            "PATCH",
            f"/tickets/{ticket['id']}",
            body={"title": "PHP 8.4 support?", "priority": "high"},
            headers={"If-Match": '"1"'},
        )
    )
    # THEN the change is applied at version 2
    assert status == 200
    assert updated["title"] == "PHP 8.4 support?"
    assert updated["priority"] == "high"
    assert updated["version"] == 2
    assert headers["ETag"] == '"2"'


def test_update_ticket_concurrent_editors_second_gets_412() -> None:
    # GIVEN two people who both read version 1
    ticket = create(QUESTION)
    path = f"/tickets/{ticket['id']}"
    # WHEN both save with If-Match: 1
    first = call(http_event("PATCH", path, body={"title": "First"}, headers={"If-Match": "1"}))
    second = call(http_event("PATCH", path, body={"title": "Second"}, headers={"If-Match": "1"}))
    # THEN the second is told the ticket moved on, and the first change stands
    assert first[0] == 200
    assert second[0] == 412
    assert "version 2" in second[1]["message"]
    assert call(http_event("GET", path))[1]["title"] == "First"


def test_update_ticket_invalid_transition_is_409() -> None:
    # GIVEN a closed ticket
    ticket = create(QUESTION)
    path = f"/tickets/{ticket['id']}"
    assert call(http_event("PATCH", path, body={"status": "closed"}))[0] == 200
    # WHEN someone tries to reopen it
    status, error, _ = call(http_event("PATCH", path, body={"status": "open"}))
    # THEN 409 saying why, and it stays closed
    assert status == 409
    assert "closed" in error["message"]
    assert call(http_event("GET", path))[1]["status"] == "closed"


def test_update_ticket_resolved_can_be_reopened() -> None:
    ticket = create(QUESTION)
    path = f"/tickets/{ticket['id']}"
    call(http_event("PATCH", path, body={"status": "resolved"}))
    status, reopened, _ = call(http_event("PATCH", path, body={"status": "open"}))
    assert status == 200 and reopened["status"] == "open"


def test_update_ticket_other_tenant_is_404() -> None:
    ticket = create(QUESTION)
    status, _, _ = call(http_event("PATCH", f"/tickets/{ticket['id']}", body={"title": "mine"}, claims=MALLORY))
    assert status == 404


def test_update_ticket_move_tenant_is_staff_only() -> None:
    # GIVEN a ticket
    ticket = create(QUESTION)
    path = f"/tickets/{ticket['id']}"
    # WHEN the customer and then staff move it to another tenant
    customer = call(http_event("PATCH", path, body={"tenant": "globex"}))
    staff = call(http_event("PATCH", path, body={"tenant": "globex"}, claims=ONCALL))
    # THEN only staff may, and the ticket then lists under its new tenant
    assert customer[0] == 403
    assert staff[0] == 200 and staff[1]["tenant"] == "globex"
    _, globex, _ = call(http_event("GET", "/tickets", claims=MALLORY))
    assert [t["id"] for t in globex["items"]] == [ticket["id"]]
    assert call(http_event("GET", path))[0] == 404


def test_update_ticket_related_changes_both_sides() -> None:
    # GIVEN a problem linked to one incident
    first, second = create(INCIDENT), create(INCIDENT)
    problem = create({"type": "problem", "title": "Cause", "description": "d", "related": [first["id"]]})
    # WHEN the link moves to the other incident
    status, updated, _ = call(http_event("PATCH", f"/tickets/{problem['id']}", body={"related": [second["id"]]}))
    # THEN both incidents reflect it
    assert status == 200 and updated["related"] == [second["id"]]
    assert call(http_event("GET", f"/tickets/{first['id']}"))[1]["related"] == []
    assert call(http_event("GET", f"/tickets/{second['id']}"))[1]["related"] == [problem["id"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"status": "sleeping"}, {"title": None}, {"requester": "x"}, {"title": ""}],
    ids=["empty", "bad-status", "null-title", "unknown-field", "empty-title"],
)
def test_update_ticket_invalid_body_is_422(body: dict[str, Any]) -> None:
    ticket = create(QUESTION)
    assert call(http_event("PATCH", f"/tickets/{ticket['id']}", body=body))[0] == 422


def test_update_ticket_bad_if_match_is_422() -> None:
    ticket = create(QUESTION)
    status, error, _ = call(
        http_event("PATCH", f"/tickets/{ticket['id']}", body={"title": "x"}, headers={"If-Match": "yesterday"})
    )
    assert status == 422
    assert error["errors"][0]["field"] == "If-Match"


def test_update_ticket_urgent_on_a_question_is_422() -> None:
    ticket = create(QUESTION)
    assert call(http_event("PATCH", f"/tickets/{ticket['id']}", body={"priority": "urgent"}))[0] == 422


# --- comments and acknowledge -----------------------------------------------------------------


def test_add_comment_shows_on_ticket_in_order() -> None:
    # GIVEN a ticket
    ticket = create(QUESTION)
    path = f"/tickets/{ticket['id']}"
    # WHEN the customer and then staff comment
    first = call(http_event("POST", f"{path}/comments", body={"body": "Any news?"}))
    second = call(
        http_event("POST", f"{path}/comments", body={"body": "Yes, PHP 8.4 is supported."}, claims=ONCALL)
    )
    # THEN both are on the ticket, oldest first, with their authors
    assert first[0] == 201 and second[0] == 201
    _, seen, _ = call(http_event("GET", path))
    assert [c["body"] for c in seen["comments"]] == ["Any news?", "Yes, PHP 8.4 is supported."]
    assert [c["is_support"] for c in seen["comments"]] == [False, True]
    assert seen["comments"][1]["author"]["email"] == "oncall@support.example.com"


def test_add_comment_other_tenant_is_404_and_empty_is_422() -> None:
    ticket = create(QUESTION)
    path = f"/tickets/{ticket['id']}/comments"
    assert call(http_event("POST", path, body={"body": "hi"}, claims=MALLORY))[0] == 404
    assert call(http_event("POST", path, body={"body": ""}))[0] == 422
    assert call(http_event("POST", path, body={"body": "same tenant colleague"}, claims=BOB))[0] == 201


def test_acknowledge_by_staff_sets_acknowledged() -> None:
    # GIVEN an urgent incident
    ticket = create(INCIDENT)
    # WHEN on-call acknowledges it (twice: a double click)
    status, acked, _ = call(http_event("POST", f"/tickets/{ticket['id']}/acknowledge", claims=ONCALL))
    again = call(http_event("POST", f"/tickets/{ticket['id']}/acknowledge", claims=ONCALL))
    # THEN it is acknowledged once, with a timestamp
    assert status == 200
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_at"] is not None
    assert again[0] == 200 and again[1]["version"] == acked["version"]


def test_acknowledge_by_customer_is_403_and_other_tenant_404() -> None:
    ticket = create(INCIDENT)
    path = f"/tickets/{ticket['id']}/acknowledge"
    assert call(http_event("POST", path))[0] == 403
    assert call(http_event("POST", path, claims=MALLORY))[0] == 404


def test_acknowledge_closed_ticket_is_409() -> None:
    ticket = create(INCIDENT)
    call(http_event("PATCH", f"/tickets/{ticket['id']}", body={"status": "closed"}))
    assert call(http_event("POST", f"/tickets/{ticket['id']}/acknowledge", claims=ONCALL))[0] == 409


# --- contacts ---------------------------------------------------------------------------------


def test_contacts_staff_register_list_and_delete() -> None:
    # GIVEN staff registering a domain and an address
    domain = call(
        http_event("POST", "/contacts", body={"address": "acme.example", "tenant": "acme"}, claims=ONCALL)
    )
    person = call(
        http_event("POST", "/contacts", body={"address": "Ops@Globex.example", "tenant": "globex"}, claims=ONCALL)
    )
    # WHEN listed, filtered and deleted
    _, everyone, _ = call(http_event("GET", "/contacts", claims=ONCALL))
    _, acme, _ = call(http_event("GET", "/contacts", claims=ONCALL, query={"tenant": "acme"}))
    deleted = call(http_event("DELETE", "/contacts/ops@globex.example", claims=ONCALL))
    missing = call(http_event("DELETE", "/contacts/ops@globex.example", claims=ONCALL))
    # THEN each step does what it says
    assert domain[0] == 201 and person[0] == 201
    assert person[1]["address"] == "ops@globex.example"
    assert sorted(c["address"] for c in everyone["items"]) == ["acme.example", "ops@globex.example"]
    assert [c["address"] for c in acme["items"]] == ["acme.example"]
    assert deleted[0] == 204 and missing[0] == 404


def test_contacts_customer_is_403_and_bad_address_422() -> None:
    assert call(http_event("POST", "/contacts", body={"address": "acme.example", "tenant": "acme"}))[0] == 403
    assert call(http_event("GET", "/contacts"))[0] == 403
    bad = call(
        http_event("POST", "/contacts", body={"address": "not an address", "tenant": "acme"}, claims=ONCALL)
    )
    assert bad[0] == 422


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_document_declares_every_status_the_routes_return() -> None:
    # GIVEN the generated document, fetched without a token
    status, doc, _ = call(http_event("GET", "/openapi.json", claims=None))
    assert status == 200
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    # THEN each route documents the statuses the tests above observe, with the error schema (415 on
    # every body and 503 on every route come from the handler, for all routes alike)
    expected = {
        ("POST", "/tickets"): {"201", "401", "409", "413", "422", "415", "503"},
        ("GET", "/tickets"): {"200", "401", "422", "503"},
        ("GET", "/tickets/{ticket_id}"): {"200", "401", "404", "422", "503"},
        ("PATCH", "/tickets/{ticket_id}"): {"200", "401", "403", "404", "409", "412", "413", "422", "415", "503"},
        ("POST", "/tickets/{ticket_id}/comments"): {"201", "401", "403", "404", "413", "422", "415", "503"},
        ("POST", "/tickets/{ticket_id}/acknowledge"): {"200", "401", "403", "404", "409", "422", "503"},
        ("GET", "/tickets/{ticket_id}/attachments/{number}"): {"200", "401", "404", "422", "503"},
        ("POST", "/tickets/{ticket_id}/attachments"): {"201", "401", "404", "409", "413", "422", "415", "503"},
        ("GET", "/tickets/{ticket_id}/history"): {"200", "401", "404", "422", "503"},
        ("POST", "/contacts"): {"201", "401", "403", "413", "422", "415", "503"},
        ("GET", "/contacts"): {"200", "401", "403", "422", "503"},
        ("DELETE", "/contacts/{address}"): {"204", "401", "403", "404", "422", "503"},
    }
    assert set(ops) == set(expected)
    for key, statuses in expected.items():
        assert set(ops[key]["responses"]) == statuses, key
        error_ref = ops[key]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
        assert error_ref.endswith("/ErrorBody")
    # (only `message` is required: API Gateway's own 401 body, {"message": "Unauthorized"}, must fit)
    error_schema = doc["components"]["schemas"]["ErrorBody"]
    assert error_schema["required"] == ["message"]
    assert set(error_schema["properties"]) == {"message", "errors"}


def test_error_bodies_match_the_documented_schema() -> None:
    # GIVEN errors of every kind
    responses = [
        call(http_event("POST", "/tickets", body=QUESTION, claims=None)),
        call(http_event("GET", "/tickets/INC-000000")),
        call(http_event("POST", "/tickets", body={"type": "nope"})),
    ]
    # THEN each carries a message and a list of field/reason pairs
    for status, body, headers in responses:
        assert 400 <= status < 500
        assert headers["Content-Type"] == "application/json"
        assert isinstance(body["message"], str) and body["message"]
        assert all(set(e) == {"field", "reason"} for e in body["errors"])


def test_unknown_route_is_404() -> None:
    assert call(http_event("GET", "/nope"))[0] == 404


def test_create_ticket_emits_tickets_created_by_type_and_channel(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN / WHEN a dashboard incident is created
    create(INCIDENT)
    # THEN one TicketsCreated count with the type and channel as dimensions (EMF on stdout)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    created = [b for b in blobs if "TicketsCreated" in b]
    assert len(created) == 1
    assert (created[0]["type"], created[0]["channel"], created[0]["TicketsCreated"]) == (
        "incident",
        "dashboard",
        [1.0],
    )
    assert sorted(created[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["channel", "service", "type"]


def test_create_ticket_id_collisions_retry_then_409(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an id generator that keeps drawing an id already taken (30 random bits make this rare)
    taken = create(QUESTION)
    from support_common import tickets

    draws: list[str] = []

    def unlucky(ticket_type: Any) -> str:
        draws.append(taken["id"])
        return taken["id"]

    monkeypatch.setattr(tickets, "new_ticket_id", unlucky)
    # WHEN a ticket is created
    status, error, _ = call(http_event("POST", "/tickets", body=QUESTION))
    # THEN the conditional write refused each draw, the service retried, and the caller gets a 409
    assert status == 409
    assert "try again" in error["message"]
    assert len(draws) == 5
    _, seen, _ = call(http_event("GET", f"/tickets/{taken['id']}"))
    assert seen["version"] == 1


def test_create_ticket_one_collision_is_retried_transparently(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the first draw collides with an existing ticket, the second does not
    taken = create(QUESTION)
    from support_common import tickets

    real = tickets.new_ticket_id
    draws = iter([taken["id"]])
    monkeypatch.setattr(tickets, "new_ticket_id", lambda t: next(draws, None) or real(t))
    # WHEN a ticket is created
    fresh = create(QUESTION)
    # THEN it gets a new id and the existing ticket is untouched
    assert fresh["id"] != taken["id"]
    assert call(http_event("GET", f"/tickets/{taken['id']}"))[1]["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "claims"),
    [
        ("PATCH", "/tickets/QST-000000", ALICE),
        ("POST", "/tickets/QST-000000/comments", ALICE),
        ("POST", "/tickets/QST-000000/attachments", ALICE),
        ("POST", "/contacts", ONCALL),
    ],
)
def test_any_route_huge_body_is_413(method: str, path: str, claims: dict[str, str]) -> None:
    # GIVEN a body over the cap on each route that documents 413
    event = http_event(method, path, body={"body": "x" * 200_000}, claims=claims)
    # WHEN / THEN refused before any work, with the error body
    status, error, _ = call(event)
    assert status == 413
    assert error["errors"][0]["reason"].startswith("the request body is")
