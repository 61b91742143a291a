"""Lambda entry point: a schedule tick (every few minutes: the freshness of hook_results), a full
reconciliation ({"full": true}), or a batch of S3 notifications of new raw objects (through SQS)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from curator.dal.curated_table import IcebergCuratedTable, glue_catalog
from curator.dal.raw_archive import S3RawArchive
from curator.logic.curation import CurationDependencies, CurationSettings, curate
from curator.logic.requests import request_from_event
from curator.models.config import CuratorConfig

logger = Logger()
metrics = Metrics()

# Cold start: a missing or bad variable fails here, with a message that names it.
CONFIG = CuratorConfig.from_environ(os.environ)


def settings_from(config: CuratorConfig) -> CurationSettings:
    return CurationSettings(
        lookback_days=config.lookback_days,
        max_objects_per_commit=config.max_objects_per_commit,
        close_after_hours=config.close_after_hours,
        target_file_bytes=config.target_file_bytes,
        snapshot_retention_hours=config.snapshot_retention_hours,
        orphan_grace_hours=config.orphan_grace_hours,
        maintenance_interval_minutes=config.maintenance_interval_minutes,
    )


@cache
def default_dependencies() -> CurationDependencies:
    return CurationDependencies(
        raw=S3RawArchive(
            bucket=CONFIG.archive_bucket, archive_prefix=CONFIG.archive_prefix, region=CONFIG.bucket_region
        ),
        table=IcebergCuratedTable(
            catalog=glue_catalog(CONFIG.catalog_properties()),
            database=CONFIG.glue_database,
            table_name=CONFIG.curated_table,
            location=CONFIG.table_location,
            region=CONFIG.bucket_region,
        ),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: Mapping[str, Any], context: LambdaContext, dependencies: CurationDependencies | None = None
) -> dict[str, object]:
    if not isinstance(event, Mapping):
        raise TypeError(f"expected a JSON object event, got {type(event).__name__}")
    request = request_from_event(event, archive_prefix=CONFIG.archive_prefix)
    report = curate(dependencies or default_dependencies(), settings_from(CONFIG), request)
    metrics.add_metric(name="CuratorCommits", unit=MetricUnit.Count, value=report.commits)
    metrics.add_metric(name="CuratorConflicts", unit=MetricUnit.Count, value=report.conflicts)
    metrics.add_metric(name="CuratedRowsWritten", unit=MetricUnit.Count, value=report.rows_written)
    summary: dict[str, object] = report.as_dict()
    logger.info("curation summary", extra=summary)
    return summary
