"""What a run reads, counted on the wire: every call of the curator (pyiceberg's Glue catalog and file IO,
the raw archive's and the table's S3 clients) goes through the local stack's proxy, which records it. A
day whose listing the current snapshot vouches for is not scanned; maintenance runs once an interval."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest

import curator.logic.ingest_plan
from curator.dal.curated_table import MAINTAINED_AT_PROPERTY, IcebergCuratedTable, glue_catalog
from curator.dal.raw_archive import S3RawArchive
from curator.logic.curation import CurationDependencies, CurationRequest, CurationSettings, curate
from curator.models.plan import CurationReport
from curator.models.raw_archive import RawObject
from emulation.aws_stack import LocalAws, loopback_client
from tests.curator.conftest import (
    ARCHIVE_PREFIX,
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_equals_raw,
    catalog_properties,
)

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 10)
NEXT_DAY = DAY + timedelta(days=1)
MINUTE_MS = 60_000
# Ingest only: a compaction's snapshot vouches for no listing, and these days are long closed.
INGEST = CurationRequest(compact=False, expire=False)


def proxied_dependencies(aws: LocalAws, clock_ms: Callable[[], int] | None = None) -> CurationDependencies:
    def s3() -> Any:
        return loopback_client("s3", moto_url=aws.proxy.url, cloudformation_url=aws.emulator.endpoint_url)

    properties = catalog_properties(aws) | {"glue.endpoint": aws.proxy.url, "s3.endpoint": aws.proxy.url}
    table = IcebergCuratedTable(
        catalog=glue_catalog(properties),
        database=DATABASE,
        table_name=TABLE,
        location=f"s3://{aws.bucket}/curated/{TABLE}",
        s3_client=s3(),
    )
    raw = S3RawArchive(bucket=aws.bucket, archive_prefix=ARCHIVE_PREFIX, client=s3())
    extra: dict[str, Any] = {"clock_ms": clock_ms} if clock_ms else {}
    return CurationDependencies(raw=raw, table=table, sleep=lambda _: None, **extra)


def run_counted(
    aws: LocalAws,
    request: CurationRequest = INGEST,
    settings: CurationSettings | None = None,
    clock_ms: Callable[[], int] | None = None,
) -> tuple[CurationReport, list[str]]:
    """One run; the paths (URL-decoded, with their query) of every call it made."""
    aws.proxy.calls.clear()
    report = curate(proxied_dependencies(aws, clock_ms), settings or CurationSettings(), request)
    return report, [unquote(call.path) for call in aws.proxy.calls]


def curated_data_reads(paths: list[str], day: date) -> int:
    """Reads of the day's curated data files: what the lineage scan costs for that day."""
    return sum(1 for path in paths if f"/curated/{TABLE}/data/dt={day.isoformat()}/" in path)


def _curated_twice_a_day(aws: LocalAws, raw: RawArchiveWriter) -> list[str]:
    """Two archiver runs over both days, each curated: two data files a day; the keys of DAY."""
    keys = []
    for _ in range(2):
        written = raw.write_run({DAY: raw.results(DAY, 10), NEXT_DAY: raw.results(NEXT_DAY, 10)})
        keys.append(written[0])
        run_counted(aws)
    return keys


def _change(kind: str, aws: LocalAws, raw: RawArchiveWriter, keys: list[str]) -> None:
    if kind == "new object":
        raw.write_run({DAY: raw.results(DAY, 5)})
    elif kind == "rewritten etag":  # an adopting archiver run: the same key, new bytes
        raw.write_run({DAY: raw.results(DAY, 10)}, sequence=2, replacing=True)
    elif kind == "vanished key":  # the bucket's lifecycle expired it: not a retraction
        aws.client("s3").delete_object(Bucket=aws.bucket, Key=keys[0])
    # Whatever DAY got, NEXT_DAY gets a new object too: every run has something to commit.
    raw.write_run({NEXT_DAY: raw.results(NEXT_DAY, 5)})


@pytest.mark.parametrize("kind", ["new object", "rewritten etag", "vanished key"])
def test_a_changed_day_is_scanned_again_and_an_unchanged_one_is_not(
    aws: LocalAws, raw: RawArchiveWriter, kind: str
) -> None:
    # Given both days curated, the current snapshot vouching for both listings
    keys = _curated_twice_a_day(aws, raw)
    # When only NEXT_DAY gets a new object (the control): DAY's files are not read, NEXT_DAY's are
    _change("none", aws, raw, keys)
    report, paths = run_counted(aws)
    assert report.objects_added == 1
    assert report.days_unchanged == 1
    assert curated_data_reads(paths, DAY) == 0
    assert curated_data_reads(paths, NEXT_DAY) > 0
    assert_curated_equals_raw(aws)
    rows_before = curated_row_count(aws)
    # When DAY's listing changes: its files are read again and the change is curated
    _change(kind, aws, raw, keys)
    report, paths = run_counted(aws)
    assert curated_data_reads(paths, DAY) > 0
    assert report.days_unchanged == 0
    if kind == "vanished key":
        assert report.objects_vanished == 1
        assert curated_row_count(aws) == rows_before + 5  # NEXT_DAY's 5; the vanished key's 10 stay
    else:
        assert_curated_equals_raw(aws)
        assert report.objects_replaced == (1 if kind == "rewritten etag" else 0)
    # And the run after, with nothing new anywhere, reads no curated data file at all
    report, paths = run_counted(aws)
    assert report.commits == 0
    assert curated_data_reads(paths, DAY) == curated_data_reads(paths, NEXT_DAY) == 0


