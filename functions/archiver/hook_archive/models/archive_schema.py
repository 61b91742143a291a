"""The archive's one declared shape: every Parquet object is written with ARCHIVE_SCHEMA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from hook_archive.models.hook_result import API_FIELDS, HookResult, to_epoch_ms

TIMESTAMP = pa.timestamp("ms", tz="UTC")

ARCHIVE_SCHEMA: pa.Schema = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs types a list of fields as list[object]
        pa.field("hook_result_id", pa.string(), nullable=False),
        pa.field("invocation_point", pa.string()),
        pa.field("failure_mode", pa.string()),
        pa.field("type_name", pa.string()),
        pa.field("type_version_id", pa.string()),
        pa.field("type_configuration_version_id", pa.string()),
        pa.field("status", pa.string()),
        pa.field("hook_status_reason", pa.string()),
        pa.field("invoked_at", TIMESTAMP),
        pa.field("target_type", pa.string()),
        pa.field("target_id", pa.string()),
        pa.field("type_arn", pa.string()),
        pa.field("hook_execution_target", pa.string()),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("archived_at", TIMESTAMP, nullable=False),
    ],
    metadata={"cfn-hook-archive.schema-version": "1"},
)

# Hive partition column: it lives in the object key (dt=YYYY-MM-DD), not in the file.
PARTITION_COLUMN = "dt"

_SUMMARY_FIELDS = tuple(field for _, field in API_FIELDS)
_SUMMARY_FIELDS_IN_FILE = tuple("invoked_at" if name == "invoked_at_ms" else name for name in _SUMMARY_FIELDS)


def from_table(table: pa.Table) -> list[HookResult]:
    """Archive rows back to hook results (used to adopt the rows of a run that died before its commit)."""
    results = []
    for row in table.select(list(_SUMMARY_FIELDS_IN_FILE)).to_pylist():
        invoked_at = row.pop("invoked_at")
        results.append(HookResult(**row, invoked_at_ms=to_epoch_ms(invoked_at) if invoked_at else None))
    return results


def to_record_batch(
    results: Sequence[HookResult], *, account_id: str, region: str, archived_at_ms: int
) -> pa.RecordBatch:
    """Columns built straight from the dataclasses with explicit types: nothing is inferred."""
    columns: list[pa.Array[Any]] = []
    for field in ARCHIVE_SCHEMA:
        name = field.name
        if name == "invoked_at":
            values: list[object] = [result.invoked_at_ms for result in results]
        elif name in _SUMMARY_FIELDS:
            values = [getattr(result, name) for result in results]
        elif name == "account_id":
            values = [account_id] * len(results)
        elif name == "region":
            values = [region] * len(results)
        else:
            values = [archived_at_ms] * len(results)
        columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=ARCHIVE_SCHEMA)
