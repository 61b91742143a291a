"""Exactly once from raw to curated, as pure functions.

Every curated row carries the raw object it came from (key and ETag). For each day, the raw listing and
the table's own record are compared:
- a key the table does not hold is added;
- a key held with another ETag (an adopting archiver run rewrote it) has its rows deleted and the object's
  current rows appended, in the same commit;
- a key held whose object is gone (a dead run's orphan the archiver removed) has its rows deleted.
The record is committed with the rows, in one atomic Iceberg commit, so a crash before it changes nothing
and a crash after it is seen by the next run's comparison: nothing is appended twice or dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from curator.models.curated_table import HOOK_RESULT_ID
from curator.models.plan import DayPlan, DayWindow, IngestPlan, RecordedDay
from curator.models.raw_archive import RawObject

SUMMARY_PREFIX = "cfn-hook-archive."


def scheduled_window(mark: date | None, *, lookback_days: int) -> DayWindow:
    """A scheduled run re-reads the days since its mark, less a lookback for late objects (results that
    finish hours after they were invoked land in their invocation's day). No mark yet: every day."""
    if mark is None:
        return DayWindow()
    return DayWindow(start=mark - timedelta(days=lookback_days))


def plan_day(day: date, listed: Iterable[RawObject], recorded: RecordedDay) -> DayPlan:
    add: list[RawObject] = []
    replace: list[RawObject] = []
    seen: set[str] = set()
    for obj in sorted(listed):
        seen.add(obj.key)
        held = recorded.objects.get(obj.key)
        if held is None:
            add.append(obj)
        elif held != obj.etag:
            replace.append(obj)
    remove = tuple(sorted(key for key in recorded.objects if key not in seen))
    return DayPlan(day=day, add=tuple(add), replace=tuple(replace), remove=remove)


def plan_ingest(
    listed: Mapping[date, Sequence[RawObject]],
    recorded: Mapping[date, RecordedDay],
    *,
    window: DayWindow,
    max_objects: int,
    scheduled: bool,
) -> IngestPlan:
    """Whole days, oldest first, until about max_objects raw objects are to be read (a day is never split:
    its comparison is only sound over the full listing). In a scheduled run the mark becomes the last day
    planned in full; when the plan stops early, the next pass starts from there."""
    days = sorted(day for day in set(listed) | set(recorded) if day in window)
    planned: list[DayPlan] = []
    budget = max_objects
    stopped_early = False
    for day in days:
        plan = plan_day(day, listed.get(day, ()), recorded.get(day, RecordedDay()))
        if planned and len(plan.to_read) > budget:
            stopped_early = True
            break
        planned.append(plan)
        budget -= len(plan.to_read)
    mark = None
    if scheduled and planned:
        mark = planned[-1].day if stopped_early else max(day.day for day in planned)
    return IngestPlan(days=tuple(planned), mark=mark)


def group_by_day(objects: Iterable[RawObject]) -> dict[date, list[RawObject]]:
    grouped: dict[date, list[RawObject]] = {}
    for obj in objects:
        grouped.setdefault(obj.day, []).append(obj)
    return grouped


def merge_incoming(tables: Sequence[pa.Table]) -> pa.Table:
    """The rows to append, one per hook_result_id: where two raw objects hold the same id, the object read
    last (the later key, as listed) wins, so a row never appears twice."""
    if not tables:
        raise ValueError("nothing to merge")
    combined = pa.concat_tables(tables)
    ids: list[str] = combined.column(HOOK_RESULT_ID).to_pylist()  # type: ignore[assignment]  # not null
    last: dict[str, int] = {}
    for index, hook_result_id in enumerate(ids):
        last[hook_result_id] = index
    if len(last) == len(ids):
        return combined
    keep = pa.array(sorted(last.values()), type=pa.int64())
    return combined.take(keep)


def colliding_ids(
    incoming: pa.Table, recorded: Mapping[date, RecordedDay], *, keys_deleted: Iterable[str]
) -> set[str]:
    """Incoming ids the table already holds under a raw object that stays: those rows are deleted in the
    same commit, so the table keeps one row per hook_result_id."""
    deleted = set(keys_deleted)
    held: dict[str, str] = {}
    for day in recorded.values():
        held.update(day.ids)
    incoming_ids = pc.unique(incoming.column(HOOK_RESULT_ID)).to_pylist()
    return {hid for hid in incoming_ids if hid in held and held[hid] not in deleted}


def commit_summary(plan: IngestPlan, *, read: Sequence[RawObject], rows: int) -> dict[str, str]:
    """What the snapshot summary records about the raw objects this commit includes: counts, the days,
    and a SHA-256 over the sorted key/ETag pairs, which an audit recomputes from the rows' lineage. The
    list itself lives in the rows (raw_object_key, raw_object_etag): summaries are dropped with their
    snapshot at expiry, and would bloat every metadata file at fleet scale."""
    digest = hashlib.sha256()
    for obj in sorted(read):
        digest.update(f"{obj.key}\t{obj.etag}\n".encode())
    return {
        f"{SUMMARY_PREFIX}operation": "ingest",
        f"{SUMMARY_PREFIX}raw-objects-added": str(sum(len(day.add) for day in plan.days)),
        f"{SUMMARY_PREFIX}raw-objects-replaced": str(sum(len(day.replace) for day in plan.days)),
        f"{SUMMARY_PREFIX}raw-objects-removed": str(sum(len(day.remove) for day in plan.days)),
        f"{SUMMARY_PREFIX}raw-objects-sha256": digest.hexdigest(),
        f"{SUMMARY_PREFIX}rows": str(rows),
        f"{SUMMARY_PREFIX}days": ",".join(day.isoformat() for day in plan.touched_days),
    }
