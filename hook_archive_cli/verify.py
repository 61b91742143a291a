"""``verify``: what ListHookResults lists now against what the archive holds for the same days. Pure: the
listing and the archive rows are read by hook_archive_cli.archive_reads.

A discrepancy is one of:

- missing: a finished result the API lists, older than the late-arrival window, that the archive lacks (a
  newer one may simply not be archived yet: the archiver runs on a schedule and waits that long for late
  arrivals, so it counts as not yet due);
- duplicate: one hook_result_id in more than one archive row;
- mismatch: a field of the archived row that differs from the API's summary, or a row in the partition of
  another day than its InvokedAt.

Not discrepancies, only counted: results still in progress; archived rows the API no longer lists (past its
90-day retention); rows archived as HOOK_IN_PROGRESS after IN_PROGRESS_TIMEOUT_SECONDS, which keep that status
by design (docs/design.md, "Known limits"), so their status and reason are not compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import date

from hook_archive.models.hook_result import IN_PROGRESS, HookResult, utc_date

UNDATED = "undated"  # results without InvokedAt: archived in the partition of the day they were archived
_SETTLING_FIELDS = frozenset({"status", "hook_status_reason"})  # what finishing an invocation changes
_COMPARED_FIELDS = tuple(item.name for item in fields(HookResult) if item.name != "hook_result_id")


@dataclass(frozen=True)
class ArchivedRow:
    """One row of the archive, with the partition (dt) and object it was read from."""

    result: HookResult
    day: date
    key: str
    archived_at_ms: int | None = None  # read only when asked (replay): verify compares summaries


@dataclass(frozen=True)
class Mismatch:
    hook_result_id: str
    field: str
    listed: str | int | None
    archived: str | int | None
    key: str  # the archive object holding the row


@dataclass
class DayReport:
    day: str  # YYYY-MM-DD, or "undated"
    listed: int = 0  # finished results the API lists for the day
    archived: int = 0  # rows in the day's partition (this account and region)
    missing: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    not_yet_due: int = 0  # finished, not archived, inside the late-arrival window
    in_progress: int = 0
    not_listed: int = 0  # archived, not (or no longer) listed
    archived_in_progress: int = 0  # archived as HOOK_IN_PROGRESS after the in-progress timeout

    @property
    def discrepancies(self) -> int:
        return len(self.missing) + len(self.duplicates) + len(self.mismatches)

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "discrepancies": self.discrepancies}


@dataclass(frozen=True)
class VerifyReport:
    account_id: str
    region: str
    location: str
    since: date
    until: date
    checked_at_ms: int
    late_window_seconds: int
    listed: int  # results the API listed, every status, every day
    malformed: int  # listed results without a usable HookResultId (the archiver skips them too)
    archived: int  # rows read from the archive
    days: list[DayReport]

    @property
    def discrepancies(self) -> int:
        return sum(day.discrepancies for day in self.days)

    @property
    def ok(self) -> bool:
        return self.discrepancies == 0

    def totals(self) -> dict[str, int]:
        return {
            "missing": sum(len(day.missing) for day in self.days),
            "duplicates": sum(len(day.duplicates) for day in self.days),
            "mismatches": sum(len(day.mismatches) for day in self.days),
            "not_yet_due": sum(day.not_yet_due for day in self.days),
            "in_progress": sum(day.in_progress for day in self.days),
            "not_listed": sum(day.not_listed for day in self.days),
            "archived_in_progress": sum(day.archived_in_progress for day in self.days),
        }

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "account_id": self.account_id,
            "region": self.region,
            "location": self.location,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "checked_at_ms": self.checked_at_ms,
            "late_window_seconds": self.late_window_seconds,
            "listed": self.listed,
            "malformed": self.malformed,
            "archived": self.archived,
            "discrepancies": self.discrepancies,
            "totals": self.totals(),
            "days": [day.as_json() for day in self.days],
        }


def day_of(result: HookResult) -> str:
    return UNDATED if result.invoked_at_ms is None else utc_date(result.invoked_at_ms).isoformat()


def _compare_fields(listed: HookResult, row: ArchivedRow) -> list[Mismatch]:
    archived = row.result
    settled_in_progress = archived.status == IN_PROGRESS and listed.status != IN_PROGRESS
    mismatches = []
    for name in _COMPARED_FIELDS:
        if settled_in_progress and name in _SETTLING_FIELDS:
            continue
        expected, found = getattr(listed, name), getattr(archived, name)
        if expected != found:
            mismatches.append(Mismatch(listed.hook_result_id, name, expected, found, row.key))
    if listed.invoked_at_ms is not None and row.day != utc_date(listed.invoked_at_ms):
        expected_day = utc_date(listed.invoked_at_ms).isoformat()
        mismatches.append(Mismatch(listed.hook_result_id, "dt", expected_day, row.day.isoformat(), row.key))
    return mismatches


def _judge_listed(
    result: HookResult, rows: list[ArchivedRow] | None, day: DayReport, *, due_before_ms: int
) -> None:
    if not result.is_terminal:
        day.in_progress += 1
        return
    day.listed += 1
    if rows:
        if rows[0].result.status == IN_PROGRESS:
            day.archived_in_progress += 1
        day.mismatches.extend(_compare_fields(result, rows[0]))
    elif result.invoked_at_ms is None or result.invoked_at_ms <= due_before_ms:
        day.missing.append(result.hook_result_id)
    else:
        day.not_yet_due += 1


def compare(
    listed: Iterable[HookResult],
    archived: Iterable[ArchivedRow],
    *,
    since: date,
    until: date,
    now_ms: int,
    late_window_ms: int,
) -> list[DayReport]:
    """Per day from ``since`` to ``until`` (UTC, both included), the days where anything was listed or
    archived, oldest first; results without InvokedAt last, as "undated"."""
    days: dict[str, DayReport] = {}

    def report(day: str) -> DayReport:
        return days.setdefault(day, DayReport(day))

    rows_by_id: dict[str, list[ArchivedRow]] = defaultdict(list)
    for row in sorted(archived, key=lambda item: (item.day, item.key)):
        rows_by_id[row.result.hook_result_id].append(row)
        report(row.day.isoformat()).archived += 1
    for hook_result_id, rows in rows_by_id.items():
        if len(rows) > 1:
            report(rows[0].day.isoformat()).duplicates.append(hook_result_id)

    # The API may list an id twice (across pages); its latest summary is what counts.
    latest = {result.hook_result_id: result for result in listed}
    for result in latest.values():
        if result.invoked_at_ms is not None and not since <= utc_date(result.invoked_at_ms) <= until:
            continue
        _judge_listed(
            result,
            rows_by_id.get(result.hook_result_id),
            report(day_of(result)),
            due_before_ms=now_ms - late_window_ms,
        )
    for hook_result_id, rows in rows_by_id.items():
        if hook_result_id not in latest:
            report(rows[0].day.isoformat()).not_listed += 1
    for day in days.values():
        day.missing.sort()
        day.duplicates.sort()
    return sorted(days.values(), key=lambda day: (day.day == UNDATED, day.day))
