"""Scheduled Lambda: one archiving run per invocation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hook_archive.dal.aws_dependencies import AwsClients, build_dependencies
from hook_archive.errors import ArchiverError, CheckpointConflictError, RunInProgressError
from hook_archive.logic.archive_run import ArchiverDependencies, run_archive
from hook_archive.logic.run_metrics import (
    MetricPoint,
    captures_cold_start,
    completed_run_metrics,
    failed_run_metrics,
    skipped_run_metrics,
)
from hook_archive.logic.run_settings import settings_for
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.run_report import RunReport

logger = Logger()
metrics = Metrics()
# Every AWS call goes through botocore: patching it alone traces each call once (patching http.client too
# would add a second subsegment per call) and keeps the cold start shorter.
tracer = Tracer(patch_modules=("botocore",))

# Cold start: a missing or bad variable fails here, with a message that names it.
CONFIG = ArchiverConfig.from_environ(os.environ)
CLIENTS = AwsClients.create(CONFIG)


def account_from_context(context: LambdaContext) -> str:
    # arn:aws:lambda:<region>:<account>:function:<name>
    return context.invoked_function_arn.split(":")[4]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=captures_cold_start(CONFIG.metrics_level))
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(
    event: Mapping[str, Any], context: LambdaContext, dependencies: ArchiverDependencies | None = None
) -> dict[str, object]:
    if not isinstance(event, Mapping):
        raise TypeError(f"expected a JSON object event (EventBridge schedule), got {type(event).__name__}")
    logger.append_keys(trigger_id=event.get("id"), trigger_source=event.get("source"))
    account_id = account_from_context(context)
    deps = dependencies or build_dependencies(CONFIG, CLIENTS, account_id=account_id)
    try:
        report = run_archive(
            settings_for(CONFIG, account_id),
            deps,
            run_id=context.aws_request_id,
            deadline_ms=deps.clock_ms() + context.get_remaining_time_in_millis(),
        )
    except (RunInProgressError, CheckpointConflictError) as error:
        # Expected when runs overlap: the loser leaves everything as it was.
        logger.warning("run skipped", extra={"reason": str(error)})
        _publish(skipped_run_metrics(CONFIG.metrics_level))
        return RunReport(
            run_id=context.aws_request_id, status="skipped_run_in_progress", detail=str(error)
        ).as_dict()
    except Exception:
        _publish(failed_run_metrics(CONFIG.metrics_level))
        logger.exception("archive run failed")
        raise
    _record(report)
    if report.errors:
        # The commit is done; failing the invocation now makes the error visible to alarms and retries.
        raise ArchiverError("; ".join(report.errors))
    return report.as_dict()


def _record(report: RunReport) -> None:
    _publish(completed_run_metrics(report, CONFIG.metrics_level))
    # Every counter, published as a metric or not, is a field of this line (CloudWatch Logs Insights).
    logger.info("archive run summary", extra={"run": report.as_dict()})


def _publish(points: list[MetricPoint]) -> None:
    for point in points:
        metrics.add_metric(name=point.name, unit=point.unit, value=point.value)
