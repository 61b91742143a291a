"""Which run counters become CloudWatch metrics at each METRICS_LEVEL (logic/run_metrics.py), and that every
number stays in the run's summary log line whatever the level."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from emulation.lambda_runtime import load_template
from hook_archive.logic.run_metrics import (
    AUDIT_REPAIRED,
    COLD_START,
    REPORT_METRICS,
    RUNS_FAILED,
    RUNS_SKIPPED,
    RUNS_SUCCEEDED,
    MetricPoint,
    captures_cold_start,
    completed_run_metrics,
    failed_run_metrics,
    metric_names,
    skipped_run_metrics,
)
from hook_archive.models.config import MetricsLevel
from hook_archive.models.run_report import RunReport
from tests.template.cfn import dashboard_metrics

LEVELS: tuple[MetricsLevel, ...] = ("all", "essential")
counts = st.integers(min_value=0, max_value=10**12)
reports = st.builds(
    RunReport,
    run_id=st.just("run-1"),
    **{metric.log_field: counts for metric in REPORT_METRICS},
    errors=st.lists(st.text(min_size=1, max_size=20), max_size=2),
)


def _named(points: list[MetricPoint]) -> dict[str, float]:
    names = [point.name for point in points]
    assert len(names) == len(set(names)), names  # one datapoint per name and invocation
    return {point.name: point.value for point in points}


@given(reports)
def test_all_publishes_every_counter_of_the_report_with_its_value(report: RunReport) -> None:
    published = _named(completed_run_metrics(report, "all"))
    assert set(published) == {metric.name for metric in REPORT_METRICS} | {RUNS_SUCCEEDED}
    for metric in REPORT_METRICS:
        assert published[metric.name] == getattr(report, metric.log_field)


@given(reports)
def test_essential_publishes_only_runs_succeeded(report: RunReport) -> None:
    # A member at essential pays for one custom metric; its audit repairs reach fleet health through the
    # checkpoint (AuditProgress.last_repaired), not through AuditRepaired.
    assert _named(completed_run_metrics(report, "essential")) == {
        RUNS_SUCCEEDED: 0.0 if report.errors else 1.0
    }
    assert _named(completed_run_metrics(report, "all"))[AUDIT_REPAIRED] == report.audit_repaired


@given(reports)
def test_every_number_published_at_all_is_a_field_of_the_summary_log_line(report: RunReport) -> None:
    # The handler logs report.as_dict() as the line's `run` field: what essential leaves out is still there.
    line = report.as_dict()
    by_name = {metric.name: metric.log_field for metric in REPORT_METRICS}
    for point in completed_run_metrics(report, "all"):
        if point.name == RUNS_SUCCEEDED:
            assert point.value == (0.0 if line["errors"] else 1.0)
        else:
            assert line[by_name[point.name]] == point.value


def test_a_run_with_errors_after_its_commit_counts_no_success_at_either_level() -> None:
    report = RunReport(run_id="run-1", archived=5, errors=["3 events were not delivered"])
    for level in LEVELS:
        assert _named(completed_run_metrics(report, level))[RUNS_SUCCEEDED] == 0.0


def test_skipped_and_failed_runs_give_the_alarm_a_zero_and_count_themselves_only_at_all() -> None:
    assert _named(skipped_run_metrics("all")) == {RUNS_SKIPPED: 1.0, RUNS_SUCCEEDED: 0.0}
    assert _named(failed_run_metrics("all")) == {RUNS_FAILED: 1.0, RUNS_SUCCEEDED: 0.0}
    assert _named(skipped_run_metrics("essential")) == {RUNS_SUCCEEDED: 0.0}
    assert _named(failed_run_metrics("essential")) == {RUNS_SUCCEEDED: 0.0}


def test_cold_start_metric_is_captured_and_counted_only_at_all() -> None:
    assert captures_cold_start("all")
    assert not captures_cold_start("essential")
    assert COLD_START in metric_names("all")
    assert COLD_START not in metric_names("essential")


def test_metric_names_are_exactly_what_the_handler_can_publish_at_each_level() -> None:
    report = RunReport(run_id="run-1")
    for level in LEVELS:
        emitted = {
            point.name
            for points in (
                completed_run_metrics(report, level),
                skipped_run_metrics(level),
                failed_run_metrics(level),
            )
            for point in points
        }
        cold = {COLD_START} if captures_cold_start(level) else set()
        assert emitted | cold == metric_names(level)


def _our_metrics(template: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """The archiver's metric names that template.yaml's alarms read at every level and at `all` only (the
    PublishAllMetrics condition; fleet health's share the namespace), and the names its dashboard charts."""
    function = template["Resources"]["ArchiverFunction"]["Properties"]
    namespace = function["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    alarms: dict[str, set[str]] = {"always": set(), "all": set()}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm" or resource["Properties"]["Namespace"] != namespace:
            continue
        name = resource["Properties"]["MetricName"]
        if name in metric_names("all"):
            alarms["all" if resource.get("Condition") == "PublishAllMetrics" else "always"].add(name)
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    charted = {str(metric[1]) for metric in dashboard_metrics(text) if metric[0] == namespace}
    return alarms["always"], alarms["all"], charted


def test_essential_keeps_what_the_alarms_read_and_all_keeps_what_the_dashboard_charts() -> None:
    alarms, all_only_alarms, charted = _our_metrics(load_template())
    assert alarms == {RUNS_SUCCEEDED}  # NoSuccessfulRunAlarm
    assert alarms <= metric_names("essential")
    # AuditRepairedAlarm exists at MetricsLevel all only: at essential nothing publishes its metric.
    assert all_only_alarms == {AUDIT_REPAIRED}
    assert not all_only_alarms & metric_names("essential")
    assert all_only_alarms <= metric_names("all")
    assert charted <= metric_names("all")
    # The dashboard charts more than essential keeps: a member at essential deploys no dashboard.
    assert charted - metric_names("essential")
