"""The curator's day from a sample of its runs: fit each run's requests and seconds, one curated table at a
time, as fixed + per new raw object it reads + per maintenance run + per snapshot it reads + per data file
the lineage scan reads, then sum the fit over a steady-state day at the target fleet and simulate
commit-to-queryable on the schedule. Pure: no I/O, no AWS."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TERMS = ("fixed", "per_object", "per_maintenance", "per_snapshot", "per_file")
MIN_DISTINCT = 2  # object counts, and states, a fit needs


@dataclass(frozen=True)
class RunSample:
    """One measured scheduled run of one table: the new raw objects it read (hook_results: one per
    account-region; hook_annotations: one per account-region whose archiver run enriched a failure), the
    snapshots the table held before it (which snapshot expiry and orphan removal read, on a run that
    maintains), whether it maintained, and the data files of the days it compared (the lineage scan reads
    each; a day whose listing the current snapshot vouches for is skipped)."""

    objects: int
    snapshots: int
    files: int
    values: dict[str, float]
    maintained: bool = True


def _row(objects: float, snapshots: float, files: float, maintained: bool) -> list[float]:
    m = 1.0 if maintained else 0.0
    return [1.0, objects, m, snapshots * m, files]


@dataclass(frozen=True)
class Fit:
    coefficients: tuple[float, ...]
    r2: float

    def predict(self, objects: float, snapshots: float, files: float, *, maintained: bool) -> float:
        return float(np.dot(self.coefficients, _row(objects, snapshots, files, maintained)))


def fit(samples: Sequence[RunSample], key: str) -> Fit:
    """Least squares over one table's runs at both fleet sizes. The runs must read at least two different
    numbers of new objects; snapshots and files must not move in lockstep over the samples (runs after a
    compaction have many snapshots and few files), or their terms are not separable; runs that maintain
    and runs that do not must both be there, with different snapshot counts."""
    objects = {s.objects for s in samples}
    states = {(s.snapshots, s.files) for s in samples}
    lockstep = {s.snapshots - s.files for s in samples}
    maintained = {s.snapshots for s in samples if s.maintained}
    if (
        len(objects) < MIN_DISTINCT
        or len(states) < MIN_DISTINCT
        or len(lockstep) < MIN_DISTINCT
        or len(maintained) < MIN_DISTINCT
        or all(s.maintained for s in samples)
    ):
        raise ValueError(
            f"a fit needs two object counts, snapshots and files that vary apart, and runs with and without "
            f"maintenance, got objects {sorted(objects)}, states {sorted(states)}, "
            f"maintained at {sorted(maintained)}"
        )
    x = np.array([_row(s.objects, s.snapshots, s.files, s.maintained) for s in samples])
    y = np.array([s.values[key] for s in samples])
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coefficients
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total else 1.0
    return Fit(tuple(float(c) for c in coefficients), r2)


def open_day_files(appends: int, max_files: int) -> int:
    """The data files an open day holds after `appends` runs that each appended one file to it, under the
    curator's threshold (`days_to_compact`, `open_day_max_files` N): a run whose append leaves the day
    with more than N files compacts it to one (its bytes need one file). So N appends leave N files, the
    (N+1)-th compacts, and from then on every N-th append (the compacted file and N appends make N + 1).
    N = 0: never while open."""
    if not max_files or appends <= max_files:
        return appends
    return 1 + (appends - max_files - 1) % max_files


def compacts_open_day(appends: int, max_files: int) -> bool:
    """Whether the run that makes the day's `appends`-th append also compacts it (threshold as above)."""
    return bool(max_files) and appends > max_files and open_day_files(appends, max_files) == 1


