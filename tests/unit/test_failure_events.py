"""Building failure events: fields, enrichment, size limit and the published JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from hook_archive.logic.failure_events import (
    MAX_ENTRY_BYTES,
    build_detail,
    enrichment_from_api,
    to_envelope,
)
from hook_archive.models.failure_event import Enrichment
from tests.unit.factories import hook_result

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "hook-failure-event.v1.json"


def failed_detail(reason: str = "Guard rule failed", annotations: int = 1, message_size: int = 100) -> object:
    enrichment = enrichment_from_api(
        {
            "Target": {
                "TargetType": "RESOURCE",
                "TargetTypeName": "AWS::S3::Bucket",
                "TargetId": "Logs",
                "Action": "CREATE",
            },
            "Annotations": [
                {
                    "AnnotationName": f"RULE_{n}",
                    "Status": "FAILED",
                    "StatusMessage": "x" * message_size,
                    "RemediationMessage": "Enable SSE",
                    "RemediationLink": "https://example.com/fix",
                    "SeverityLevel": "HIGH",
                }
                for n in range(annotations)
            ],
        }
    )
    return build_detail(
        hook_result(1, status="HOOK_COMPLETE_FAILED", hook_status_reason=reason),
        account_id="111122223333",
        region="eu-west-1",
        archive_uri="s3://bucket/hook-results/dt=2026-11-18/111122223333-eu-west-1-000000000001.parquet",
        archived_at_ms=1_795_000_000_000,
        enrichment=enrichment,
    )


def test_event_carries_the_summary_the_archive_uri_and_the_enrichment() -> None:
    envelope = to_envelope(failed_detail(), source="cfn-hook-archive")  # type: ignore[arg-type]
    detail = json.loads(envelope.detail)
    assert envelope.detail_type == "CloudFormation Hook Invocation Failed"
    assert detail["schema_version"] == "1.0"
    assert detail["hook_result_id"] == hook_result(1).hook_result_id
    assert detail["archive_uri"].startswith("s3://bucket/hook-results/dt=2026-11-18/")
    assert detail["enrichment"]["annotations"][0]["annotation_name"] == "RULE_0"
    assert detail["enrichment"]["target"]["action"] == "CREATE"
    assert detail["invoked_at"].endswith("Z")
    assert detail["truncated_fields"] == []
    jsonschema.validate(detail, json.loads(SCHEMA_FILE.read_text()))


def test_oversized_event_is_truncated_under_the_put_events_limit_and_says_so() -> None:
    envelope = to_envelope(failed_detail(annotations=40, message_size=16_384), source="cfn-hook-archive")  # type: ignore[arg-type]
    detail = json.loads(envelope.detail)
    assert envelope.entry_bytes() <= MAX_ENTRY_BYTES
    assert detail["truncated_fields"]
    assert any(field.startswith("enrichment.annotations") for field in detail["truncated_fields"])
    assert detail["hook_result_id"] == hook_result(1).hook_result_id
    jsonschema.validate(detail, json.loads(SCHEMA_FILE.read_text()))


def test_small_event_is_left_whole() -> None:
    envelope = to_envelope(failed_detail(reason="ü" * 1024), source="cfn-hook-archive")  # type: ignore[arg-type]
    assert json.loads(envelope.detail)["hook_status_reason"] == "ü" * 1024


def test_unavailable_enrichment_keeps_the_error_code() -> None:
    detail = build_detail(
        hook_result(1, status="HOOK_FAILED"),
        account_id="111122223333",
        region="eu-west-1",
        archive_uri="s3://b/k",
        archived_at_ms=0,
        enrichment=Enrichment(status="unavailable", error_code="AccessDenied"),
    )
    assert json.loads(detail.model_dump_json())["enrichment"] == {
        "status": "unavailable",
        "error_code": "AccessDenied",
        "original_type_name": None,
        "target": None,
        "annotations": [],
    }
