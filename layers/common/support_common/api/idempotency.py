"""Idempotent ticket creation for `Idempotency-Key` (Powertools idempotency on the single table).

Imported only by requests that carry the header: Powertools' idempotency imports boto3's resource
layer eagerly, which most cold starts need not pay for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from support_common.errors import Conflict, InvalidInput
from support_common.repository.idempotency import IDEMPOTENCY_LAYOUT

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.client import DynamoDBClient

Create = Callable[[dict[str, Any]], dict[str, Any]]


class OnceOnly:
    """Runs a creation once per (tenant, email, key); a retry gets the first answer back."""

    def __init__(self, *, table_name: str, client: DynamoDBClient, ttl_seconds: int) -> None:
        # The key is scoped to the caller, so one tenant's key can never replay another tenant's
        # ticket; the body is checked, so a reused key with another body is refused, not replayed.
        self.config = IdempotencyConfig(
            event_key_jmespath="[tenant, email, key]",
            payload_validation_jmespath="body",
            expires_after_seconds=ttl_seconds,
        )
        layout = IDEMPOTENCY_LAYOUT
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            boto3_client=client,
            key_attr=layout["key_attr"],
            sort_key_attr=layout["sort_key_attr"],
            static_pk_value=layout["static_pk_value"],
            expiry_attr=layout["expiry_attr"],
            status_attr=layout["status_attr"],
            data_attr=layout["data_attr"],
            validation_key_attr=layout["validation_key_attr"],
        )

        def run(request: dict[str, Any], create: Create) -> dict[str, Any]:
            return create(request["body"])

        self._run: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="request", config=self.config, persistence_store=persistence
        )(run)

    def create(self, request: dict[str, Any], create: Create, context: LambdaContext | None) -> dict[str, Any]:
        """`create(request["body"])` once for this request's key; later calls return its result."""
        if context is not None:
            # Ties the in-progress lock to this invocation's deadline, so a timed-out try can be retried.
            self.config.register_lambda_context(context)
        try:
            return self._run(request=request, create=create)
        except IdempotencyValidationError as exc:
            raise InvalidInput(
                "this Idempotency-Key was already used with a different request body", field="Idempotency-Key"
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict("a request with this Idempotency-Key is still in progress; retry shortly") from exc
