"""Reads template.yaml so that tests and the local stack create exactly what deploys."""

from __future__ import annotations

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
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
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


def function_environment(logical_id: str) -> dict[str, Any]:
    """A function's environment from the template: Globals merged with its own (values unresolved)."""
    env = dict(template().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    env.update(resource(logical_id).get("Environment", {}).get("Variables", {}))
    return env
