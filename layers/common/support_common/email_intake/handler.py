"""The email_ingest function (functions/email_ingest): SES receipt events, and their wiring."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import Field

from support_common.email_intake.acknowledgement import Acknowledger
from support_common.email_intake.flow import EmailIntake
from support_common.email_intake.page_replies import PageReplies
from support_common.email_intake.storage import MailBucket
from support_common.observability import entry_point
from support_common.oncall import OnCall
from support_common.pagelinks import PageSigner
from support_common.repository.limits import RateLimits
from support_common.repository.messages import MailStore
from support_common.repository.outbound import OutboundStore
from support_common.repository.table import Table
from support_common.repository.tickets import TicketStore
from support_common.secret_store import SecretValue
from support_common.settings import FunctionSettings, SlaSettings, load_settings
from support_common.tickets import TicketService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_ses.client import SESClient

entry = entry_point(correlation_id_path="Records[0].ses.mail.messageId")


class EmailSettings(FunctionSettings, SlaSettings):
    """The email_ingest function's environment."""

    raw_mail_bucket: str = Field(alias="RAW_MAIL_BUCKET", min_length=1)
    support_domain: str = Field(alias="SUPPORT_DOMAIN", min_length=1)
    # The display name of automatic replies; they come from the address the customer wrote to.
    sender_name: str = Field(default="Support", alias="MAIL_SENDER_NAME", min_length=1)
    # Where links in acknowledgements point (the dashboard).
    dashboard_url: str = Field(alias="DASHBOARD_URL", min_length=1)
    # Reply codes of pages are checked with the key of their links.
    ack_secret_arn: str = Field(alias="ACK_SECRET_ARN", min_length=1)
    # Besides SUPPORT_DOMAIN, the domains of staff addresses (comma-separated) that may ACK a page.
    staff_mail_domains: str = Field(default="", alias="STAFF_MAIL_DOMAINS")


@dataclass(frozen=True)
class Wiring:
    settings: EmailSettings
    intake: EmailIntake


@cache
def wiring() -> Wiring:
    """Settings, clients and the intake: built on the first event, kept for the process."""
    import boto3  # here, not at import: the module stays importable without AWS
    from botocore.config import Config

    settings = load_settings(EmailSettings)
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=20)
    table = Table(settings.table_name, boto3.client("dynamodb", region_name=settings.region, config=config))
    messages = MailStore(table)

    @cache
    def ses() -> SESClient:
        # Built on the first acknowledgement only: most cold starts never send one. No SDK retry:
        # SendRawEmail is not idempotent, so a send whose answer was lost would go twice.
        once = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        return boto3.client("ses", region_name=settings.region, config=once)

    @cache
    def secrets_client() -> SecretsManagerClient:
        return boto3.client("secretsmanager", region_name=settings.region, config=config)

    tickets = TicketService(TicketStore(table), settings.sla_policy())
    page_replies = PageReplies(
        oncall=OnCall(tickets),
        signer=PageSigner(SecretValue(secrets_client, settings.ack_secret_arn).key),
        staff_domains=[settings.support_domain, *settings.staff_mail_domains.split(",")],
    )
    intake = EmailIntake(
        tickets=tickets,
        messages=messages,
        bucket=MailBucket(
            boto3.client("s3", region_name=settings.region, config=config), settings.raw_mail_bucket
        ),
        acknowledger=Acknowledger(
            ses=ses,
            limits=RateLimits(table),
            messages=messages,
            outbound=OutboundStore(table),
            sender_name=settings.sender_name,
            region=settings.region,
            dashboard_url=settings.dashboard_url,
        ),
        support_domain=settings.support_domain,
        page_replies=page_replies,
    )
    return Wiring(settings=settings, intake=intake)


def reset() -> None:
    """Forget the wiring (tests change the environment between cases)."""
    wiring.cache_clear()


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """File every message of an SES receipt event.

    Raises when the function cannot run (settings, clients) or AWS itself is unavailable, so that
    Lambda retries the delivery and then parks it in the failure queue.
    """
    return wiring().intake.handle(event)
