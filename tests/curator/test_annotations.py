"""hook_annotations, the curated copy of the raw annotations (<prefix>/annotations/dt=...): the same
exactly-once ingest as hook_results, with several rows per hook_result_id. Every row of an id comes from one
raw object, so a rewritten, moved or repeated object replaces or keeps all of an id's rows, never some."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from curator.logic.curation import CurationSettings
from curator.logic.maintenance import day_end_ms
from curator.models.curated_table import ANNOTATIONS_TABLE
from emulation.aws_stack import LocalAws
from tests.curator.conftest import (
    RawArchiveWriter,
    assert_curated_annotations_equal_raw,
    curated_annotations,
    curated_table,
    run_annotations_curator,
    run_curator,
)

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 10)
HOUR_MS = 3_600_000


def test_every_annotation_row_is_curated_once_and_a_rerun_commits_nothing(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given two archiver runs' annotation objects, each over two days, three annotations per failure
    later = DAY + timedelta(days=5)
    for offset in range(2):
        day = DAY + timedelta(days=offset)
        raw.write_annotations(
            {day: raw.annotations(raw.results(day, 5)), later: raw.annotations(raw.results(later, 2))}
        )
    # When the annotations curator runs twice
    first = run_annotations_curator(aws)
    second = run_annotations_curator(aws)
    # Then every row is in hook_annotations once (3 per id, none merged away), and the rerun does nothing
    assert first.objects_added == 4
    assert first.rows_written == (5 + 2) * 2 * 3
    assert second.commits == 0
    assert_curated_annotations_equal_raw(aws)


def test_annotations_and_results_are_two_tables_each_reading_only_its_own_objects(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    results = raw.results(DAY, 6)
    raw.write_run({DAY: results})
    raw.write_annotations({DAY: raw.annotations(results[:2], per_result=4)})
    results_report = run_curator(aws)
    annotations_report = run_annotations_curator(aws)
    assert (results_report.objects_added, results_report.rows_written) == (1, 6)
    assert (annotations_report.objects_added, annotations_report.rows_written) == (1, 8)
    assert_curated_annotations_equal_raw(aws)


def test_an_adopting_run_rewriting_an_object_replaces_all_of_its_ids_rows(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given an annotation object curated
    failures = raw.results(DAY, 4)
    raw.write_annotations({DAY: raw.annotations(failures, per_result=2)}, sequence=1)
    run_annotations_curator(aws)
    # When an adopting run rewrites it with the same failures, now with three annotations each
    raw.write_annotations({DAY: raw.annotations(failures, per_result=3)}, sequence=1, replacing=True)
    report = run_annotations_curator(aws)
    # Then the object's rows were swapped: three per id, none of the two old ones left
    assert report.objects_replaced == 1
    assert curated_annotations(aws).num_rows == 12
    assert_curated_annotations_equal_raw(aws)


def test_rows_moved_to_another_object_replace_the_deleted_leftovers_rows(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given a dead run's leftover curated, then its annotations rewritten by the adopting run under its own
    # key, and the leftover deleted (the archiver's adoption)
    failures = raw.results(DAY, 3)
    (leftover,) = raw.write_annotations({DAY: raw.annotations(failures, per_result=2)})
    run_annotations_curator(aws)
    (kept,) = raw.write_annotations({DAY: raw.annotations(failures, per_result=2)})
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=leftover)
    # When the curator runs
    run_annotations_curator(aws)
    # Then each id's two rows come from the adopting run's object, once
    rows = curated_annotations(aws).to_pylist()
    assert len(rows) == 6
    assert {row["raw_object_key"] for row in rows} == {kept}
    assert_curated_annotations_equal_raw(aws)


def test_an_id_in_two_listed_objects_keeps_every_row_of_the_object_curated_first(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given an invocation's annotations curated, then archived again in another object (with other rows)
    failures = raw.results(DAY, 2)
    (first,) = raw.write_annotations({DAY: raw.annotations(failures, per_result=3)})
    run_annotations_curator(aws)
    raw.write_annotations({DAY: raw.annotations(failures[:1], per_result=5)})
    # When the curator runs twice
    reports = [run_annotations_curator(aws) for _ in range(2)]
    # Then the first object's three rows of the id stay, alone: not 3 + 5, not a mix, and no trading
    rows = curated_annotations(aws).to_pylist()
    assert [report.commits for report in reports] == [0, 0]
    assert len(rows) == 6
    assert {row["raw_object_key"] for row in rows} == {first}


def test_a_closed_day_is_compacted_into_one_file_keeping_every_row(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    settings = CurationSettings(close_after_hours=3)
    noon = day_end_ms(DAY) - 12 * HOUR_MS
    # Given three runs' annotation objects curated one at a time while the day is open
    for _ in range(3):
        raw.write_annotations({DAY: raw.annotations(raw.results(DAY, 4))})
        assert run_annotations_curator(aws, settings=settings, clock_ms=lambda: noon).days_compacted == []
    # When the curator runs after the day has closed
    closed = day_end_ms(DAY) + 3 * HOUR_MS
    report = run_annotations_curator(aws, settings=settings, clock_ms=lambda: closed)
    # Then the day is one file, and every annotation row is still there, once
    assert report.days_compacted == [DAY.isoformat()]
    table = curated_table(aws, ANNOTATIONS_TABLE).load()
    files = list(table.handle.scan().plan_files())  # type: ignore[attr-defined]
    assert len(files) == 1
    assert curated_annotations(aws).num_rows == 36
    assert_curated_annotations_equal_raw(aws)
