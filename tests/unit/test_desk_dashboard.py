"""The template's CloudWatch dashboard names metrics the code emits, with the dimensions it emits."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from local.cfn import resource

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common" / "support_common"
NAMESPACE = "SupportDesk"


# The helpers of support_common.observability: their keyword arguments are the dimensions.
EMITTERS = {"count", "measure"}
NOT_DIMENSIONS = {"value", "unit"}


def emissions() -> dict[str, set[frozenset[str]]]:
    """Every metric the layer emits, with each set of dimensions it is emitted with anywhere."""
    found: dict[str, set[frozenset[str]]] = {}
    for path in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in EMITTERS and node.args and isinstance(node.args[0], ast.Constant):
                # `**dims` would hide the dimensions from this check: name them at the call.
                assert all(k.arg for k in node.keywords), f"{path.name}:{node.lineno}: dimensions via **"
                dims = frozenset({"service", *(str(k.arg) for k in node.keywords if k.arg not in NOT_DIMENSIONS)})
                found.setdefault(str(node.args[0].value), set()).add(dims)
            elif name == "add_metric":
                metric = next((k.value for k in node.keywords if k.arg == "name"), None)
                if isinstance(metric, ast.Constant):
                    found.setdefault(str(metric.value), set()).add(frozenset({"service"}))
    return found


def emitted() -> dict[str, frozenset[str]]:
    """Every metric the layer emits, with its dimensions (Powertools adds `service` to each)."""
    return {name: min(dims, key=sorted) for name, dims in emissions().items()}


def searches() -> list[tuple[str, str]]:
    """(metric, statistic) of each SEARCH expression of the dashboard."""
    found = []
    for widget in dashboard_body()["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):
                search = re.search(r"MetricName=\"(?P<name>\w+)\"', '(?P<stat>[^']+)'", line[0]["expression"])
                assert search, line[0]
                found.append((search["name"], search["stat"]))
    return found


def dashboard_body() -> dict[str, Any]:
    return dict(
        json.loads(resource("DeskDashboard")["DashboardBody"].value.replace("${AWS::Region}", "eu-west-1"))
    )


def widgets_metrics() -> dict[str, frozenset[str]]:
    """Each metric the dashboard shows, with the dimensions its widget names."""
    shown: dict[str, frozenset[str]] = {}
    for widget in dashboard_body()["widgets"]:
        for line in widget["properties"].get("metrics", []):
            first = line[0]
            if isinstance(first, dict):
                search = re.search(r"\{(?P<schema>[^}]*)\} MetricName=\"(?P<name>\w+)\"", first["expression"])
                assert search, first
                namespace, *dims = search["schema"].split(",")
                assert namespace == NAMESPACE
                shown[search["name"]] = frozenset(dims)
            else:
                namespace, name, *pairs = [p for p in line if not isinstance(p, dict)]
                assert namespace == NAMESPACE
                shown[name] = frozenset(pairs[0::2])
    return shown


def mismatches(code: dict[str, frozenset[str]], dashboard: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """The widgets' metrics that the code does not emit with exactly those dimensions."""
    return {name: dims for name, dims in dashboard.items() if code.get(name) != dims}


def test_dashboard_widgets_name_metrics_the_code_emits_with_their_dimensions() -> None:
    # GIVEN the metrics the code emits and those the dashboard shows
    code, dashboard = emitted(), widgets_metrics()

    # THEN every widget's metric exists in the code with exactly the dimensions the widget uses
    assert dashboard
    assert mismatches(code, dashboard) == {}


def test_dashboard_check_reports_unknown_metric_and_other_dimensions() -> None:
    # GIVEN widgets naming a metric nobody emits, one with a dimension too few, and one that is right
    code = {
        "PagesSent": frozenset({"service", "level"}),
        "TicketsCreated": frozenset({"service", "type", "channel"}),
    }
    dashboard = {
        "Unknown": frozenset({"service"}),
        "TicketsCreated": frozenset({"service", "type"}),
        "PagesSent": frozenset({"service", "level"}),
    }

    # WHEN they are compared
    found = mismatches(code, dashboard)

    # THEN the first two are reported, the right one is not
    assert found == {"Unknown": frozenset({"service"}), "TicketsCreated": frozenset({"service", "type"})}


def test_emitted_metrics_have_one_set_of_dimensions_each() -> None:
    # GIVEN every place the layer emits a metric
    # THEN a name always comes with the same dimensions (a SEARCH schema matches one set exactly)
    assert {name: dims for name, dims in emissions().items() if len(dims) > 1} == {}


def test_emitted_metrics_scan_finds_count_measure_and_add_metric() -> None:
    # GIVEN the scan (it must see every way of emitting, or the checks above prove nothing)
    code = emitted()

    # THEN it finds a dimensioned count, a dimensioned measure and a plain metric
    assert code["TicketsCreated"] == {"service", "type", "channel"}
    assert code["TimeToFirstResponse"] == {"service", "type", "priority"}
    assert code["MailFailed"] == {"service"}


def test_dashboard_times_show_p50_and_p90_counts_show_sums() -> None:
    # GIVEN the statistic of each SEARCH of the dashboard
    stats: dict[str, set[str]] = {}
    for name, stat in searches():
        stats.setdefault(name, set()).add(stat)

    # THEN each duration is drawn as its p50 and p90 (SEARCH takes a percentile as its statistic),
    # each count as a sum
    assert {name: s for name, s in stats.items() if name.startswith("TimeTo")} == {
        name: {"p50", "p90"} for name in ("TimeToAcknowledge", "TimeToFirstResponse", "TimeToResolution")
    }
    assert {s for name, stat in stats.items() if not name.startswith("TimeTo") for s in stat} == {"Sum"}
