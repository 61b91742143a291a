"""The fleet-health handler: two fleet-wide metrics, one structured log line per archiver, the report."""

from __future__ import annotations

import importlib
import json
import sys
from types import ModuleType

import pytest

from fleet_health.errors import ConfigError
from fleet_health.logic.fleet_check import FleetCheckDependencies
from tests.unit.fleet_health_fakes import MemoryCheckpoints

HANDLER = "fleet_health.handlers.fleet_check"
NOW_MS = 1_780_000_000_000
HOUR_MS = 3_600_000
ENVIRONMENT = {
    "ARCHIVE_BUCKET": "central-archive",
    "ARCHIVE_PREFIX": "hook-results",
    "STALE_AFTER_HOURS": "3",
    "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchiveFleet",
    "POWERTOOLS_SERVICE_NAME": "central-fleet-stack",
}


class Context:
    function_name = "fleet-health"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fleet-health"
    aws_request_id = "request-1"


def cold_start(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> ModuleType:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop(HANDLER, None)
    return importlib.import_module(HANDLER)


def test_cold_start_without_archive_bucket_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="ARCHIVE_BUCKET"):
        cold_start(monkeypatch, {k: v for k, v in ENVIRONMENT.items() if k != "ARCHIVE_BUCKET"})


def test_one_log_line_per_archiver_and_three_fleet_metrics_with_the_stack_as_dimension(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    handler = cold_start(monkeypatch, ENVIRONMENT)
    # Powertools keeps one metric buffer per process, shared by every Metrics(): another handler's test may
    # have left metrics in it (in Lambda each function is its own process).
    handler.metrics.clear_metrics()
    source = MemoryCheckpoints()
    for account, age_hours in (("111111111111", 1), ("222222222222", 5), ("333333333333", 0)):
        body = {
            "format": "cfn-hook-archive/checkpoint",
            "version": 2,
            "account_id": account,
            "region": "eu-west-1",
            "updated_at_ms": NOW_MS - age_hours * HOUR_MS,
            # Each one's last audit completed an hour ago; the stale one's repaired nothing.
            "audit": {
                "next_due_ms": NOW_MS,
                "last_completed_ms": NOW_MS - HOUR_MS,
                "last_repaired": {1: 2, 5: 0, 0: 3}[age_hours],
            },
        }
        source.put(
            f"hook-results/_state/{account}/eu-west-1/checkpoint.json",
            json.dumps(body).encode(),
            last_modified_ms=NOW_MS,
        )
    deps = FleetCheckDependencies(checkpoints=source, clock_ms=lambda: NOW_MS)

    report = handler.lambda_handler({"id": "tick"}, Context(), dependencies=deps)

    assert report["stale"] == ["222222222222/eu-west-1"]
    # The log lines as Powertools writes them: each record through the logger's own JSON formatter.
    formatter = handler.logger.registered_formatter
    logged = [json.loads(formatter.format(record)) for record in caplog.records]
    health = [line for line in logged if line["message"] == "archiver health"]
    assert [(line["account_id"], line["stale"], line["status"], line["age_hours"]) for line in health] == [
        ("111111111111", False, "ok", 1.0),
        ("222222222222", True, "stale", 5.0),
        ("333333333333", False, "ok", 0.0),
    ]
    (emf,) = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "CfnHookArchiveFleet"
    assert directive["Dimensions"] == [["service"]]
    assert {metric["Name"] for metric in directive["Metrics"]} == {
        "StaleArchivers",
        "ArchiversSeen",
        "ArchiversWithAuditRepairs",
    }
    assert (
        emf["service"],
        emf["StaleArchivers"],
        emf["ArchiversSeen"],
        emf["ArchiversWithAuditRepairs"],
    ) == (
        "central-fleet-stack",
        [1.0],
        [3.0],
        [2.0],
    )
    assert [(line["audit_repaired"], line["audit_repairs_recent"]) for line in health] == [
        (2, True),
        (0, False),
        (3, True),
    ]
    (summary,) = [line for line in logged if line["message"] == "fleet health summary"]
    assert summary["audit_repairs"] == ["111111111111/eu-west-1", "333333333333/eu-west-1"]
