"""One curator run: ingest what is new in the raw archive, compact closed days, expire snapshots, remove
orphaned files (at most once every maintenance_interval_minutes). Pure orchestration: S3 is behind the
RawArchive port and the Iceberg table behind the CuratedTable port, which dal/raw_archive.py and
dal/curated_table.py implement.

Every commit is conditional on the snapshot its attempt planned against. When another writer commits
first, nothing of the attempt landed: the run reads the table again and plans again, up to
commit_attempts times."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pyarrow as pa

from curator.errors import CommitAttemptsExhaustedError, CommitConflictError
from curator.logic.ingest_plan import (
    SUMMARY_PREFIX,
    colliding_ids,
    commit_summary,
    group_by_day,
    held_elsewhere,
    listing_summary,
    merge_incoming,
    plan_ingest,
    scheduled_window,
    superseding_candidates,
    superseding_objects,
    unchanged_days,
    with_superseding,
    without_ids,
)
from curator.logic.maintenance import days_to_compact, expirable_snapshots, maintenance_due, orphan_files
from curator.models.config import CuratorConfig
from curator.models.curated_table import HOOK_RESULT_ID, RESULTS_TABLE, CuratedTableSpec
from curator.models.plan import (
    CurationReport,
    DayFiles,
    DayWindow,
    IngestPlan,
    RecordedDay,
    SnapshotHistory,
    StoredFile,
    TableState,
)
from curator.models.raw_archive import RawObject

_MS_PER_HOUR = 3_600_000
_MS_PER_MINUTE = 60_000


class RawArchive(Protocol):
    def list_objects(self, window: DayWindow) -> Iterator[RawObject]: ...

    def read_rows(self, obj: RawObject) -> pa.Table | None:
        """The object's rows if it still has the listed ETag; None if it changed or is gone."""
        ...


class CuratedTable(Protocol):
    def load(self) -> TableState: ...

    def recorded(
        self, state: TableState, window: DayWindow, *, skip: frozenset[date] = frozenset()
    ) -> dict[date, RecordedDay]: ...

    def commit_ingest(
        self,
        state: TableState,
        *,
        delete_days: Sequence[date],
        delete_keys: Sequence[str],
        delete_ids: Sequence[str],
        rows: pa.Table | None,
        mark: date | None,
        summary: dict[str, str],
    ) -> None:
        """Delete, append and move the mark in one commit, conditional on state's snapshot."""
        ...

    def day_files(self, state: TableState, window: DayWindow) -> list[DayFiles]: ...

    def compact_day(self, state: TableState, day: date, summary: dict[str, str]) -> None: ...

    def history(self) -> SnapshotHistory: ...

    def expire(self, snapshot_ids: set[int]) -> None: ...

    def referenced_files(self) -> set[str]: ...

    def stored_files(self) -> Iterator[StoredFile]: ...

    def delete_files(self, uris: Sequence[str]) -> None: ...

    def mark_maintained(self, at_ms: int) -> None: ...


@dataclass(frozen=True)
class CurationSettings:
    lookback_days: int = 2
    max_objects_per_commit: int = 5000
    max_commits: int = 50  # ingest passes per run; a backfill goes on in the next run
    close_after_hours: float = 3.0
    open_day_max_files: int = 12  # an open day is compacted past this many files (0: only once closed)
    target_file_bytes: int = 128 * 1024 * 1024
    snapshot_retention_hours: float = 24.0
    orphan_grace_hours: float = 24.0
    maintenance_interval_minutes: int = 60
    commit_attempts: int = 5

    @classmethod
    def from_config(cls, config: CuratorConfig) -> CurationSettings:
        """The settings the environment sets (the rest keep their defaults)."""
        return cls(
            lookback_days=config.lookback_days,
            max_objects_per_commit=config.max_objects_per_commit,
            close_after_hours=config.close_after_hours,
            open_day_max_files=config.open_day_max_files,
            target_file_bytes=config.target_file_bytes,
            snapshot_retention_hours=config.snapshot_retention_hours,
            orphan_grace_hours=config.orphan_grace_hours,
            maintenance_interval_minutes=config.maintenance_interval_minutes,
        )


@dataclass(frozen=True)
class CurationRequest:
    """A scheduled run (days since the mark), a full reconciliation, or the days S3 notifications named."""

    days: frozenset[date] | None = None
    full: bool = False
    compact: bool = True
    expire: bool = True

    @property
    def scheduled(self) -> bool:
        return self.days is None and not self.full


@dataclass(frozen=True)
class CurationDependencies:
    raw: RawArchive
    table: CuratedTable
    spec: CuratedTableSpec = RESULTS_TABLE  # which table: raw and table must be that table's
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    sleep: Callable[[float], None] = time.sleep


