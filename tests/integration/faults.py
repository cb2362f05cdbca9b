"""Faults injected into real botocore clients (moto answers; the hook decides what the caller sees)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore import handlers
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber


def lose_first_answer(client: Any, operation: str) -> list[int]:
    """Let the first `operation` reach AWS and be applied, then make botocore retry it as if its
    answer had been lost (a timeout after the write). Returns the attempt numbers seen."""
    seen: list[int] = []

    def retry_once(attempts: int = 0, **_: Any) -> float | None:
        seen.append(attempts)
        return 0.0 if attempts == 1 else None

    client.meta.events.register(f"needs-retry.{client.meta.service_model.endpoint_prefix}.{operation}", retry_once)
    return seen


def fail_nth(client: Any, operation: str, code: str, *, nth: int = 1, status: int = 400) -> list[str]:
    """Answer the `nth` call of `operation` with an AWS error `code`, before it reaches AWS."""
    calls: list[str] = []
    event = f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}"

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls.append(operation)
        if len(calls) != nth:
            return None
        body = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("https://aws.invalid", status, {}, None), body

    client.meta.events.register(event, answer)
    return calls


def hooks_of(client: Any) -> Callable[[str, Callable[..., Any]], None]:
    return lambda event, fn: client.meta.events.register(event, fn)


# --- the fault matrix: one fault at the Nth call of one operation a function makes ---------------

# Each service's own codes for "slow down" and "broken on our side" (the caller sees them after the
# SDK's own retries gave up: the fault lasts for every attempt of that call).
THROTTLE = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "s3": ("SlowDown", 503),
    "ses": ("Throttling", 400),
    "sns": ("Throttled", 400),
    "scheduler": ("ThrottlingException", 429),
    "secretsmanager": ("ThrottlingException", 400),
}
SERVER_ERROR = {
    "dynamodb": ("InternalServerError", 500),
    "s3": ("InternalError", 500),
    "ses": ("ServiceUnavailable", 503),
    "sns": ("InternalError", 500),
    "scheduler": ("InternalServerException", 500),
    "secretsmanager": ("InternalServiceError", 500),
}
# Operations that change something: only their answer can be lost after they were applied, and
# only between them can a timeout leave half of the work done.
WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
        "PutObject",
        "CopyObject",
        "DeleteObject",
        "PutObjectTagging",
        "SendRawEmail",
        "SendEmail",
        "Publish",
        "PublishBatch",
        "CreateSchedule",
        "DeleteSchedule",
        "UpdateSchedule",
    }
)
# Fault classes: answered before the call reaches AWS, or after AWS applied it.
THROTTLED, CONFLICT, SERVER, CONNECTION, LOST_ANSWER, TIMEOUT = (
    "throttled",
    "conflict",
    "5xx",
    "connection",
    "lost-answer",
    "timeout",
)
FAULTS = (THROTTLED, CONFLICT, SERVER, CONNECTION, LOST_ANSWER, TIMEOUT)


class LambdaTimeout(BaseException):
    """The function ran out of time: nothing after this point runs (no `except Exception` sees it)."""


def applies(fault: str, service: str, operation: str) -> bool:
    """Whether `fault` can happen to this call on AWS."""
    if fault == CONFLICT:
        # A write that meets another transaction on the same item (a condition of ours failing is
        # not injected: it would be a lie about the table, which the code rightly believes).
        return service == "dynamodb" and operation in {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"}
    if fault in (LOST_ANSWER, TIMEOUT):
        return operation in WRITES
    return True


def _function_on_stack(handlers: dict[str, str]) -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        function = handlers.get(frame.f_globals.get("__name__", ""))
        if function is not None:
            return function
        frame = frame.f_back  # type: ignore[assignment]
    return None


@dataclass(frozen=True)
class Point:
    """Where a fault strikes: the `nth` call of `service:operation` made by `function`."""

    function: str
    service: str
    operation: str
    nth: int
    fault: str

    @property
    def id(self) -> str:
        return f"{self.service}.{self.operation}#{self.nth}-{self.fault}"


@dataclass
class Injector:
    """Every botocore client made from `install()` on counts the calls each function makes, and
    answers one armed `Point` as AWS would on a bad day.

    Faults before the call (throttled, conflict, 5xx, connection) answer it in AWS's place, so the
    call is never applied. A lost answer lets moto apply the call, then the first attempt times out
    reading the answer: botocore retries it or not, as the client is configured. A timeout lets
    moto apply the call, then the function dies (`LambdaTimeout`) before its next step.
    moto 5.2 ignores a transaction's ClientRequestToken; AWS answers a retry of an applied token with
    success and no second write, and so does the injector for the retry after a lost answer.
    """

    handlers: dict[str, str]
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    order: list[tuple[str, str, str]] = field(default_factory=list)
    armed: Point | None = None
    fired: list[Point] = field(default_factory=list)
    fired_in: set[str] = field(default_factory=set)  # the modules on the stack when it struck
    _current: tuple[str, str, str] | None = None
    paused: bool = False  # the test's own reads of what a user sees: neither counted nor struck
    _striking: bool = False
    _attempts: int = 0
    _applied_tokens: set[str] = field(default_factory=set)

    def install(self) -> None:
        """Hook every botocore session made from now on: count and strike before the call, and wrap
        moto's own send hook (it applies the call) to lose its answer or die after it."""
        handlers.BUILTIN_HANDLERS.append(("before-call", self._before_call))
        index = handlers.BUILTIN_HANDLERS.index(("before-send", botocore_stubber))
        handlers.BUILTIN_HANDLERS[index] = ("before-send", self._send)

    def reset(self, armed: Point | None = None) -> None:
        self.calls.clear()
        self.order.clear()
        self.fired.clear()
        self.fired_in.clear()
        self.armed = armed
        self.paused = False
        self._striking = False

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        self._striking = False
        function = None if self.paused else _function_on_stack(self.handlers)
        if function is None:
            return None
        service = model.service_model.endpoint_prefix
        if service == "email":
            service = "ses"
        call = (function, service, model.name)
        self.calls[call] += 1
        self.order.append(call)
        point = self.armed
        if (
            point is None
            or (point.function, point.service, point.operation) != call
            or point.nth != self.calls[call]
        ):
            return None
        self.fired.append(point)
        frame = sys._getframe(1)
        while frame is not None:
            self.fired_in.add(str(frame.f_globals.get("__name__", "")))
            frame = frame.f_back  # type: ignore[assignment]
        if point.fault in (LOST_ANSWER, TIMEOUT):
            self._striking, self._attempts = True, 0
            return None
        if point.fault == CONNECTION:
            raise EndpointConnectionError(endpoint_url=f"https://{service}.eu-west-1.amazonaws.com")
        code, status = (THROTTLE if point.fault == THROTTLED else SERVER_ERROR)[service]
        body: dict[str, Any] = {"Error": {"Code": code, "Message": "injected"}}
        if point.fault == CONFLICT:
            if model.name == "TransactWriteItems":
                items = json.loads(params.get("body") or b"{}").get("TransactItems", [])
                code, status = "TransactionCanceledException", 400
                reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1)
                body = {"Error": {"Code": code, "Message": "injected"}, "CancellationReasons": reasons}
            else:
                code, status = "TransactionConflictException", 400
                body = {"Error": {"Code": code, "Message": "injected"}}
        body["ResponseMetadata"] = {"HTTPStatusCode": status}
        return AWSResponse("https://aws.invalid", status, {}, None), body

    def _send(self, request: Any, **kwargs: Any) -> Any:
        if not self._striking:
            return botocore_stubber(request=request, **kwargs)
        self._attempts += 1
        point = self.armed
        assert point is not None
        token = _transaction_token(request) if point.operation == "TransactWriteItems" else None
        if self._attempts > 1:
            self._striking = False
            if token is not None and token in self._applied_tokens:
                # AWS: a retry of an applied ClientRequestToken (within ten minutes) succeeds and
                # writes nothing again; moto 5.2 would apply it a second time.
                return AWSResponse(request.url, 200, {}, MockRawResponse(b"{}"))
            return botocore_stubber(request=request, **kwargs)
        response = botocore_stubber(request=request, **kwargs)
        if point.fault == TIMEOUT:
            self._striking = False
            raise LambdaTimeout(point.id)
        if token is not None:
            self._applied_tokens.add(token)
        if response is not None and response.status_code >= 300:
            # Not applied after all (a condition failed): its answer is the answer.
            self._striking = False
            return response
        raise ReadTimeoutError(endpoint_url=request.url)


def _transaction_token(request: Any) -> str | None:
    try:
        return json.loads(request.body or b"{}").get("ClientRequestToken")
    except ValueError:
        return None


# The one injector: installed for the whole run (tests/integration/conftest.py), armed by the matrix.
INJECTOR = Injector(handlers={})