def test_control_a_fingerprint_blind_to_etags_misses_an_adopting_rewrite(
    aws: LocalAws, raw: RawArchiveWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shows the test above can fail: were the fingerprint the keys alone, the rewrite goes unseen."""

    def keys_only(objects: list[RawObject]) -> str:
        return ",".join(sorted(obj.key for obj in objects))

    monkeypatch.setattr(curator.logic.ingest_plan, "listing_fingerprint", keys_only)
    keys = _curated_twice_a_day(aws, raw)
    _change("rewritten etag", aws, raw, keys)
    report, paths = run_counted(aws)
    assert curated_data_reads(paths, DAY) == 0
    assert report.objects_replaced == 0
    with pytest.raises(AssertionError):
        assert_curated_equals_raw(aws)


def test_a_compaction_snapshot_vouches_for_nothing_and_the_next_run_compares_every_day(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    _curated_twice_a_day(aws, raw)
    # Given the closed days compacted (their snapshot carries no listing record)
    compacted, _ = run_counted(aws, CurationRequest(expire=False))
    assert compacted.days_compacted
    # When nothing changed: the next run still scans both days, and finds nothing to do
    report, paths = run_counted(aws)
    assert report.commits == 0
    assert curated_data_reads(paths, DAY) > 0
    assert curated_data_reads(paths, NEXT_DAY) > 0
    assert_curated_equals_raw(aws)


def test_a_full_reconciliation_compares_every_day_whatever_the_record(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    _curated_twice_a_day(aws, raw)
    report, paths = run_counted(aws, CurationRequest(full=True, compact=False, expire=False))
    assert report.days_unchanged == 0
    assert curated_data_reads(paths, DAY) > 0


def curated_row_count(aws: LocalAws) -> int:
    table = glue_catalog(catalog_properties(aws)).load_table((DATABASE, TABLE))
    return table.scan().to_arrow().num_rows


def table_listings(paths: list[str]) -> int:
    """ListObjectsV2 of the table's whole location: what orphan removal starts with (pyarrow's own
    listings, of one key each, check that a file it writes is not a directory)."""
    whole = re.compile(rf"[?&]prefix=curated/{TABLE}/(&|$)")
    return sum(1 for path in paths if "list-type=2" in path and whole.search(path))


def test_maintenance_runs_once_an_interval_and_again_after_it(aws: LocalAws, raw: RawArchiveWriter) -> None:
    settings = CurationSettings(maintenance_interval_minutes=60)
    start = int(datetime(2026, 3, 20, 12, tzinfo=UTC).timestamp() * 1000)
    raw.write_run({DAY: raw.results(DAY, 5)})
    ticks = {}
    for minute in (0, 5, 30, 59, 60, 65, 125):
        raw.write_run({DAY: raw.results(DAY, 1)})
        clock = lambda m=minute: start + m * MINUTE_MS  # noqa: E731
        report, paths = run_counted(aws, CurationRequest(), settings, clock)
        ticks[minute] = (report.maintained, table_listings(paths))
    # Then expiry and orphan removal ran at 0, 60 and 125 only; every other run listed nothing of the table
    assert {minute for minute, (maintained, _) in ticks.items() if maintained} == {0, 60, 125}
    assert {minute for minute, (_, listings) in ticks.items() if listings} == {0, 60, 125}
    table = glue_catalog(catalog_properties(aws)).load_table((DATABASE, TABLE))
    assert table.properties[MAINTAINED_AT_PROPERTY] == str(start + 125 * MINUTE_MS)
    assert_curated_equals_raw(aws)


def test_an_interval_of_zero_maintains_on_every_scheduled_run_and_notifications_never(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    settings = CurationSettings(maintenance_interval_minutes=0)
    raw.write_run({DAY: raw.results(DAY, 5)})
    assert run_counted(aws, CurationRequest(), settings)[0].maintained
    assert run_counted(aws, CurationRequest(), settings)[0].maintained
    notified = CurationRequest(days=frozenset({DAY}), expire=False)
    report, paths = run_counted(aws, notified, settings)
    assert not report.maintained
    assert table_listings(paths) == 0