def curate(
    deps: CurationDependencies, settings: CurationSettings, request: CurationRequest
) -> CurationReport:
    report = CurationReport()
    touched = ingest(deps, settings, request, report)
    if not (request.compact or request.expire):
        return report
    state = deps.table.load()
    if request.compact:
        compact(deps, settings, request, report, touched=touched, state=state)
    now_ms = deps.clock_ms()
    interval_ms = int(settings.maintenance_interval_minutes * _MS_PER_MINUTE)
    if request.expire and maintenance_due(state.maintained_at_ms, now_ms=now_ms, interval_ms=interval_ms):
        expire(deps, settings, report)
        _record_maintenance(deps, settings, report, now_ms)
    return report


def _record_maintenance(
    deps: CurationDependencies, settings: CurationSettings, report: CurationReport, at_ms: int
) -> None:
    """After both steps: a crash before this write only repeats maintenance on the next run."""
    for attempt in range(settings.commit_attempts):
        try:
            deps.table.mark_maintained(at_ms)
        except CommitConflictError:
            report.conflicts += 1
            deps.sleep(min(0.1 * 2**attempt, 2.0))
            continue
        report.maintained = True
        return
    raise CommitAttemptsExhaustedError(
        f"recording maintenance lost {settings.commit_attempts} commits in a row to concurrent writers"
    )


def _window(request: CurationRequest, state: TableState, settings: CurationSettings) -> DayWindow:
    if request.days is not None:
        return DayWindow(days=request.days)
    if request.full:
        return DayWindow()
    return scheduled_window(state.mark, lookback_days=settings.lookback_days)


def ingest(
    deps: CurationDependencies,
    settings: CurationSettings,
    request: CurationRequest,
    report: CurationReport,
) -> set[date]:
    """Passes of list, compare, read, commit, until nothing is left to do (a plan stops at about
    max_objects_per_commit objects, so a backfill takes several). Returns the days touched."""
    touched: set[date] = set()
    cache: dict[RawObject, pa.Table | None] = {}  # rows read once per run, whatever the retries
    for number in range(settings.max_commits):
        plan = _commit_once(deps, settings, request, report, cache, first=number == 0)
        if plan is None:
            break
        touched.update(plan.touched_days)
    return touched


def _commit_once(
    deps: CurationDependencies,
    settings: CurationSettings,
    request: CurationRequest,
    report: CurationReport,
    cache: dict[RawObject, pa.Table | None],
    *,
    first: bool,
) -> IngestPlan | None:
    """One commit, retried on conflicts. Returns the committed plan, or None when there was nothing to do."""
    for attempt in range(settings.commit_attempts):
        state = deps.table.load()
        window = _window(request, state, settings)
        listed = group_by_day(deps.raw.list_objects(window))
        # A full reconciliation compares every day whatever the record says.
        unchanged = frozenset() if request.full else unchanged_days(listed, state.summary)
        recorded = deps.table.recorded(state, window, skip=unchanged)
        if first:
            report.days_unchanged = len(unchanged)
        plan = plan_ingest(
            listed,
            recorded,
            window=window,
            max_objects=settings.max_objects_per_commit,
            scheduled=request.scheduled,
            unchanged=unchanged,
        )
        plan = _supersede(deps, plan, listed, recorded, cache)
        mark_moves = plan.mark is not None and plan.mark != state.mark
        if plan.empty and not mark_moves:
            report.objects_vanished += sum(len(day.vanished) for day in plan.days)
            return None
        batch = _read(deps, plan, cache)
        incoming = (
            merge_incoming(batch.tables, one_row_per_id=deps.spec.one_row_per_id) if batch.tables else None
        )
        ids: list[str] = []
        kept: set[str] = set()
        if incoming is not None:
            kept = held_elsewhere(
                incoming,
                recorded,
                keys_deleted=batch.delete_keys,
                keys_listed=(obj.key for objects in listed.values() for obj in objects),
            )
            incoming = without_ids(incoming, kept)
            ids = sorted(colliding_ids(incoming, recorded, keys_deleted=batch.delete_keys))
            if not (incoming.num_rows or batch.delete_keys or ids or mark_moves):
                # Only rows the table holds already, under objects still listed: nothing to commit. The
                # objects stay unrecorded, and a later run reads them again (and drops them again).
                report.rows_held_elsewhere += len(kept)
                return None
        delete_days = {day.day for day in plan.days if set(day.keys_to_delete) & set(batch.delete_keys)}
        delete_days.update(day for day, held in recorded.items() if any(hid in held.ids for hid in ids))
        summary = commit_summary(plan, read=batch.read, rows=incoming.num_rows if incoming is not None else 0)
        summary |= listing_summary(plan, listed)
        try:
            deps.table.commit_ingest(
                state,
                delete_days=sorted(delete_days),
                delete_keys=batch.delete_keys,
                delete_ids=ids,
                rows=incoming,
                mark=plan.mark,
                summary=summary,
            )
        except CommitConflictError:
            report.conflicts += 1
            deps.sleep(min(0.1 * 2**attempt, 2.0))
            continue
        report.commits += 1
        report.objects_added += sum(len(day.add) for day in plan.days)
        report.objects_replaced += sum(len(day.replace) for day in plan.days)
        report.objects_vanished += sum(len(day.vanished) for day in plan.days)
        report.objects_skipped += len(batch.skipped)
        report.rows_written += incoming.num_rows if incoming is not None else 0
        report.rows_held_elsewhere += len(kept)
        if plan.mark is not None:
            report.mark = plan.mark.isoformat()
        return plan
    raise CommitAttemptsExhaustedError(
        f"ingest lost {settings.commit_attempts} commits in a row to concurrent writers"
    )


