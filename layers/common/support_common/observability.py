"""The one place that creates the Powertools logger, tracer and metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
# botocore only: patching every library the X-Ray SDK knows imports them all at cold start.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit a Count metric with its own dimensions (e.g. TicketsCreated by type and channel)."""
    # single_metric: dimensions of the shared `metrics` object would apply to all its metrics.
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service)},
    ) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)
