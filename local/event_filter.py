"""Lambda event filtering (the subset of the pattern syntax this project uses), run locally.

The local stream poller and the tests use it to apply the template's FilterCriteria exactly as the
event source mapping would: a record reaches the function when any one filter's pattern matches.
Supported: exact values, `prefix`, `anything-but` (values or a prefix), `exists` and `numeric`.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_MISSING = object()
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def admitted(patterns: Iterable[str | Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """Whether an event source mapping with these filter patterns passes `record` to the function."""
    return any(matches(json.loads(p) if isinstance(p, str) else p, record) for p in patterns)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether one filter pattern matches an event (every field of the pattern must match)."""
    if not isinstance(pattern, Mapping):
        raise ValueError("a filter pattern is a JSON object")
    for key, spec in pattern.items():
        if key.startswith("$"):
            raise ValueError(f"unsupported pattern operator {key}")
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(spec, Mapping):
            if not matches(spec, value if isinstance(value, Mapping) else {}):
                return False
        elif isinstance(spec, list):
            if not _any_rule(spec, value):
                return False
        else:
            raise ValueError(f"pattern field {key!r} must be an object or an array of rules")
    return True


def _any_rule(rules: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_rule(rule, v) for rule in rules for v in values)


def _rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return value is not _MISSING and _equal(rule, value)
    if len(rule) != 1:
        raise ValueError(f"a rule has exactly one operator: {rule!r}")
    ((op, arg),) = rule.items()
    if op == "exists":
        return (value is not _MISSING) is bool(arg)
    if value is _MISSING:
        return False
    if op == "prefix":
        return isinstance(value, str) and value.startswith(str(arg))
    if op == "anything-but":
        if isinstance(arg, Mapping):
            ((inner, text),) = arg.items()
            if inner != "prefix":
                raise ValueError(f"unsupported anything-but operator {inner}")
            return isinstance(value, str) and not value.startswith(str(text))
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_equal(x, value) for x in excluded)
    if op == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        pairs = list(zip(arg[::2], arg[1::2], strict=True))
        return all(_NUMERIC[cmp](float(value), float(bound)) for cmp, bound in pairs)
    raise ValueError(f"unsupported rule operator {op}")


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool) or expected is None or value is None:
        return expected is value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return bool(expected == value)
