"""One schema per table: the curator's mirrors of the raw archive are the archiver's ARCHIVE_SCHEMA and
ANNOTATION_SCHEMA, the Iceberg schemas are derived from them, and both agree with the raw Glue tables
template.yaml declares."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IcebergType, StringType, TimestamptzType

from curator.models.curated_table import (
    ANNOTATIONS_TABLE,
    LINEAGE_COLUMNS,
    RESULTS_TABLE,
    CuratedTableSpec,
    derive_iceberg_schema,
)
from curator.models.raw_archive import (
    PARTITION_COLUMN,
    RAW_ANNOTATION_SCHEMA,
    RAW_ARCHIVE_SCHEMA,
    annotations_prefix,
    day_of_key,
)
from emulation.lambda_runtime import load_template
from hook_archive.logic.partitioning import annotation_key, archive_key, checkpoint_key, known_ids_prefix
from hook_archive.models.annotation_schema import ANNOTATION_SCHEMA
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA
from hook_archive.models.archive_schema import PARTITION_COLUMN as ARCHIVER_PARTITION_COLUMN

pytestmark = pytest.mark.disable_socket

GLUE_TYPES: dict[IcebergType, str] = {StringType(): "string", TimestamptzType(): "timestamp"}
# Each curated table, the archiver's schema it mirrors and the template's raw Glue table of it.
TABLES = [
    pytest.param(RESULTS_TABLE, ARCHIVE_SCHEMA, "HookResultsTable", id="hook_results"),
    pytest.param(ANNOTATIONS_TABLE, ANNOTATION_SCHEMA, "HookAnnotationsTable", id="hook_annotations"),
]


def test_raw_schema_mirrors_are_the_archivers_schemas() -> None:
    assert RAW_ARCHIVE_SCHEMA.equals(ARCHIVE_SCHEMA, check_metadata=True)
    assert RAW_ANNOTATION_SCHEMA.equals(ANNOTATION_SCHEMA, check_metadata=True)
    assert PARTITION_COLUMN == ARCHIVER_PARTITION_COLUMN


@pytest.mark.parametrize(("spec", "archiver_schema", "_resource"), TABLES)
def test_iceberg_schema_is_the_raw_columns_in_order_then_dt_then_the_lineage(
    spec: CuratedTableSpec, archiver_schema: pa.Schema, _resource: str
) -> None:
    raw_columns = [(field.name, not field.nullable) for field in archiver_schema]
    curated = [(field.name, field.required) for field in spec.schema.fields]
    assert curated[: len(raw_columns)] == raw_columns
    assert [name for name, _ in curated[len(raw_columns) :]] == [PARTITION_COLUMN, *LINEAGE_COLUMNS]
    assert [field.field_id for field in spec.schema.fields] == list(range(1, len(curated) + 1))


@pytest.mark.parametrize(("spec", "_schema", "resource"), TABLES)
def test_iceberg_schema_matches_the_raw_glue_table_columns_and_partition_key(
    spec: CuratedTableSpec, _schema: pa.Schema, resource: str
) -> None:
    table = load_template()["Resources"][resource]["Properties"]["TableInput"]
    glue = [(column["Name"], column["Type"]) for column in table["StorageDescriptor"]["Columns"]]
    glue += [(column["Name"], column["Type"]) for column in table["PartitionKeys"]]
    curated = [(field.name, GLUE_TYPES[field.field_type]) for field in spec.schema.fields]
    assert curated[: len(glue)] == glue
    assert [name for name, _ in curated[len(glue) :]] == list(LINEAGE_COLUMNS)


@pytest.mark.parametrize(("spec", "_schema", "_resource"), TABLES)
def test_arrow_shape_of_the_curated_rows_is_what_pyiceberg_derives_from_the_iceberg_schema(
    spec: CuratedTableSpec, _schema: pa.Schema, _resource: str
) -> None:
    # pyiceberg names strings large_string; Parquet stores both alike.
    derived = schema_to_pyarrow(spec.schema, include_field_ids=False)
    plain = {pa.large_string(): pa.string()}
    assert [(f.name, plain.get(f.type, f.type), f.nullable) for f in derived] == [
        (f.name, f.type, f.nullable) for f in spec.arrow_schema
    ]


@pytest.mark.parametrize(("spec", "_schema", "_resource"), TABLES)
def test_partition_spec_is_identity_on_dt(spec: CuratedTableSpec, _schema: pa.Schema, _resource: str) -> None:
    (field,) = spec.partition_spec.fields
    assert isinstance(field.transform, IdentityTransform)
    assert spec.schema.find_field(field.source_id).name == PARTITION_COLUMN


@pytest.mark.parametrize(("spec", "_schema", "_resource"), TABLES)
def test_compaction_sorts_by_columns_of_the_table(
    spec: CuratedTableSpec, _schema: pa.Schema, _resource: str
) -> None:
    assert spec.sort_keys
    assert all(name in spec.arrow_schema.names for name, _ in spec.sort_keys)


def test_an_arrow_type_the_curator_does_not_map_fails_the_derivation() -> None:
    with pytest.raises(TypeError, match="count"):
        derive_iceberg_schema(pa.schema([pa.field("count", pa.int64())]))


@pytest.mark.parametrize(("spec", "archiver_schema", "_resource"), TABLES)
def test_curated_rows_keep_the_raw_values_and_add_day_and_lineage(
    spec: CuratedTableSpec, archiver_schema: pa.Schema, _resource: str
) -> None:
    batch = pa.table(
        {
            field.name: pa.array(
                [1_700_000_000_123] if pa.types.is_timestamp(field.type) else ["x" * 36],
                type=pa.int64() if pa.types.is_timestamp(field.type) else field.type,
            ).cast(field.type)
            for field in archiver_schema
        },
        schema=archiver_schema,
    )
    rows = spec.curated_rows(batch, key="k", etag="e", day=date(2023, 11, 14))
    assert rows.schema.equals(spec.arrow_schema)
    (row,) = rows.to_pylist()
    assert row["dt"] == "2023-11-14"
    assert (row["raw_object_key"], row["raw_object_etag"]) == ("k", "e")
    assert int(row["archived_at"].timestamp() * 1000) == 1_700_000_000_123
    assert row["hook_result_id"] == "x" * 36


def test_day_of_key_reads_the_archivers_data_keys_and_nothing_else() -> None:
    day = date(2026, 3, 10)
    key = archive_key("hook-results", day, account_id="123456789012", region="eu-west-1", sequence=42)
    assert day_of_key("hook-results", key) == day
    assert day_of_key("hook-results", checkpoint_key("hook-results", account_id="1", region="r")) is None
    known = known_ids_prefix("hook-results", account_id="1", region="r") + "abc"
    assert day_of_key("hook-results", known) is None
    assert day_of_key("other", key) is None
    assert day_of_key("hook-results", "hook-results/dt=2026-02-30/x.parquet") is None


def test_annotation_keys_belong_to_the_annotations_table_only() -> None:
    day = date(2026, 3, 10)
    key = annotation_key("hook-results", day, account_id="123456789012", region="eu-west-1", sequence=42)
    assert ANNOTATIONS_TABLE.raw_prefix("hook-results") == annotations_prefix("hook-results")
    assert day_of_key(ANNOTATIONS_TABLE.raw_prefix("hook-results"), key) == day
    assert day_of_key(RESULTS_TABLE.raw_prefix("hook-results"), key) is None
    results_key = archive_key("hook-results", day, account_id="123456789012", region="eu-west-1", sequence=42)
    assert day_of_key(ANNOTATIONS_TABLE.raw_prefix("hook-results"), results_key) is None
