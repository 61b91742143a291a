"""Keeping the curated table small and tidy, as pure functions: which days to compact, which snapshots
to expire, which files nothing references any more."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from curator.models.plan import DayFiles, SnapshotHistory, StoredFile

_MS_PER_HOUR = 3_600_000


def day_end_ms(day: date) -> int:
    """The first millisecond after the UTC day."""
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    return int(end.timestamp() * 1000)


def is_closed(day: date, *, now_ms: int, close_after_hours: float) -> bool:
    """A day is closed once it has ended and the archiver has had close_after_hours to land its late rows.
    A raw object can still arrive later (a backfill, a long-running invocation): the day is then
    compacted again."""
    return now_ms >= day_end_ms(day) + int(close_after_hours * _MS_PER_HOUR)


def files_wanted(total_bytes: int, *, target_file_bytes: int) -> int:
    return max(1, math.ceil(total_bytes / target_file_bytes))


def days_to_compact(
    partitions: Iterable[DayFiles],
    *,
    now_ms: int,
    close_after_hours: float,
    target_file_bytes: int,
    open_day_max_files: int,
) -> list[date]:
    """Days holding more files than their bytes need: a closed day as soon as it does (appends of every
    run, or a late object appended to a day already compacted); a day still open once it holds more than
    open_day_max_files (0: never). Every run re-reads the open days' files to compare their lineage, so
    letting a day's appends pile up until it closes makes each run dearer than the last (bench section 7:
    288 files a day at the 5-minute schedule); compacted at intervals, each open day stays small. A day
    compacted while open is compacted again when more appends arrive, as a closed day is after a late one."""
    chosen = []
    for part in partitions:
        wanted = files_wanted(part.bytes, target_file_bytes=target_file_bytes)
        if is_closed(part.day, now_ms=now_ms, close_after_hours=close_after_hours):
            limit = wanted
        elif open_day_max_files:
            limit = max(wanted, open_day_max_files)
        else:
            continue
        if part.files > limit:
            chosen.append(part.day)
    return sorted(chosen)


def expirable_snapshots(history: SnapshotHistory, *, now_ms: int, retention_ms: int) -> set[int]:
    """Snapshots that stopped being current more than retention_ms ago.

    Measured from when a snapshot was superseded, not from when it was committed: a query that planned
    on the current snapshot keeps reading its files for as long as it runs, however old that snapshot is.
    A snapshot that was never current (the first of a transaction's two) is measured from its commit."""
    superseded_at: dict[int, int] = {}
    log = list(history.log)
    for position, entry in enumerate(log):
        following = next(
            (later for later in log[position + 1 :] if later.snapshot_id != entry.snapshot_id), None
        )
        if following is not None:
            superseded_at[entry.snapshot_id] = following.timestamp_ms
        else:
            superseded_at.pop(entry.snapshot_id, None)  # still current, or current again
    keep = set(history.protected_ids)
    if history.current_id is not None:
        keep.add(history.current_id)
    in_log = {entry.snapshot_id for entry in log}
    expirable = set()
    for snapshot in history.snapshots:
        if snapshot.snapshot_id in keep:
            continue
        if snapshot.snapshot_id in in_log and snapshot.snapshot_id not in superseded_at:
            continue
        since = superseded_at.get(snapshot.snapshot_id, snapshot.timestamp_ms)
        if since <= now_ms - retention_ms:
            expirable.add(snapshot.snapshot_id)
    return expirable


def maintenance_due(last_ms: int | None, *, now_ms: int, interval_ms: int) -> bool:
    """Snapshot expiry and orphan removal read every kept snapshot's manifests: once an interval is
    enough. Never done, or a time in the future (a clock or a property gone wrong), is due."""
    return last_ms is None or last_ms > now_ms or now_ms - last_ms >= interval_ms


def orphan_files(
    stored: Iterable[StoredFile], *, referenced: set[str], now_ms: int, grace_ms: int
) -> list[str]:
    """Files under the table's location that no live snapshot or kept metadata file references, and that
    are older than grace_ms. The grace protects a writer between writing its files and committing them
    (it must exceed the longest run, 15 minutes for a Lambda function)."""
    return sorted(
        item.uri
        for item in stored
        if item.uri not in referenced and item.last_modified_ms <= now_ms - grace_ms
    )
