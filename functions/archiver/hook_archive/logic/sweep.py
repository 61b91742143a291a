"""Deciding what is new: the pure heart of exactly-once archiving.

A sweep walks ListHookResults from the top. Each result is classified against the checkpoint:
already archived (its id is known, or it lies in a settled range), still in progress (deferred),
or new and terminal (archived now). At the end the sweep works out how far its coverage reaches,
and so which ids the next checkpoint must still remember. See models/checkpoint.py for the ranges.

Early stop: when a previous complete scan proved the API returns newest first, and this scan is
still in non-increasing InvokedAt order, the sweep stops as soon as it is below everything that could
still be new. A single out-of-order result switches to full scans until order is proven again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hook_archive.models.checkpoint import Checkpoint, Order, PendingInvocation, ScanProgress
from hook_archive.models.hook_result import HookResult
from hook_archive.models.known_ids import KnownIds, KnownIdsUpdate
from hook_archive.models.run_report import SweepStats

# A complete scan proves the API lists newest first only when it is long enough that a reshuffled listing
# could not have come out sorted by chance (1/20! < 1e-18); shorter listings are a page or two, always scanned
# whole.
MIN_RESULTS_TO_PROVE_ORDER = 20
# The position of a result the API lists without InvokedAt: above every time, so no coverage settles it.
NEVER_SETTLED_MS = 2**63 - 1


@dataclass(frozen=True)
class Coverage:
    newest_seen_ms: int | None
    settled_below_ms: int | None
    swept_down_to_ms: int | None

    def is_settled(self, invoked_at_ms: int, late_window_ms: int) -> bool:
        if self.settled_below_ms is not None and invoked_at_ms < self.settled_below_ms:
            return True
        return (
            self.swept_down_to_ms is not None
            and self.newest_seen_ms is not None
            and self.swept_down_to_ms < invoked_at_ms < self.newest_seen_ms - late_window_ms
        )


@dataclass(frozen=True)
class SweepOutcome:
    coverage: Coverage
    order: Order
    remembered: KnownIds | KnownIdsUpdate  # the ids the checkpoint knew,
    archived: dict[str, int]  # plus the ids this run archived (with their positions)
    late_window_ms: int
    pending: dict[str, PendingInvocation]
    abandoned: list[HookResult]
    complete: bool
    resume: ScanProgress | None = None

    def known_ids(self) -> KnownIds | KnownIdsUpdate:
        """The ids the next checkpoint must remember: those outside the new settled ranges. A change is
        streamed into the stored object at the commit (models/known_ids.py), never built in memory beside
        the set the run loaded."""
        coverage, late = self.coverage, self.late_window_ms
        return self.remembered.updated(
            self.archived, keep=lambda position: not coverage.is_settled(position, late)
        )

    def applied_to(self, checkpoint: Checkpoint) -> Checkpoint:
        """The checkpoint's sweep state replaced by this outcome (sequence, outbox and intent untouched)."""
        return checkpoint.model_copy(
            update={
                "newest_seen_ms": self.coverage.newest_seen_ms,
                "settled_below_ms": self.coverage.settled_below_ms,
                "swept_down_to_ms": self.coverage.swept_down_to_ms,
                "order": self.order,
                "known_ids": self.known_ids(),
                "pending": self.pending,
                "scan": self.resume,
            }
        )


