"""One schema: the curator's mirror of the raw archive is the archiver's ARCHIVE_SCHEMA, the Iceberg schema
is derived from it, and both agree with the raw Glue table template.yaml declares."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IcebergType, StringType, TimestamptzType

from curator.models.curated_table import (
    CURATED_ARROW_SCHEMA,
    CURATED_PARTITION_SPEC,
    CURATED_SCHEMA,
    LINEAGE_COLUMNS,
    curated_rows,
    derive_iceberg_schema,
)
from curator.models.raw_archive import PARTITION_COLUMN, RAW_ARCHIVE_SCHEMA, day_of_key
from emulation.lambda_runtime import load_template
from hook_archive.logic.partitioning import archive_key, checkpoint_key, known_ids_prefix
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA
from hook_archive.models.archive_schema import PARTITION_COLUMN as ARCHIVER_PARTITION_COLUMN

pytestmark = pytest.mark.disable_socket

GLUE_TYPES: dict[IcebergType, str] = {StringType(): "string", TimestamptzType(): "timestamp"}


def test_raw_schema_mirror_is_the_archivers_schema() -> None:
    assert RAW_ARCHIVE_SCHEMA.equals(ARCHIVE_SCHEMA, check_metadata=True)
    assert PARTITION_COLUMN == ARCHIVER_PARTITION_COLUMN


def test_iceberg_schema_is_the_raw_columns_in_order_then_dt_then_the_lineage() -> None:
    raw_columns = [(field.name, not field.nullable) for field in ARCHIVE_SCHEMA]
    curated = [(field.name, field.required) for field in CURATED_SCHEMA.fields]
    assert curated[: len(raw_columns)] == raw_columns
    assert [name for name, _ in curated[len(raw_columns) :]] == [PARTITION_COLUMN, *LINEAGE_COLUMNS]
    assert [field.field_id for field in CURATED_SCHEMA.fields] == list(range(1, len(curated) + 1))


def test_iceberg_schema_matches_the_raw_glue_table_columns_and_partition_key() -> None:
    table = load_template()["Resources"]["HookResultsTable"]["Properties"]["TableInput"]
    glue = [(column["Name"], column["Type"]) for column in table["StorageDescriptor"]["Columns"]]
    glue += [(column["Name"], column["Type"]) for column in table["PartitionKeys"]]
    curated = [(field.name, GLUE_TYPES[field.field_type]) for field in CURATED_SCHEMA.fields]
    assert curated[: len(glue)] == glue
    assert [name for name, _ in curated[len(glue) :]] == list(LINEAGE_COLUMNS)


def test_arrow_shape_of_the_curated_rows_is_what_pyiceberg_derives_from_the_iceberg_schema() -> None:
    # pyiceberg names strings large_string; Parquet stores both alike.
    derived = schema_to_pyarrow(CURATED_SCHEMA, include_field_ids=False)
    plain = {pa.large_string(): pa.string()}
    assert [(f.name, plain.get(f.type, f.type), f.nullable) for f in derived] == [
        (f.name, f.type, f.nullable) for f in CURATED_ARROW_SCHEMA
    ]


def test_partition_spec_is_identity_on_dt() -> None:
    (field,) = CURATED_PARTITION_SPEC.fields
    assert isinstance(field.transform, IdentityTransform)
    assert CURATED_SCHEMA.find_field(field.source_id).name == PARTITION_COLUMN


def test_an_arrow_type_the_curator_does_not_map_fails_the_derivation() -> None:
    with pytest.raises(TypeError, match="count"):
        derive_iceberg_schema(pa.schema([pa.field("count", pa.int64())]))


def test_curated_rows_keep_the_raw_values_and_add_day_and_lineage() -> None:
    batch = pa.table(
        {
            field.name: pa.array(
                [1_700_000_000_123] if pa.types.is_timestamp(field.type) else ["x" * 36],
                type=pa.int64() if pa.types.is_timestamp(field.type) else field.type,
            ).cast(field.type)
            for field in ARCHIVE_SCHEMA
        },
        schema=ARCHIVE_SCHEMA,
    )
    rows = curated_rows(batch, key="k", etag="e", day=date(2023, 11, 14))
    assert rows.schema.equals(CURATED_ARROW_SCHEMA)
    (row,) = rows.to_pylist()
    assert row["dt"] == "2023-11-14"
    assert (row["raw_object_key"], row["raw_object_etag"]) == ("k", "e")
    assert int(row["invoked_at"].timestamp() * 1000) == 1_700_000_000_123


def test_day_of_key_reads_the_archivers_data_keys_and_nothing_else() -> None:
    day = date(2026, 3, 10)
    key = archive_key("hook-results", day, account_id="123456789012", region="eu-west-1", sequence=42)
    assert day_of_key("hook-results", key) == day
    assert day_of_key("hook-results", checkpoint_key("hook-results", account_id="1", region="r")) is None
    known = known_ids_prefix("hook-results", account_id="1", region="r") + "abc"
    assert day_of_key("hook-results", known) is None
    assert day_of_key("other", key) is None
    assert day_of_key("hook-results", "hook-results/dt=2026-02-30/x.parquet") is None
