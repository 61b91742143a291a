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
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from hook_archive.errors import (
    ArchiveWriteError,
    HookResultsError,
    MalformedHookResultError,
    PaginationError,
)
from hook_archive.models.checkpoint import AuditProgress
from hook_archive.models.hook_result import HookResult, utc_date

Pages = Generator[tuple[list[Mapping[str, Any]], str | None], None, None]


class ArchivedIds(Protocol):
    """This account-region's archived ids, one dt partition at a time (dal/archive_ids.py)."""

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
    pages: int = 0
    objects_read: int = 0
    repaired: dict[str, int] = field(default_factory=dict)  # id -> InvokedAt, in the order found
    _days: dict[date, frozenset[str]] = field(default_factory=dict)

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
                # A repeated id: the API's latest summary counts.
                candidates[result.hook_result_id] = (result, utc_date(result.invoked_at_ms))
        days = {day for _result, day in candidates.values()}
        unread = sorted(days - self._days.keys())
        if unread:
            ids, objects = self.archived_ids.ids_of_days(unread)
            self.objects_read += objects
            self._days.update({day: ids.get(day, frozenset()) for day in unread})
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


def run_audit(
    audit: Audit,
    audit_plan: AuditPlan,
    pages_from: Callable[[str | None], Pages],
    *,
    interval_ms: int,
    may_continue: Callable[[], bool],
    archive: Callable[[HookResult], None],
) -> AuditOutcome:
    """Page from the plan's token while ``may_continue`` (time and event budget), handing each missing
    result to ``archive``. A page counts as done only once every result on it is judged, so a read that
    fails part-way leaves the resume token at that page. An API or archive error stops the audit and is
    returned: the run commits what it did, then fails so alarms see it."""
    previous = audit_plan.state
    resumed = previous if audit_plan.resume else None
    started_ms = resumed.started_ms if resumed is not None else audit.now_ms
    token = resumed.next_token if resumed is not None else None
    completed = False
    error: HookResultsError | ArchiveWriteError | None = None
    pages = pages_from(token)
    try:
        while may_continue():
            page = next(pages, None)
            if page is None:  # the listing ended without a last page saying so
                completed = True
                break
            raw_page, next_token = page
            for result in audit.missing(_parse(raw_page)):
                archive(result)
            audit.pages += 1
            if next_token is None:
                completed = True
                break
            token = next_token
    except HookResultsError as failure:
        error = failure
        if failure.error_code == "ValidationError" or isinstance(failure, PaginationError):
            token = None  # a token the API refuses or repeats: the audit starts over
    except ArchiveWriteError as failure:
        error = failure
    finally:
        pages.close()
    if completed:
        state = AuditProgress(next_due_ms=audit.now_ms + interval_ms, last_completed_ms=audit.now_ms)
        return AuditOutcome(state, True, error)
    if audit.pages == 0 and resumed is None and token is None:
        return AuditOutcome(previous, False, error)  # never got going: still due, as before
    state = AuditProgress(
        next_due_ms=previous.next_due_ms if previous is not None else audit.now_ms,
        last_completed_ms=previous.last_completed_ms if previous is not None else None,
        next_token=token,
        started_ms=started_ms,
        pages=(resumed.pages if resumed is not None else 0) + audit.pages,
        repaired=(resumed.repaired if resumed is not None else 0) + len(audit.repaired),
    )
    return AuditOutcome(state, False, error)


def _parse(raw_page: list[Mapping[str, Any]]) -> Iterable[HookResult]:
    for summary in raw_page:
        try:
            yield HookResult.from_api(summary)
        except MalformedHookResultError:
            continue  # counted by the scan, which reads the same listing
