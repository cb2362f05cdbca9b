"""The contact routes (support staff): which addresses and domains belong to which tenant."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from support_common.api.auth import caller
from support_common.api.errors import E401, E403, E404, E413, E422, doc
from support_common.api.models import ContactListOut, ContactOut, ContactRequest
from support_common.api.services import services

router = APIGatewayHttpRouter()


@router.post(
    "/contacts",
    summary="Register an address or a domain as a tenant's contact (support staff)",
    description="Mail from a contact that passes SPF or DKIM files into the contact's tenant and may page.",
    responses={**doc(201, ContactOut, "the contact"), **E401, **E403, **E413, **E422},
)
def put_contact(body: Annotated[ContactRequest, Body()]) -> Response[ContactOut]:
    contact = services(router.context).contacts.register(
        caller(router.current_event), address=body.address, tenant=body.tenant, name=body.name
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=ContactOut.of(contact))


@router.get(
    "/contacts",
    summary="List contacts (support staff)",
    responses={**doc(200, ContactListOut, "the contacts"), **E401, **E403, **E422},
)
def list_contacts(tenant: Annotated[str | None, Query(max_length=63)] = None) -> ContactListOut:
    found = services(router.context).contacts.list(caller(router.current_event), tenant)
    return ContactListOut(items=[ContactOut.of(c) for c in found])


@router.delete(
    "/contacts/<address>",
    summary="Remove a contact (support staff)",
    responses={**doc(204, None, "removed"), **E401, **E403, **E404, **E422},
)
def delete_contact(address: Annotated[str, Path(max_length=254)]) -> Response[None]:
    services(router.context).contacts.remove(caller(router.current_event), address)
    return Response(status_code=204)
