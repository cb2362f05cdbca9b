"""The pipeline's Lambda functions, run in-process and imported lazily.

A function whose module does not exist yet (or fails to import) is *not available*: the part that
feeds it logs so and carries on, and the import is tried again on the next event, so a function
that lands while the stack runs is picked up without a restart.
"""

from __future__ import annotations

import importlib
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local import cfn, logs

Handler = Callable[[Any, Any], Any]

# One invocation at a time in the whole process. The functions share module state that Lambda
# never shares between concurrent invocations (Powertools' logger keys, cached boto3 clients,
# whose creation is not thread-safe): serialising them keeps each invocation as isolated as on
# AWS and its log lines tagged with the right function. Locally, throughput does not matter.
_INVOKE_LOCK = threading.Lock()


class FunctionNotAvailable(RuntimeError):
    """The function's module or handler cannot be imported (not written yet, or broken)."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: _uuid())
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16)
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _uuid() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"


class LocalFunction:
    """One function of the template: where its handler lives and how to call it like Lambda does."""

    def __init__(self, folder: str, region: str) -> None:
        self.folder = folder
        self.logical_id = cfn.function_by_code_uri(folder)
        props = cfn.resource(self.logical_id) if self.logical_id else {}
        globals_ = cfn.template().get("Globals", {}).get("Function", {})
        handler = str(props.get("Handler") or "app.lambda_handler")
        module, _, attr = handler.rpartition(".")
        self.module = f"functions.{folder}.{module}"
        self.attr = attr
        self.name = f"support-desk-{folder.replace('_', '-')}"
        self.arn = f"arn:aws:lambda:{region}:{cfn.ACCOUNT_ID}:function:{self.name}"
        self.timeout = int(props.get("Timeout") or globals_.get("Timeout") or 3)
        self.memory = int(props.get("MemorySize") or globals_.get("MemorySize") or 128)
        self._handler: Handler | None = None
        self._lock = threading.Lock()
        self._reported: str | None = None

    def rename(self, name: str, region: str) -> None:
        """Use the template's FunctionName (resolved locally): schedules and ARNs in the environment name it."""
        self.name = name
        self.arn = f"arn:aws:lambda:{region}:{cfn.ACCOUNT_ID}:function:{name}"

    @property
    def in_template(self) -> bool:
        return self.logical_id is not None

    def handler(self) -> Handler:
        """Import the handler (once it works); raise FunctionNotAvailable while it does not."""
        with self._lock:
            if self._handler is not None:
                return self._handler
            try:
                module = importlib.import_module(self.module)
                found = getattr(module, self.attr)
            except Exception as exc:  # ImportError, SyntaxError, a failing module body...
                reason = f"{type(exc).__name__}: {exc}"
                if reason != self._reported:
                    # Once per distinct reason: a missing module must not flood the log every 250 ms.
                    self._reported = reason
                    logs.get("local").warning(
                        "%s is not available (%s.%s): %s", self.folder, self.module, self.attr, reason
                    )
                raise FunctionNotAvailable(reason) from exc
            if self._reported is not None:
                logs.get("local").info("%s is available now", self.folder)
            self._handler = found
            return found

    def available(self) -> bool:
        try:
            self.handler()
        except FunctionNotAvailable:
            return False
        return True

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory,
            timeout_seconds=self.timeout,
        )

    def invoke(self, event: Any) -> Any:
        """Call the handler as Lambda would; its exceptions propagate (the caller decides on retries)."""
        handler = self.handler()
        with _INVOKE_LOCK:
            return self._timed(handler, event)

    def _timed(self, handler: Handler, event: Any) -> Any:
        started = time.monotonic()
        try:
            return handler(event, self.context())
        finally:
            elapsed = time.monotonic() - started
            if elapsed > self.timeout:
                # Lambda would have killed it: say so, the deployed function would have failed.
                logs.get("local").warning("%s ran %.1fs, over its %ds timeout", self.folder, elapsed, self.timeout)


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()
