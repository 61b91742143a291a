"""What one run decides: the raw objects a commit adds, replaces and removes, day by day; the state of the
curated table it plans against; and the report it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from curator.models.raw_archive import RawObject


@dataclass(frozen=True)
class DayWindow:
    """The days a run reconciles: every day from `start` (all days if None), or exactly `days`."""

    start: date | None = None
    days: frozenset[date] | None = None

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if self.days is not None:
            return day in self.days
        return self.start is None or day >= self.start


@dataclass(frozen=True)
class TableState:
    """The curated table as one attempt read it: every commit is conditional on this snapshot."""

    snapshot_id: int | None
    mark: date | None  # the last day a scheduled run fully reconciled
    handle: object = field(default=None, compare=False, repr=False)  # the adapter's own, opaque here
    # the current snapshot's summary: the listing fingerprints its commit recorded (logic/ingest_plan.py)
    summary: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    maintained_at_ms: int | None = None  # when snapshot expiry and orphan removal last completed


@dataclass(frozen=True)
class RecordedDay:
    """What the curated table holds for one day: the raw objects (key -> ETag) its rows came from, and
    which raw object each hook_result_id came from."""

    objects: Mapping[str, str] = field(default_factory=dict)
    ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DayPlan:
    day: date
    add: tuple[RawObject, ...] = ()  # not in the table yet
    # in the table with another ETag (an adopting archiver run), or with the same one but delivering ids
    # held under a vanished key (the rows an adopting run moved): read again, its rows replace the held ones
    replace: tuple[RawObject, ...] = ()
    # keys in the table whose raw object is gone: expired by the bucket's lifecycle, or a dead run's
    # leftover the archiver deleted. Never a retraction: their rows stay unless another object delivers them.
    vanished: tuple[str, ...] = ()

    @property
    def to_read(self) -> tuple[RawObject, ...]:
        return self.add + self.replace

    @property
    def keys_to_delete(self) -> tuple[str, ...]:
        return tuple(obj.key for obj in self.replace)

    @property
    def empty(self) -> bool:
        return not (self.add or self.replace)


@dataclass(frozen=True)
class IngestPlan:
    days: tuple[DayPlan, ...]
    mark: date | None  # the mark to commit: the last day this plan reconciles in full, in a scheduled run

    @property
    def empty(self) -> bool:
        return all(day.empty for day in self.days)

    @property
    def to_read(self) -> tuple[RawObject, ...]:
        return tuple(obj for day in self.days for obj in day.to_read)

    @property
    def keys_to_delete(self) -> tuple[str, ...]:
        return tuple(key for day in self.days for key in day.keys_to_delete)

    @property
    def touched_days(self) -> tuple[date, ...]:
        return tuple(day.day for day in self.days if not day.empty)


@dataclass(frozen=True)
class DayFiles:
    """One partition of the curated table: how many data files, how many bytes and rows."""

    day: date
    files: int
    bytes: int
    rows: int


@dataclass(frozen=True)
class SnapshotEntry:
    snapshot_id: int
    timestamp_ms: int


@dataclass(frozen=True)
class SnapshotHistory:
    snapshots: tuple[SnapshotEntry, ...]  # every snapshot the metadata holds
    log: tuple[SnapshotEntry, ...]  # when each became the current snapshot of main, oldest first
    current_id: int | None
    protected_ids: frozenset[int]  # branch and tag heads


@dataclass(frozen=True)
class StoredFile:
    uri: str
    last_modified_ms: int


@dataclass
class CurationReport:
    commits: int = 0
    conflicts: int = 0
    objects_added: int = 0
    objects_replaced: int = 0
    objects_vanished: int = 0  # held keys whose raw object is gone (expired): their rows are kept
    objects_skipped: int = 0  # changed or deleted between listing and reading: the next run takes them
    days_unchanged: int = (
        0  # days the first comparison skipped: the current snapshot vouches for their listing
    )
    rows_written: int = 0
    rows_held_elsewhere: int = 0  # read, but their ids are held under another listed object: not written
    days_compacted: list[str] = field(default_factory=list)
    maintained: bool = False  # snapshot expiry and orphan removal ran (at most once an interval)
    snapshots_expired: int = 0
    orphans_removed: int = 0
    mark: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(vars(self))
