"""Idempotent ticket creation for `Idempotency-Key` (Powertools idempotency on the single table)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from support_common.api import app, create_ticket_out, service
from support_common.api_models import CreateTicketRequest
from support_common.errors import Conflict, InvalidInput
from support_common.models import Identity
from support_common.repository import IDEMPOTENCY_LAYOUT
from support_common.settings import get_settings

# The key is scoped to the caller, so one tenant's key can never replay another tenant's ticket;
# the body is checked, so a reused key with another body is refused instead of replayed.
config = IdempotencyConfig(
    event_key_jmespath="[tenant, email, key]",
    payload_validation_jmespath="body",
    expires_after_seconds=get_settings().idempotency_ttl_seconds,
)


def _create(request: dict[str, Any], identity: Identity) -> dict[str, Any]:
    body = CreateTicketRequest.model_validate(request["body"])
    return create_ticket_out(identity, body).model_dump(mode="json")


@cache
def _idempotent_create() -> Callable[..., dict[str, Any]]:
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        boto3_client=service().repository.client,
        **IDEMPOTENCY_LAYOUT,
    )
    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="request", config=config, persistence_store=persistence
    )(_create)
    return wrapped


def create_once(request: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """Create the ticket for this Idempotency-Key once; later calls return the same ticket."""
    if app.lambda_context is not None:
        # Ties the in-progress lock to this invocation's deadline, so a timed-out try can be retried.
        config.register_lambda_context(app.lambda_context)
    try:
        return _idempotent_create()(request=request, identity=identity)
    except IdempotencyValidationError as exc:
        raise InvalidInput(
            "this Idempotency-Key was already used with a different request body", field="Idempotency-Key"
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("a request with this Idempotency-Key is still in progress; retry shortly") from exc
