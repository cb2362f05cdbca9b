"""What the benchmarks share: fresh interpreters with a Lambda-like environment, request counting."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7


def lambda_env(function: str, **variables: str) -> dict[str, str]:
    """The environment of a deployed function: inside Lambda, so the tracer is on and patches botocore."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": f"support-desk-{function}",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        # The X-Ray SDK checks this to know it is in Lambda (else it builds a sampling client: +120 ms).
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "TABLE_NAME": "tickets",
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "SupportDesk",
        # The template's Globals.
        "DASHBOARD_URL": "https://dashboard.example.com",
        "DASHBOARD_ORIGIN": "https://dashboard.example.com",
        "ACK_SECRET_ARN": "support-desk-ack-signing",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        **variables,
    }


@functools.cache
def deployed_layer() -> Path:
    """support_common as the layer deploys it, compiled to bytecode by the layer's own Makefile, in a
    folder removed at exit. Imported from the source tree instead, every fresh interpreter would
    compile the layer's modules from source when bytecode is not written (PYTHONDONTWRITEBYTECODE)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-layer-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    layer = ROOT / "layers" / "common"
    subprocess.run(
        ["make", "-s", "-C", str(layer), "package", f"DIR={folder}", f"PYTHON={sys.executable}"], check=True
    )
    return folder


def fresh_python(code: str, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with only `env` (plus PATH-like basics) from the caller, the
    layer imported as deployed (`deployed_layer`)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    full.update(env)
    full["PYTHONPATH"] = f"{deployed_layer()}{os.pathsep}{ROOT}"
    return subprocess.run(
        [sys.executable, *args, "-c", code], env=full, cwd=ROOT, capture_output=True, text=True, check=True
    )


_PROBE = "import time\nt0 = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t0)"


def cold_start(probes: Mapping[str, str], env: Mapping[str, str], runs: int = RUNS) -> dict[str, float]:
    """Median seconds of each probe over fresh processes, interleaved so drift hits every probe alike."""
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(runs):
        for name, stmt in probes.items():
            out = fresh_python(_PROBE.format(stmt=stmt), env)
            samples[name].append(float(out.stdout.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in samples.items()}


def top_imports(module: str, env: Mapping[str, str], limit: int = 8) -> list[tuple[str, int]]:
    """Where a module's import time goes: self time summed by top-level package (microseconds)."""
    out = fresh_python(f"import {module}", env, "-X", "importtime")
    totals: Counter[str] = Counter()
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
            totals[parts[2].strip().split(".")[0]] += int(parts[0])
    return totals.most_common(limit)


@contextmanager
def counting(*clients: Any) -> Iterator[Counter[str]]:
    """Count the AWS requests botocore clients make, as `service:Operation`."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    with ExitStack() as stack:
        for client in clients:
            client.meta.events.register("before-call.*.*", hook)
            stack.callback(client.meta.events.unregister, "before-call.*.*", hook)
        yield calls
