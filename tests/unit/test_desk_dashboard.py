"""The template's CloudWatch dashboard names metrics the code emits, with the dimensions it emits."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from local.cfn import resource

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common" / "support_common"
NAMESPACE = "SupportDesk"


def emitted() -> dict[str, frozenset[str]]:
    """Every metric the layer emits, with its dimensions (Powertools adds `service` to each)."""
    found: dict[str, frozenset[str]] = {}
    for path in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "count" and node.args and isinstance(node.args[0], ast.Constant):
                dims = frozenset({"service", *(k.arg for k in node.keywords if k.arg and k.arg != "value")})
                found[str(node.args[0].value)] = dims
            elif name == "add_metric":
                metric = next((k.value for k in node.keywords if k.arg == "name"), None)
                if isinstance(metric, ast.Constant):
                    found[str(metric.value)] = frozenset({"service"})
    return found


def widgets_metrics() -> dict[str, frozenset[str]]:
    """Each metric the dashboard shows, with the dimensions its widget names."""
    body = json.loads(resource("DeskDashboard")["DashboardBody"].value.replace("${AWS::Region}", "eu-west-1"))
    shown: dict[str, frozenset[str]] = {}
    for widget in body["widgets"]:
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


def test_dashboard_widgets_name_metrics_the_code_emits_with_their_dimensions() -> None:
    # GIVEN the metrics the code emits and those the dashboard shows
    code, dashboard = emitted(), widgets_metrics()

    # THEN every widget's metric exists in the code with exactly the dimensions the widget uses
    assert dashboard
    assert {name: dims for name, dims in dashboard.items() if code.get(name) != dims} == {}


def test_emitted_metrics_scan_finds_count_and_add_metric() -> None:
    # GIVEN the scan (it must see both ways of emitting, or the check above proves nothing)
    code = emitted()

    # THEN it finds a dimensioned count and a plain metric
    assert code["TicketsCreated"] == {"service", "type", "channel"}
    assert code["MailFailed"] == {"service"}