@dataclass(frozen=True)
class SteadyDay:
    """A day long after the first one, at one run per `interval_min`, each appending one data file to
    today: the snapshots kept reach the retention's worth (plus one maintenance interval's, expired only
    at the next maintenance), and each run's window (its mark less `lookback_days`) holds the earlier
    days compacted (one file each), yesterday until its closing run compacts it, and today so far. An open
    day is compacted as the curator does (`open_day_max_files`, `open_day_files`): today holds at most
    N files before a run (N + 1 after the append that compacts it), and yesterday what its last runs
    left. A run compares only the days whose listing changed since the current snapshot's commit (see
    files_compared)."""

    interval_min: int = 5
    retention_hours: float = 24.0
    close_after_hours: float = 3.0
    lookback_days: int = 2
    snapshots_per_compaction: int = 1
    maintenance_interval_min: int = 60
    open_day_max_files: int = 0

    @property
    def runs(self) -> int:
        return 24 * 60 // self.interval_min

    @property
    def closing_run(self) -> int:
        """The first run (1-based) at or after the day before closed: it compacts that day."""
        return math.ceil(self.close_after_hours * 60 / self.interval_min) + 1

    @property
    def closing_compacts(self) -> bool:
        """The closing run compacts yesterday unless its last open-day compaction left it one file."""
        return self.today_files(self.runs + 1) > 1

    def compacts_open_day(self, run: int) -> bool:
        """Run j makes today's j-th append; it compacts today when that takes it past the threshold."""
        return compacts_open_day(run, self.open_day_max_files)

    @property
    def compactions_per_day(self) -> int:
        """The closing run's, and the open day's."""
        open_day = sum(1 for run in range(1, self.runs + 1) if self.compacts_open_day(run))
        return int(self.closing_compacts) + open_day

    @property
    def snapshots_kept(self) -> int:
        commits = int((self.retention_hours * 60 + self.maintenance_interval_min) / self.interval_min)
        return commits + self.snapshots_per_compaction * self.compactions_per_day

    @property
    def runs_per_maintenance(self) -> int:
        return max(1, math.ceil(self.maintenance_interval_min / self.interval_min))

    def maintains(self, run: int) -> bool:
        """Runs 1, 1 + runs_per_maintenance, ...: the first run at or past the interval."""
        return (run - 1) % self.runs_per_maintenance == 0

    def today_files(self, run: int) -> int:
        """Today's data files before run j: what its j-1 appends left."""
        return open_day_files(run - 1, self.open_day_max_files)

    def yesterday_files(self, run: int) -> int:
        """Yesterday's data files before run j: what its appends left, until its closing run compacts
        them, then 1."""
        return self.today_files(self.runs + 1) if run <= self.closing_run else 1

    def files_in_window(self, run: int) -> int:
        return (self.lookback_days - 1) + self.yesterday_files(run) + self.today_files(run)

    def compacts(self, run: int) -> bool:
        return (run == self.closing_run and self.closing_compacts) or self.compacts_open_day(run)

    def files_compacted(self, run: int) -> int:
        """Yesterday's files on the closing run; today's (its own append included) on a run whose append
        takes it past the threshold; none otherwise."""
        closing = self.yesterday_files(run) if run == self.closing_run and self.closing_compacts else 0
        return closing + (self.today_files(run) + 1 if self.compacts_open_day(run) else 0)

    def files_compared(self, run: int) -> int:
        """Today's files (a new object every run: its listing always changed); yesterday's files until
        its closing run (late objects may still land: counted as changed on every run, an upper bound);
        every day of the window on the run after a compaction (a compaction's snapshot vouches for no
        listing); the compacted earlier days otherwise never."""
        if self.compacts(run - 1 if run > 1 else self.runs):  # run 1 follows yesterday's last run
            return self.files_in_window(run)
        yesterday = self.yesterday_files(run) if run <= self.closing_run else 0
        return yesterday + self.today_files(run)

    def objects_listed(self, run: int, objects_per_tick: float) -> int:
        """A scheduled run lists from its mark less the lookback: the full earlier days and today's ticks,
        each tick `objects_per_tick` raw objects (hook_results: one per account-region)."""
        return math.ceil(objects_per_tick * (self.lookback_days * self.runs + run))


def list_pages(objects: int, page_size: int = 1000) -> int:
    """ListObjectsV2 returns at most 1,000 keys a page."""
    return max(1, math.ceil(objects / page_size))


@dataclass(frozen=True)
class Freshness:
    worst_s: float
    median_s: float
    p95_s: float
    overlapping_runs: int


def freshness(durations_s: Sequence[float], *, interval_s: float, phase_step_s: float = 5.0) -> Freshness:
    """Commit to queryable on a simulated clock: the curator starts every interval_s and lists at its
    start; the archiver commits every interval_s at a fixed phase after a curator start (unknown: every
    phase in phase_step_s steps). A commit at phase p waits interval_s - p for the next run, then that
    run's duration (its commit is near its end: an upper bound). durations_s[i] is run i's duration."""
    latencies: list[float] = []
    steps = max(1, int(interval_s / phase_step_s))
    for index in range(len(durations_s)):
        following = durations_s[(index + 1) % len(durations_s)]
        for step in range(steps):
            phase = step * phase_step_s
            latencies.append(interval_s - phase + following)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
    return Freshness(
        worst_s=latencies[-1],
        median_s=statistics.median(latencies),
        p95_s=p95,
        overlapping_runs=sum(1 for d in durations_s if d > interval_s),
    )
