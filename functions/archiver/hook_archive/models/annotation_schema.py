"""The annotations table's one declared shape: every annotation object is written with ANNOTATION_SCHEMA.

One row per annotation GetHookResult returned for an archived failed invocation (botocore's cloudformation
model: Annotation has AnnotationName, Status, StatusMessage, RemediationMessage, RemediationLink and
SeverityLevel). The Hive partition column dt (the invocation's UTC day, as in the results table) lives in the
object key, not in the file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa

from hook_archive.models.archive_schema import TIMESTAMP
from hook_archive.models.failure_event import Enrichment
from hook_archive.models.hook_result import HookResult

ANNOTATION_SCHEMA: pa.Schema = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs types a list of fields as list[object]
        pa.field("hook_result_id", pa.string(), nullable=False),
        pa.field("type_name", pa.string()),
        pa.field("annotation_name", pa.string()),
        pa.field("status", pa.string()),
        pa.field("status_message", pa.string()),
        pa.field("remediation_message", pa.string()),
        pa.field("remediation_link", pa.string()),
        pa.field("severity_level", pa.string()),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("archived_at", TIMESTAMP, nullable=False),
    ],
    metadata={"cfn-hook-archive.schema-version": "1"},
)


@dataclass(frozen=True)
class AnnotationRow:
    """One annotation of one invocation, as the file holds it (account, region, archived_at come from
    the run that writes the object)."""

    hook_result_id: str
    type_name: str | None
    annotation_name: str | None
    status: str | None
    status_message: str | None
    remediation_message: str | None
    remediation_link: str | None
    severity_level: str | None


_ROW_FIELDS = tuple(field.name for field in fields(AnnotationRow))


def annotation_rows(result: HookResult, enrichment: Enrichment) -> list[AnnotationRow]:
    """The rows of one enriched invocation; none when GetHookResult gave nothing (or no annotations)."""
    if enrichment.status != "enriched":
        return []
    return [
        AnnotationRow(
            hook_result_id=result.hook_result_id,
            type_name=result.type_name,
            annotation_name=annotation.annotation_name,
            status=annotation.status,
            status_message=annotation.status_message,
            remediation_message=annotation.remediation_message,
            remediation_link=annotation.remediation_link,
            severity_level=annotation.severity_level,
        )
        for annotation in enrichment.annotations
    ]


def annotations_from_table(table: pa.Table) -> list[AnnotationRow]:
    """Annotation rows back from a file (used to adopt the rows of a run that died before its commit)."""
    return [AnnotationRow(**row) for row in table.select(list(_ROW_FIELDS)).to_pylist()]


def annotations_to_record_batch(
    rows: Sequence[AnnotationRow], *, account_id: str, region: str, archived_at_ms: int
) -> pa.RecordBatch:
    """Columns built with explicit types: nothing is inferred."""
    columns: list[pa.Array[Any]] = []
    for field in ANNOTATION_SCHEMA:
        name = field.name
        if name in _ROW_FIELDS:
            values: list[object] = [getattr(row, name) for row in rows]
        elif name == "account_id":
            values = [account_id] * len(rows)
        elif name == "region":
            values = [region] * len(rows)
        else:
            values = [archived_at_ms] * len(rows)
        columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=ANNOTATION_SCHEMA)
