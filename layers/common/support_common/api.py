"""The dashboard's HTTP API: routes, identity, errors and the OpenAPI document."""

from __future__ import annotations

import base64
import re
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from support_common.api_models import (
    CommentOut,
    CommentRequest,
    ContactListOut,
    ContactOut,
    ContactRequest,
    CreateTicketRequest,
    ErrorBody,
    TicketListOut,
    TicketOut,
    UpdateTicketRequest,
)
from support_common.auth import identity_from_claims
from support_common.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, SupportError
from support_common.models import Channel, Contact, Identity, Priority, Status, TicketType, utcnow
from support_common.observability import logger
from support_common.settings import get_settings
from support_common.tickets import NewTicket, TicketService

MAX_BODY_BYTES = 128 * 1024
TICKET_ID_DOC = "a ticket id such as INC-7KQ2XH (case and the look-alikes O/0, I/L/1 are forgiven)"


def _doc(status: int, model: type | None, description: str) -> dict[int, OpenAPIResponse]:
    if model is None:
        return {status: {"description": description}}
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


E401 = _doc(401, ErrorBody, "no verified identity (missing or invalid token)")
E403 = _doc(403, ErrorBody, "support staff only")
E404 = _doc(404, ErrorBody, "no such ticket, or not one of yours")
E409 = _doc(409, ErrorBody, "the change conflicts with the ticket's state (e.g. an invalid status transition)")
E412 = _doc(412, ErrorBody, "If-Match names an older version of the ticket")
E413 = _doc(413, ErrorBody, f"the request body is larger than {MAX_BODY_BYTES} bytes")
E422 = _doc(422, ErrorBody, "the request is invalid: each error names a field and the reason")


app = APIGatewayHttpResolver(
    enable_validation=True,
    cors=CORSConfig(
        # API Gateway answers preflights itself with the template's CORS settings; these headers
        # cover the actual responses. The origin comes from the deployment (DashboardOrigin).
        allow_origin=get_settings().dashboard_origin,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
        expose_headers=["Location", "ETag"],
        max_age=600,
    ),
)
app.configure_openapi(
    title="Support desk API",
    version="1.0.0",
    summary="Tickets for incidents, problems, tasks and questions, from the customer dashboard.",
)


@cache
def service() -> TicketService:
    """The ticket service with its DynamoDB client, built on first use and kept for the process."""
    import boto3  # imported here: the module stays importable without touching AWS

    from support_common.repository import TicketRepository

    settings = get_settings()
    return TicketService(TicketRepository(settings.table_name, boto3.client("dynamodb")))


