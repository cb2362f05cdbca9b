"""The one place that creates the Powertools logger, tracer and metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# botocore only: patching every library the X-Ray SDK knows imports them all at cold start.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
