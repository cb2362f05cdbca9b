"""Reading a function's settings from its environment, once, with every required variable named.

Each deployed function has its own model (in its package's `handler.py`); a field's alias is its
environment variable. A missing or empty required variable fails the first invocation with a
`SettingsError` naming it, instead of surfacing later as a query on table "".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from support_common.sla import DEFAULT_BUSINESS_HOURS, DEFAULT_RESPONSE_TARGETS, SlaPolicy

S = TypeVar("S", bound="FunctionSettings")


class SettingsError(RuntimeError):
    """The function's environment lacks a variable it needs, or holds an invalid one."""


class FunctionSettings(BaseModel):
    """What every function needs: the table and the region."""

    # defer_build: validated on the first invocation, so its schema need not be built at import.
    model_config = ConfigDict(frozen=True, populate_by_name=False, extra="ignore", defer_build=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    # Lambda sets AWS_REGION; tools and tests often set only AWS_DEFAULT_REGION.
    region: str = Field(validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"), min_length=1)


def load_settings(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Validate `model` from the environment; empty variables count as missing."""
    env = os.environ if environ is None else environ
    values = {name: value for name, value in env.items() if value.strip() != ""}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            names = [str(p) for p in err.get("loc", ())]
            problems.append(f"{'/'.join(names) or '?'}: {err.get('msg')}")
        raise SettingsError(f"{model.__name__} from the environment: " + "; ".join(problems)) from None


class SlaSettings(BaseModel):
    """The response and resolution targets (see `sla`), for the functions that compute or watch them.

    Parsed when the settings are loaded, so a typo in a target fails the first invocation.
    """

    model_config = ConfigDict(defer_build=True)

    sla_response_targets: str = Field(default=DEFAULT_RESPONSE_TARGETS, alias="SLA_RESPONSE_TARGETS")
    sla_resolution_targets: str = Field(default="", alias="SLA_RESOLUTION_TARGETS")
    business_hours: str = Field(default=DEFAULT_BUSINESS_HOURS, alias="BUSINESS_HOURS")
    business_time_zone: str = Field(default="UTC", alias="BUSINESS_TIME_ZONE")
    sla_warn_percent: int = Field(default=80, alias="SLA_WARN_PERCENT", ge=1, le=100)

    @model_validator(mode="after")
    def _policy_parses(self) -> SlaSettings:
        self.sla_policy()
        return self

    def sla_policy(self) -> SlaPolicy:
        """The targets as a policy (raises ValueError, naming the problem, for a bad setting)."""
        return SlaPolicy.parse(
            response=self.sla_response_targets,
            resolution=self.sla_resolution_targets,
            hours=self.business_hours,
            zone=self.business_time_zone,
            warn_percent=self.sla_warn_percent,
        )
