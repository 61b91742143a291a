"""Scheduled Lambda in the central account: one fleet-health check per invocation.

Three metrics for the whole fleet (StaleArchivers, ArchiversSeen, ArchiversWithAuditRepairs; the `service`
dimension is the fleet stack's name), and one structured log line per account-region: per-member metrics would
cost per member."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleet_health.dal.checkpoint_reader import S3CheckpointReader
from fleet_health.logic.fleet_check import FleetCheckDependencies, check_fleet
from fleet_health.models.config import FleetHealthConfig

logger = Logger()
metrics = Metrics()

# Cold start: a missing or bad variable fails here, with a message that names it.
CONFIG = FleetHealthConfig.from_environ(os.environ)


@cache
def default_dependencies() -> FleetCheckDependencies:
    return FleetCheckDependencies(checkpoints=S3CheckpointReader(bucket=CONFIG.archive_bucket))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: Mapping[str, Any], context: LambdaContext, dependencies: FleetCheckDependencies | None = None
) -> dict[str, object]:
    if not isinstance(event, Mapping):
        raise TypeError(f"expected a JSON object event (EventBridge schedule), got {type(event).__name__}")
    logger.append_keys(trigger_id=event.get("id"))
    report = check_fleet(
        dependencies or default_dependencies(),
        archive_prefix=CONFIG.archive_prefix,
        stale_after_hours=CONFIG.stale_after_hours,
    )
    for archiver in report.archivers:
        logger.info("archiver health", extra=archiver.log_fields())
    metrics.add_metric(name="StaleArchivers", unit=MetricUnit.Count, value=len(report.stale))
    metrics.add_metric(name="ArchiversSeen", unit=MetricUnit.Count, value=report.seen)
    metrics.add_metric(
        name="ArchiversWithAuditRepairs", unit=MetricUnit.Count, value=len(report.with_audit_repairs)
    )
    summary = report.as_dict()
    logger.info(
        "fleet health summary",
        extra={key: value for key, value in summary.items() if key != "archivers"},
    )
    return summary
