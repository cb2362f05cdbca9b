"""Reading AWS errors: the error code, a failed condition, and whether a retry may succeed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# Codes that say "not now" rather than "not this request": throttling, outages, contention.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "TransactionConflictException",
        "TransactionInProgressException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Cancellation reasons of a transaction that say the same of one item.
TRANSIENT_REASONS = frozenset({"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"})
CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"

AWS_ERRORS = (ClientError, BotoCoreError)


class Unprocessed(Exception):
    """DynamoDB kept leaving part of a batch unprocessed: a capacity problem, worth a retry later."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError, else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def condition_failed(exc: BaseException) -> bool:
    """Whether a single conditional write failed its condition."""
    return error_code(exc) == CONDITION_FAILED


def cancellation_reasons(exc: BaseException) -> list[str]:
    """The per-item codes of a cancelled transaction (`None` for items that were fine)."""
    if not isinstance(exc, ClientError) or error_code(exc) != TRANSACTION_CANCELED:
        return []
    reasons: list[Any] = exc.response.get("CancellationReasons") or []
    return [str(r.get("Code") or "None") if isinstance(r, dict) else "None" for r in reasons]


def is_transient(exc: BaseException) -> bool:
    """Whether an AWS failure is worth retrying (throttling, outages, network, contention)."""
    if isinstance(exc, Unprocessed | BotoCoreError):
        return True
    if not isinstance(exc, ClientError):
        return False
    code = error_code(exc)
    if code == TRANSACTION_CANCELED:
        reasons = cancellation_reasons(exc)
        # Cancelled by contention or capacity, not by one of our conditions.
        return any(r in TRANSIENT_REASONS for r in reasons) or not any(r not in ("None", "") for r in reasons)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in TRANSIENT_CODES or status >= 500
