"""The one place that reads the environment."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    """Configuration of a function, read once from its environment."""

    table_name: str = ""
    raw_mail_bucket: str | None = None
    pager_topic_arn: str | None = None
    support_domain: str | None = None
    region: str = "us-east-1"
    # Where links in pages and acknowledgements point (the dashboard).
    dashboard_url: str = "https://support.example.com"
    # The one origin CORS allows (API Gateway answers preflights; this covers the responses).
    dashboard_origin: str = "https://dashboard.example.com"
    ack_timeout_minutes: int = Field(default=15, ge=1)
    max_escalation_level: int = Field(default=3, ge=1)
    scheduler_group: str | None = None
    scheduler_role_arn: str | None = None
    escalate_function_arn: str | None = None
    # Where EventBridge Scheduler sends a re-page it could not deliver (the escalate failure queue).
    escalate_dlq_arn: str | None = None
    ack_sender: str | None = None
    idempotency_ttl_seconds: int = 3600


@cache
def get_settings() -> Settings:
    """Read the settings from the environment, once per process."""
    env = os.environ
    values = {
        "table_name": env.get("TABLE_NAME", ""),
        "raw_mail_bucket": env.get("RAW_MAIL_BUCKET"),
        "pager_topic_arn": env.get("PAGER_TOPIC_ARN"),
        "support_domain": env.get("SUPPORT_DOMAIN"),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "dashboard_url": env.get("DASHBOARD_URL"),
        "dashboard_origin": env.get("DASHBOARD_ORIGIN"),
        "ack_timeout_minutes": env.get("ACK_TIMEOUT_MINUTES"),
        "max_escalation_level": env.get("MAX_ESCALATION_LEVEL"),
        "scheduler_group": env.get("SCHEDULER_GROUP"),
        "scheduler_role_arn": env.get("SCHEDULER_ROLE_ARN"),
        "escalate_function_arn": env.get("ESCALATE_FUNCTION_ARN"),
        "escalate_dlq_arn": env.get("ESCALATE_DLQ_ARN"),
        "ack_sender": env.get("ACK_SENDER"),
    }
    return Settings.model_validate({k: v for k, v in values.items() if v not in (None, "")})
