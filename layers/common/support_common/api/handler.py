"""The intake function (functions/intake): the dashboard's HTTP API, and its wiring."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from pydantic import Field

from support_common.api.services import OnCallDesk, Services
from support_common.attachments import AttachmentService, TicketFiles
from support_common.aws_errors import error_code, is_transient
from support_common.contacts import ContactService
from support_common.errors import SupportError
from support_common.observability import entry_point, logger
from support_common.repository.contacts import ContactStore
from support_common.repository.table import Table
from support_common.repository.tickets import TicketStore
from support_common.repository.uploads import UploadStore
from support_common.settings import FunctionSettings, SlaSettings, load_settings
from support_common.tickets import TicketService

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3.client import S3Client

    from support_common.api.idempotency import OnceOnly

entry = entry_point(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)


class ApiSettings(FunctionSettings, SlaSettings):
    """The intake function's environment."""

    # The one origin CORS allows (API Gateway answers preflights; this covers the responses).
    dashboard_origin: str = Field(alias="DASHBOARD_ORIGIN", min_length=1)
    idempotency_ttl_seconds: int = Field(default=3600, alias="IDEMPOTENCY_TTL_SECONDS", ge=60)
    # The key of the pages' acknowledgement links, and PagerDuty's webhook signing secret.
    ack_secret_arn: str = Field(alias="ACK_SECRET_ARN", min_length=1)
    pagerduty_webhook_secret_arn: str = Field(alias="PAGERDUTY_WEBHOOK_SECRET_ARN", min_length=1)
    # Where tickets' files are (the raw-mail bucket, under tickets/<id>/).
    raw_mail_bucket: str = Field(alias="RAW_MAIL_BUCKET", min_length=1)


@dataclass(frozen=True)
class Wiring:
    settings: ApiSettings
    services: Services
    app: APIGatewayHttpResolver


def build_app(origin: str) -> APIGatewayHttpResolver:
    """The resolver with every route, the error handlers and the OpenAPI document."""
    # Here, on the first request, not at import: the resolver, the routes, the API's models and the
    # OpenAPI models are most of this function's cold start (BENCHMARKS.md, "Cold start").
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from support_common.api import ack, contacts, conversation, pagerduty, tickets
    from support_common.api.errors import error_response, status_of

    app = APIGatewayHttpResolver(
        enable_validation=True,
        cors=CORSConfig(
            allow_origin=origin,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
            expose_headers=["Location", "ETag"],
            max_age=600,
        ),
    )
    app.configure_openapi(
        title="Support desk API",
        version="1.0.0",
        summary="Tickets for incidents, problems, tasks and questions, from the customer dashboard.",
        # Every route needs the user pool's ID token unless it says otherwise (security: []).
        security_schemes={
            "cognito": HTTPBearer(
                bearerFormat="JWT",
                description="the Cognito user pool's ID token (claims email, custom:tenant, cognito:groups)",
            )
        },
        security=[{"cognito": []}],
    )
    app.include_router(tickets.router)
    app.include_router(conversation.router)
    app.include_router(contacts.router)
    app.include_router(ack.router)
    app.include_router(pagerduty.router)

    @app.exception_handler(SupportError)
    def _support_error(exc: SupportError) -> Response[str]:
        status = status_of(exc)
        logger.info("request refused", status=status, reason=exc.message, field=exc.field)
        return error_response(status, exc.message, [{"field": exc.field, "reason": exc.message}])

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response[str]:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
            errors.append({"field": ".".join(loc) or None, "reason": str(err.get("msg") or err.get("type"))})
        logger.info("request invalid", fields=[e["field"] for e in errors])
        return error_response(422, "the request is invalid", errors)

    @app.exception_handler(Exception)
    def _aws_unavailable(exc: Exception) -> Response[str]:
        # Throttling or an outage is nobody's input: say "retry", never a bare 500.
        if not (is_transient(exc) or (exc.__cause__ is not None and is_transient(exc.__cause__))):
            raise exc
        logger.warning("request deferred", reason="aws-unavailable", error=error_code(exc))
        response = error_response(
            503, "the service is busy; retry in a moment", [{"field": None, "reason": "busy"}]
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.not_found
    def _route_not_found(exc: Exception) -> Response[str]:
        return error_response(404, "no such route", [{"field": None, "reason": "no such route"}])

    # A lambda, not an annotated def: the resolver resolves a route's annotations in this module's
    # globals, and the Powertools names are imported in this function only.
    app.get("/openapi.json", include_in_schema=False)(
        lambda: Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app))
    )

    return app