@dataclass
class Sweep:
    checkpoint: Checkpoint
    late_window_ms: int
    in_progress_timeout_ms: int
    now_ms: int
    stats: SweepStats = field(default_factory=SweepStats)
    _archived: dict[str, int] = field(default_factory=dict)
    _pending: dict[str, PendingInvocation] = field(default_factory=dict)
    _last_ms: int | None = None
    _max_ms: int | None = None

    def __post_init__(self) -> None:
        self._pending = dict(self.checkpoint.pending)
        resumed = self.checkpoint.scan
        self._seen_before = 0
        if resumed is not None:
            # One scan spread over several runs: its order evidence carries over.
            self._seen_before = resumed.results_seen
            self._last_ms, self._max_ms = resumed.last_ms, resumed.max_ms
            self.stats.out_of_order = resumed.out_of_order
        self._coverage = Coverage(
            self.checkpoint.newest_seen_ms, self.checkpoint.settled_below_ms, self.checkpoint.swept_down_to_ms
        )

    def _position(self, result: HookResult) -> int:
        # A result without InvokedAt has no place in time: never settled, so deduplicated by id, and its id is
        # remembered for good (placed at "now", it was forgotten once the window passed, then archived again).
        return result.invoked_at_ms if result.invoked_at_ms is not None else NEVER_SETTLED_MS

    def observe(self, results: Iterable[HookResult]) -> list[HookResult]:
        """Classify one page; return the results to archive now."""
        to_archive: list[HookResult] = []
        for result in results:
            self.stats.results_seen += 1
            if result.invoked_at_ms is not None:
                if self._last_ms is not None and result.invoked_at_ms > self._last_ms:
                    self.stats.out_of_order = True
                self._last_ms = result.invoked_at_ms
                self._max_ms = _max_or_none(self._max_ms, result.invoked_at_ms)
            if self._classify(result):
                self._archived[result.hook_result_id] = self._position(result)
                to_archive.append(result)
        return to_archive

    def _classify(self, result: HookResult) -> bool:
        """True when the result must be archived now."""
        result_id = result.hook_result_id
        if result_id in self._archived:
            self.stats.repeated_in_run += 1
            return False
        if result_id in self._pending:
            if result.is_terminal:
                del self._pending[result_id]
                self.stats.archived_completed += 1
                return True
            self._pending[result_id] = self._pending[result_id].model_copy(
                update={"summary": result.to_document()}
            )
            self.stats.deferred_in_progress += 1
            return False
        if self._coverage.is_settled(self._position(result), self.late_window_ms) or (
            result_id in self.checkpoint.known_ids
        ):
            self.stats.already_archived += 1
            return False
        if result.is_terminal:
            self.stats.archived_new += 1
            return True
        self._pending[result_id] = PendingInvocation(summary=result.to_document(), first_seen_ms=self.now_ms)
        self.stats.deferred_in_progress += 1
        return False

    def adopt(self, results: Iterable[HookResult]) -> list[HookResult]:
        """Rows a dead run wrote but never committed: archive those this run has not archived itself."""
        adopted = []
        for result in results:
            if result.hook_result_id in self._archived or result.hook_result_id in self.checkpoint.known_ids:
                continue
            self._pending.pop(result.hook_result_id, None)
            self._archived[result.hook_result_id] = self._position(result)
            adopted.append(result)
        self.stats.archived_adopted += len(adopted)
        return adopted

    @property
    def _order_trusted(self) -> bool:
        # Only an order proven by an earlier complete scan: a shuffled page can look sorted by chance.
        return not self.stats.out_of_order and self.checkpoint.order == "newest_first"

    def _pending_floor_ms(self) -> int | None:
        positions = [_pending_position(pending) for pending in self._pending.values()]
        return min(positions) if positions else None

    def can_stop_early(self) -> bool:
        """Below everything that could still be new, in an order proven newest first."""
        settled_below = self._coverage.settled_below_ms
        if not self._order_trusted:
            return False
        if self._last_ms is None or settled_below is None or self._last_ms >= settled_below:
            return False
        pending_floor = self._pending_floor_ms()
        return pending_floor is None or self._last_ms < pending_floor

    def finish(self, *, exhausted: bool, resume_token: str | None = None) -> SweepOutcome:
        """Work out the new coverage, abandon stale in-progress invocations, prune remembered ids."""
        old = self._coverage
        late = self.late_window_ms
        newest = _max_or_none(old.newest_seen_ms, self._max_ms)
        reached_settled = (
            self._order_trusted
            and self._last_ms is not None
            and old.settled_below_ms is not None
            and self._last_ms < old.settled_below_ms
        )
        complete = exhausted or reached_settled
        if complete:
            settled_below = old.settled_below_ms if newest is None else newest - late
            new = Coverage(newest, _max_or_none(old.settled_below_ms, settled_below), None)
        elif self._order_trusted and self._last_ms is not None:
            floor = self._last_ms
            if old.newest_seen_ms is None:
                new = Coverage(newest, old.settled_below_ms, floor)
            elif floor < old.newest_seen_ms - late:
                swept = floor if old.swept_down_to_ms is None else min(old.swept_down_to_ms, floor)
                new = Coverage(newest, old.settled_below_ms, swept)
            else:
                # This scan did not reach the old band, so the two cannot be joined: keep the old ranges.
                new = old
        else:
            new = old

        abandoned = self._abandon_stale()
        archived = dict(self._archived)
        for result in abandoned:
            archived[result.hook_result_id] = self._position(result)
        if self.stats.out_of_order:
            order: Order = "unordered"
        elif exhausted and self._seen_before + self.stats.results_seen >= MIN_RESULTS_TO_PROVE_ORDER:
            order = "newest_first"
        else:
            order = self.checkpoint.order
        resume = self.progress(resume_token) if resume_token and not complete else None
        return SweepOutcome(
            new,
            order,
            self.checkpoint.known_ids,
            archived,
            late,
            dict(self._pending),
            abandoned,
            complete,
            resume,
        )

    def progress(self, next_token: str) -> ScanProgress:
        """Where to resume this scan next run."""
        return ScanProgress(
            next_token=next_token,
            results_seen=self._seen_before + self.stats.results_seen,
            out_of_order=self.stats.out_of_order,
            last_ms=self._last_ms,
            max_ms=self._max_ms,
        )

    def _abandon_stale(self) -> list[HookResult]:
        abandoned = []
        for result_id, pending in list(self._pending.items()):
            if self.now_ms - _pending_position(pending) > self.in_progress_timeout_ms:
                del self._pending[result_id]
                abandoned.append(HookResult.from_document(pending.summary))
        self.stats.archived_abandoned = len(abandoned)
        return abandoned


def _pending_position(pending: PendingInvocation) -> int:
    invoked_at = pending.summary.get("invoked_at_ms")
    return invoked_at if isinstance(invoked_at, int) else pending.first_seen_ms


def _max_or_none(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)
