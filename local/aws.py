"""The emulated AWS: moto's server in this process, and the template's resources created in it."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from local import cfn, logs, users
from local.s3_cors import BucketCors, template_rules
from local.stack import (
    DEMO_CONTACT_DOMAIN,
    DEMO_CUSTOMER,
    DEMO_SUPPORT,
    DEMO_TENANT,
    SUPPORT_GROUP,
    Stack,
    local_name,
)

log = logs.get("aws")

# The template's resources the local stack creates, by logical id.
TABLE = "TicketsTable"
BUCKET = "RawMailBucket"
PAGER_TOPIC = "PagerTopic"
USER_POOL = "UserPool"
DASHBOARD_CLIENT = "DashboardClient"
SCHEDULE_GROUP = "PagingScheduleGroup"
ALERTS_TOPIC = "AlertsTopic"
STAFF_TOPIC = "StaffTopic"
SECRETS = ("AckSigningSecret", "PagerDutyWebhookSecret")


class AwsEmulator:
    """moto's server on a thread of this process: one process tree, and its backends readable in-process."""

    name = "aws"

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, stack: Stack) -> None:
        from moto.moto_server.werkzeug_app import (  # moto is heavy: import when starting
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from local import dynamodb

        # Before the first request: transactions, streams and queries that hold for days.
        dynamodb.install()
        from moto.moto_server import werkzeug_app

        # S3's CORS comes from the bucket's rules in the template, not from moto's allow-all.
        werkzeug_app.DISABLE_GLOBAL_CORS = True
        app = BucketCors(
            DomainDispatcherApplication(create_backend_app),
            bucket=lambda: stack.names.get("raw_mail_bucket", ""),
            rules=lambda: _bucket_cors_rules(stack),
        )
        # werkzeug answers a taken port with sys.exit: make it the OSError it is.
        try:
            self._server = make_server(
                stack.config.host, stack.config.aws_port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except SystemExit as exc:
            raise OSError(f"port {stack.config.aws_port} is in use") from exc
        port = self._server.server_address[1]
        stack.aws_endpoint_url = f"http://{stack.config.host}:{port}"

        def serve() -> None:
            logs.set_part("aws")
            self._server.serve_forever(poll_interval=0.1)

        self._thread = threading.Thread(target=serve, name="aws", daemon=True)
        self._thread.start()
        log.info("moto server on %s", stack.aws_endpoint_url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def provision(stack: Stack) -> None:
    """Create the template's resources in the emulation and record their local names in `stack`."""
    started = time.monotonic()
    _table(stack)
    _bucket(stack)
    _topic_and_queues(stack)
    _alerts_topic(stack)
    _staff_topic(stack)
    _secrets(stack)
    _user_pool(stack)
    _scheduler_group(stack)
    _ses_identity(stack)
    log.info("resources created from template.yaml in %.2fs", time.monotonic() - started)


def _named(stack: Stack, logical_id: str, props: dict[str, Any], name_key: str) -> str:
    """The template's own name for a resource when it gives one (resolved locally), else a local one."""
    if name_key in props:
        try:
            return str(stack.resolver()(props[name_key]))
        except KeyError:
            pass
    return local_name(logical_id, stack.config.stage)


def _table(stack: Stack) -> None:
    logical_id, props = TABLE, cfn.resource(TABLE)
    name = _named(stack, logical_id, props, "TableName")
    ddb = stack.client("dynamodb")
    cfn.create_table(ddb, logical_id, name)
    described = ddb.describe_table(TableName=name)["Table"]
    stack.refs[logical_id] = name
    stack.attrs[f"{logical_id}.Arn"] = described["TableArn"]
    stack.attrs[f"{logical_id}.StreamArn"] = described.get("LatestStreamArn", "")
    stack.names["table_name"] = name
    stack.names["table_logical_id"] = logical_id
    stack.names["stream_arn"] = described.get("LatestStreamArn", "")
    log.info("table %s (%s, stream %s)", name, logical_id, "on" if described.get("LatestStreamArn") else "off")


def _bucket(stack: Stack) -> None:
    logical_id, props = BUCKET, cfn.resource(BUCKET)
    name = _named(stack, logical_id, props, "BucketName")
    s3 = stack.client("s3")
    if stack.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": stack.region})
    stack.refs[logical_id] = name
    stack.attrs[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
    stack.names["raw_mail_bucket"] = name
    log.info("bucket %s", name)


def _bucket_cors_rules(stack: Stack) -> list[dict[str, Any]]:
    """The bucket's CORS rules with the dashboard's origin the local one (known once the API serves)."""
    web_url = str(stack.info.get("web_url") or "")
    if not web_url:
        return []
    origin = web_url.rstrip("/")
    resolve = cfn.Resolver(
        {"StageName": stack.config.stage, **stack.refs, "DashboardOrigin": origin}, stack.attrs, stack.region
    )
    return template_rules(resolve, BUCKET)


def _topic_and_queues(stack: Stack) -> None:
    # By logical id: the template has two topics (the pager's and the alarms').
    logical_id, props = PAGER_TOPIC, cfn.resource(PAGER_TOPIC)
    name = _named(stack, logical_id, props, "TopicName")
    sns, sqs = stack.client("sns"), stack.client("sqs")
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    stack.refs[logical_id] = topic_arn
    stack.attrs[f"{logical_id}.TopicArn"] = topic_arn
    stack.attrs[f"{logical_id}.TopicName"] = name
    stack.names["pager_topic_arn"] = topic_arn
    # Two subscribed queues: the console consumer empties its own, so the one in stack.json keeps
    # every page for scripts and tests to read.
    for key, queue_name in (("pager_queue_url", f"{name}-pages"), ("console_queue_url", f"{name}-console")):
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        stack.names[key] = url
    log.info("topic %s, subscribed queues %s-pages and %s-console", topic_arn, name, name)


def _alerts_topic(stack: Stack) -> None:
    """The alarms topic (unanswered pages), with a queue of its own for scripts and tests."""
    _topic_with_queue(stack, ALERTS_TOPIC, "alarms", "alerts_queue_url")


def _staff_topic(stack: Stack) -> None:
    """The staff topic (targets about to be missed, and missed), with a queue for scripts and tests."""
    _topic_with_queue(stack, STAFF_TOPIC, "notices", "staff_queue_url")


def _topic_with_queue(stack: Stack, logical_id: str, suffix: str, queue_key: str) -> None:
    name = local_name(logical_id, stack.config.stage)
    sns, sqs = stack.client("sns"), stack.client("sqs")
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    stack.refs[logical_id] = topic_arn
    url = sqs.create_queue(QueueName=f"{name}-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    stack.names[queue_key] = url
    log.info("topic %s, subscribed queue %s-%s", topic_arn, name, suffix)


def _secrets(stack: Stack) -> None:
    """The paging secrets, generated as the template does; the webhook secret goes to stack.json."""
    client = stack.client("secretsmanager")
    for logical_id in SECRETS:
        arn = cfn.create_secret(client, logical_id, local_name(logical_id, stack.config.stage))
        stack.refs[logical_id] = arn
        stack.names[f"{logical_id}_arn"] = arn
    webhook = client.get_secret_value(SecretId=stack.refs["PagerDutyWebhookSecret"])["SecretString"]
    stack.info["pagerduty_webhook_secret"] = webhook
    log.info("secrets %s", ", ".join(SECRETS))


def _user_pool(stack: Stack) -> None:
    pool_logical, props = USER_POOL, cfn.resource(USER_POOL)
    idp = stack.client("cognito-idp")
    pool_name = _named(stack, pool_logical, props, "UserPoolName")
    pool_id = idp.create_user_pool(**cfn.user_pool_definition(pool_logical, pool_name))["UserPool"]["Id"]
    stack.refs[pool_logical] = pool_id
    stack.attrs[f"{pool_logical}.Arn"] = f"arn:aws:cognito-idp:{stack.region}:{cfn.ACCOUNT_ID}:userpool/{pool_id}"
    stack.attrs[f"{pool_logical}.ProviderURL"] = f"cognito-idp.{stack.region}.amazonaws.com/{pool_id}"
    for logical_id, group in cfn.resources_of_type("AWS::Cognito::UserPoolGroup").items():
        idp.create_group(
            UserPoolId=pool_id,
            GroupName=group.get("GroupName", logical_id),
            Description=group.get("Description", ""),
        )
        stack.refs[logical_id] = group.get("GroupName", logical_id)
    client_logical = DASHBOARD_CLIENT
    client_id = idp.create_user_pool_client(**cfn.user_pool_client_definition(client_logical, pool_id))[
        "UserPoolClient"
    ]["ClientId"]
    stack.refs[client_logical] = client_id
    issuer = f"https://cognito-idp.{stack.region}.amazonaws.com/{pool_id}"
    stack.names.update(
        user_pool_id=pool_id,
        user_pool_client_id=client_id,
        issuer=issuer,
        jwks_url=f"{stack.aws_endpoint_url}/{pool_id}/.well-known/jwks.json",
    )
    tokens = {
        "customer": users.create_user(idp, pool_id, client_id, DEMO_CUSTOMER, tenant=DEMO_TENANT),
        "support": users.create_user(idp, pool_id, client_id, DEMO_SUPPORT, group=SUPPORT_GROUP),
    }
    for user in stack.config.users:
        tokens[user.email] = users.create(idp, pool_id, client_id, user)
        log.info("user %s of tenant %s%s", user.email, user.tenant, " (staff)" if user.staff else "")
    stack.info["tokens"] = tokens
    stack.info["demo_users"] = {"customer": DEMO_CUSTOMER, "support": DEMO_SUPPORT}
    log.info("user pool %s, client %s, demo users %s and %s", pool_id, client_id, DEMO_CUSTOMER, DEMO_SUPPORT)


def _scheduler_group(stack: Stack) -> None:
    logical_id, props = SCHEDULE_GROUP, cfn.resource(SCHEDULE_GROUP)
    name = _named(stack, logical_id, props, "Name")
    arn = stack.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
    stack.refs[logical_id] = name
    stack.attrs[f"{logical_id}.Arn"] = arn
    stack.names["scheduler_group"] = name
    log.info("schedule group %s", name)


def _ses_identity(stack: Stack) -> None:
    """Verify the support domain in SES, as the deployment's runbook does, so acknowledgements send."""
    domain = str(stack.resolver().ref("SupportDomain"))
    stack.client("ses").verify_domain_identity(Domain=domain)
    stack.names["support_domain"] = domain


def register_demo_contact(stack: Stack) -> None:
    """Make acme.example a contact domain of tenant acme, through the repository the functions use."""
    from support_common.models import Contact, utcnow  # after the environment is set
    from support_common.repository.contacts import ContactStore
    from support_common.repository.table import Table

    ContactStore(Table(stack.names["table_name"], stack.client("dynamodb"))).put(
        Contact(
            address=DEMO_CONTACT_DOMAIN,
            tenant=DEMO_TENANT,
            name="ACME (demo)",
            created_at=utcnow(),
            created_by="local-stack",
        )
    )
    log.info("contact domain %s -> tenant %s", DEMO_CONTACT_DOMAIN, DEMO_TENANT)


def fetch_jwks(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.loads(response.read()))
