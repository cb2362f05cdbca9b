"""The local stack's emulation rules, checked in-process (fast): what the e2e tests cannot provoke."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.scheduler.models import scheduler_backends

from local import cfn
from local.api import claim_strings, compile_route
from local.schedules import ScheduleRunner, due_time
from local.smtp import parse_verdicts, rule_matches
from local.streams import StreamPoller, _MappingState, first_failure


def _record(seq: str) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": seq, "Keys": {"pk": {"S": seq}}}}


class _FakeFunction:
    """Answers each invocation with the next scripted response (or raises it)."""

    folder = "escalate"

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.batches: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer


def _poller(mapping: cfn.StreamMapping, function: _FakeFunction, records: list[str]) -> tuple[StreamPoller, Any]:
    poller = StreamPoller()
    poller.interval = 0.0
    state = _MappingState(mapping, function)  # type: ignore[arg-type]
    state.pending = [_record(s) for s in records]
    poller.states = [state]
    return poller, state


def _drain(poller: StreamPoller, state: Any, rounds: int = 10) -> None:
    for _ in range(rounds):
        state.retry_at = 0.0
        poller._deliver(state)


def test_stream_batch_item_failure_resumes_from_first_failed_record() -> None:
    # GIVEN a mapping with ReportBatchItemFailures and a function failing record 2 of 1..4 once
    function = _FakeFunction([{"batchItemFailures": [{"itemIdentifier": "2"}]}, {"batchItemFailures": []}])
    mapping = cfn.StreamMapping(function="Escalate", batch_size=10, report_batch_item_failures=True)
    poller, state = _poller(mapping, function, ["1", "2", "3", "4"])
    # WHEN the poller delivers
    _drain(poller, state)
    # THEN the retry starts at the failed record, as Lambda's checkpoint does
    assert function.batches == [["1", "2", "3", "4"], ["2", "3", "4"]]
    assert state.pending == []


def test_stream_unknown_item_identifier_retries_whole_batch() -> None:
    # GIVEN a function that names a record that is not in the batch
    function = _FakeFunction([{"batchItemFailures": [{"itemIdentifier": "nope"}]}])
    mapping = cfn.StreamMapping(function="Escalate", batch_size=10, report_batch_item_failures=True)
    poller, state = _poller(mapping, function, ["1", "2"])
    # WHEN the poller delivers
    _drain(poller, state)
    # THEN the whole batch is delivered again
    assert function.batches[:2] == [["1", "2"], ["1", "2"]]


def test_stream_exception_bisects_and_discards_after_max_retries() -> None:
    # GIVEN a poison record 1, bisecting and at most one retry
    error = RuntimeError("poison")
    function = _FakeFunction([error, error])
    mapping = cfn.StreamMapping(
        function="Escalate",
        batch_size=4,
        report_batch_item_failures=True,
        maximum_retry_attempts=1,
        bisect_on_error=True,
    )
    poller, state = _poller(mapping, function, ["1", "2", "3", "4"])
    # WHEN the poller delivers
    _drain(poller, state)
    # THEN the batch is halved after the failure, the record dropped after its retry, the rest delivered
    assert function.batches == [["1", "2", "3", "4"], ["1", "2"], ["2"], ["3", "4"]]
    assert state.pending == []


def test_first_failure_empty_list_means_success() -> None:
    assert first_failure([_record("1")], {"batchItemFailures": []}) is None
    assert first_failure([_record("1")], None) is None


def test_route_template_path_parameters_extracted() -> None:
    route = compile_route(cfn.HttpRoute("GET", "/tickets/{ticket_id}", "Intake", True), "Intake")
    match = route.pattern.match("/tickets/INC-7KQ2XH")
    assert match is not None
    assert match.groupdict() == {"ticket_id": "INC-7KQ2XH"}
    assert route.pattern.match("/tickets/INC-7KQ2XH/comments") is None


def test_claims_arrays_and_numbers_become_strings() -> None:
    claims = claim_strings({"cognito:groups": ["support", "ops"], "exp": 17, "email_verified": True})
    assert claims == {"cognito:groups": "[support ops]", "exp": "17", "email_verified": "true"}


def test_schedule_at_expression_due_time_in_utc() -> None:
    assert due_time("at(2026-11-26T18:30:00)", "UTC") == datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    assert due_time("rate(5 minutes)", None) is None


def test_smtp_verdicts_header_overrides_pass() -> None:
    assert parse_verdicts("spam=FAIL, dkim=gray") == {
        "spam": "FAIL",
        "virus": "PASS",
        "spf": "PASS",
        "dkim": "GRAY",
        "dmarc": "PASS",
    }


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("urgent@support.example.com", True),
        ("URGENT@Support.Example.com", True),
        ("sales@support.example.com", False),
        ("urgent@evil.example", False),
    ],
)
def test_smtp_receipt_rule_recipients_matched_like_ses(address: str, accepted: bool) -> None:
    rules = ["urgent@support.example.com", "task@support.example.com"]
    assert rule_matches(rules, address) is accepted
    assert rule_matches(["support.example.com"], "anyone@support.example.com")


def test_template_stream_mapping_read_for_escalate() -> None:
    mappings = cfn.stream_mappings()
    # The paging part of the template defines it; until then the poller falls back (logged).
    if not mappings:
        pytest.fail("template.yaml has no DynamoDB event on the tickets table's stream")
    assert mappings[0].report_batch_item_failures
    assert mappings[0].filter_patterns


class _Target:
    """A local function that records what it was invoked with."""

    folder = "escalate"
    name = "support-desk-escalate"
    arn = f"arn:aws:lambda:eu-west-1:{cfn.ACCOUNT_ID}:function:support-desk-escalate"

    def __init__(self) -> None:
        self.events: list[Any] = []

    def invoke(self, event: Any) -> None:
        self.events.append(event)


def test_schedule_runner_tick_with_many_waiting_timers_reads_moto_and_calls_only_to_delete() -> None:
    with mock_aws():
        # GIVEN a group with 300 timers far in the future and one that is due
        client = boto3.client("scheduler", region_name="eu-west-1")
        client.create_schedule_group(Name="paging")
        target = _Target()

        def schedule(name: str, at: str) -> None:
            client.create_schedule(
                Name=name,
                GroupName="paging",
                ScheduleExpression=f"at({at})",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": target.arn,
                    "RoleArn": f"arn:aws:iam::{cfn.ACCOUNT_ID}:role/scheduler",
                    "Input": json.dumps({"action": "sla", "name": name}),
                },
            )

        for n in range(300):
            schedule(f"sla-later-{n}", "2099-01-01T00:00:00")
        schedule("sla-due", "2020-01-01T00:00:00")
        runner = ScheduleRunner()
        runner.client, runner.group, runner.by_arn = client, "paging", {target.arn: target}  # type: ignore[dict-item]
        runner.backend = scheduler_backends[cfn.ACCOUNT_ID]["eu-west-1"]
        calls: list[str] = []
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
        # WHEN the runner ticks twice
        runner.tick()
        runner.tick()
        # THEN the due timer ran once and was deleted, and waiting timers cost no request at all
        # (paging ListSchedules sorts the whole group for every page of 50)
        assert target.events == [{"action": "sla", "name": "sla-due"}]
        assert calls == ["DeleteSchedule"]
        remaining = client.get_paginator("list_schedules").paginate(GroupName="paging").build_full_result()
        assert len(remaining["Schedules"]) == 300


_SIGNAL_ON_ANOTHER_THREAD = """
import signal, threading, time
from local.__main__ import wait_until
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
def worker():
    time.sleep(0.3)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
threading.Thread(target=worker, daemon=True).start()
wait_until(stop)
print("stopped")
"""


def test_stack_stop_wait_ends_when_sigterm_lands_on_another_thread() -> None:
    # GIVEN the stack's wait for a stop, and a SIGTERM the kernel hands to a worker thread (the API
    # server's, the pollers': any thread may take a process's signal)
    root = Path(__file__).resolve().parents[2]
    # WHEN the signal arrives
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_ON_ANOTHER_THREAD], cwd=root, capture_output=True, text=True, timeout=10
    )
    # THEN the main thread stops waiting (an untimed wait slept through it until the timeout)
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr
