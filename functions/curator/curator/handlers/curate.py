"""Lambda entry point: a schedule tick (every few minutes: the freshness of hook_results and
hook_annotations), a full reconciliation ({"full": true}), or a batch of S3 notifications of new raw
objects (through SQS).

Each run curates both tables, results first. They share nothing but the bucket: a table whose run fails
does not stop the other's, and the invocation fails after both have run, with every error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from curator.dal.curated_table import IcebergCuratedTable, glue_catalog
from curator.dal.raw_archive import S3RawArchive
from curator.errors import CurationFailedError
from curator.logic.curation import CurationDependencies, CurationSettings, curate
from curator.logic.requests import request_from_event
from curator.models.config import CuratorConfig
from curator.models.curated_table import ANNOTATIONS_TABLE, RESULTS_TABLE, CuratedTableSpec
from curator.models.plan import CurationReport

logger = Logger()
metrics = Metrics()

# Cold start: a missing or bad variable fails here, with a message that names it.
CONFIG = CuratorConfig.from_environ(os.environ)
SETTINGS = CurationSettings.from_config(CONFIG)


@dataclass(frozen=True)
class CuratorDependencies:
    """One curation's dependencies per table."""

    results: CurationDependencies
    annotations: CurationDependencies


def _table_dependencies(
    config: CuratorConfig, spec: CuratedTableSpec, *, table_name: str, location: str
) -> CurationDependencies:
    return CurationDependencies(
        raw=S3RawArchive(
            bucket=config.archive_bucket,
            archive_prefix=spec.raw_prefix(config.archive_prefix),
            region=config.bucket_region,
            schema=spec.raw_schema,
        ),
        table=IcebergCuratedTable(
            catalog=glue_catalog(config.catalog_properties()),
            database=config.glue_database,
            table_name=table_name,
            location=location,
            region=config.bucket_region,
            spec=spec,
        ),
        spec=spec,
    )


@cache
def default_dependencies() -> CuratorDependencies:
    return CuratorDependencies(
        results=_table_dependencies(
            CONFIG, RESULTS_TABLE, table_name=CONFIG.curated_table, location=CONFIG.table_location
        ),
        annotations=_table_dependencies(
            CONFIG,
            ANNOTATIONS_TABLE,
            table_name=CONFIG.curated_annotations_table,
            location=CONFIG.annotations_table_location,
        ),
    )


def _curate_table(deps: CurationDependencies, event: Mapping[str, Any]) -> CurationReport:
    request = request_from_event(event, archive_prefix=deps.spec.raw_prefix(CONFIG.archive_prefix))
    return curate(deps, SETTINGS, request)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: Mapping[str, Any], context: LambdaContext, dependencies: CuratorDependencies | None = None
) -> dict[str, object]:
    if not isinstance(event, Mapping):
        raise TypeError(f"expected a JSON object event, got {type(event).__name__}")
    deps = dependencies or default_dependencies()
    reports: dict[str, CurationReport] = {}
    errors: dict[str, Exception] = {}
    for name, table_deps in (("results", deps.results), ("annotations", deps.annotations)):
        try:
            reports[name] = _curate_table(table_deps, event)
        except Exception as error:  # re-raised once the other table has run
            logger.exception(f"curating the {name} table failed", extra={"table": name})
            errors[name] = error
    for report in reports.values():
        metrics.add_metric(name="CuratorCommits", unit=MetricUnit.Count, value=report.commits)
        metrics.add_metric(name="CuratorConflicts", unit=MetricUnit.Count, value=report.conflicts)
        metrics.add_metric(name="CuratedRowsWritten", unit=MetricUnit.Count, value=report.rows_written)
    # The results table's report at the top, as before the annotations had a table; theirs beside it.
    summary: dict[str, object] = reports["results"].as_dict() if "results" in reports else {}
    if "annotations" in reports:
        summary["annotations"] = reports["annotations"].as_dict()
    logger.info("curation summary", extra=summary)
    if len(errors) == 1:
        raise next(iter(errors.values()))
    if errors:
        message = "; ".join(
            f"the {name} table: {type(error).__name__}: {error}" for name, error in errors.items()
        )
        raise CurationFailedError(f"curating both tables failed: {message}") from errors["results"]
    return summary
