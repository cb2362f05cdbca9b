"""The ticket routes: create, list, read, change, comment and acknowledge."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from support_common.api.auth import caller
from support_common.api.errors import E401, E403, E404, E409, E412, E413, E422, doc
from support_common.api.models import (
    SLA_DOC,
    CommentOut,
    CommentRequest,
    CreateTicketRequest,
    ErrorBody,
    SlaFilter,
    TicketListOut,
    TicketOut,
    UpdateTicketRequest,
)
from support_common.api.services import services
from support_common.errors import InvalidInput
from support_common.models import Channel, Identity, Priority, Status, TicketType
from support_common.tickets import NewTicket

TICKET_ID_DOC = "a ticket id such as INC-7KQ2XH (case and the look-alikes O/0, I/L/1 are forgiven)"

router = APIGatewayHttpRouter()


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


@router.post(
    "/tickets",
    summary="Open a ticket",
    responses={**doc(201, TicketOut, "the ticket, with a Location header"), **E401, **E409, **E413, **E422},
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
    identity = caller(router.current_event)
    if idempotency_key:
        request = {
            "tenant": identity.tenant,
            "email": identity.email,
            "key": idempotency_key,
            "body": body.model_dump(mode="json"),
        }

        def create(data: dict[str, object]) -> dict[str, object]:
            key = f"{identity.tenant}|{identity.email}|{idempotency_key}"
            return _create(identity, CreateTicketRequest.model_validate(data), key).model_dump(mode="json")

        once = services(router.context).once_only()
        return _ticket_response(201, TicketOut.model_validate(once.create(request, create, router.lambda_context)))
    return _ticket_response(201, _create(identity, body))


def _create(identity: Identity, body: CreateTicketRequest, request_key: str | None = None) -> TicketOut:
    """Create a dashboard ticket and return it as the API shows it."""
    draft = NewTicket(
        type=body.type,
        title=body.title,
        description=body.description,
        priority=body.priority,
        environment=body.environment,
        related=body.related,
    )
    created = services(router.context).tickets.create(
        identity, draft, channel=Channel.DASHBOARD, request_key=request_key
    )
    return TicketOut.of(created)


@router.get(
    "/tickets",
    summary="List tickets, newest first; with sla=running or due_soon, the earliest due first",
    responses={**doc(200, TicketListOut, "one page of tickets"), **E401, **E422},
)
def list_tickets(
    type: Annotated[TicketType | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    tenant: Annotated[str | None, Query(max_length=63, description="support staff: one tenant only")] = None,
    sla: Annotated[SlaFilter | None, Query(description=SLA_DOC)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> TicketListOut:
    page = services(router.context).tickets.list(
        caller(router.current_event),
        type=type,
        status=status,
        priority=priority,
        tenant=tenant,
        sla=sla.value if sla else None,
        limit=limit,
        next_token=next_token,
    )
    return TicketListOut(items=[TicketOut.of(t) for t in page.items], next_token=page.next_token)


@router.get(
    "/tickets/<ticket_id>",
    summary="One ticket with its comments",
    responses={**doc(200, TicketOut, "the ticket"), **E401, **E404, **E422},
)
def get_ticket(ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)]) -> Response[TicketOut]:
    # The comments come filtered for the caller: a customer's read never includes internal notes.
    ticket, comments = services(router.context).attachments.view(caller(router.current_event), ticket_id)
    return _ticket_response(200, TicketOut.of(ticket, comments))


@router.patch(
    "/tickets/<ticket_id>",
    summary="Change a ticket",
    responses={
        **doc(200, TicketOut, "the changed ticket"),
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
    ticket = services(router.context).tickets.update(
        caller(router.current_event), ticket_id, changes, if_match=parse_if_match(if_match)
    )
    return _ticket_response(200, TicketOut.of(ticket))


@router.post(
    "/tickets/<ticket_id>/comments",
    summary="Comment on a ticket: a public staff reply is mailed to the requester; internal notes are staff only",
    responses={
        **doc(201, CommentOut, "the comment"),
        **E401,
        **doc(403, ErrorBody, "only support staff may post an internal note"),
        **E404,
        **E413,
        **E422,
    },
)
def add_comment(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
    body: Annotated[CommentRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            max_length=200,
            description="a retry with the same key returns the same comment instead of a second one",
        ),
    ] = None,
) -> Response[CommentOut]:
    identity = caller(router.current_event)
    comment = services(router.context).tickets.comment(
        identity,
        ticket_id,
        body.body,
        channel=Channel.DASHBOARD,
        visibility=body.visibility,
        request_key=f"{identity.tenant}|{identity.email}|{idempotency_key}" if idempotency_key else None,
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=CommentOut.of(comment),
        headers={"Location": f"/tickets/{comment.ticket_id}"},
    )


@router.post(
    "/tickets/<ticket_id>/acknowledge",
    summary="Acknowledge a ticket (support staff): stops re-paging",
    responses={**doc(200, TicketOut, "the acknowledged ticket"), **E401, **E403, **E404, **E409, **E422},
)
def acknowledge_ticket(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
) -> Response[TicketOut]:
    ticket = services(router.context).tickets.acknowledge(caller(router.current_event), ticket_id)
    return _ticket_response(200, TicketOut.of(ticket))