def openapi_document(app: APIGatewayHttpResolver) -> str:
    """The OpenAPI document, with the answers every route may give that no route declares itself:
    415 for a body that is not JSON, 503 when AWS is throttling or down (see `handle`)."""
    doc = json.loads(app.get_openapi_json_schema())
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for methods in doc.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("415", {"description": "the body is not application/json", "content": error})
            responses.setdefault(
                "503", {"description": "AWS is busy or down: retry (Retry-After)", "content": error}
            )
    return json.dumps(doc)


@cache
def wiring() -> Wiring:
    """Settings, clients, services and the resolver: built on the first request, kept for the process."""
    import boto3  # here, not at import: the module stays importable without AWS
    from botocore.config import Config

    settings = load_settings(ApiSettings)
    # A dashboard request should answer or fail within seconds, not sit in long back-offs.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    client = boto3.client("dynamodb", region_name=settings.region, config=config)
    table = Table(settings.table_name, client)

    @cache
    def once_only() -> OnceOnly:
        from support_common.api.idempotency import OnceOnly  # only requests with the header pay its import

        return OnceOnly(
            table_name=settings.table_name, client=client, ttl_seconds=settings.idempotency_ttl_seconds
        )

    @cache
    def s3() -> S3Client:
        # SigV4 with the region, and the bucket's regional host (`<bucket>.s3.<region>.amazonaws.com`,
        # us-east-1 too): the host the dashboard's Content-Security-Policy lets the browser reach.
        # Botocore's default is the global host, which the CSP refuses and newer regions do not serve.
        regional = Config(
            signature_version="s3v4", s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}
        )
        return boto3.client("s3", region_name=settings.region, config=config.merge(regional))

    tickets_service = TicketService(TicketStore(table), settings.sla_policy())
    ticket_service = tickets_service

    @cache
    def oncall() -> OnCallDesk:
        # Only page links and PagerDuty's webhook pay for the secrets client and its reads.
        from support_common.oncall import OnCall
        from support_common.pagelinks import PageSigner
        from support_common.repository.limits import RateLimits
        from support_common.secret_store import SecretValue

        secrets_client = cache(lambda: boto3.client("secretsmanager", region_name=settings.region, config=config))
        return OnCallDesk(
            oncall=OnCall(tickets_service),
            signer=PageSigner(SecretValue(secrets_client, settings.ack_secret_arn).key),
            webhook_secret=SecretValue(secrets_client, settings.pagerduty_webhook_secret_arn),
            limits=RateLimits(table),
        )

    services = Services(
        tickets=tickets_service,
        contacts=ContactService(ContactStore(table)),
        attachments=AttachmentService(
            ticket_service, UploadStore(table), TicketFiles(s3, settings.raw_mail_bucket)
        ),
        once_only=once_only,
        oncall=oncall,
    )
    return Wiring(settings=settings, services=services, app=build_app(settings.dashboard_origin))


def reset() -> None:
    """Forget the wiring (tests change the environment between cases)."""
    wiring.cache_clear()


JSON_TYPES = frozenset({"application/json", ""})


def _header(event: dict[str, Any], name: str) -> str:
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if str(k).lower() == name), "")


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one API Gateway HTTP API (payload 2.0) request."""
    from support_common.api.errors import MAX_BODY_BYTES, error_body  # with the resolver, not at import

    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if size > MAX_BODY_BYTES:
        message = f"the request body is {size} bytes; the limit is {MAX_BODY_BYTES}"
        return {
            "statusCode": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "headers": {"Content-Type": "application/json"},
            "body": error_body(message, [{"field": None, "reason": message}]),
        }
    media_type = _header(event, "content-type").partition(";")[0].strip().lower()
    if body and media_type not in JSON_TYPES:
        # Only JSON is read; the validation layer would raise on some other types (a multipart body
        # without a boundary), which must be the caller's 415, never a 500.
        message = "send the body as application/json"
        return {
            "statusCode": HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "headers": {"Content-Type": "application/json"},
            "body": error_body(message, [{"field": "Content-Type", "reason": message}]),
        }
    if event.get("isBase64Encoded") and body:
        event = {**event, "body": base64.b64decode(body).decode("utf-8", "replace"), "isBase64Encoded": False}
    wired = wiring()
    wired.app.append_context(services=wired.services)
    return wired.app.resolve(event, context)