def caller() -> Identity:
    """The identity behind the current request, from the JWT authorizer's claims."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.jwt_claim if authorizer else None
    return identity_from_claims(claims)


def _error_response(status: int, message: str, errors: list[dict[str, Any]]) -> Response:
    body = ErrorBody.model_validate({"message": message, "errors": errors})
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body.model_dump_json())


@app.exception_handler(SupportError)
def _support_error(exc: SupportError) -> Response:
    logger.info("request refused", status=exc.status, reason=exc.message, field=exc.field)
    return _error_response(exc.status, exc.message, [{"field": exc.field, "reason": exc.message}])


@app.exception_handler(RequestValidationError)
def _validation_error(exc: RequestValidationError) -> Response:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(loc) or None, "reason": str(err.get("msg") or err.get("type"))})
    logger.info("request invalid", fields=[e["field"] for e in errors])
    return _error_response(422, "the request is invalid", errors)


@app.not_found
def _route_not_found(exc: Exception) -> Response:
    return _error_response(404, "no such route", [{"field": None, "reason": "no such route"}])


def _ticket_response(status: int, out: TicketOut) -> Response[TicketOut]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=out,
        headers={"Location": f"/tickets/{out.id}", "ETag": f'"{out.version}"'},
    )


def parse_if_match(raw: str | None) -> int | None:
    """The version named by If-Match: `3`, `"3"` or `W/"3"`; None for absent or `*`."""
    if raw is None or raw.strip() in ("", "*"):
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,12})"?\s*', raw)
    if not match:
        raise InvalidInput("If-Match must be the ticket's version number, e.g. 3", field="If-Match")
    return int(match.group(1))


@app.post(
    "/tickets",
    summary="Open a ticket",
    responses={**_doc(201, TicketOut, "the ticket, with a Location header"), **E401, **E409, **E413, **E422},
)
def create_ticket(
    body: Annotated[CreateTicketRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            max_length=200,
            description="a retry with the same key returns the same ticket instead of a second one",
        ),
    ] = None,
) -> Response[TicketOut]:
    identity = caller()
    if idempotency_key:
        from support_common.idempotency import create_once  # only requests that ask pay its import

        data = create_once(
            request={
                "tenant": identity.tenant,
                "email": identity.email,
                "key": idempotency_key,
                "body": body.model_dump(mode="json"),
            },
            identity=identity,
        )
        return _ticket_response(201, TicketOut.model_validate(data))
    return _ticket_response(201, create_ticket_out(identity, body))


def create_ticket_out(identity: Identity, body: CreateTicketRequest) -> TicketOut:
    """Create a dashboard ticket and return it as the API shows it."""
    draft = NewTicket(
        type=body.type,
        title=body.title,
        description=body.description,
        priority=body.priority,
        environment=body.environment,
        related=body.related,
    )
    return TicketOut.of(service().create(identity, draft, channel=Channel.DASHBOARD))


@app.get(
    "/tickets",
    summary="List tickets, newest first",
    responses={**_doc(200, TicketListOut, "one page of tickets"), **E401, **E422},
)
def list_tickets(
    type: Annotated[TicketType | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    tenant: Annotated[str | None, Query(max_length=63, description="support staff: one tenant only")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> TicketListOut:
    page = service().list(
        caller(), type=type, status=status, priority=priority, tenant=tenant, limit=limit, next_token=next_token
    )
    return TicketListOut(items=[TicketOut.of(t) for t in page.items], next_token=page.next_token)


@app.get(
    "/tickets/<ticket_id>",
    summary="One ticket with its comments",
    responses={**_doc(200, TicketOut, "the ticket"), **E401, **E404, **E422},
)
def get_ticket(ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)]) -> Response[TicketOut]:
    ticket, comments = service().get(caller(), ticket_id)
    return _ticket_response(200, TicketOut.of(ticket, comments))


@app.patch(
    "/tickets/<ticket_id>",
    summary="Change a ticket",
    responses={
        **_doc(200, TicketOut, "the changed ticket"),
        **E401,
        **E403,
        **E404,
        **E409,
        **E412,
        **E413,
        **E422,
    },
)
def update_ticket(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
    body: Annotated[UpdateTicketRequest, Body()],
    if_match: Annotated[
        str | None, Header(alias="if-match", max_length=40, description="the version you read; 412 if stale")
    ] = None,
) -> Response[TicketOut]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    svc = service()
    ticket = svc.update(caller(), ticket_id, changes, if_match=parse_if_match(if_match))
    return _ticket_response(200, TicketOut.of(ticket))


@app.post(
    "/tickets/<ticket_id>/comments",
    summary="Comment on a ticket",
    responses={**_doc(201, CommentOut, "the comment"), **E401, **E404, **E413, **E422},
)
def add_comment(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
    body: Annotated[CommentRequest, Body()],
) -> Response[CommentOut]:
    comment = service().comment(caller(), ticket_id, body.body, channel=Channel.DASHBOARD)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=CommentOut.of(comment),
        headers={"Location": f"/tickets/{comment.ticket_id}"},
    )


@app.post(
    "/tickets/<ticket_id>/acknowledge",
    summary="Acknowledge a ticket (support staff): stops re-paging",
    responses={**_doc(200, TicketOut, "the acknowledged ticket"), **E401, **E403, **E404, **E409, **E422},
)
def acknowledge_ticket(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
) -> Response[TicketOut]:
    ticket = service().acknowledge(caller(), ticket_id)
    return _ticket_response(200, TicketOut.of(ticket))


def _staff() -> Identity:
    identity = caller()
    if not identity.is_support:
        raise Forbidden("only support staff can manage contacts")
    return identity


@app.post(
    "/contacts",
    summary="Register an address or a domain as a tenant's contact (support staff)",
    description="Mail from a contact that passes SPF or DKIM files into the contact's tenant and may page.",
    responses={**_doc(201, ContactOut, "the contact"), **E401, **E403, **E413, **E422},
)
def put_contact(body: Annotated[ContactRequest, Body()]) -> Response[ContactOut]:
    identity = _staff()
    contact = Contact(
        address=body.address.lower(),
        tenant=body.tenant,
        name=body.name,
        created_at=utcnow(),
        created_by=identity.email,
    )
    service().repository.put_contact(contact)
    logger.info("contact registered", tenant=contact.tenant)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=ContactOut.of(contact),
    )


@app.get(
    "/contacts",
    summary="List contacts (support staff)",
    responses={**_doc(200, ContactListOut, "the contacts"), **E401, **E403, **E422},
)
def list_contacts(tenant: Annotated[str | None, Query(max_length=63)] = None) -> ContactListOut:
    _staff()
    return ContactListOut(items=[ContactOut.of(c) for c in service().repository.list_contacts(tenant)])


@app.delete(
    "/contacts/<address>",
    summary="Remove a contact (support staff)",
    responses={**_doc(204, None, "removed"), **E401, **E403, **E404, **E422},
)
def delete_contact(address: Annotated[str, Path(max_length=254)]) -> Response[None]:
    _staff()
    if not service().repository.delete_contact(address.lower()):
        raise NotFound(f"no contact {address}")
    return Response(status_code=204)


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema()
    )


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one API Gateway HTTP API (payload 2.0) request."""
    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if size > MAX_BODY_BYTES:
        too_large = PayloadTooLarge(f"the request body is {size} bytes; the limit is {MAX_BODY_BYTES}")
        return {
            "statusCode": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "headers": {"Content-Type": "application/json"},
            "body": ErrorBody.model_validate(
                {"message": too_large.message, "errors": [{"field": None, "reason": too_large.message}]}
            ).model_dump_json(),
        }
    if event.get("isBase64Encoded") and body:
        event = {**event, "body": base64.b64decode(body).decode("utf-8", "replace"), "isBase64Encoded": False}
    return app.resolve(event, context)
