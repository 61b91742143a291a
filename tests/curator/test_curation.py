"""The curator against moto's Glue and S3: raw objects in, the curated Iceberg table out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pyiceberg.table import Table

from curator.dal.curated_table import MARK_PROPERTY, glue_catalog
from curator.logic.curation import CurationRequest, CurationSettings
from curator.logic.maintenance import day_end_ms
from emulation.aws_stack import LocalAws
from tests.curator.conftest import (
    ARCHIVE_PREFIX,
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_equals_raw,
    catalog_properties,
    curated_rows,
    run_curator,
)

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 10)
HOUR_MS = 3_600_000


def _table(aws: LocalAws) -> Table:
    return glue_catalog(catalog_properties(aws)).load_table((DATABASE, TABLE))


def _files_of(aws: LocalAws, day: date) -> int:
    return sum(1 for _ in _table(aws).scan(row_filter=f"dt == '{day.isoformat()}'").plan_files())


def test_first_run_ingests_every_raw_object_once_and_a_rerun_commits_nothing(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given three archiver runs, each writing two days
    for offset in range(3):
        days = [DAY + timedelta(days=offset + d) for d in range(2)]
        raw.write_run({day: raw.results(day, 20) for day in days})
    # When the curator runs twice
    first = run_curator(aws)
    second = run_curator(aws)
    # Then the first run committed all six objects, the second nothing, and the table is the raw union
    assert first.objects_added == 6
    assert first.rows_written == 120
    assert second.commits == 0
    assert second.objects_added == 0
    assert_curated_equals_raw(aws)
    assert _table(aws).properties[MARK_PROPERTY] == (DAY + timedelta(days=3)).isoformat()


def test_commit_summary_records_the_raw_objects_the_commit_includes(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    keys = raw.write_run({DAY: raw.results(DAY, 5)})
    run_curator(aws)
    snapshot = _table(aws).current_snapshot()
    assert snapshot is not None
    summary = snapshot.summary
    assert summary is not None
    assert summary["cfn-hook-archive.operation"] == "ingest"
    assert summary["cfn-hook-archive.raw-objects-added"] == "1"
    assert summary["cfn-hook-archive.days"] == DAY.isoformat()
    lineage = curated_rows(aws).select(["raw_object_key", "raw_object_etag"]).to_pylist()
    etag = aws.client("s3").head_object(Bucket=aws.bucket, Key=keys[0])["ETag"].strip('"')
    assert {(row["raw_object_key"], row["raw_object_etag"]) for row in lineage} == {(keys[0], etag)}


def test_adopting_run_rewriting_an_object_with_a_new_etag_and_the_same_rows_duplicates_nothing(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given an object the curator has ingested
    results = raw.results(DAY, 30)
    raw.write_run({DAY: results}, sequence=1, archived_at_ms=1_000)
    run_curator(aws)
    # When an adopting archiver run rewrites it: same key and rows, new archived_at, so a new ETag
    raw.write_run({DAY: results}, sequence=1, replacing=True, archived_at_ms=2_000)
    report = run_curator(aws)
    # Then the object's rows were swapped in one commit: one row per id, the new version's values
    assert report.objects_replaced == 1
    assert report.objects_added == 0
    assert_curated_equals_raw(aws)
    archived = {row.timestamp() for row in curated_rows(aws).column("archived_at").to_pylist() if row}
    assert archived == {2.0}


def test_adopting_run_that_adds_rows_to_an_object_brings_the_new_rows_and_keeps_the_old(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    results = raw.results(DAY, 10)
    raw.write_run({DAY: results}, sequence=1)
    run_curator(aws)
    raw.write_run({DAY: [*results, *raw.results(DAY, 5)]}, sequence=1, replacing=True)
    run_curator(aws)
    assert curated_rows(aws).num_rows == 15
    assert_curated_equals_raw(aws)


def test_raw_object_gone_from_the_archive_keeps_its_rows_in_the_table(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given two objects ingested, one of them then gone (expired: more in tests/curator/test_expiry.py)
    raw.write_run({DAY: raw.results(DAY, 10)})
    (gone,) = raw.write_run({DAY: raw.results(DAY, 7)})
    run_curator(aws)
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=gone)
    # When the curator runs again
    report = run_curator(aws)
    # Then its rows stay: a raw object that disappears is not a retraction
    assert report.objects_vanished == 1
    assert curated_rows(aws).num_rows == 17


def test_same_id_in_two_raw_objects_keeps_one_row(aws: LocalAws, raw: RawArchiveWriter) -> None:
    # Given a result archived, then (after a checkpoint restored from an old version) archived again
    results = raw.results(DAY, 4)
    raw.write_run({DAY: results})
    run_curator(aws)
    raw.write_run({DAY: results[:2]})
    # When the curator takes the second object
    run_curator(aws)
    # Then each id is in the table once
    ids = [str(hid) for hid in curated_rows(aws).column("hook_result_id").to_pylist()]
    assert sorted(ids) == sorted(result.hook_result_id for result in results)


def test_an_object_holding_only_ids_already_curated_converges_without_a_commit(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given an object curated, and a second object holding exactly its ids again (archived twice)
    results = raw.results(DAY, 6)
    raw.write_run({DAY: results}, archived_at_ms=1_000)
    run_curator(aws)
    raw.write_run({DAY: results}, archived_at_ms=2_000)
    # When the curator runs, twice
    first = run_curator(aws)
    second = run_curator(aws)
    # Then nothing is committed: the rows curated first stay, once, and the runs do not trade the ids
    # between the two objects (a commit per pass, up to max_commits, in every run)
    assert (first.commits, second.commits) == (0, 0)
    assert first.rows_held_elsewhere == second.rows_held_elsewhere == 6
    rows = curated_rows(aws)
    ids = [str(hid) for hid in rows.column("hook_result_id").to_pylist()]
    assert sorted(ids) == sorted(result.hook_result_id for result in results)
    assert {row.timestamp() for row in rows.column("archived_at").to_pylist() if row} == {1.0}


def test_open_days_keep_their_appends_and_a_closed_day_is_rewritten_into_one_file(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    settings = CurationSettings(close_after_hours=3)
    noon = int(datetime.combine(DAY, time(12), tzinfo=UTC).timestamp() * 1000)
    # Given three runs curated one at a time while the day is open
    for _ in range(3):
        raw.write_run({DAY: raw.results(DAY, 10)})
        report = run_curator(aws, settings=settings, clock_ms=lambda: noon)
        assert report.days_compacted == []
    assert _files_of(aws, DAY) == 3
    # When the curator runs after the day has closed
    closed = day_end_ms(DAY) + 3 * HOUR_MS
    report = run_curator(aws, settings=settings, clock_ms=lambda: closed)
    # Then the day is one file, in one overwrite commit, and nothing changed in its rows
    assert report.days_compacted == [DAY.isoformat()]
    assert _files_of(aws, DAY) == 1
    snapshot = _table(aws).current_snapshot()
    assert snapshot is not None
    assert snapshot.summary is not None
    assert snapshot.summary["cfn-hook-archive.operation"] == "compact"
    assert_curated_equals_raw(aws)


def test_an_open_day_past_open_day_max_files_is_compacted_and_keeps_taking_appends(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    settings = CurationSettings(close_after_hours=3, open_day_max_files=4)
    noon = int(datetime.combine(DAY, time(12), tzinfo=UTC).timestamp() * 1000)
    # Given an open day curated one archiver run at a time
    compacted_after = []
    for run in range(1, 10):
        raw.write_run({DAY: raw.results(DAY, 5)})
        report = run_curator(aws, settings=settings, clock_ms=lambda: noon)
        if report.days_compacted:
            compacted_after.append(run)
        # Then it never holds more than the limit after a run, and every raw row is there, once
        assert _files_of(aws, DAY) <= 4
        assert_curated_equals_raw(aws)
    # compacted when its 5th file came, then again when 4 appends had piled up on the compacted file
    assert compacted_after == [5, 9]
    assert _files_of(aws, DAY) == 1


def test_late_raw_object_in_a_compacted_day_triggers_that_days_rewrite(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    later = day_end_ms(DAY) + 48 * HOUR_MS
    raw.write_run({DAY: raw.results(DAY, 10)})
    raw.write_run({DAY: raw.results(DAY, 10)})
    run_curator(aws, clock_ms=lambda: later)
    assert _files_of(aws, DAY) == 1
    # When a late object lands in the day (an invocation that finished days after it started)
    raw.write_run({DAY: raw.results(DAY, 3)})
    report = run_curator(aws, clock_ms=lambda: later)
    # Then it is ingested and the day rewritten into one file again
    assert report.objects_added == 1
    assert report.days_compacted == [DAY.isoformat()]
    assert _files_of(aws, DAY) == 1
    assert_curated_equals_raw(aws)


def test_scheduled_run_looks_back_lookback_days_and_a_notification_brings_an_older_day(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    settings = CurationSettings(lookback_days=2)
    raw.write_run({DAY: raw.results(DAY, 5)})
    run_curator(aws, settings=settings)  # mark: DAY
    old = DAY - timedelta(days=10)
    raw.write_run({old: raw.results(old, 5), DAY - timedelta(days=1): raw.results(DAY, 5)})
    # A scheduled run takes the day inside the lookback only
    assert run_curator(aws, settings=settings).objects_added == 1
    # The S3 notification of the old day's object (through SQS) brings it
    report = run_curator(aws, CurationRequest(days=frozenset({old})), settings=settings)
    assert report.objects_added == 1
    assert_curated_equals_raw(aws)


def test_backfill_commits_in_batches_of_whole_days_and_moves_the_mark(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    days = [DAY + timedelta(days=offset) for offset in range(5)]
    raw.write_run({day: raw.results(day, 4) for day in days})
    report = run_curator(aws, settings=CurationSettings(max_objects_per_commit=2))
    assert report.commits == 3
    assert report.mark == days[-1].isoformat()
    assert_curated_equals_raw(aws)


def test_dt_and_invoked_at_filters_plan_only_that_days_files(aws: LocalAws, raw: RawArchiveWriter) -> None:
    for offset in range(4):
        day = DAY + timedelta(days=offset)
        raw.write_run({day: raw.results(day, 10)})
        run_curator(aws, CurationRequest(compact=False, expire=False))
    table = _table(aws)
    assert sum(1 for _ in table.scan().plan_files()) == 4
    by_dt = list(table.scan(row_filter=f"dt == '{DAY.isoformat()}'").plan_files())
    start = datetime.combine(DAY, time(0), tzinfo=UTC)
    by_invoked_at = list(
        table.scan(
            row_filter=f"invoked_at >= '{start.isoformat()}' and "
            f"invoked_at < '{(start + timedelta(days=1)).isoformat()}'"
        ).plan_files()
    )
    assert [task.file.file_path for task in by_dt] == [task.file.file_path for task in by_invoked_at]
    assert len(by_dt) == 1
    assert f"/dt={DAY.isoformat()}/" in by_dt[0].file.file_path


def test_expiry_keeps_recent_snapshots_then_removes_old_ones_and_every_unreferenced_file(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given a table with appends, a compaction (whose replaced files only old snapshots reference),
    # and a file a crashed writer left in the table's location
    for _ in range(3):
        raw.write_run({DAY: raw.results(DAY, 10)})
        run_curator(aws, CurationRequest(compact=False, expire=False))
    run_curator(aws)  # compacts the closed day
    s3 = aws.client("s3")
    stray = f"curated/{TABLE}/data/dt={DAY.isoformat()}/00000-0-crashed-writer.parquet"
    s3.put_object(Bucket=aws.bucket, Key=stray, Body=b"PAR1")
    snapshots_before = len(_table(aws).snapshots())
    # When the curator expires within the retention and grace: nothing goes
    kept = run_curator(aws)
    assert kept.snapshots_expired == 0
    assert kept.orphans_removed == 0
    # When it runs two days later
    later = int(datetime.now(UTC).timestamp() * 1000) + 48 * HOUR_MS
    report = run_curator(aws, clock_ms=lambda: later)
    # Then only the current snapshot is left, the stray and replaced files are gone, the table reads whole
    table = _table(aws)
    assert report.snapshots_expired == snapshots_before - 1
    assert len(table.snapshots()) == 1
    stored = {
        f"s3://{aws.bucket}/{item['Key']}"
        for item in s3.list_objects_v2(Bucket=aws.bucket, Prefix=f"curated/{TABLE}/data/")["Contents"]
    }
    assert stored == {task.file.file_path for task in table.scan().plan_files()}
    assert f"s3://{aws.bucket}/{stray}" not in stored
    assert_curated_equals_raw(aws)


def test_curated_files_live_outside_the_raw_archive(aws: LocalAws, raw: RawArchiveWriter) -> None:
    raw.write_run({DAY: raw.results(DAY, 3)})
    run_curator(aws)
    keys = [item["Key"] for item in aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert all(key.startswith((f"{ARCHIVE_PREFIX}/", f"curated/{TABLE}/")) for key in keys)
    assert not [key for key in keys if key.startswith(f"{ARCHIVE_PREFIX}/dt=") and "curated" in key]
