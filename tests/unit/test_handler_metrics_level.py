"""The real handler at each METRICS_LEVEL: the EMF it prints (what CloudWatch would bill as custom metrics)
and its summary log line, which carries every counter at either level. The handler reads its environment
at import, so each level runs in a fresh interpreter, against the functional tier's in-memory fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hook_archive.logic.run_metrics import (
    COLD_START,
    REPORT_METRICS,
    RUNS_FAILED,
    RUNS_SKIPPED,
    RUNS_SUCCEEDED,
    metric_names,
)
from hook_archive.models.config import MetricsLevel

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from emulation.lambda_runtime import LambdaContext, load_event
from hook_archive.handlers import archive_run
from tests.functional.fakes import FakeWorld
from tests.functional.history import BASE_MS, MINUTE_MS, History

world = FakeWorld(now_ms=BASE_MS)
world.api.add(*History(3).days(end_ms=BASE_MS - 60 * MINUTE_MS, days=2, per_day=20))
context = LambdaContext(
    function_name="ArchiverFunction", memory_mb=1024, timeout_seconds=300, region="us-east-1",
    account_id="123456789012",
)
event = dict(load_event("scheduled_tick.json"))
archive_run.lambda_handler(event, context, dependencies=world.dependencies())
"""


def _run_handler(level: MetricsLevel) -> list[dict[str, Any]]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))
    }
    environment.update(
        {
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "functions" / "archiver"), str(REPO_ROOT)]),
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "ARCHIVE_BUCKET": "archive-bucket-123456789012",
            "METRICS_LEVEL": level,
            "POWERTOOLS_SERVICE_NAME": "hook-archive-team-a",
            "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    done = subprocess.run(  # noqa: S603  # our own interpreter and script
        [sys.executable, "-W", "error::UserWarning", "-c", SCRIPT],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _published(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metric name -> its value and dimensions, from every EMF blob printed."""
    published: dict[str, dict[str, Any]] = {}
    for blob in lines:
        if "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "CfnHookArchive"
            for metric in directive["Metrics"]:
                dimensions = {name: blob[name] for names in directive["Dimensions"] for name in names}
                assert metric["Name"] not in published, metric["Name"]
                value = blob[metric["Name"]]
                values = value if isinstance(value, list) else [value]  # EMF allows either
                assert len(values) == 1, (metric["Name"], values)  # one datapoint a run
                published[metric["Name"]] = {"value": values[0], "dimensions": dimensions}
    return published


@pytest.mark.parametrize("level", ["all", "essential"])
def test_a_run_publishes_exactly_its_levels_metrics_and_logs_every_counter(level: MetricsLevel) -> None:
    lines = _run_handler(level)
    published = _published(lines)
    # A successful cold run publishes every name of its level but the failed and skipped counts.
    assert set(published) == metric_names(level) - {RUNS_FAILED, RUNS_SKIPPED}
    assert published[RUNS_SUCCEEDED] == {"value": 1.0, "dimensions": {"service": "hook-archive-team-a"}}
    if COLD_START in published:  # Powertools' own, a metric of its own through its extra dimension
        assert published[COLD_START]["dimensions"] == {
            "function_name": "ArchiverFunction",
            "service": "hook-archive-team-a",
        }
    (summary,) = [line for line in lines if line.get("message") == "archive run summary"]
    run = summary["run"]
    assert run["status"] == "complete"
    assert run["archived"] > 0
    for metric in REPORT_METRICS:
        assert isinstance(run[metric.log_field], int), metric.log_field
        if metric.name in published:
            assert published[metric.name]["value"] == run[metric.log_field]
