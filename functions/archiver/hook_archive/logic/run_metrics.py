"""Which of a run's counters become CloudWatch metrics. Each metric name (with its dimensions) is billed as a
custom metric every month it is published, so METRICS_LEVEL chooses: `all` of them, or the `essential` one
that the stack's alarm reads. Every counter stays in the run's summary log line whatever the level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hook_archive.models.config import MetricsLevel
from hook_archive.models.run_report import RunReport

MetricUnitName = Literal["Count", "Bytes", "Milliseconds"]

RUNS_SUCCEEDED = "RunsSucceeded"
RUNS_FAILED = "RunsFailed"
RUNS_SKIPPED = "RunsSkipped"
AUDIT_REPAIRED = "AuditRepaired"  # results the self-audit archived: the scan missed them (logic/audit.py)
COLD_START = "ColdStart"  # published by Powertools itself, with a function_name dimension of its own


@dataclass(frozen=True)
class MetricPoint:
    name: str
    unit: MetricUnitName
    value: float


@dataclass(frozen=True)
class _ReportMetric:
    name: str
    unit: MetricUnitName
    log_field: str  # where the summary log line carries the same number


# The counters of a finished run, in the order they are published.
REPORT_METRICS: tuple[_ReportMetric, ...] = (
    _ReportMetric("Pages", "Count", "pages"),
    _ReportMetric("ResultsSeen", "Count", "results_seen"),
    _ReportMetric("ResultsArchived", "Count", "archived"),
    _ReportMetric("DeferredInProgress", "Count", "deferred_in_progress"),
    _ReportMetric("AbandonedInProgress", "Count", "archived_abandoned"),
    _ReportMetric("MalformedResults", "Count", "malformed_results"),
    _ReportMetric("FailuresFound", "Count", "failures"),
    _ReportMetric("EventsPublished", "Count", "events_published"),
    _ReportMetric("EventsFailed", "Count", "events_failed"),
    _ReportMetric("EventsDeferred", "Count", "events_deferred"),
    # Enrichment coverage: failures whose annotations still wait on the catch-up list, and those whose
    # annotations will never be archived (not found, access denied, given up, overflow; by reason in the log).
    _ReportMetric("AnnotationsPending", "Count", "annotations_pending"),
    _ReportMetric("AnnotationsUnavailable", "Count", "annotations_unavailable"),
    _ReportMetric("ObjectsWritten", "Count", "objects_written"),
    _ReportMetric("BytesWritten", "Bytes", "bytes_written"),
    _ReportMetric("RunDuration", "Milliseconds", "duration_ms"),
    _ReportMetric(AUDIT_REPAIRED, "Count", "audit_repaired"),
)

# What template.yaml's alarm reads at `essential`: NoSuccessfulRunAlarm. Failed and throttled invocations are
# alarmed on through AWS/Lambda's own Errors and Throttles, which cost nothing. AuditRepaired is published at
# `all` only (its AuditRepairedAlarm exists only then): Organization members run at `essential` without
# alarms, and fleet health counts their audit repairs centrally, from the checkpoints
# (ArchiversWithAuditRepairs).
ESSENTIAL: frozenset[str] = frozenset({RUNS_SUCCEEDED})


def metric_names(level: MetricsLevel) -> frozenset[str]:
    """Every name the handler may publish at this level (ColdStart included when Powertools adds it)."""
    everything = {metric.name for metric in REPORT_METRICS} | {RUNS_SUCCEEDED, RUNS_FAILED, RUNS_SKIPPED}
    names = everything if level == "all" else set(ESSENTIAL)
    return frozenset(names | ({COLD_START} if captures_cold_start(level) else set()))


def captures_cold_start(level: MetricsLevel) -> bool:
    # Cold starts stay visible without it: Lambda's REPORT log line carries an Init Duration on each one.
    return level == "all"


def _at(level: MetricsLevel, points: list[MetricPoint]) -> list[MetricPoint]:
    return points if level == "all" else [point for point in points if point.name in ESSENTIAL]


def completed_run_metrics(report: RunReport, level: MetricsLevel) -> list[MetricPoint]:
    """A run that returned a report (errors after the commit included: it did not succeed)."""
    points = [
        MetricPoint(metric.name, metric.unit, float(getattr(report, metric.log_field)))
        for metric in REPORT_METRICS
    ]
    points.append(MetricPoint(RUNS_SUCCEEDED, "Count", 0.0 if report.errors else 1.0))
    return _at(level, points)


def skipped_run_metrics(level: MetricsLevel) -> list[MetricPoint]:
    """A run that stepped aside for another one's lease: no success, so the alarm still gets a datapoint."""
    return _at(level, [MetricPoint(RUNS_SKIPPED, "Count", 1.0), MetricPoint(RUNS_SUCCEEDED, "Count", 0.0)])


def failed_run_metrics(level: MetricsLevel) -> list[MetricPoint]:
    """A run that raised before it had a report."""
    return _at(level, [MetricPoint(RUNS_FAILED, "Count", 1.0), MetricPoint(RUNS_SUCCEEDED, "Count", 0.0)])
