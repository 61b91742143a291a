"""What a run is told, from the archiver's configuration: shared by the Lambda handler and by
`cfn-hook-archive verify --repair`, which makes the same run in-process with the caller's credentials."""

from __future__ import annotations

from hook_archive.logic.archive_run import RunSettings
from hook_archive.models.config import ArchiverConfig


def settings_for(config: ArchiverConfig, account_id: str) -> RunSettings:
    return RunSettings(
        bucket=config.archive_bucket,
        archive_prefix=config.archive_prefix,
        account_id=account_id,
        region=config.region,
        event_source=config.event_source,
        late_window_ms=config.late_arrival_window_seconds * 1000,
        in_progress_timeout_ms=config.in_progress_timeout_seconds * 1000,
        safety_margin_ms=int(config.time_safety_margin_seconds * 1000),
        enrich_failures=config.enrich_failures,
        max_enrichments=config.max_enrichments_per_run,
        max_annotations_due=config.max_annotations_due,
        max_enrichment_attempts=config.annotation_fetch_attempts,
        max_outbox=config.max_event_outbox,
        max_events=config.max_events_per_run,
        audit_interval_ms=config.audit_interval_hours * 3_600_000,
    )
