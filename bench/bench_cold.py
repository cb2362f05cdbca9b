"""Cold start of every function, as a ratio to `import boto3` measured in the same run.

Run from the repository root: `make bench` (or `PYTHONPATH=.:layers/common .venv/bin/python
bench/bench_cold.py`; `RUNS=15` for more rounds). Each round starts one fresh interpreter per probe,
the probes interleaved so that the shared machine's drift hits them alike, with the deployed
environment (inside Lambda: `AWS_LAMBDA_FUNCTION_NAME`, `LAMBDA_TASK_ROOT`, an X-Ray trace header,
tracing on, so the X-Ray SDK loads and patches botocore) and the layer as it is deployed, compiled
to bytecode by its own Makefile (`bench.common.deployed_layer`). A function's probe times its module's
import (Lambda's init phase), then its first invocation with a real event, every AWS request
answered in-process (`bench/first_request.py`): what the first request adds to the cold start.
Wall-clock time is the headline; CPU time is printed beside it, being less disturbed by other jobs.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.bench_email_ingest import DEPLOYED_ENV as EMAIL_ENV
from bench.bench_escalate import DEPLOYED_ENV as ESCALATE_ENV
from bench.bench_intake import DEPLOYED_ENV as INTAKE_ENV
from bench.bench_notify import DEPLOYED_ENV as NOTIFY_ENV
from bench.common import ROOT, fresh_python

RUNS = int(os.environ.get("RUNS", "9"))
TARGET = 2.0
ENVS = {"intake": INTAKE_ENV, "email_ingest": EMAIL_ENV, "escalate": ESCALATE_ENV, "notify": NOTIFY_ENV}
# What Lambda sets for a sampled request: the SDK builds and emits the segments as it does there.
TRACE = {"_X_AMZN_TRACE_ID": "Root=1-6745e2a0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"}

_BASELINE = """import time
w0, c0 = time.perf_counter(), time.process_time()
import boto3
w1, c1 = time.perf_counter(), time.process_time()
import json
print(json.dumps({{"import": [w1 - w0, c1 - c0]}}))
"""
_PROBE = """import time
w0, c0 = time.perf_counter(), time.process_time()
import functions.{function}.app as app
w1, c1 = time.perf_counter(), time.process_time()
from bench.first_request import run
result = run(app, {case!r})
w2, c2 = time.perf_counter(), time.process_time()
import json
print(json.dumps({{"import": [w1 - w0, c1 - c0], "first": [w2 - w0, c2 - c0], "result": result}}, default=str))
"""


def _cases(folder: Path) -> dict[str, Path]:
    """Each function's first event, as its trigger delivers it (the samples in tests/events)."""
    events = ROOT / "tests" / "events"
    ses = json.loads((events / "ses_receipt_lambda.json").read_text())
    mail = ses["Records"][0]["ses"]["mail"]
    raw = (
        f"From: Alice <{mail['source']}>\r\nTo: {mail['destination'][0]}\r\nSubject: Checkout returns 502\r\n"
        "Message-ID: <bench-1@acme.example>\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nEvery checkout fails since 09:00 UTC.\r\n"
    )
    # A resolved ticket: the notice mailed to its requester.
    notice = json.loads((events / "dynamodb_stream_modify_acknowledged.json").read_text())
    record = notice["Records"][0]["dynamodb"]
    record["OldImage"] = json.loads(json.dumps(record["NewImage"]))
    record["NewImage"]["status"] = {"S": "resolved"}
    record["NewImage"]["version"] = {"N": "3"}
    urgent = json.loads((events / "dynamodb_stream_insert_urgent_incident.json").read_text())
    cases = {
        "intake": {"event": json.loads((events / "apigw_http_create_ticket.json").read_text())},
        "email_ingest": {"event": ses, "raw_mail": raw},
        # The stream's ticket is still urgent and open when the pager reads it back.
        "escalate": {"event": urgent, "items": [urgent["Records"][0]["dynamodb"]["NewImage"]]},
        "notify": {"event": notice},
    }
    paths = {}
    for function, case in cases.items():
        paths[function] = folder / f"{function}.json"
        paths[function].write_text(json.dumps(case))
    return paths


