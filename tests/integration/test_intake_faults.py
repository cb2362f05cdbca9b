"""Ticket creation under faults: an answer lost after the write, an idempotency record left open."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support_common.api import handler as api

from functions.intake.app import lambda_handler
from tests.conftest import FakeLambdaContext, Stores
from tests.integration.apigw import ALICE, http_event
from tests.integration.faults import fail_nth, lose_first_answer

pytestmark = pytest.mark.usefixtures("table")

QUESTION = {"type": "question", "title": "Can we get a staging copy?", "description": "For load tests."}
URGENT = {
    "type": "incident",
    "priority": "urgent",
    "title": "Checkout down",
    "description": "502 on every checkout",
    "environment": "production",
}


def call(event: dict[str, Any]) -> tuple[int, Any]:
    resp = lambda_handler(event, FakeLambdaContext())
    return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None


def tickets_of(stores: Stores, tenant: str = "acme") -> list[str]:
    from support_common.repository.tickets import TicketFilter

    return [t.id for t in stores.tickets.list(TicketFilter(tenant=tenant), limit=100, next_token=None).items]


@pytest.mark.parametrize("body", [QUESTION, {**QUESTION, "related": []}, URGENT])
def test_create_put_applied_but_answer_lost_makes_one_ticket(body: dict[str, Any], stores: Stores) -> None:
    # GIVEN the ticket write reaches DynamoDB and is applied, but its answer is lost, so botocore retries it
    client = api.wiring().services.tickets.store.table.client
    attempts = lose_first_answer(client, "PutItem")

    # WHEN the customer creates the ticket
    status, ticket = call(http_event("POST", "/tickets", body=body))

    # THEN the retry recognises its own write: a 201, and exactly one ticket
    assert attempts[:2] == [1, 2]
    assert status == 201
    assert tickets_of(stores) == [ticket["id"]]


def test_create_with_key_after_lost_idempotency_record_returns_the_same_ticket(stores: Stores) -> None:
    # GIVEN a keyed create whose ticket is written but whose idempotency record cannot be completed
    headers = {"Idempotency-Key": "9b2e-after-timeout"}
    once = api.wiring().services.once_only()
    client = once.config and api.wiring().services.tickets.store.table.client
    fail_nth(client, "UpdateItem", "ThrottlingException", nth=1)
    first_status, _ = call(http_event("POST", "/tickets", body=URGENT, headers=headers))
    [written] = tickets_of(stores)
    # AND the in-progress record is gone by the time the browser retries (its window has passed)
    for item in client.scan(TableName=stores.table.name)["Items"]:
        if item["pk"]["S"].startswith("IDEMPOTENCY#"):
            client.delete_item(TableName=stores.table.name, Key={"pk": item["pk"], "sk": item["sk"]})

    # WHEN the browser retries with the same key
    status, again = call(http_event("POST", "/tickets", body=URGENT, headers=headers))

    # THEN the first try failed visibly, the retry returns the ticket it wrote, and there is one ticket
    assert first_status == 503
    assert status == 201
    assert again["id"] == written
    assert tickets_of(stores) == [written]


def test_create_throttled_beyond_retries_is_a_visible_failure_and_a_retry_completes(stores: Stores) -> None:
    # GIVEN DynamoDB throttling every attempt of the first create (the SDK gives up)
    client = api.wiring().services.tickets.store.table.client
    for nth in (1, 2, 3):
        fail_nth(client, "PutItem", "ProvisionedThroughputExceededException", nth=nth)

    # WHEN the customer creates, then retries
    first_status, _ = call(http_event("POST", "/tickets", body=QUESTION, claims=ALICE))
    status, ticket = call(http_event("POST", "/tickets", body=QUESTION, claims=ALICE))

    # THEN the first answer is a failure (never a false 201) and the retry makes exactly one ticket
    assert first_status == 503
    assert status == 201
    assert tickets_of(stores) == [ticket["id"]]


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "text/plain", "application/x-www-form-urlencoded"]
)
def test_create_body_not_json_is_415_never_500(content_type: str, stores: Stores) -> None:
    # GIVEN a body of another media type (a multipart one without its boundary, say)
    event = http_event("POST", "/tickets", raw_body="--x\r\n", headers={"content-type": content_type})

    # WHEN it is sent
    status, error = call(event)

    # THEN a 415 with the documented error body, and no ticket
    assert status == 415
    assert error["errors"][0]["field"] == "Content-Type"
    assert tickets_of(stores) == []


def test_create_whitespace_title_is_refused_like_patch() -> None:
    # GIVEN a title of spaces only
    status, error = call(http_event("POST", "/tickets", body={**QUESTION, "title": "   "}))

    # THEN the same rule as PATCH: a 422 on the title
    assert status == 422
    assert error["errors"][0]["field"] == "title"


def test_openapi_document_declares_the_bearer_token_and_the_changes_rule() -> None:
    # GIVEN the document the API serves
    status, doc = call(http_event("GET", "/openapi.json", claims=None))

    # THEN it says every route needs the ID token, and that a PATCH needs a field, none of them null
    # but environment
    assert status == 200
    assert doc["components"]["securitySchemes"]["cognito"]["scheme"] == "bearer"
    assert doc["security"] == [{"cognito": []}]
    changes = doc["components"]["schemas"]["UpdateTicketRequest"]
    assert changes["minProperties"] == 1
    assert "anyOf" not in changes["properties"]["status"]
    assert {"type": "null"} in changes["properties"]["environment"]["anyOf"]


def test_openapi_document_declares_415_on_bodies_and_503_everywhere() -> None:
    # GIVEN the document the API serves
    _, doc = call(http_event("GET", "/openapi.json", claims=None))

    # THEN every operation declares the 503, and every operation with a body the 415
    operations = [op for methods in doc["paths"].values() for op in methods.values()]
    assert operations
    assert all("503" in op["responses"] for op in operations)
    assert all("415" in op["responses"] for op in operations if "requestBody" in op)
    assert "415" not in doc["paths"]["/tickets"]["get"]["responses"]
