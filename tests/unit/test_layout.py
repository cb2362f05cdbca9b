"""The layer's shape: one package per function, no import cycles, small modules, thin handlers."""

from __future__ import annotations

import ast
import importlib
import socket
from pathlib import Path
from typing import Any

import pytest
from support_common.settings import FunctionSettings, SettingsError, load_settings

from tests.conftest import reset_functions

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "support_common"
MODULE_MAX_LINES = 400
# The pure MIME parser is cohesive: its modules follow the structure of the RFCs, not our functions.
LONG_MODULES_ALLOWED = ("mail",)
FUNCTION_PACKAGES = {"intake": "api", "email_ingest": "email_intake", "escalate": "paging", "notify": "notify"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(LAYER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """support_common modules a file imports (at any depth, type-checking imports left out)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("support_common")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("support_common"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in LAYER.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_layer_import_graph_has_no_cycle() -> None:
    # GIVEN the layer's import graph (runtime imports only)
    graph = _graph()

    # WHEN it is searched depth first for a path back to where it started
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])

    # THEN there is none
    assert cycles == []


def test_layer_import_graph_detects_a_cycle_when_there_is_one(tmp_path: Path) -> None:
    # GIVEN two modules that import each other (the check must be able to fail)
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from support_common.b import x\n")
    b.write_text("import support_common.a\n")

    # THEN each names the other
    assert _imports(a) == {"support_common.b", "support_common.b.x"}
    assert _imports(b) == {"support_common.a"}


def test_layer_modules_stay_under_the_line_cap() -> None:
    # GIVEN every module of the layer outside the parser
    long = {
        str(p.relative_to(LAYER)): n
        for p in LAYER.rglob("*.py")
        if p.relative_to(LAYER).parts[0] not in LONG_MODULES_ALLOWED
        and (n := len(p.read_text().splitlines())) > MODULE_MAX_LINES
    }
    # THEN none is longer than the cap
    assert long == {}


@pytest.mark.parametrize(("folder", "package"), sorted(FUNCTION_PACKAGES.items()))
def test_function_app_imports_only_its_own_package(folder: str, package: str) -> None:
    # GIVEN a function's app.py
    app = ROOT / "functions" / folder / "app.py"

    # WHEN its imports are read
    tree = ast.parse(app.read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    # THEN the layer is reached only through the function's own package
    layer = {m for m in modules if m.startswith("support_common")}
    assert layer == {f"support_common.{package}.handler"}
    assert modules - layer <= {"typing", "__future__"}


def test_load_settings_missing_variable_names_it() -> None:
    # GIVEN an environment without TABLE_NAME and with an empty region
    env = {"AWS_REGION": " "}

    # WHEN the settings are read
    with pytest.raises(SettingsError) as caught:
        load_settings(FunctionSettings, env)

    # THEN the error names both variables
    assert "TABLE_NAME" in str(caught.value)
    assert "AWS_REGION" in str(caught.value)


def test_load_settings_reads_aliases_and_falls_back_to_default_region() -> None:
    # GIVEN a Lambda-like environment with only AWS_DEFAULT_REGION
    settings = load_settings(FunctionSettings, {"TABLE_NAME": "tickets", "AWS_DEFAULT_REGION": "eu-west-1"})

    # THEN both are read
    assert (settings.table_name, settings.region) == ("tickets", "eu-west-1")


def test_unit_tests_cannot_open_sockets() -> None:
    # GIVEN the unit suite's guard
    # WHEN a test tries to connect anywhere
    # THEN it fails loudly
    with pytest.raises(AssertionError, match="cannot open sockets"):
        socket.create_connection(("127.0.0.1", 9))


@pytest.mark.parametrize(
    ("module", "variable"),
    [
        ("functions.intake.app", "DASHBOARD_ORIGIN"),
        ("functions.email_ingest.app", "RAW_MAIL_BUCKET"),
        ("functions.escalate.app", "PAGER_TOPIC_ARN"),
        ("functions.intake.app", "RAW_MAIL_BUCKET"),
        ("functions.notify.app", "SUPPORT_DOMAIN"),
    ],
)
def test_handler_missing_variable_fails_first_invocation_naming_it(
    module: str, variable: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # GIVEN a function deployed without one of its variables (and the rest of its table settings)
    monkeypatch.setenv("TABLE_NAME", "tickets")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv(variable, "")
    reset_functions()
    handler = importlib.import_module(module).lambda_handler

    # WHEN it is first invoked
    with pytest.raises(SettingsError) as caught:
        handler({"Records": [{}]}, lambda_context)
    reset_functions()

    # THEN the invocation fails and says which variable is missing
    assert variable in str(caught.value)
