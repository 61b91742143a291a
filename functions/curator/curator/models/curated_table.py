"""The curated table `hook_results`: its Iceberg schema, derived from the raw archive's Arrow schema, its
partition spec, and the Arrow shape of the rows written to it.

Columns: every RAW_ARCHIVE_SCHEMA column in the same order, names and nullability; then `dt`, the raw
partition, so every query written for the raw table runs unchanged; then the lineage of each row, the raw
object (key and ETag) it came from. The lineage is what makes raw -> curated exactly once: it is committed
with the rows themselves, so it survives compaction and snapshot expiry (see logic/ingest_plan.py).

Timestamps: Iceberg's timestamptz is microseconds; the values keep the archive's millisecond precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IcebergType, NestedField, StringType, TimestamptzType

from curator.models.raw_archive import PARTITION_COLUMN, RAW_ARCHIVE_SCHEMA

RAW_OBJECT_KEY = "raw_object_key"
RAW_OBJECT_ETAG = "raw_object_etag"
HOOK_RESULT_ID = "hook_result_id"
LINEAGE_COLUMNS = (RAW_OBJECT_KEY, RAW_OBJECT_ETAG)

TIMESTAMP_US = pa.timestamp("us", tz="UTC")

# Arrow types of the raw archive -> Iceberg types. A new Arrow type in the archive fails the cold start
# (and tests/curator/test_schema_parity.py) until it is mapped here.
_ICEBERG_TYPES: Mapping[pa.DataType, IcebergType] = {
    pa.string(): StringType(),
    pa.timestamp("ms", tz="UTC"): TimestamptzType(),
}
_ARROW_TYPES: Mapping[IcebergType, pa.DataType] = {
    StringType(): pa.string(),
    TimestamptzType(): TIMESTAMP_US,
}

PARTITION_FIELD_ID = 1000
TABLE_FORMAT_VERSION = 2


def derive_iceberg_schema(raw: pa.Schema) -> Schema:
    """Field ids 1..n follow the raw schema's order; they are the table's identity, so the order of
    RAW_ARCHIVE_SCHEMA must only ever grow at the end (as the archive's own contract already says)."""
    fields = []
    for index, field in enumerate(raw, start=1):
        iceberg_type = _ICEBERG_TYPES.get(field.type)
        if iceberg_type is None:
            raise TypeError(f"raw archive column {field.name} is {field.type}: map it in _ICEBERG_TYPES")
        fields.append(NestedField(index, field.name, iceberg_type, required=not field.nullable))
    extra = (PARTITION_COLUMN, *LINEAGE_COLUMNS)
    for offset, name in enumerate(extra, start=len(fields) + 1):
        fields.append(NestedField(offset, name, StringType(), required=True))
    return Schema(*fields)


CURATED_SCHEMA: Schema = derive_iceberg_schema(RAW_ARCHIVE_SCHEMA)

# Identity on dt: the named queries filter on dt (a yyyy-MM-dd string), and a day's rewrite (compaction,
# a replaced raw object) is an overwrite of exactly one partition. invoked_at filters prune too: every row
# of a dt partition was invoked on that day, so each file's invoked_at bounds exclude the other days.
CURATED_PARTITION_SPEC = PartitionSpec(
    PartitionField(
        source_id=CURATED_SCHEMA.find_field(PARTITION_COLUMN).field_id,
        field_id=PARTITION_FIELD_ID,
        transform=IdentityTransform(),
        name=PARTITION_COLUMN,
    )
)


def arrow_schema(schema: Schema = CURATED_SCHEMA) -> pa.Schema:
    return pa.schema(
        [
            pa.field(field.name, _ARROW_TYPES[field.field_type], nullable=not field.required)
            for field in schema.fields
        ]
    )


CURATED_ARROW_SCHEMA: pa.Schema = arrow_schema()

TABLE_PROPERTIES: Mapping[str, str] = {
    # The curator retries a lost commit itself, planning again from the new snapshot. pyiceberg's own
    # retry would replay this attempt's append on top of the other writer's commit: duplicate rows.
    "commit.retry.num-retries": "0",
    # One manifest per commit would make every scan plan read thousands of manifests within months.
    "commit.manifest-merge.enabled": "true",
    "write.parquet.compression-codec": "zstd",
    "cfn-hook-archive.schema-version": RAW_ARCHIVE_SCHEMA.metadata[
        b"cfn-hook-archive.schema-version"
    ].decode(),
}


def curated_rows(raw: pa.Table, *, key: str, etag: str, day: date) -> pa.Table:
    """One raw object's rows in the curated shape, every value explicitly typed: nothing is inferred."""
    rows = raw.num_rows
    columns: list[pa.Array[pa.Scalar[pa.DataType]] | pa.ChunkedArray[pa.Scalar[pa.DataType]]] = []
    for field in CURATED_ARROW_SCHEMA:
        if field.name == PARTITION_COLUMN:
            columns.append(pa.array([day.isoformat()] * rows, type=pa.string()))
        elif field.name == RAW_OBJECT_KEY:
            columns.append(pa.array([key] * rows, type=pa.string()))
        elif field.name == RAW_OBJECT_ETAG:
            columns.append(pa.array([etag] * rows, type=pa.string()))
        else:
            columns.append(raw.column(field.name).cast(field.type))
    return pa.Table.from_arrays(columns, schema=CURATED_ARROW_SCHEMA)


def empty_rows() -> pa.Table:
    return CURATED_ARROW_SCHEMA.empty_table()
