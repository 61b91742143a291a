"""Raw objects expired by the archive bucket's lifecycle (ArchiveExpirationDays) are not retractions: the
curated table keeps their rows through scheduled runs, S3-notification runs and {"full": true}. Only the
archiver's own deletion of a dead run's leftover, whose rows it rewrote under another key of the same day
(functions/archiver/hook_archive/logic/archive_run.py), moves rows: the key holding them replaces them.

S3's lifecycle expiration deletes the objects (no delete marker in an unversioned bucket; a delete marker
in a versioned one: either way ListObjectsV2 no longer lists them):
https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from curator.logic.curation import CurationRequest
from emulation.aws_stack import LocalAws
from tests.curator.conftest import RawArchiveWriter, assert_curated_equals_raw, curated_rows, run_curator

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 10)


def _expire(aws: LocalAws, *keys: str) -> None:
    """What the lifecycle rule does to an object past ArchiveExpirationDays: it is no longer listed."""
    s3 = aws.client("s3")
    for key in keys:
        s3.delete_object(Bucket=aws.bucket, Key=key)


def _by_id(aws: LocalAws) -> dict[str, dict[str, Any]]:
    rows = curated_rows(aws).to_pylist()
    ids = [row["hook_result_id"] for row in rows]
    assert len(ids) == len(set(ids)), "a hook_result_id twice in hook_results"
    return {row["hook_result_id"]: row for row in rows}


RUNS = {
    "scheduled": CurationRequest(),
    "s3-notification": CurationRequest(days=frozenset({DAY - timedelta(days=1), DAY})),
    "full": CurationRequest(full=True),
}


@pytest.mark.parametrize("run", list(RUNS), ids=list(RUNS))
def test_rows_of_raw_objects_expired_after_curation_stay_in_hook_results(
    aws: LocalAws, raw: RawArchiveWriter, run: str
) -> None:
    # Given two days curated: the older one written by two runs, the newer by one
    older = DAY - timedelta(days=1)
    first, _ = raw.write_run({older: raw.results(older, 8), DAY: raw.results(DAY, 5)})
    (late,) = raw.write_run({older: raw.results(older, 3)})
    run_curator(aws)
    curated = _by_id(aws)
    assert len(curated) == 16
    assert_curated_equals_raw(aws)
    # When the lifecycle expires the older day's first object (the late one is younger), and then the
    # whole older day
    _expire(aws, first)
    report = run_curator(aws, RUNS[run])
    # Then every row is still there, unchanged, and nothing was re-read or rewritten
    assert _by_id(aws) == curated
    assert report.rows_written == 0
    _expire(aws, late)
    run_curator(aws, RUNS[run])
    assert _by_id(aws) == curated
    # And new raw objects are still curated beside the kept rows
    raw.write_run({DAY: raw.results(DAY, 4)})
    run_curator(aws, RUNS[run])
    assert len(_by_id(aws)) == 20


def test_a_full_run_over_a_partly_expired_archive_reports_the_vanished_keys_and_keeps_their_rows(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    keys = raw.write_run({DAY - timedelta(days=d): raw.results(DAY - timedelta(days=d), 4) for d in range(5)})
    run_curator(aws)
    _expire(aws, *keys[2:])
    report = run_curator(aws, CurationRequest(full=True))
    assert report.objects_vanished == 3
    assert report.commits == 0
    assert len(_by_id(aws)) == 20


def test_a_leftover_the_archiver_deleted_has_its_rows_replaced_by_the_key_holding_them(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Given a committed object, and a dead run's object holding four of its results again (archived later)
    results = raw.results(DAY, 10)
    raw.write_run({DAY: results}, archived_at_ms=1_000)
    (leftover,) = raw.write_run({DAY: results[:4]}, archived_at_ms=2_000)
    run_curator(aws)
    assert len(_by_id(aws)) == 10
    # When the adopting run finds those rows archived already, writes nothing for them and deletes the
    # leftover, and the curator runs
    _expire(aws, leftover)
    report = run_curator(aws)
    # Then the committed object is read again: its rows replace the leftover's, none lost or doubled
    assert report.objects_replaced == 1
    assert_curated_equals_raw(aws)
    assert leftover not in {row["raw_object_key"] for row in _by_id(aws).values()}
    # And the next run has nothing left to do
    assert run_curator(aws).commits == 0
