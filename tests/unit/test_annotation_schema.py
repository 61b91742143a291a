"""The annotations table's rows: built from an enrichment, written with ANNOTATION_SCHEMA, read back alike."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from hook_archive.logic.failure_events import enrichment_from_api
from hook_archive.logic.partitioning import annotation_key, archive_key, is_annotation_key, key_partition_date
from hook_archive.models.annotation_schema import (
    ANNOTATION_SCHEMA,
    annotation_rows,
    annotations_from_table,
    annotations_to_record_batch,
)
from hook_archive.models.failure_event import Enrichment
from hook_archive.models.hook_result import HookResult

RESULT = HookResult(
    hook_result_id="id-1",
    invocation_point="PRE_PROVISION",
    failure_mode="FAIL",
    type_name="Org::Guard::Hook",
    type_version_id=None,
    type_configuration_version_id=None,
    status="HOOK_COMPLETE_FAILED",
    hook_status_reason=None,
    invoked_at_ms=None,
    target_type=None,
    target_id=None,
    type_arn=None,
    hook_execution_target=None,
)
RESPONSE = {
    "Annotations": [
        {
            "AnnotationName": "S3_BUCKET_SSL",
            "Status": "FAILED",
            "StatusMessage": "Bucket allows HTTP",
            "RemediationMessage": "Deny aws:SecureTransport false",
            "RemediationLink": "https://example.com/ssl",
            "SeverityLevel": "HIGH",
        },
        {"AnnotationName": "S3_BUCKET_VERSIONING", "Status": "PASSED"},
    ]
}


def test_one_row_per_annotation_with_every_api_member_and_none_without_enrichment() -> None:
    rows = annotation_rows(RESULT, enrichment_from_api(RESPONSE))
    assert [(row.annotation_name, row.status, row.severity_level) for row in rows] == [
        ("S3_BUCKET_SSL", "FAILED", "HIGH"),
        ("S3_BUCKET_VERSIONING", "PASSED", None),
    ]
    assert rows[0].remediation_link == "https://example.com/ssl"
    assert {row.hook_result_id for row in rows} == {"id-1"}
    assert {row.type_name for row in rows} == {"Org::Guard::Hook"}
    assert annotation_rows(RESULT, Enrichment(status="unavailable", error_code="AccessDeniedException")) == []
    assert annotation_rows(RESULT, Enrichment(status="skipped_run_limit")) == []


def test_rows_are_written_with_the_declared_schema_and_read_back_unchanged() -> None:
    rows = annotation_rows(RESULT, enrichment_from_api(RESPONSE))
    batch = annotations_to_record_batch(rows, account_id="123456789012", region="us-east-1", archived_at_ms=1)
    assert batch.schema.equals(ANNOTATION_SCHEMA)
    table = pa.Table.from_batches([batch])
    assert table.column("account_id").to_pylist() == ["123456789012"] * 2
    assert annotations_from_table(table) == rows


def test_annotation_keys_sit_beside_the_results_partitions_not_inside_them() -> None:
    day = date(2026, 11, 18)
    key = annotation_key("hook-results", day, account_id="123456789012", region="us-east-1", sequence=7)
    assert key == "hook-results/annotations/dt=2026-11-18/123456789012-us-east-1-000000000007.parquet"
    assert not key.startswith("hook-results/dt=")
    assert is_annotation_key("hook-results", key)
    results = archive_key("hook-results", day, account_id="123456789012", region="us-east-1", sequence=7)
    assert not is_annotation_key("hook-results", results)
    assert key_partition_date(key) == key_partition_date(results) == day
