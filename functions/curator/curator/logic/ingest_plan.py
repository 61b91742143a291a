"""Exactly once from raw to curated, as pure functions.

Every curated row carries the raw object it came from (key and ETag). For each day, the raw listing and
the table's own record are compared:
- a key the table does not hold is added;
- a key held with another ETag (an adopting archiver run rewrote it) has its rows deleted and the object's
  current rows appended, in the same commit;
- a key held whose object is gone keeps its rows: the raw bucket's lifecycle expires objects
  (ArchiveExpirationDays) while the curated table keeps their rows for good. The archiver deletes a key
  only as a dead run's leftover whose rows it has rewritten under another key of the same day (its
  adoption, logic/archive_run.py); those rows come back with that key, and replace the held ones by id
  (see superseding_objects), so one row per hook_result_id remains either way.
The record is committed with the rows, in one atomic Iceberg commit, so a crash before it changes nothing
and a crash after it is seen by the next run's comparison: nothing is appended twice or dropped.

Reading that record is the run's largest cost (a scan of every data file of the window), so each ingest
commit also records in its snapshot summary, per day it reconciled, a fingerprint of the listing it made
the table agree with (listing_summary). A later run whose listing of a day has the fingerprint the current
snapshot records for it skips that day: comparing would find nothing to do (unchanged_days). Any other
current snapshot (a compaction's, another writer's, none) has no record, and the day is compared in full.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from curator.models.curated_table import HOOK_RESULT_ID
from curator.models.plan import DayPlan, DayWindow, IngestPlan, RecordedDay
from curator.models.raw_archive import RawObject

SUMMARY_PREFIX = "cfn-hook-archive."
LISTING_PREFIX = f"{SUMMARY_PREFIX}listing."  # + the day: the fingerprint of the listing a commit reconciled


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
    vanished = tuple(sorted(key for key in recorded.objects if key not in seen))
    return DayPlan(day=day, add=tuple(add), replace=tuple(replace), vanished=vanished)


def superseding_candidates(
    plan: DayPlan, listed: Iterable[RawObject], recorded: RecordedDay
) -> list[RawObject]:
    """The day's objects whose ids must be known to tell an expired key from a superseded one: those held
    and unchanged, when a vanished key holds rows and is not the only thing the day had (a day expired
    whole has nothing left to look at, and costs no read)."""
    if not any(key in plan.vanished for key in recorded.ids.values()):
        return []
    reading = set(plan.to_read)
    return [obj for obj in sorted(listed) if obj not in reading]


def superseding_objects(
    plan: DayPlan, recorded: RecordedDay, ids_of: Mapping[RawObject, Iterable[str]]
) -> tuple[RawObject, ...]:
    """Of the candidates (ids_of), the objects delivering an id held under a vanished key: the archiver
    moved those rows there (an adopting run's leftover it then deleted)."""
    vanished = set(plan.vanished)
    held_by_vanished = {hid for hid, key in recorded.ids.items() if key in vanished}
    return tuple(obj for obj, ids in sorted(ids_of.items()) if held_by_vanished.intersection(ids))


def with_superseding(plan: DayPlan, objects: Sequence[RawObject]) -> DayPlan:
    if not objects:
        return plan
    return dataclasses.replace(plan, replace=plan.replace + tuple(objects))


def listing_fingerprint(objects: Iterable[RawObject]) -> str:
    """The count and a SHA-256 of the sorted key/ETag pairs: any added, rewritten or vanished object
    changes it."""
    pairs = sorted((obj.key, obj.etag) for obj in objects)
    digest = hashlib.sha256()
    for key, etag in pairs:
        digest.update(f"{key}\t{etag}\n".encode())
    return f"{len(pairs)}:{digest.hexdigest()}"


def listing_summary(plan: IngestPlan, listed: Mapping[date, Sequence[RawObject]]) -> dict[str, str]:
    """The fingerprint of each listed day the plan reconciles in full (a plan never splits a day), for the
    commit's snapshot summary: written in the same atomic commit as the rows it vouches for."""
    return {
        f"{LISTING_PREFIX}{day.day.isoformat()}": listing_fingerprint(listed[day.day])
        for day in plan.days
        if listed.get(day.day)
    }


def recorded_listings(summary: Mapping[str, str]) -> dict[date, str]:
    """The listing fingerprints a snapshot summary records, by day; a malformed entry counts as none."""
    records: dict[date, str] = {}
    for name, value in summary.items():
        if not name.startswith(LISTING_PREFIX):
            continue
        try:
            records[date.fromisoformat(name[len(LISTING_PREFIX) :])] = value
        except ValueError:
            continue
    return records


def unchanged_days(listed: Mapping[date, Sequence[RawObject]], summary: Mapping[str, str]) -> frozenset[date]:
    """Listed days whose listing is the one the current snapshot's commit reconciled: the table already
    agrees with it. Rows of one hook_result_id all fall on one day (its invocation's), so the days
    compared never need a skipped day's ids."""
    records = recorded_listings(summary)
    return frozenset(
        day for day, objects in listed.items() if objects and records.get(day) == listing_fingerprint(objects)
    )


def plan_ingest(
    listed: Mapping[date, Sequence[RawObject]],
    recorded: Mapping[date, RecordedDay],
    *,
    window: DayWindow,
    max_objects: int,
    scheduled: bool,
    unchanged: frozenset[date] = frozenset(),
) -> IngestPlan:
    """Whole days, oldest first, until about max_objects raw objects are to be read (a day is never split:
    its comparison is only sound over the full listing). In a scheduled run the mark becomes the last day
    planned in full; when the plan stops early, the next pass starts from there. An unchanged day (its
    record was not read) plans nothing."""
    days = sorted(day for day in set(listed) | set(recorded) | unchanged if day in window)
    planned: list[DayPlan] = []
    budget = max_objects
    stopped_early = False
    for day in days:
        if day in unchanged:
            planned.append(DayPlan(day=day))
            continue
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


def merge_incoming(tables: Sequence[pa.Table], *, one_row_per_id: bool) -> pa.Table:
    """The rows to append, each hook_result_id's from one raw object only: where two objects hold the same
    id, the object read last (the later key, as listed) wins, so no row appears twice. hook_results keeps
    one row per id (the last); hook_annotations keeps every row the winning object holds for it."""
    if not tables:
        raise ValueError("nothing to merge")
    combined = pa.concat_tables(tables)
    ids: list[str] = combined.column(HOOK_RESULT_ID).to_pylist()  # type: ignore[assignment]  # not null
    last_row: dict[str, int] = {}
    for index, hook_result_id in enumerate(ids):
        last_row[hook_result_id] = index
    if one_row_per_id:
        if len(last_row) == len(ids):
            return combined
        return combined.take(pa.array(sorted(last_row.values()), type=pa.int64()))
    # Which table each row came from, and the last table holding each id.
    source = [number for number, table in enumerate(tables) for _ in range(table.num_rows)]
    last_source = {hook_result_id: source[index] for hook_result_id, index in last_row.items()}
    keep = [index for index, hook_result_id in enumerate(ids) if source[index] == last_source[hook_result_id]]
    if len(keep) == len(ids):
        return combined
    return combined.take(pa.array(keep, type=pa.int64()))


def _held(recorded: Mapping[date, RecordedDay]) -> dict[str, str]:
    held: dict[str, str] = {}
    for day in recorded.values():
        held.update(day.ids)
    return held


def held_elsewhere(
    incoming: pa.Table,
    recorded: Mapping[date, RecordedDay],
    *,
    keys_deleted: Iterable[str],
    keys_listed: Iterable[str],
) -> set[str]:
    """Incoming ids the table already holds under a raw object still listed and not rewritten by this
    commit: the held row stays and the incoming one is dropped (the object curated first keeps the id).
    Were the incoming row to win, the held object could lose its last row, look new to the next pass, and
    the two objects would trade the id back and forth, a commit each, forever."""
    deleted, listed = set(keys_deleted), set(keys_listed)
    held = _held(recorded)
    incoming_ids = pc.unique(incoming.column(HOOK_RESULT_ID)).to_pylist()
    return {hid for hid in incoming_ids if hid in held and held[hid] in listed and held[hid] not in deleted}


def colliding_ids(
    incoming: pa.Table, recorded: Mapping[date, RecordedDay], *, keys_deleted: Iterable[str]
) -> set[str]:
    """Incoming ids the table holds under a raw object that stays but is gone from the listing (a vanished
    key: the incoming object is where the archiver moved the row): those held rows are deleted in the same
    commit, so the table keeps one row per hook_result_id. Apply after held_elsewhere."""
    deleted = set(keys_deleted)
    held = _held(recorded)
    incoming_ids = pc.unique(incoming.column(HOOK_RESULT_ID)).to_pylist()
    return {hid for hid in incoming_ids if hid in held and held[hid] not in deleted}


def without_ids(rows: pa.Table, ids: set[str]) -> pa.Table:
    if not ids:
        return rows
    return rows.filter(pc.invert(pc.is_in(rows.column(HOOK_RESULT_ID), value_set=pa.array(sorted(ids)))))


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
        f"{SUMMARY_PREFIX}raw-objects-vanished": str(sum(len(day.vanished) for day in plan.days)),
        f"{SUMMARY_PREFIX}raw-objects-sha256": digest.hexdigest(),
        f"{SUMMARY_PREFIX}rows": str(rows),
        f"{SUMMARY_PREFIX}days": ",".join(day.isoformat() for day in plan.touched_days),
    }
