"""Who is calling, from the claims API Gateway's JWT authorizer passes on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from support_common.errors import Unauthorized
from support_common.models import Identity

SUPPORT_GROUP = "support"


def parse_groups(raw: Any) -> list[str]:
    """Cognito groups as a list: HTTP APIs pass the array claim as a string like "[support other]"."""
    if isinstance(raw, list):
        return [str(g) for g in raw]
    if not isinstance(raw, str):
        return []
    text = raw.strip().removeprefix("[").removesuffix("]")
    return [g.strip().strip('"') for g in text.replace(",", " ").split() if g.strip().strip('"')]


def identity_from_claims(claims: Mapping[str, Any] | None) -> Identity:
    """Build the caller's identity from JWT claims; raise Unauthorized when they do not name one."""
    if not claims:
        raise Unauthorized("sign in: this request carries no verified identity")
    email = str(claims.get("email") or "").strip().lower()
    tenant = str(claims.get("custom:tenant") or "").strip()
    is_support = SUPPORT_GROUP in parse_groups(claims.get("cognito:groups"))
    if not email:
        raise Unauthorized("the token has no email claim")
    if not tenant and not is_support:
        raise Unauthorized("the token has no custom:tenant claim")
    name = claims.get("name")
    return Identity(
        email=email, tenant=tenant or "support", is_support=is_support, name=str(name) if name else None
    )


def caller(event: APIGatewayProxyEventV2) -> Identity:
    """The identity behind a request, from the JWT authorizer's claims."""
    authorizer = event.request_context.authorizer
    return identity_from_claims(authorizer.jwt_claim if authorizer else None)
