"""The functions' own metrics: EMF lines on stdout, none when metrics are disabled (the local stack)."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from support_common.observability import count, measure


def test_count_and_measure_print_emf_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN metrics enabled, as on AWS
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)

    # WHEN a count and a measure are emitted
    count("TicketsCreated", type="question", channel="dashboard")
    measure("TimeToAcknowledge", 120.0, MetricUnit.Milliseconds, level="1")

    # THEN each is one EMF line
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all('"_aws"' in line for line in lines)
    assert '"TicketsCreated":[1.0]' in lines[0]


def test_count_and_measure_print_nothing_when_metrics_are_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN metrics disabled, as the local stack runs its functions without --metrics
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    # WHEN a count and a measure are emitted
    count("TicketsCreated", type="question", channel="dashboard")
    measure("TimeToAcknowledge", 120.0, MetricUnit.Milliseconds, level="1")

    # THEN no EMF line reaches the console
    assert capsys.readouterr().out == ""
