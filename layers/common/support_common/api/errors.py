"""How the API reports errors: one table from domain errors to HTTP statuses, one error body."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from support_common.api.models import ErrorBody
from support_common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    SupportError,
    Unauthorized,
)

MAX_BODY_BYTES = 128 * 1024

STATUS: dict[type[SupportError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    PayloadTooLarge: 413,
    InvalidInput: 422,
}


def status_of(exc: SupportError) -> int:
    """The HTTP status that reports a domain error (its closest listed class; else 400)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(message: str, errors: list[dict[str, Any]]) -> str:
    return ErrorBody.model_validate({"message": message, "errors": errors}).model_dump_json()


def error_response(status: int, message: str, errors: list[dict[str, Any]]) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=error_body(message, errors)
    )


def doc(status: int, model: type | None, description: str) -> dict[int, OpenAPIResponse]:
    """One documented response of a route."""
    if model is None:
        return {status: {"description": description}}
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


E401 = doc(401, ErrorBody, "no verified identity (missing or invalid token)")
E403 = doc(403, ErrorBody, "support staff only")
E404 = doc(404, ErrorBody, "no such ticket, or not one of yours")
E409 = doc(409, ErrorBody, "the change conflicts with the ticket's state (e.g. an invalid status transition)")
E412 = doc(412, ErrorBody, "If-Match names an older version of the ticket")
E413 = doc(413, ErrorBody, f"the request body is larger than {MAX_BODY_BYTES} bytes")
E422 = doc(422, ErrorBody, "the request is invalid: each error names a field and the reason")
