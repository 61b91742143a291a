"""Partition keys, the Arrow schema, hook result parsing and configuration."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hook_archive.errors import CheckpointCorruptError, ConfigError, MalformedHookResultError
from hook_archive.logic.partitioning import archive_key, checkpoint_key, partition_date
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA, to_record_batch
from hook_archive.models.checkpoint import Checkpoint
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import HookResult, parse_api_timestamp, to_epoch_ms
from tests.unit.factories import hook_result

VALID_ENV = {"AWS_REGION": "eu-west-1", "ARCHIVE_BUCKET": "my-hook-archive"}


def test_partition_is_the_utc_date_of_invoked_at_at_both_edges_of_the_day() -> None:
    last_ms = to_epoch_ms(datetime(2026, 11, 27, 23, 59, 59, 999_999, tzinfo=UTC))
    first_ms = to_epoch_ms(datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
    assert partition_date(hook_result(1, invoked_at_ms=last_ms), fallback_ms=0) == date(2026, 11, 27)
    assert partition_date(hook_result(1, invoked_at_ms=first_ms), fallback_ms=0) == date(2026, 11, 28)


def test_result_without_invoked_at_goes_to_the_archiving_day() -> None:
    archived = to_epoch_ms(datetime(2026, 1, 2, 3, tzinfo=UTC))
    assert partition_date(hook_result(1, invoked_at_ms=None), fallback_ms=archived) == date(2026, 1, 2)


def test_archive_keys_are_hive_partitioned_and_unique_per_account_region_and_run() -> None:
    key = archive_key(
        "hook-results", date(2026, 11, 27), account_id="111122223333", region="eu-west-1", sequence=7
    )
    assert key == "hook-results/dt=2026-11-27/111122223333-eu-west-1-000000000007.parquet"
    others = {
        archive_key("hook-results", date(2026, 11, 27), account_id=account, region=region, sequence=sequence)
        for account in ("111122223333", "444455556666")
        for region in ("eu-west-1", "us-east-1")
        for sequence in (7, 8)
    }
    assert len(others) == 8
    assert "dt=" not in checkpoint_key("hook-results", account_id="111122223333", region="eu-west-1")


def test_sub_millisecond_invoked_at_is_truncated_to_milliseconds() -> None:
    moment = datetime(2026, 11, 27, 12, 0, 0, 123_999, tzinfo=UTC)
    assert to_epoch_ms(moment) % 1000 == 123


def test_record_batch_has_exactly_the_declared_schema_and_round_trips_through_parquet() -> None:
    results = [hook_result(1), hook_result(2, hook_status_reason=None, invoked_at_ms=None, status="HOOK_NEW")]
    batch = to_record_batch(results, account_id="111122223333", region="eu-west-1", archived_at_ms=1_000)
    assert batch.schema.equals(ARCHIVE_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_batches([batch]), buffer, compression="zstd")
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    assert table.schema.field("invoked_at").type == pa.timestamp("ms", tz="UTC")
    assert table.column("hook_result_id").to_pylist() == [r.hook_result_id for r in results]
    assert table.column("status").to_pylist() == ["HOOK_COMPLETE_SUCCEEDED", "HOOK_NEW"]
    assert table.column("invoked_at").null_count == 1
    assert all(name == name.lower() for name in table.column_names)


def test_api_summary_parses_with_missing_fields_and_rejects_a_missing_id() -> None:
    parsed = HookResult.from_api({"HookResultId": "a" * 36, "Status": "HOOK_COMPLETE_FAILED"})
    assert parsed.invoked_at_ms is None
    assert parsed.type_name is None
    assert parsed.is_failure
    with pytest.raises(MalformedHookResultError):
        HookResult.from_api({"Status": "HOOK_COMPLETE_FAILED"})


def test_config_defaults_and_parsing_from_strings() -> None:
    config = ArchiverConfig.from_environ(
        {**VALID_ENV, "ENRICH_FAILURES": "false", "MAX_ENRICHMENTS_PER_RUN": "5"}
    )
    assert config.archive_prefix == "hook-results"
    assert config.enrich_failures is False
    assert config.max_enrichments_per_run == 5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ARCHIVE_BUCKET", "Not_A_Bucket"),
        ("ARCHIVE_PREFIX", "/leading-slash"),
        ("EVENT_SOURCE", "aws.cloudformation"),
        ("TIME_SAFETY_MARGIN_SECONDS", "-1"),
        ("API_RETRY_MODE", "legacy"),
        ("AWS_REGION", "mars"),
        ("MAX_EVENTS_PER_RUN", "99999"),
    ],
)
def test_bad_variable_is_named_in_the_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        ArchiverConfig.from_environ({**VALID_ENV, variable: value})


def test_missing_bucket_is_named_in_the_error() -> None:
    with pytest.raises(ConfigError, match="ARCHIVE_BUCKET"):
        ArchiverConfig.from_environ({"AWS_REGION": "eu-west-1"})


def test_malformed_checkpoint_is_refused_not_reset() -> None:
    with pytest.raises(CheckpointCorruptError, match="Refusing to reset"):
        Checkpoint.from_json_bytes(b'{"format": "something else"}', where="s3://b/k")
    with pytest.raises(CheckpointCorruptError):
        Checkpoint.from_json_bytes(b"not json", where="s3://b/k")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T12:34:56.789Z", datetime(2026, 11, 27, 12, 34, 56, 789_000, tzinfo=UTC)),
        ("2026-11-27T12:34:56Z", datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)),
        ("2026-11-27T12:34:56.123456Z", datetime(2026, 11, 27, 12, 34, 56, 123_456, tzinfo=UTC)),
        ("2026-11-27T12:34:56.1234567Z", datetime(2026, 11, 27, 12, 34, 56, 123_456, tzinfo=UTC)),
        ("2026-11-27T14:34:56+02:00", datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)),
        ("2026-11-27T12:34:56", datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)),
    ],
)
def test_api_timestamps_parse_to_the_same_instant_as_botocore_would(text: str, expected: datetime) -> None:
    parsed = parse_api_timestamp(text)
    assert parsed.tzinfo is not None
    assert to_epoch_ms(parsed) == to_epoch_ms(expected)
