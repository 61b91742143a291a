"""The curated tables, `hook_results` and `hook_annotations`: their Iceberg schemas, derived from the raw
archive's Arrow schemas, their partition spec, and the Arrow shape of the rows written to them. One
CuratedTableSpec per table says all of that; the curation logic and the Iceberg adapter take it.

Columns: every raw column in the same order, names and nullability; then `dt`, the raw partition, so every
query written for the raw table runs unchanged; then the lineage of each row, the raw object (key and ETag)
it came from. The lineage is what makes raw -> curated exactly once: it is committed with the rows
themselves, so it survives compaction and snapshot expiry (see logic/ingest_plan.py).

hook_results holds one row per hook_result_id. hook_annotations holds several (one per annotation), and
all of an id's rows come from one raw object: the archiver writes an invocation's annotations together,
in one object. So both tables' exactly-once unit is the id; only the annotations keep every row of it.

Timestamps: Iceberg's timestamptz is microseconds; the values keep the archive's millisecond precision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IcebergType, NestedField, StringType, TimestamptzType

from curator.models.raw_archive import PARTITION_COLUMN, RAW_ANNOTATION_SCHEMA, RAW_ARCHIVE_SCHEMA

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


def _partition_spec(schema: Schema) -> PartitionSpec:
    # Identity on dt: the named queries filter on dt (a yyyy-MM-dd string), and a day's rewrite
    # (compaction, a replaced raw object) is an overwrite of exactly one partition. invoked_at filters prune
    # too: every row of a dt partition was invoked on that day, so each file's invoked_at bounds exclude
    # the other days.
    return PartitionSpec(
        PartitionField(
            source_id=schema.find_field(PARTITION_COLUMN).field_id,
            field_id=PARTITION_FIELD_ID,
            transform=IdentityTransform(),
            name=PARTITION_COLUMN,
        )
    )


def arrow_schema(schema: Schema) -> pa.Schema:
    return pa.schema(
        [
            pa.field(field.name, _ARROW_TYPES[field.field_type], nullable=not field.required)
            for field in schema.fields
        ]
    )


def _table_properties(raw: pa.Schema) -> dict[str, str]:
    return {
        # The curator retries a lost commit itself, planning again from the new snapshot. pyiceberg's own
        # retry would replay this attempt's append on top of the other writer's commit: duplicate rows.
        "commit.retry.num-retries": "0",
        # One manifest per commit would make every scan plan read thousands of manifests within months.
        "commit.manifest-merge.enabled": "true",
        "write.parquet.compression-codec": "zstd",
        "cfn-hook-archive.schema-version": raw.metadata[b"cfn-hook-archive.schema-version"].decode(),
    }


@dataclass(frozen=True)
class CuratedTableSpec:
    """One curated table: the raw table it copies (schema, key prefix under the archive prefix) and how
    it is kept (one row per id or several, the order compaction writes)."""

    kind: str  # "results" or "annotations": names the table in reports and messages
    raw_schema: pa.Schema
    raw_subprefix: str  # under the archive prefix: "" for results, "annotations" for annotations
    one_row_per_id: bool
    sort_keys: tuple[
        tuple[str, Literal["ascending", "descending"]], ...
    ]  # compaction's order: tight column bounds for the queries' filters
    schema: Schema = dataclasses.field(init=False)
    partition_spec: PartitionSpec = dataclasses.field(init=False)
    arrow_schema: pa.Schema = dataclasses.field(init=False)
    properties: Mapping[str, str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        schema = derive_iceberg_schema(self.raw_schema)
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "partition_spec", _partition_spec(schema))
        object.__setattr__(self, "arrow_schema", arrow_schema(schema))
        object.__setattr__(self, "properties", _table_properties(self.raw_schema))

    def raw_prefix(self, archive_prefix: str) -> str:
        """The prefix the raw table's `dt=` folders are under."""
        return f"{archive_prefix}/{self.raw_subprefix}" if self.raw_subprefix else archive_prefix

    def curated_rows(self, raw: pa.Table, *, key: str, etag: str, day: date) -> pa.Table:
        """One raw object's rows in the curated shape, every value explicitly typed: nothing is inferred."""
        rows = raw.num_rows
        columns: list[pa.Array[pa.Scalar[pa.DataType]] | pa.ChunkedArray[pa.Scalar[pa.DataType]]] = []
        for column in self.arrow_schema:
            if column.name == PARTITION_COLUMN:
                columns.append(pa.array([day.isoformat()] * rows, type=pa.string()))
            elif column.name == RAW_OBJECT_KEY:
                columns.append(pa.array([key] * rows, type=pa.string()))
            elif column.name == RAW_OBJECT_ETAG:
                columns.append(pa.array([etag] * rows, type=pa.string()))
            else:
                columns.append(raw.column(column.name).cast(column.type))
        return pa.Table.from_arrays(columns, schema=self.arrow_schema)

    def empty_rows(self) -> pa.Table:
        return self.arrow_schema.empty_table()


RESULTS_TABLE = CuratedTableSpec(
    kind="results",
    raw_schema=RAW_ARCHIVE_SCHEMA,
    raw_subprefix="",
    one_row_per_id=True,
    sort_keys=(("invoked_at", "ascending"), (HOOK_RESULT_ID, "ascending")),
)
# An invocation's annotations stay together (the queries join and group them by id and rule).
ANNOTATIONS_TABLE = CuratedTableSpec(
    kind="annotations",
    raw_schema=RAW_ANNOTATION_SCHEMA,
    raw_subprefix="annotations",
    one_row_per_id=False,
    sort_keys=((HOOK_RESULT_ID, "ascending"), ("annotation_name", "ascending")),
)
