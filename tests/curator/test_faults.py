"""Faults of the curator: a crash on either side of the commit, a concurrent writer winning the commit,
racing curators. After clean runs, the curated table is the union of the raw archive."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from curator.dal.curated_table import IcebergCuratedTable, glue_catalog
from curator.errors import CommitAttemptsExhaustedError, UnsupportedTableError
from curator.logic.curation import CurationRequest, CurationSettings
from curator.models.plan import CurationReport, TableState
from emulation.aws_stack import LocalAws
from tests.curator.conftest import (
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_equals_raw,
    catalog_properties,
    curated_rows,
    curated_table,
    run_curator,
)
from tests.simulated_crash import SimulatedCrash

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 10)
OTHER_DAY = DAY - timedelta(days=30)


class CrashingTable(IcebergCuratedTable):
    """The real adapter, dying just before or just after its ingest commit reaches Glue."""

    def __init__(self, inner: IcebergCuratedTable, *, when: str) -> None:
        self.__dict__.update(inner.__dict__)
        self.when = when

    def commit_ingest(self, state: TableState, **kwargs: Any) -> None:
        if self.when == "before":
            raise SimulatedCrash("before the commit")
        super().commit_ingest(state, **kwargs)
        raise SimulatedCrash("after the commit")


def _snapshot_id(aws: LocalAws) -> int | None:
    snapshot = glue_catalog(catalog_properties(aws)).load_table((DATABASE, TABLE)).current_snapshot()
    return snapshot.snapshot_id if snapshot else None


@pytest.mark.parametrize("when", ["before", "after"])
def test_rerun_after_a_crash_around_the_commit_neither_duplicates_nor_drops_a_row(
    aws: LocalAws, raw: RawArchiveWriter, when: str
) -> None:
    # Given rows already curated, and new raw objects
    raw.write_run({DAY: raw.results(DAY, 10)})
    run_curator(aws)
    committed = _snapshot_id(aws)
    raw.write_run({DAY: raw.results(DAY, 10), DAY + timedelta(days=1): raw.results(DAY, 5)})
    # When a run dies around its commit
    with pytest.raises(SimulatedCrash):
        run_curator(aws, table=CrashingTable(curated_table(aws), when=when))
    # Then before: nothing landed; after: the commit stands whole
    if when == "before":
        assert _snapshot_id(aws) == committed
        assert curated_rows(aws).num_rows == 10
    else:
        assert curated_rows(aws).num_rows == 25
    # And the next clean run converges on the raw union, committing only what was missing
    report = run_curator(aws)
    assert report.objects_added == (2 if when == "before" else 0)
    assert_curated_equals_raw(aws)


class ConcurrentWriterFirst(IcebergCuratedTable):
    """Another curator commits between this one's planning and its commit, `times` times."""

    def __init__(self, inner: IcebergCuratedTable, aws: LocalAws, raw: RawArchiveWriter, times: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.aws, self.raw, self.times = aws, raw, times
        self.commits_tried = 0

    def commit_ingest(self, state: TableState, **kwargs: Any) -> None:
        self.commits_tried += 1
        if self.commits_tried <= self.times:
            # Another curator, notified of a new raw object in another day, commits it first
            self.raw.write_run({OTHER_DAY: self.raw.results(OTHER_DAY, 3)})
            run_curator(self.aws, CurationRequest(days=frozenset({OTHER_DAY}), compact=False, expire=False))
        super().commit_ingest(state, **kwargs)


def test_commit_lost_to_a_concurrent_writer_is_planned_again_and_retried(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    raw.write_run({DAY: raw.results(DAY, 10)})
    table = ConcurrentWriterFirst(curated_table(aws), aws, raw, times=1)
    # When the other writer wins the first commit (Iceberg's optimistic concurrency: the snapshot moved)
    report = run_curator(aws, table=table)
    # Then this run lost once, planned again against the new snapshot, and committed its object
    assert report.conflicts == 1
    assert report.commits == 1
    assert report.objects_added == 1
    assert_curated_equals_raw(aws)
    assert curated_rows(aws).num_rows == 13


def test_run_gives_up_after_losing_every_attempt_and_leaves_the_table_consistent(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    raw.write_run({DAY: raw.results(DAY, 10)})
    table = ConcurrentWriterFirst(curated_table(aws), aws, raw, times=10)
    with pytest.raises(CommitAttemptsExhaustedError):
        run_curator(aws, settings=CurationSettings(commit_attempts=3), table=table)
    run_curator(aws)
    assert_curated_equals_raw(aws)


class ConcurrentIngestDuringCompaction(IcebergCuratedTable):
    def __init__(self, inner: IcebergCuratedTable, aws: LocalAws, raw: RawArchiveWriter) -> None:
        self.__dict__.update(inner.__dict__)
        self.aws, self.raw, self.done = aws, raw, False

    def compact_day(self, state: TableState, day: date, summary: dict[str, str]) -> None:
        if not self.done:
            self.done = True
            self.raw.write_run({day: self.raw.results(day, 4)})
            run_curator(self.aws, CurationRequest(compact=False, expire=False))
        super().compact_day(state, day, summary)


def test_compaction_that_loses_to_an_ingest_rereads_the_day_and_keeps_the_new_rows(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    for _ in range(2):
        raw.write_run({DAY: raw.results(DAY, 5)})
        run_curator(aws, CurationRequest(compact=False, expire=False))
    table = ConcurrentIngestDuringCompaction(curated_table(aws), aws, raw)
    report = run_curator(aws, table=table)
    assert report.conflicts == 1
    assert report.days_compacted == [DAY.isoformat()]
    assert curated_rows(aws).num_rows == 14
    assert_curated_equals_raw(aws)


def test_racing_curators_converge_on_the_raw_union(aws: LocalAws, raw: RawArchiveWriter) -> None:
    # Given a backlog over several days
    for offset in range(4):
        day = DAY + timedelta(days=offset)
        raw.write_run({day: raw.results(day, 15), day + timedelta(days=1): raw.results(day, 5)})
    errors: list[BaseException] = []
    reports: list[CurationReport] = []

    def curator() -> None:
        try:
            settings = CurationSettings(max_objects_per_commit=2, commit_attempts=20)
            reports.append(run_curator(aws, CurationRequest(expire=False), settings=settings))
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    # When three curators run at once (Glue's VersionId makes at most one of each race win)
    threads = [threading.Thread(target=curator) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then none failed, some lost a race and planned again, and the table holds every raw row once
    assert errors == []
    assert sum(report.conflicts for report in reports) >= 1
    assert_curated_equals_raw(aws)


def test_table_with_pyiceberg_commit_retries_on_is_refused(aws: LocalAws, raw: RawArchiveWriter) -> None:
    # pyiceberg's own retry replays an append onto the winner's snapshot: rows the winner also
    # committed would be appended twice, so the curator refuses to write such a table.
    raw.write_run({DAY: raw.results(DAY, 2)})
    run_curator(aws)
    table = glue_catalog(catalog_properties(aws)).load_table((DATABASE, TABLE))
    with table.transaction() as transaction:
        transaction.set_properties({"commit.retry.num-retries": "4"})
    with pytest.raises(UnsupportedTableError, match=r"commit\.retry\.num-retries"):
        run_curator(aws)


def test_local_glue_refuses_an_update_with_a_stale_table_version(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    raw.write_run({DAY: raw.results(DAY, 2)})
    run_curator(aws)
    glue = aws.client("glue")
    current: dict[str, Any] = glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]
    table_input = {"Name": TABLE, "Parameters": current["Parameters"], "TableType": "EXTERNAL_TABLE"}
    stale = str(int(current["VersionId"]) - 1)
    with pytest.raises(ClientError) as refused:
        glue.update_table(DatabaseName=DATABASE, TableInput=table_input, VersionId=stale)
    assert refused.value.response["Error"]["Code"] == "ConcurrentModificationException"
    glue.update_table(DatabaseName=DATABASE, TableInput=table_input, VersionId=current["VersionId"])