def _supersede(
    deps: CurationDependencies,
    plan: IngestPlan,
    listed: Mapping[date, Sequence[RawObject]],
    recorded: Mapping[date, RecordedDay],
    cache: dict[RawObject, pa.Table | None],
) -> IngestPlan:
    """A vanished key's rows stay (expiry is not a retraction), except those another object of the day
    delivers: that object is read again and its rows replace them."""
    days = []
    for day in plan.days:
        held = recorded.get(day.day, RecordedDay())
        ids_of: dict[RawObject, list[str]] = {}
        for obj in superseding_candidates(day, listed.get(day.day, ()), held):
            rows = _rows(deps, obj, cache)
            if rows is not None:  # changed or gone since the listing: the next run sees it as such
                ids_of[obj] = rows.column(HOOK_RESULT_ID).to_pylist()  # type: ignore[assignment]
        days.append(with_superseding(day, superseding_objects(day, held, ids_of)))
    return dataclasses.replace(plan, days=tuple(days))


def _rows(
    deps: CurationDependencies, obj: RawObject, cache: dict[RawObject, pa.Table | None]
) -> pa.Table | None:
    if obj not in cache:
        rows = deps.raw.read_rows(obj)
        cache[obj] = (
            None if rows is None else deps.spec.curated_rows(rows, key=obj.key, etag=obj.etag, day=obj.day)
        )
    return cache[obj]


@dataclass
class _ReadBatch:
    read: list[RawObject] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)
    delete_keys: list[str] = field(default_factory=list)


def _read(
    deps: CurationDependencies, plan: IngestPlan, cache: dict[RawObject, pa.Table | None]
) -> _ReadBatch:
    batch = _ReadBatch()
    for obj in plan.to_read:
        curated = _rows(deps, obj, cache)
        if curated is None:
            batch.skipped.add(obj.key)
            continue
        batch.read.append(obj)
        batch.tables.append(curated)
    # An object rewritten again since the listing keeps its old rows until the next run reads it:
    # deleting them now would take rows away from readers.
    batch.delete_keys = [key for key in plan.keys_to_delete if key not in batch.skipped]
    return batch


def compact(
    deps: CurationDependencies,
    settings: CurationSettings,
    request: CurationRequest,
    report: CurationReport,
    *,
    touched: set[date],
    state: TableState,
) -> None:
    """Rewrite each closed day holding too many files, one partition overwrite per day and commit."""
    window = _window(request, state, settings)
    if window.days is not None:
        candidates = DayWindow(days=window.days | touched)
    elif window.start is not None and touched:
        candidates = DayWindow(start=min(window.start, *touched))
    else:
        candidates = window
    days = days_to_compact(
        deps.table.day_files(state, candidates),
        now_ms=deps.clock_ms(),
        close_after_hours=settings.close_after_hours,
        target_file_bytes=settings.target_file_bytes,
        open_day_max_files=settings.open_day_max_files,
    )
    for day in days:
        for attempt in range(settings.commit_attempts):
            try:
                deps.table.compact_day(
                    state, day, {f"{SUMMARY_PREFIX}operation": "compact", f"{SUMMARY_PREFIX}days": str(day)}
                )
            except CommitConflictError:
                report.conflicts += 1
                deps.sleep(min(0.1 * 2**attempt, 2.0))
                state = deps.table.load()
                continue
            report.commits += 1
            report.days_compacted.append(day.isoformat())
            state = deps.table.load()
            break
        else:
            raise CommitAttemptsExhaustedError(
                f"compacting {day} lost {settings.commit_attempts} commits in a row to concurrent writers"
            )


def expire(deps: CurationDependencies, settings: CurationSettings, report: CurationReport) -> None:
    """Expire the snapshots superseded longer ago than the retention, then delete the files no kept
    snapshot or metadata file references (pyiceberg 0.12 expires snapshots but deletes no file)."""
    now_ms = deps.clock_ms()
    expired = expirable_snapshots(
        deps.table.history(),
        now_ms=now_ms,
        retention_ms=int(settings.snapshot_retention_hours * _MS_PER_HOUR),
    )
    if expired:
        deps.table.expire(expired)
        report.snapshots_expired += len(expired)
    # Referenced files are read after the listing: a file committed in between is young, inside the grace.
    stored = list(deps.table.stored_files())
    orphans = orphan_files(
        stored,
        referenced=deps.table.referenced_files(),
        now_ms=now_ms,
        grace_ms=int(settings.orphan_grace_hours * _MS_PER_HOUR),
    )
    if orphans:
        deps.table.delete_files(orphans)
        report.orphans_removed += len(orphans)
