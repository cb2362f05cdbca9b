"""Reads template.yaml so that tests and the local stack create exactly what deploys."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class _Tag:
    """An intrinsic function (!Ref, !Sub, !GetAtt...) kept as data."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"{self.tag} {self.value!r}"


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tag(suffix, value)


_Loader.add_multi_constructor("!", _construct)


@cache
def template() -> dict[str, Any]:
    """The parsed template, intrinsic functions left unresolved."""
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def resource(logical_id: str) -> dict[str, Any]:
    """The Properties of one resource of the template."""
    return dict(template()["Resources"][logical_id].get("Properties", {}))


def table_definition(logical_id: str = "TicketsTable", table_name: str = "tickets") -> dict[str, Any]:
    """create_table arguments for a table of the template, as boto3 takes them."""
    props = resource(logical_id)
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification"):
        kwargs["SSESpecification"] = {"Enabled": props["SSESpecification"].get("SSEEnabled", True)}
    return kwargs


def create_table(client: Any, logical_id: str = "TicketsTable", table_name: str = "tickets") -> str:
    """Create the template's table (keys, indexes, stream, TTL) with a boto3 client; return its name."""
    client.create_table(**table_definition(logical_id, table_name))
    ttl = resource(logical_id).get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    return table_name


def create_secret(client: Any, logical_id: str, name: str) -> str:
    """Create the template's AWS::SecretsManager::Secret as CloudFormation does; return its ARN.

    A GenerateSecretString asks Secrets Manager itself for the value (GetRandomPassword with the
    same options); a SecretStringTemplate gets it under GenerateStringKey.
    """
    props = resource(logical_id)
    spec = dict(props.get("GenerateSecretString") or {})
    if "SecretString" in props:
        value = str(props["SecretString"])
    else:
        options = {
            k: spec[k]
            for k in (
                "PasswordLength",
                "ExcludeCharacters",
                "ExcludeNumbers",
                "ExcludePunctuation",
                "ExcludeUppercase",
                "ExcludeLowercase",
                "IncludeSpace",
                "RequireEachIncludedType",
            )
            if k in spec
        }
        value = str(client.get_random_password(**options)["RandomPassword"])
        if "SecretStringTemplate" in spec:
            value = json.dumps({**json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]: value})
    return str(
        client.create_secret(Name=name, Description=str(props.get("Description", "")), SecretString=value)["ARN"]
    )


