"""The self-audit: what bounded state cannot see, the archive itself can.

The sweep (logic/sweep.py) forgets a result once it lies more than LATE_ARRIVAL_WINDOW_SECONDS behind newer
ones, so a result the API starts listing later than that is never archived by the scan (design.md, "Known
limits"), and the API documents neither its order nor when a result becomes visible. Every
AUDIT_INTERVAL_HOURS a run therefore also pages the whole listing, reads only the ``hook_result_id`` column of
this account-region's archive objects for the days the listing returns, and archives what the archive lacks:
finished, older than the late-arrival window, neither archived nor pending in this run.

The audit adds to the run it is part of; it has no protocol of its own. What it finds is spooled into the
run's objects before the write intent, so the intent, adoption after a crash and the conditional checkpoint
commit cover it like any other row; its ids join the run's archived ids, so the known ids keep those the
settled ranges do not cover and the next scan does not archive them again. It reads the archive after the
checkpoint was loaded: a run that commits in between changes the checkpoint's ETag, and this run's commit
then fails instead of doubling rows.

It respects the run's budgets: it pages only while the run has time and event budget left, keeps its own
NextToken in the checkpoint (``Checkpoint.audit``) and resumes next run; it is complete, and the next one due
AUDIT_INTERVAL_HOURS later, only once it reached the end of the listing.

It reads nothing in steady state. The checkpoint keeps, per dt day, a digest of the ids the archive holds
(``Checkpoint.id_digests``: a count and a sum of 64-bit hashes, updated by the same conditional commit that
makes rows archived). Phase 1 pages the listing and sums the same digest over the listed results the archive
should hold by now (``Audit.should_hold``); days whose two digests are equal are verified without a read.
Only days that differ, or whose archive digest is unknown (a checkpoint older than digests), go to phase 2:
it pages the listing again, reads those days' ids and repairs exactly as before, and the commit re-syncs
those days' digests from what it read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Protocol

from hook_archive.errors import (
    ArchiveWriteError,
    HookResultsError,
    MalformedHookResultError,
    PaginationError,
)
from hook_archive.models.checkpoint import AuditProgress, DayDigest
from hook_archive.models.hook_result import HookResult, utc_date

Pages = Generator[tuple[list[Mapping[str, Any]], str | None], None, None]

DAY_MS = 86_400_000
# ListHookResults keeps a result 90 days (README, "Limits"). The days it is forgetting while the audit pages
# are not compared (they would always differ); every earlier audit compared them whole. Two days of margin,
# as the API documents neither the exact bound nor when it applies.
LISTING_RETENTION_MS = 90 * DAY_MS
COMPARED_FROM_MARGIN_DAYS = 2
# The archive's digests are kept a little longer than the days compared, then pruned.
DIGEST_KEEP_MARGIN_DAYS = 3


def id_hash(hook_result_id: str) -> int:
    """A 64-bit hash of an id (BLAKE2b, 8 bytes): stable across processes, unlike hash()."""
    return int.from_bytes(hashlib.blake2b(hook_result_id.encode(), digest_size=8).digest(), "big")


def digest_of(hook_result_ids: Iterable[str]) -> DayDigest:
    """The digest of a set of ids (each counted once)."""
    distinct = set(hook_result_ids)
    return DayDigest(count=len(distinct), sum=sum(map(id_hash, distinct)) % 2**64)


def compared_days(now_ms: int) -> list[date]:
    """The days whose listed results the API surely still holds whole: from the first full day inside the
    retention, plus the margin, to today."""
    first = utc_date(now_ms - LISTING_RETENTION_MS) + timedelta(days=COMPARED_FROM_MARGIN_DAYS)
    today = utc_date(now_ms)
    return [first + timedelta(days=offset) for offset in range((today - first).days + 1)]


def digest_keep_from(now_ms: int) -> date:
    """The oldest day whose archive digest the checkpoint keeps."""
    return utc_date(now_ms - LISTING_RETENTION_MS) - timedelta(days=DIGEST_KEEP_MARGIN_DAYS)


class ArchivedIds(Protocol):
    """This account-region's archived ids, one dt partition at a time (dal/archive_ids.py): those of rows
    with InvokedAt, the only ones the audit looks for and the day digests count."""

    def ids_of_days(self, days: Iterable[date]) -> tuple[dict[date, frozenset[str]], int]:
        """The hook_result_ids of each day's objects, and how many objects were read."""
        ...


@dataclass(frozen=True)
class AuditPlan:
    """Whether this run audits, from where, and the audit state it commits if it does not."""

    due: bool
    resume: bool  # continues the audit in progress, from its token
    state: AuditProgress | None


