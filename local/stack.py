"""The local stack's shared state: its configuration, the emulated AWS and what was created in it."""

from __future__ import annotations

import os
import secrets
import string
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import cfn, logs
from local.functions import LocalFunction
from local.users import UserSpec

# The pipeline's functions, by folder under functions/. A new function is one more name here.
FUNCTION_FOLDERS = ("intake", "email_ingest", "escalate", "notify")

DEMO_CUSTOMER = "alice@acme.example"
DEMO_TENANT = "acme"
DEMO_CONTACT_DOMAIN = "acme.example"
DEMO_SUPPORT = "oncall@support.example.com"
SUPPORT_GROUP = "support"


@dataclass(frozen=True)
class Config:
    """What `python -m local` was asked for (flags and LOCAL_* environment variables)."""

    host: str = "127.0.0.1"
    aws_port: int = 4566
    api_port: int = 3000
    smtp_port: int = 2525
    state_dir: Path = Path(".local")
    region: str = "eu-west-1"
    stage: str = "local"
    stream_interval: float = 0.25
    schedule_interval: float = 1.0
    smtp_max_size: int = 40 * 1024 * 1024  # SES's limit for received mail, headers included
    metrics: bool = False
    verbose: bool = False
    users: tuple[UserSpec, ...] = ()  # --user EMAIL:TENANT: more users, tokens under tokens.<email>
    token_margin: float = 1800.0  # renew a user's ID token (valid an hour) when less than this remains
    token_check_interval: float = 60.0

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"


@dataclass
class Stack:
    """Everything the parts share. Filled in order: AWS endpoint, resources, then each part's info."""

    config: Config
    aws_endpoint_url: str = ""
    names: dict[str, str] = field(default_factory=dict)  # table_name, raw_mail_bucket, ...
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> what !Ref gives locally
    attrs: dict[str, Any] = field(default_factory=dict)  # "LogicalId.Attr" -> what !GetAtt gives
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # what goes into stack.json
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def region(self) -> str:
        return self.config.region

    def resolver(self) -> cfn.Resolver:
        return cfn.Resolver({"StageName": self.config.stage, **self.refs}, self.attrs, self.region)

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client against the emulation (boto3 reads AWS_ENDPOINT_URL, set at start)."""
        import boto3  # boto3 costs a few hundred ms: only once the emulation is up

        # Any service by name: the stubs type clients only for literal names.
        return boto3.client(service, region_name=self.region, **kwargs)  # type: ignore[call-overload]

    def function(self, folder: str) -> LocalFunction:
        return self.functions[folder]


def local_name(logical_id: str, stage: str) -> str:
    """A readable, deterministic local name for a resource that the template does not name."""
    out = []
    for i, ch in enumerate(logical_id):
        if ch.isupper() and i and not logical_id[i - 1].isupper():
            out.append("-")
        out.append(ch.lower())
    return f"support-desk-{stage}-{''.join(out)}"


def placeholder_refs(stack: Stack) -> None:
    """What !Ref and !GetAtt give for every resource, before the real ones exist.

    Resources that the stack creates overwrite these with their real values; the rest (roles,
    log groups, the API) keep a plausible ARN or name, which is all the functions' environment needs.
    """
    region, account = stack.region, cfn.ACCOUNT_ID
    for logical_id, body in (cfn.template().get("Resources") or {}).items():
        kind = str(body.get("Type", ""))
        name = local_name(logical_id, stack.config.stage)
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "unknown"
        arn = f"arn:aws:{service}:{region}:{account}:{name}"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        elif kind == "AWS::IAM::Role":
            arn = f"arn:aws:iam::{account}:role/{name}"
        elif kind == "AWS::S3::Bucket":
            arn = f"arn:aws:s3:::{name}"
        elif kind == "AWS::SNS::Topic":
            arn = f"arn:aws:sns:{region}:{account}:{name}"
        elif kind == "AWS::Scheduler::ScheduleGroup":
            arn = f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"
        ref = arn if kind in ("AWS::SNS::Topic",) else name
        stack.refs.setdefault(logical_id, ref)
        stack.attrs.setdefault(f"{logical_id}.Arn", arn)
        stack.attrs.setdefault(f"{logical_id}.Name", name)
    for function in stack.functions.values():
        if not function.logical_id:
            continue
        given = cfn.resource(function.logical_id).get("FunctionName")
        if given is not None:
            try:
                function.rename(str(stack.resolver()(given)), region)
            except KeyError as exc:
                logs.get("aws").warning("%s: cannot resolve FunctionName locally (%s)", function.folder, exc)
        stack.refs[function.logical_id] = function.name
        stack.attrs[f"{function.logical_id}.Arn"] = function.arn


def functions_environment(stack: Stack) -> dict[str, str]:
    """The union of the functions' environments from the template, resolved against local names.

    The functions share one process (and Settings is read once per process), so they share one
    environment. Two functions that set the same variable differently can only be emulated with
    one of the values: that is reported, never silent.
    """
    log = logs.get("aws")
    resolve = stack.resolver()
    env: dict[str, str] = {}
    for folder, function in stack.functions.items():
        if not function.logical_id:
            continue
        for key, raw in cfn.function_environment(function.logical_id).items():
            try:
                value = resolve(raw)
            except KeyError as exc:
                log.warning("%s: cannot resolve %s locally (%s): left unset", folder, key, exc)
                continue
            if value is None:
                continue
            value = str(value)
            if key in env and env[key] != value and key != "POWERTOOLS_SERVICE_NAME":
                log.warning(
                    "%s sets %s=%s but another function set %s: kept the first", folder, key, value, env[key]
                )
                continue
            env.setdefault(key, value)
    # One process serves every function: name the service after the stack rather than the first function.
    env["POWERTOOLS_SERVICE_NAME"] = "support-desk-local"
    return env


def set_process_environment(stack: Stack, function_env: dict[str, str]) -> None:
    """Set the environment once, before any function is imported (Settings reads it once)."""
    values = {
        **function_env,
        "AWS_ENDPOINT_URL": stack.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # moto's fake credentials, not a secret
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_REGION": stack.region,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    if not stack.config.metrics:
        # EMF blobs on stdout for every invocation drown the readable stream; --metrics shows them.
        values["POWERTOOLS_METRICS_DISABLED"] = "true"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(values)


def demo_password() -> str:
    """A fresh password for the demo users that satisfies the template's password policy."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(20))
    return f"Aa1{body}"