def _outcome(function: str, result: Any) -> str:
    """What the first invocation answered, checked: a benchmark of a failing request measures nothing."""
    if function == "intake":
        assert result["statusCode"] == 201, result
        return f"HTTP {result['statusCode']}"
    if function == "email_ingest":
        kinds = [r["kind"] for r in result["results"]]
        assert kinds, result
        assert all(k in ("ticket", "acknowledged") for k in kinds), result
        return ", ".join(kinds)
    assert result == {"batchItemFailures": []}, result
    return "batchItemFailures []"


def measure(runs: int = RUNS) -> dict[str, Any]:
    """Median wall and CPU seconds of every probe, and each function's first-request outcome."""
    samples: dict[str, list[list[float]]] = {}
    outcomes: dict[str, tuple[str, dict[str, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = _cases(Path(tmp))
        for _ in range(runs):
            out = fresh_python(_BASELINE.format(), {**ENVS["intake"], **TRACE})
            samples.setdefault("boto3", []).append(json.loads(out.stdout.splitlines()[-1])["import"])
            for function, env in ENVS.items():
                out = fresh_python(_PROBE.format(function=function, case=str(cases[function])), {**env, **TRACE})
                probe = json.loads(out.stdout.splitlines()[-1])
                samples.setdefault(f"{function} import", []).append(probe["import"])
                samples.setdefault(f"{function} first", []).append(probe["first"])
                calls = json.loads(next(x for x in out.stderr.splitlines() if x.startswith("CALLS "))[6:])
                outcomes[function] = (_outcome(function, probe["result"]), calls)
    medians = {
        name: (statistics.median(s[0] for s in values), statistics.median(s[1] for s in values))
        for name, values in samples.items()
    }
    return {"medians": medians, "outcomes": outcomes}


def beyond_boto3(function: str, limit: int = 10, runs: int = 3) -> list[tuple[str, float]]:
    """Self import time (median of `runs` `-X importtime` runs) of what the function loads and
    `import boto3` does not, summed by package (two levels for ours, Powertools, pydantic and the
    X-Ray SDK, one for the rest), in milliseconds."""
    env = {**ENVS[function], **TRACE}

    def modules(stmt: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for line in fresh_python(stmt, env, "-X", "importtime").stderr.splitlines():
            parts = line.removeprefix("import time:").split("|")
            if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
                found[parts[2].strip()] = int(parts[0])
        return found

    base = modules("import boto3")
    per_run: list[Counter[str]] = []
    for _ in range(runs):
        totals: Counter[str] = Counter()
        for name, micros in modules(f"import functions.{function}.app").items():
            if name not in base:
                deep = name.startswith(("support_common", "aws_lambda_powertools", "pydantic", "aws_xray_sdk"))
                totals[".".join(name.split(".")[: 2 if deep else 1])] += micros
        per_run.append(totals)
    medians = Counter({name: statistics.median(run[name] for run in per_run) for name in per_run[0]})
    return [(name, micros / 1000) for name, micros in medians.most_common(limit)]


def main() -> None:
    found = measure()
    medians, outcomes = found["medians"], found["outcomes"]
    wall0, cpu0 = medians["boto3"]
    print(f"cold start, median of {RUNS} fresh processes per probe, deployed environment, tracing on")
    print(f"  {'probe':34s} {'wall':>8s} {'ratio':>6s} {'cpu':>8s} {'ratio':>6s}")
    print(f"  {'import boto3':34s} {wall0 * 1000:6.0f} ms {1:5.2f}x {cpu0 * 1000:6.0f} ms {1:5.2f}x")
    over = []
    for function in ENVS:
        for label, key in (("import", "import"), ("+ first request", "first")):
            wall, cpu = medians[f"{function} {key}"]
            name = f"{function} {label}"
            print(
                f"  {name:34s} {wall * 1000:6.0f} ms {wall / wall0:5.2f}x {cpu * 1000:6.0f} ms {cpu / cpu0:5.2f}x"
            )
        if medians[f"{function} import"][0] / wall0 > TARGET:
            over.append(function)
    print("first requests (AWS answered in-process):")
    for function, (outcome, calls) in outcomes.items():
        print(f"  {function:13s} {outcome}; " + ", ".join(f"{op} {n}" for op, n in calls.items()))
    print("what each function's import loads beyond `import boto3` (self time by package, median of 3 runs):")
    for function in ENVS:
        parts = ", ".join(f"{name} {ms:.0f}" for name, ms in beyond_boto3(function))
        print(f"  {function:13s} {parts} (ms)")
    if over:
        print(f"over the {TARGET}x target (import, wall clock): {', '.join(over)}")


if __name__ == "__main__":
    main()