def function_environment(logical_id: str) -> dict[str, Any]:
    """A function's environment from the template: Globals merged with its own (values unresolved)."""
    env = dict(template().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    env.update(resource(logical_id).get("Environment", {}).get("Variables", {}))
    return env


# --- everything below serves the local stack: it reads the template, it never deploys ----------

ACCOUNT_ID = "123456789012"


def parameter_defaults() -> dict[str, Any]:
    """The template's parameters with their default values (what a plain `sam deploy` uses)."""
    return {
        name: spec.get("Default")
        for name, spec in (template().get("Parameters") or {}).items()
        if "Default" in spec
    }


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    """Every resource of one type, by logical id (Properties only)."""
    return {
        logical_id: dict(body.get("Properties") or {})
        for logical_id, body in (template().get("Resources") or {}).items()
        if body.get("Type") == resource_type
    }


class Resolver:
    """Resolves intrinsic functions against local names, as CloudFormation would against real ones.

    `refs` maps a logical id or parameter to what `!Ref` gives; `attrs` maps "LogicalId.Attr" to
    what `!GetAtt` gives. Pseudo parameters come from `region`. Unknown references raise KeyError
    so that a new template reference fails loudly instead of becoming a wrong value.
    """

    _SUB = re.compile(r"\$\{([^}!][^}]*)\}")

    def __init__(self, refs: Mapping[str, Any], attrs: Mapping[str, Any], region: str) -> None:
        self.refs = {
            **parameter_defaults(),
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "support-desk-local",
            "AWS::NoValue": None,
            **refs,
        }
        self.attrs = dict(attrs)

    def ref(self, name: str) -> Any:
        return self.refs[name]

    def get_att(self, name: str) -> Any:
        return self.attrs[name]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if not isinstance(value, _Tag):
            return value
        tag, arg = value.tag, value.value
        if tag == "Ref":
            return self.ref(arg)
        if tag == "GetAtt":
            return self.get_att(arg if isinstance(arg, str) else ".".join(arg))
        if tag == "Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
            return self._SUB.sub(lambda m: self._sub_one(m.group(1), extra), text)
        if tag == "Join":
            sep, items = arg
            return sep.join(str(item) for item in self(items))
        if tag == "Select":
            index, items = self(arg)
            return items[int(index)]
        raise KeyError(f"intrinsic function !{tag} is not supported locally")

    def _sub_one(self, name: str, extra: Mapping[str, Any]) -> str:
        if name in extra:
            return str(extra[name])
        if "." in name and not name.startswith("AWS::"):
            return str(self.get_att(name))
        return str(self.ref(name))


def function_resources() -> dict[str, dict[str, Any]]:
    """Every function of the template (SAM or plain Lambda), by logical id."""
    return {**resources_of_type("AWS::Serverless::Function"), **resources_of_type("AWS::Lambda::Function")}


def function_by_code_uri(folder: str) -> str | None:
    """The logical id of the function whose code is `functions/<folder>/`, if the template has it."""
    for logical_id, props in function_resources().items():
        code = str(props.get("CodeUri", "")).strip("/")
        if code == f"functions/{folder}":
            return logical_id
    return None


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    function: str
    authorized: bool


def http_routes() -> list[HttpRoute]:
    """The HTTP API routes declared as `HttpApi` events of the functions."""
    routes: list[HttpRoute] = []
    for logical_id, props in function_resources().items():
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            spec = event.get("Properties") or {}
            auth = (spec.get("Auth") or {}).get("Authorizer")
            routes.append(
                HttpRoute(
                    method=str(spec.get("Method", "ANY")).upper(),
                    path=str(spec.get("Path", "$default")),
                    function=logical_id,
                    authorized=auth != "NONE",
                )
            )
    return routes


def http_api() -> dict[str, Any]:
    """The properties of the template's HTTP API."""
    return resource("HttpApi")


def jwt_authorizer() -> dict[str, Any] | None:
    """The HTTP API's default JWT authorizer's JwtConfiguration (issuer, audience), unresolved."""
    auth = http_api().get("Auth") or {}
    name = auth.get("DefaultAuthorizer")
    spec = (auth.get("Authorizers") or {}).get(name) if name else None
    return dict(spec.get("JwtConfiguration") or {}) if spec else None


def user_pool_definition(logical_id: str, pool_name: str) -> dict[str, Any]:
    """create_user_pool arguments from the template's AWS::Cognito::UserPool."""
    props = resource(logical_id)
    kwargs: dict[str, Any] = {"PoolName": pool_name}
    for key in (
        "Policies",
        "UsernameAttributes",
        "AliasAttributes",
        "AutoVerifiedAttributes",
        "AdminCreateUserConfig",
        "MfaConfiguration",
        "Schema",
        "AccountRecoverySetting",
    ):
        if key in props:
            kwargs[key] = props[key]
    return kwargs


def user_pool_client_definition(logical_id: str, pool_id: str) -> dict[str, Any]:
    """create_user_pool_client arguments from the template's AWS::Cognito::UserPoolClient."""
    props = resource(logical_id)
    kwargs: dict[str, Any] = {"UserPoolId": pool_id, "ClientName": props.get("ClientName", logical_id)}
    for key in (
        "GenerateSecret",
        "ExplicitAuthFlows",
        "PreventUserExistenceErrors",
        "IdTokenValidity",
        "AccessTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
        "ReadAttributes",
        "WriteAttributes",
    ):
        if key in props:
            kwargs[key] = props[key]
    return kwargs


@dataclass(frozen=True)
class StreamMapping:
    """A DynamoDB stream event source mapping, as Lambda's poller would read it."""

    function: str
    batch_size: int = 100
    starting_position: str = "LATEST"
    filter_patterns: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    maximum_batching_window_seconds: int = 0
    bisect_on_error: bool = False


def _stream_mapping(function: str, spec: Mapping[str, Any]) -> StreamMapping:
    filters = ((spec.get("FilterCriteria") or {}).get("Filters")) or []
    patterns: list[dict[str, Any]] = []
    for item in filters:
        pattern = item.get("Pattern")
        # The template may hold the pattern as a JSON string (CloudFormation's type) or as YAML.
        patterns.append(json.loads(pattern) if isinstance(pattern, str) else dict(pattern))
    return StreamMapping(
        function=function,
        batch_size=int(spec.get("BatchSize", 100)),
        starting_position=str(spec.get("StartingPosition", "LATEST")),
        filter_patterns=tuple(patterns),
        report_batch_item_failures="ReportBatchItemFailures" in (spec.get("FunctionResponseTypes") or []),
        maximum_retry_attempts=int(spec.get("MaximumRetryAttempts", -1)),
        maximum_batching_window_seconds=int(spec.get("MaximumBatchingWindowInSeconds", 0)),
        bisect_on_error=bool(spec.get("BisectBatchOnFunctionError", False)),
    )


def stream_mappings(table_logical_id: str = "TicketsTable") -> list[StreamMapping]:
    """The event source mappings on a table's stream: SAM `DynamoDB` events and plain ESM resources."""
    found: list[StreamMapping] = []
    for logical_id, props in function_resources().items():
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "DynamoDB" and _names(
                event.get("Properties", {}).get("Stream"), table_logical_id
            ):
                found.append(_stream_mapping(logical_id, event.get("Properties") or {}))
    for props in resources_of_type("AWS::Lambda::EventSourceMapping").values():
        if _names(props.get("EventSourceArn"), table_logical_id):
            target = props.get("FunctionName")
            function = target.value if isinstance(target, _Tag) else str(target)
            found.append(_stream_mapping(str(function).split(".")[0], props))
    return found


def _names(value: Any, logical_id: str) -> bool:
    """Whether an intrinsic (`!GetAtt Table.StreamArn`, `!Ref Table`...) points at `logical_id`."""
    if not isinstance(value, _Tag):
        return False
    inner = value.value
    text = inner if isinstance(inner, str) else ".".join(map(str, inner))
    return text == logical_id or text.startswith(logical_id + ".") or f"${{{logical_id}." in text
