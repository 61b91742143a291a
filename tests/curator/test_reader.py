"""A reader queries the curated table in a loop while the curator appends, replaces, compacts and expires:
it never sees a duplicate hook_result_id, never loses a row it has seen, and never errors."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest

from curator.dal.curated_table import glue_catalog
from curator.logic.curation import CurationRequest, CurationSettings
from emulation.aws_stack import LocalAws
from tests.curator.conftest import (
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_equals_raw,
    catalog_properties,
    run_curator,
)

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 10)
ROUNDS = 4
RETENTION_SECONDS = 2.0
HOLD_SECONDS = 0.5
OLD_DAY = DAY - timedelta(days=2)


def test_reader_sees_one_row_per_id_and_never_loses_a_row_while_the_curator_works(
    aws: LocalAws, raw: RawArchiveWriter
) -> None:
    # Snapshots superseded more than RETENTION_SECONDS ago are expired and their files deleted at once.
    # The reader holds each snapshot a while before reading it, as a longer query would: it can only read
    # whole snapshots if expiry counts from when a snapshot was superseded, not when it was committed.
    settings = CurationSettings(
        lookback_days=7,
        snapshot_retention_hours=RETENTION_SECONDS / 3600,
        orphan_grace_hours=0.0,
        maintenance_interval_minutes=0,  # expire on every run: the reader must see expiry under way
    )
    raw.write_run({DAY: raw.results(DAY, 20)})
    run_curator(aws, settings=settings)
    stop = threading.Event()
    problems: list[str] = []
    scans: list[int] = []

    def reader() -> None:
        catalog = glue_catalog(catalog_properties(aws))
        seen: set[str] = set()
        while not stop.is_set():
            try:
                table = catalog.load_table((DATABASE, TABLE))
                stop.wait(HOLD_SECONDS)
                ids = table.scan().to_arrow().column("hook_result_id")
            except Exception as error:  # any error is the finding
                problems.append(f"scan failed: {type(error).__name__}: {error}")
                return
            now = [str(hid) for hid in ids.to_pylist()]
            if len(now) != len(set(now)):
                problems.append(f"duplicate ids in a snapshot of {len(now)} rows")
            if missing := seen - set(now):
                problems.append(f"{len(missing)} row(s) seen before are gone")
            seen |= set(now)
            scans.append(len(now))

    expired = 0
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(ROUNDS):
            # An archiver run: new rows in two long-closed days; the curator appends them
            day = DAY + timedelta(days=round_ % 3)
            run = {day: raw.results(day, 10), OLD_DAY: raw.results(OLD_DAY, 3)}
            raw.write_run(run, archived_at_ms=1_000 * round_)
            expired += run_curator(aws, CurationRequest(compact=False), settings=settings).snapshots_expired
            if round_ % 2:
                # An adopting run rewrites the same objects: new bytes and ETag, the same rows
                raw.write_run(run, sequence=raw.sequence, replacing=True, archived_at_ms=1_000 * round_ + 1)
                report = run_curator(aws, CurationRequest(compact=False), settings=settings)
                assert report.objects_replaced == 2
                expired += report.snapshots_expired
            # Past the retention of every snapshot but the current one, the curator compacts the two
            # days, expires what was superseded long enough ago and deletes what nothing references
            time.sleep(RETENTION_SECONDS + 0.1)
            report = run_curator(aws, settings=settings)
            assert report.days_compacted
            expired += report.snapshots_expired
    finally:
        stop.set()
        thread.join(timeout=60)
    assert problems == []
    assert len(scans) > ROUNDS
    assert expired, "the retention never passed: nothing was expired while the reader read"
    assert_curated_equals_raw(aws)