def plan(state: AuditProgress | None, *, now_ms: int, interval_ms: int, forced: bool) -> AuditPlan:
    """An audit in progress continues; a new one starts when due. The first run that may audit only starts
    the clock: the complete scan that preceded it read the whole listing already. A forced audit
    (``cfn-hook-archive verify --repair``) starts from the top whatever the state."""
    if forced:
        return AuditPlan(due=True, resume=False, state=state)
    if interval_ms <= 0:
        return AuditPlan(due=False, resume=False, state=state)
    if state is None:
        return AuditPlan(due=False, resume=False, state=AuditProgress(next_due_ms=now_ms + interval_ms))
    if state.in_progress:
        return AuditPlan(due=True, resume=True, state=state)
    return AuditPlan(due=now_ms >= state.next_due_ms, resume=False, state=state)


@dataclass
class Audit:
    """One run's share of an audit: which listed results the archive lacks. Each day's ids are read once
    per run."""

    archived_ids: ArchivedIds
    now_ms: int
    late_window_ms: int
    handled: Callable[[str], bool]  # archived or pending in this run: the run itself takes care of it
    # Archived by this run (its spool), and archived by an earlier one as far as the checkpoint remembers
    # (its known ids: every archived id newer than the late window is among them).
    archived_in_run: Callable[[str], bool] = lambda _result_id: False
    remembered: Callable[[str], bool] = lambda _result_id: False
    # The archive's digest of a day, this run's rows included (None: unknown).
    archive_digest: Callable[[date], DayDigest | None] = lambda _day: None
    pages: int = 0
    objects_read: int = 0
    repaired: dict[str, int] = field(default_factory=dict)  # id -> InvokedAt, in the order found
    listed: dict[date, DayDigest] = field(default_factory=dict)  # phase 1: what the archive should hold
    only_days: frozenset[date] | None = None  # phase 2: the days that differed (None: every day)
    _counted: set[str] = field(default_factory=set)
    _days: dict[date, frozenset[str]] = field(default_factory=dict)

    def should_hold(self, result: HookResult) -> bool:
        """Whether the archive should hold a listed result by now, the rule both digests agree on. Archived
        (by this run, or remembered), or else old enough that the scan had its chance and not pending: a
        finished result the archive lacks is what the audit repairs, and a result still in progress there
        is one the archiver abandoned (archived as in progress after IN_PROGRESS_TIMEOUT_SECONDS), which
        the archive holds. A recent result not yet archived, or one pending in this run, is not counted
        on either side. A result without InvokedAt has no day: left out, as its rows are."""
        if result.invoked_at_ms is None:
            return False
        result_id = result.hook_result_id
        if self.archived_in_run(result_id) or self.remembered(result_id):
            return True
        return result.invoked_at_ms <= self.now_ms - self.late_window_ms and not self.handled(result_id)

    def count(self, results: Iterable[HookResult]) -> None:
        """Phase 1: add one page's results to the listed digests (an id listed twice counts once)."""
        for result in results:
            if result.invoked_at_ms is None or result.hook_result_id in self._counted:
                continue
            if self.should_hold(result):
                self._counted.add(result.hook_result_id)
                day = utc_date(result.invoked_at_ms)
                self.listed[day] = self.listed.get(day, DayDigest()).plus(digest_of([result.hook_result_id]))

    def differing_days(self) -> list[date]:
        """At the end of phase 1: the compared days whose listed digest is not the archive's (or whose
        archive digest is unknown)."""
        return [
            day
            for day in compared_days(self.now_ms)
            if self.archive_digest(day) != self.listed.get(day, DayDigest())
        ]

    def read_days(self, days: Iterable[date]) -> None:
        unread = sorted(set(days) - self._days.keys())
        if unread:
            ids, objects = self.archived_ids.ids_of_days(unread)
            self.objects_read += objects
            self._days.update({day: ids.get(day, frozenset()) for day in unread})

    def resynced(self) -> dict[date, DayDigest]:
        """The archive digests of the days read in this run, without the rows this run archives (the commit
        adds those): they replace the checkpoint's at the commit."""
        return {
            day: digest_of(result_id for result_id in ids if not self.archived_in_run(result_id))
            for day, ids in self._days.items()
        }

    def is_candidate(self, result: HookResult) -> bool:
        """Finished, old enough that the scan had its chance, and not this run's business. A result without
        InvokedAt is left out: it has no partition to look in, and the known ids remember it for good."""
        return (
            result.is_terminal
            and result.invoked_at_ms is not None
            and result.invoked_at_ms <= self.now_ms - self.late_window_ms
            and result.hook_result_id not in self.repaired
            and not self.handled(result.hook_result_id)
        )

    def missing(self, results: Iterable[HookResult]) -> list[HookResult]:
        """The results of one page that the archive lacks (the page's days are read first, all at once)."""
        candidates: dict[str, tuple[HookResult, date]] = {}
        for result in results:
            if self.is_candidate(result) and result.invoked_at_ms is not None:
                day = utc_date(result.invoked_at_ms)
                if self.only_days is None or day in self.only_days:
                    # A repeated id: the API's latest summary counts.
                    candidates[result.hook_result_id] = (result, day)
        self.read_days({day for _result, day in candidates.values()})
        found = []
        for result, day in candidates.values():
            if result.hook_result_id not in self._days[day] and result.invoked_at_ms is not None:
                self.repaired[result.hook_result_id] = result.invoked_at_ms
                found.append(result)
        return found


