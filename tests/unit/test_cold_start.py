"""What a function's import (Lambda's init phase) loads: only what its cold start needs.

Each check imports the function in a fresh interpreter with the deployed environment of the
benchmark (tracing on, inside Lambda) and reads `sys.modules`; the figures are in BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import lambda_env

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import functions.{function}.app
from pydantic import BaseModel

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

built = sorted(
    f"{{m.__module__}}.{{m.__qualname__}}"
    for m in set(models(BaseModel))
    if m.__module__.startswith("support_common") and m.__pydantic_complete__
)
print(json.dumps({{"modules": sorted(sys.modules), "built": built}}))
"""

# Loaded by the first request that needs them, not by the import.
NOT_AT_IMPORT = {
    # The resolver, the routes and their models are built on the first request.
    "intake": ["aws_lambda_powertools.event_handler", "support_common.api.tickets", "support_common.api.models"],
    # The TNEF reader only for a winmail.dat; Powertools batch is not this function's.
    "email_ingest": ["support_common.mail.tnef", "aws_lambda_powertools.utilities.batch"],
    # Powertools batch (every event class) only for a batch with a failed record.
    "escalate": ["aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes"],
    # The same, and outbound mail cleans header values without loading the inbound parser.
    "notify": ["aws_lambda_powertools.utilities.batch", "support_common.mail.parse", "support_common.mail.mime"],
}


def _import_in_fresh_process(function: str) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    env.update(lambda_env(function))
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(function=function)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(out.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("function", sorted(NOT_AT_IMPORT))
def test_function_import_leaves_out_what_a_later_request_needs(function: str) -> None:
    # GIVEN a function's module imported as Lambda's init phase does
    loaded = _import_in_fresh_process(function)

    # THEN the modules its first request may never need are not loaded
    assert [m for m in NOT_AT_IMPORT[function] if m in loaded["modules"]] == []
    # AND its tracer is on: the X-Ray SDK is loaded and has patched botocore
    assert "aws_xray_sdk.ext.botocore.patch" in loaded["modules"]
    # AND no model of the layer has built its validator yet (each builds on first use)
    assert loaded["built"] == []
