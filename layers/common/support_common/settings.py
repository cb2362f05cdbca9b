"""Reading a function's settings from its environment, once, with every required variable named.

Each deployed function has its own model (in its package's `handler.py`); a field's alias is its
environment variable. A missing or empty required variable fails the first invocation with a
`SettingsError` naming it, instead of surfacing later as a query on table "".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

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
