"""The raw archive as the archiver writes it: its two tables' schemas and where their objects live.

- results: one row per finished invocation, under `<prefix>/dt=YYYY-MM-DD/`;
- annotations: one row per GetHookResult annotation of an enriched failure, under
  `<prefix>/annotations/dt=YYYY-MM-DD/` (beside the dt= folders, never inside them).

Mirrored, not imported: the curator is a separate deployable and must not ship the archiver's code.
tests/curator/test_schema_parity.py checks RAW_ARCHIVE_SCHEMA against hook_archive's ARCHIVE_SCHEMA,
RAW_ANNOTATION_SCHEMA against its ANNOTATION_SCHEMA, and the keys against its archive_key and annotation_key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

TIMESTAMP_MS = pa.timestamp("ms", tz="UTC")

RAW_ARCHIVE_SCHEMA: pa.Schema = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs types a list of fields as list[object]
        pa.field("hook_result_id", pa.string(), nullable=False),
        pa.field("invocation_point", pa.string()),
        pa.field("failure_mode", pa.string()),
        pa.field("type_name", pa.string()),
        pa.field("type_version_id", pa.string()),
        pa.field("type_configuration_version_id", pa.string()),
        pa.field("status", pa.string()),
        pa.field("hook_status_reason", pa.string()),
        pa.field("invoked_at", TIMESTAMP_MS),
        pa.field("target_type", pa.string()),
        pa.field("target_id", pa.string()),
        pa.field("type_arn", pa.string()),
        pa.field("hook_execution_target", pa.string()),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("archived_at", TIMESTAMP_MS, nullable=False),
    ],
    metadata={"cfn-hook-archive.schema-version": "1"},
)

RAW_ANNOTATION_SCHEMA: pa.Schema = pa.schema(
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
        pa.field("archived_at", TIMESTAMP_MS, nullable=False),
    ],
    metadata={"cfn-hook-archive.schema-version": "1"},
)

# The Hive partition column: in the object key (dt=YYYY-MM-DD), not in the file.
PARTITION_COLUMN = "dt"

_DATA_KEY = re.compile(r"^dt=(?P<day>\d{4}-\d{2}-\d{2})/[^/]+\.parquet$")


@dataclass(frozen=True, order=True)
class RawObject:
    """One raw archive object as listed: its key, its ETag (the version of its bytes) and its day."""

    day: date
    key: str
    etag: str


def annotations_prefix(archive_prefix: str) -> str:
    """The annotations table's own prefix: its keys are `<this>/dt=YYYY-MM-DD/<file>.parquet`, so every
    function below takes it where it takes the results' archive prefix."""
    return f"{archive_prefix}/annotations"


def data_prefix(archive_prefix: str) -> str:
    """Every data object's key starts here; checkpoints live under `<prefix>/_state/`, outside it."""
    return f"{archive_prefix}/dt="


def day_prefix(archive_prefix: str, day: date) -> str:
    return f"{archive_prefix}/dt={day.isoformat()}/"


def day_of_key(archive_prefix: str, key: str) -> date | None:
    """The day of a data object's key, or None for any other key (a checkpoint, a stray file)."""
    if not key.startswith(f"{archive_prefix}/"):
        return None
    match = _DATA_KEY.match(key[len(archive_prefix) + 1 :])
    if match is None:
        return None
    try:
        return date.fromisoformat(match["day"])
    except ValueError:
        return None
