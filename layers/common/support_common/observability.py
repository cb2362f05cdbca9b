"""The one place that creates the Powertools logger, tracer and metrics, and the handler recipe."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger()
# botocore only: patching every library the X-Ray SDK knows imports them all at cold start.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

Handler = Callable[[Any, Any], Any]


def entry_point(*, correlation_id_path: str) -> Callable[[Handler], Handler]:
    """The decorators every Lambda handler wears, in one order.

    The logger tags each line with the invocation and a correlation id, metrics are flushed
    once per invocation, and the trace records neither the event nor the response: both hold
    ticket text and addresses, which must not reach X-Ray.
    """

    def decorate(handler: Handler) -> Handler:
        traced = tracer.capture_lambda_handler(handler, capture_response=False)
        measured = metrics.log_metrics(traced)
        logged = logger.inject_lambda_context(
            measured, correlation_id_path=correlation_id_path, log_event=False, clear_state=True
        )
        return functools.wraps(handler)(logged)

    return decorate


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit a Count metric with its own dimensions (e.g. TicketsCreated by type and channel)."""
    if is_metrics_disabled():
        return
    # single_metric: dimensions of the shared `metrics` object would apply to all its metrics. It
    # prints even when POWERTOOLS_METRICS_DISABLED is set (the shared object honours it): check here.
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service)},
    ) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


def measure(name: str, value: float, unit: MetricUnit, **dimensions: str) -> None:
    """Emit one metric with its own dimensions (e.g. TimeToAcknowledge by level and channel)."""
    if is_metrics_disabled():
        return
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service)},
    ) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)