@dataclass(frozen=True)
class AuditOutcome:
    state: AuditProgress | None
    completed: bool
    error: HookResultsError | ArchiveWriteError | None = None


@dataclass
class _Cursor:
    """Where the paging stands: the token of the next page to read, moved only once a page is judged."""

    token: str | None
    ended: bool = False


def _page_through(
    audit: Audit,
    cursor: _Cursor,
    pages_from: Callable[[str | None], Pages],
    may_continue: Callable[[], bool],
    judge: Callable[[list[HookResult]], None],
) -> None:
    pages = pages_from(cursor.token)
    try:
        while may_continue():
            page = next(pages, None)
            if page is None:  # the listing ended without a last page saying so
                cursor.ended = True
                return
            raw_page, next_token = page
            judge(list(_parse(raw_page)))
            audit.pages += 1
            if next_token is None:
                cursor.ended = True
                return
            cursor.token = next_token
    finally:
        pages.close()


@dataclass
class _Position:
    phase: Literal["compare", "repair"]
    cursor: _Cursor
    differing: list[date]
    completed: bool = False


def _advance(
    audit: Audit,
    at: _Position,
    pages_from: Callable[[str | None], Pages],
    may_continue: Callable[[], bool],
    archive: Callable[[HookResult], None],
) -> None:
    if at.phase == "compare":
        _page_through(audit, at.cursor, pages_from, may_continue, audit.count)
        if not at.cursor.ended:
            return
        at.phase, at.cursor, at.differing = "repair", _Cursor(None), audit.differing_days()
        if not at.differing:
            at.completed = True
            return
    audit.only_days = frozenset(at.differing)

    def repair(results: list[HookResult]) -> None:
        for result in audit.missing(results):
            archive(result)

    _page_through(audit, at.cursor, pages_from, may_continue, repair)
    if at.cursor.ended:
        audit.read_days(at.differing)  # those without a candidate too: their digests are re-synced
        at.completed = True


def run_audit(
    audit: Audit,
    audit_plan: AuditPlan,
    pages_from: Callable[[str | None], Pages],
    *,
    interval_ms: int,
    may_continue: Callable[[], bool],
    archive: Callable[[HookResult], None],
) -> AuditOutcome:
    """Page from the plan's token while ``may_continue`` (time and event budget): phase 1 sums the listed
    digests; at its end, the days that differ go to phase 2, which pages again from the top, reads those days
    and hands each missing result to ``archive``. A page counts as done only once every result on it is
    judged, so a read that fails part-way leaves the resume token at that page. An API or archive error
    stops the audit and is returned: the run commits what it did, then fails so alarms see it."""
    previous = audit_plan.state
    resumed = previous if audit_plan.resume else None
    at = _Position("compare", _Cursor(None), [])
    if resumed is not None:
        at = _Position(resumed.phase, _Cursor(resumed.next_token), list(resumed.differing))
        audit.listed.update(resumed.listed)
    error: HookResultsError | ArchiveWriteError | None = None
    try:
        _advance(audit, at, pages_from, may_continue, archive)
    except HookResultsError as failure:
        error = failure
        if failure.error_code == "ValidationError" or isinstance(failure, PaginationError):
            at.cursor.token = None  # a token the API refuses or repeats: the phase starts over
            audit.listed.clear()
    except ArchiveWriteError as failure:
        error = failure
    if at.completed:
        state = AuditProgress(
            next_due_ms=audit.now_ms + interval_ms,
            last_completed_ms=audit.now_ms,
            last_repaired=(resumed.repaired if resumed is not None else 0) + len(audit.repaired),
        )
        return AuditOutcome(state, True, error)
    if audit.pages == 0 and resumed is None and at.cursor.token is None and at.phase == "compare":
        return AuditOutcome(previous, False, error)  # never got going: still due, as before
    state = AuditProgress(
        next_due_ms=previous.next_due_ms if previous is not None else audit.now_ms,
        last_completed_ms=previous.last_completed_ms if previous is not None else None,
        last_repaired=previous.last_repaired if previous is not None else None,
        next_token=at.cursor.token,
        started_ms=resumed.started_ms if resumed is not None else audit.now_ms,
        pages=(resumed.pages if resumed is not None else 0) + audit.pages,
        repaired=(resumed.repaired if resumed is not None else 0) + len(audit.repaired),
        phase=at.phase,
        listed=dict(audit.listed) if at.phase == "compare" else {},
        differing=at.differing if at.phase == "repair" else [],
    )
    return AuditOutcome(state, False, error)


def _parse(raw_page: list[Mapping[str, Any]]) -> Iterable[HookResult]:
    for summary in raw_page:
        try:
            yield HookResult.from_api(summary)
        except MalformedHookResultError:
            continue  # counted by the scan, which reads the same listing
