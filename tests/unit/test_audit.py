"""The self-audit's pure rules (logic/audit.py): when it is due, which listed results it repairs, how it
keeps its place across runs, and its setting and checkpoint field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pytest

from hook_archive.errors import ArchiveWriteError, ConfigError, HookResultsError
from hook_archive.logic.audit import (
    Audit,
    AuditPlan,
    Pages,
    compared_days,
    digest_keep_from,
    digest_of,
    id_hash,
    plan,
    run_audit,
)
from hook_archive.models.checkpoint import AuditProgress, Checkpoint, DayDigest, IdDigests
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import IN_PROGRESS, HookResult, utc_date
from tests.functional.fakes import api_summary
from tests.unit.factories import BASE_MS, DAY_MS, hook_result

LATE_MS = 900_000
NOW_MS = BASE_MS + DAY_MS
HOUR_MS = 3_600_000
PAGE_1, PAGE_2 = "p1", "p2"  # the tokens listing() hands out


class ArchiveDays:
    """The archive's ids per day, counting the reads."""

    def __init__(self, archived: Iterable[HookResult] = (), *, fail: bool = False) -> None:
        self.ids: dict[date, set[str]] = {}
        for result in archived:
            assert result.invoked_at_ms is not None
            self.ids.setdefault(utc_date(result.invoked_at_ms), set()).add(result.hook_result_id)
        self.reads: list[date] = []
        self.fail = fail

    def ids_of_days(self, days: Iterable[date]) -> tuple[dict[date, frozenset[str]], int]:
        if self.fail:
            raise ArchiveWriteError("reading the archive failed: AccessDenied")
        wanted = list(days)
        self.reads.extend(wanted)
        return {day: frozenset(self.ids.get(day, set())) for day in wanted}, len(wanted)


def listing(*pages: list[HookResult]) -> Any:
    """pages_from(token) over fixed pages; tokens are "p<n>"; records which tokens were asked for."""
    asked: list[str | None] = []

    def pages_from(token: str | None) -> Pages:
        asked.append(token)
        start = 0 if token is None else int(token[1:])
        for index in range(start, len(pages)):
            following = f"p{index + 1}" if index + 1 < len(pages) else None
            yield [api_summary(result) for result in pages[index]], following

    pages_from.asked = asked  # type: ignore[attr-defined]
    return pages_from


def new_audit(archive: ArchiveDays, handled: Iterable[str] = ()) -> Audit:
    done = set(handled)
    return Audit(archive, now_ms=NOW_MS, late_window_ms=LATE_MS, handled=lambda result_id: result_id in done)


def old(number: int, *, status: str = "HOOK_COMPLETE_SUCCEEDED") -> HookResult:
    return hook_result(number, invoked_at_ms=BASE_MS + number * 1000, status=status)


# -- when


def test_the_first_run_that_may_audit_only_starts_the_clock() -> None:
    decided = plan(None, now_ms=NOW_MS, interval_ms=24 * HOUR_MS, forced=False)
    assert decided == AuditPlan(
        due=False, resume=False, state=AuditProgress(next_due_ms=NOW_MS + 24 * HOUR_MS)
    )


def test_an_audit_is_due_at_its_time_and_not_a_millisecond_before() -> None:
    state = AuditProgress(next_due_ms=NOW_MS)
    assert plan(state, now_ms=NOW_MS, interval_ms=HOUR_MS, forced=False).due
    assert not plan(state, now_ms=NOW_MS - 1, interval_ms=HOUR_MS, forced=False).due


def test_an_audit_in_progress_continues_and_zero_turns_the_audit_off() -> None:
    running = AuditProgress(next_due_ms=NOW_MS + DAY_MS, started_ms=NOW_MS, next_token=PAGE_2)
    assert plan(running, now_ms=NOW_MS, interval_ms=HOUR_MS, forced=False) == AuditPlan(True, True, running)
    assert not plan(running, now_ms=NOW_MS, interval_ms=0, forced=False).due
    assert not plan(None, now_ms=NOW_MS, interval_ms=0, forced=False).due


def test_a_forced_audit_starts_from_the_top_whatever_the_state() -> None:
    running = AuditProgress(next_due_ms=NOW_MS + DAY_MS, started_ms=NOW_MS, next_token=PAGE_2)
    for state in (None, running, AuditProgress(next_due_ms=NOW_MS + DAY_MS)):
        decided = plan(state, now_ms=NOW_MS, interval_ms=0, forced=True)
        assert (decided.due, decided.resume) == (True, False)


# -- what


def test_repaired_are_finished_older_than_the_window_absent_from_the_archive_and_not_this_runs() -> None:
    archived = old(1)
    missing = old(2)
    in_progress = old(3, status=IN_PROGRESS)
    too_recent = hook_result(4, invoked_at_ms=NOW_MS - LATE_MS + 1)
    just_due = hook_result(5, invoked_at_ms=NOW_MS - LATE_MS)
    this_runs = old(6)
    undated = hook_result(7, invoked_at_ms=None)
    audit = new_audit(ArchiveDays([archived]), handled=[this_runs.hook_result_id])
    found = audit.missing([archived, missing, in_progress, too_recent, just_due, this_runs, undated, missing])
    assert [result.hook_result_id for result in found] == [missing.hook_result_id, just_due.hook_result_id]
    # and a result repaired once is not repaired again by a later page.
    assert audit.missing([missing]) == []


def test_each_day_of_the_archive_is_read_once_per_run_and_only_for_days_with_candidates() -> None:
    archive = ArchiveDays([old(1)])
    audit = new_audit(archive)
    audit.missing([old(1), old(2)])
    audit.missing([old(3), hook_result(9, invoked_at_ms=NOW_MS)])  # same day again; one too recent
    assert archive.reads == [utc_date(BASE_MS)]
    assert audit.objects_read == 1


# -- how far


def test_an_audit_that_reaches_the_end_is_completed_and_due_again_an_interval_later() -> None:
    pages_from = listing([old(1), old(2)], [old(3)])
    audit = new_audit(ArchiveDays([old(1), old(3)]))
    repaired: list[HookResult] = []
    decided = plan(AuditProgress(next_due_ms=NOW_MS), now_ms=NOW_MS, interval_ms=DAY_MS, forced=False)
    outcome = run_audit(
        audit, decided, pages_from, interval_ms=DAY_MS, may_continue=lambda: True, archive=repaired.append
    )
    assert outcome.completed
    assert outcome.error is None
    # What it repaired stays in the checkpoint until the next audit completes: fleet health reads it.
    assert outcome.state == AuditProgress(
        next_due_ms=NOW_MS + DAY_MS, last_completed_ms=NOW_MS, last_repaired=1
    )
    assert [result.hook_result_id for result in repaired] == [old(2).hook_result_id]
    assert audit.pages == 4  # its day's digest unknown: the listing once to compare, once to repair


def test_an_audit_cut_short_keeps_its_token_and_the_next_run_resumes_there() -> None:
    pages = ([old(1)], [old(2)], [old(3)])
    budget = iter([True, False])
    first = new_audit(ArchiveDays())
    decided = plan(AuditProgress(next_due_ms=NOW_MS), now_ms=NOW_MS, interval_ms=DAY_MS, forced=False)
    cut = run_audit(
        first,
        decided,
        listing(*pages),
        interval_ms=DAY_MS,
        may_continue=lambda: next(budget),
        archive=lambda _r: None,
    )
    assert not cut.completed
    assert cut.state == AuditProgress(
        next_due_ms=NOW_MS,
        started_ms=NOW_MS,
        next_token=PAGE_1,
        pages=1,
        listed={utc_date(BASE_MS): digest_of([old(1).hook_result_id])},
    )
    # Given that state, the next run resumes from p1 and completes.
    later = Audit(ArchiveDays(), now_ms=NOW_MS + 300_000, late_window_ms=LATE_MS, handled=lambda _id: False)
    resumed = plan(cut.state, now_ms=NOW_MS + 300_000, interval_ms=DAY_MS, forced=False)
    pages_from = listing(*pages)
    done = run_audit(
        later, resumed, pages_from, interval_ms=DAY_MS, may_continue=lambda: True, archive=lambda _r: None
    )
    assert pages_from.asked == ["p1", None]  # the rest of phase 1, then phase 2 from the top
    assert done.completed
    assert later.pages == 5
    assert done.state == AuditProgress(
        next_due_ms=NOW_MS + 300_000 + DAY_MS,
        last_completed_ms=NOW_MS + 300_000,
        last_repaired=len(later.repaired),
    )
    assert len(later.repaired) == 3  # every result: the archive holds none


def test_a_refused_token_restarts_the_audit_from_the_top_and_other_api_errors_keep_the_place() -> None:
    def failing(code: str) -> Any:
        def pages_from(token: str | None) -> Pages:
            yield [api_summary(old(1))], "p1"
            raise HookResultsError("ListHookResults failed", error_code=code)

        return pages_from

    decided = plan(AuditProgress(next_due_ms=NOW_MS), now_ms=NOW_MS, interval_ms=DAY_MS, forced=False)
    for code, token in (("ValidationError", None), ("Throttling", "p1")):
        outcome = run_audit(
            new_audit(ArchiveDays([old(1)])),
            decided,
            failing(code),
            interval_ms=DAY_MS,
            may_continue=lambda: True,
            archive=lambda _r: None,
        )
        assert isinstance(outcome.error, HookResultsError)
        assert outcome.state is not None
        assert outcome.state.in_progress
        assert outcome.state.next_token == token


def test_a_failed_archive_read_leaves_the_page_undone_and_repairs_nothing_from_it() -> None:
    decided = plan(AuditProgress(next_due_ms=NOW_MS), now_ms=NOW_MS, interval_ms=DAY_MS, forced=False)
    repaired: list[HookResult] = []
    outcome = run_audit(
        new_audit(ArchiveDays(fail=True)),
        decided,
        listing([old(1)], [old(2)]),
        interval_ms=DAY_MS,
        may_continue=lambda: True,
        archive=repaired.append,
    )
    assert isinstance(outcome.error, ArchiveWriteError)
    assert repaired == []
    # phase 1 done (no read); phase 2 resumes from its first page
    assert outcome.state is not None
    assert (outcome.state.phase, outcome.state.next_token, outcome.state.pages) == ("repair", None, 2)
    assert outcome.state.differing


# -- setting and checkpoint


def test_audit_interval_hours_defaults_to_a_day_and_a_bad_value_names_the_variable() -> None:
    base: Mapping[str, str] = {"AWS_REGION": "us-east-1", "ARCHIVE_BUCKET": "archive-bucket"}
    assert ArchiverConfig.from_environ(base).audit_interval_hours == 24
    assert ArchiverConfig.from_environ({**base, "AUDIT_INTERVAL_HOURS": "0"}).audit_interval_hours == 0
    for bad in ("-1", "daily", str(90 * 24 + 1)):
        with pytest.raises(ConfigError, match="AUDIT_INTERVAL_HOURS"):
            ArchiverConfig.from_environ({**base, "AUDIT_INTERVAL_HOURS": bad})


def test_a_checkpoint_written_before_the_audit_reads_without_one_and_round_trips_with_one() -> None:
    before = b'{"format": "cfn-hook-archive/checkpoint", "version": 2, "account_id": "1", "region": "r"}'
    assert Checkpoint.from_json_bytes(before, where="test").audit is None
    running = AuditProgress(next_due_ms=1, started_ms=2, next_token=PAGE_1, pages=3, repaired=4)
    checkpoint = Checkpoint.initial(account_id="1", region="r").model_copy(update={"audit": running})
    assert Checkpoint.from_json_bytes(checkpoint.to_json_bytes(), where="test").audit == running


# -- digests


def digests_of(archive: ArchiveDays) -> Any:
    """The archive's true digest per day, as a checkpoint that counted every row would hold it."""
    return lambda day: digest_of(archive.ids.get(day, set()))


def test_id_hash_is_64_bit_blake2b_stable_across_processes() -> None:
    # The value is pinned: hash() would change with PYTHONHASHSEED and break every stored digest.
    assert id_hash("abc") == int.from_bytes(bytes.fromhex("d8bb14d833d59559"), "big")
    assert 0 <= id_hash("x" * 1000) < 2**64
    assert digest_of(["a", "b", "a"]) == digest_of(["b", "a"])  # a set: an id counts once


def audit_with_digests(archive: ArchiveDays, **changes: Any) -> Audit:
    return Audit(
        archive,
        now_ms=NOW_MS,
        late_window_ms=LATE_MS,
        handled=changes.pop("handled", lambda _id: False),
        archive_digest=digests_of(archive),
        **changes,
    )


def test_days_whose_digests_agree_are_verified_without_a_read_and_a_missing_result_reads_only_its_day() -> (
    None
):
    archived = [old(1), old(2), hook_result(3, invoked_at_ms=BASE_MS - DAY_MS)]
    pages_from = listing(archived[:2], archived[2:])
    archive = ArchiveDays(archived)
    decided = plan(AuditProgress(next_due_ms=NOW_MS), now_ms=NOW_MS, interval_ms=DAY_MS, forced=False)
    quiet = audit_with_digests(archive)
    outcome = run_audit(
        quiet, decided, pages_from, interval_ms=DAY_MS, may_continue=lambda: True, archive=lambda _r: None
    )
    assert (outcome.completed, quiet.pages, quiet.objects_read, archive.reads) == (True, 2, 0, [])
    # The control: the same archive missing old(2) differs on old(2)'s day only, which alone is read.
    gapped = ArchiveDays([archived[0], archived[2]])
    repaired: list[HookResult] = []
    audit = audit_with_digests(gapped)
    outcome = run_audit(
        audit,
        decided,
        listing(archived[:2], archived[2:]),
        interval_ms=DAY_MS,
        may_continue=lambda: True,
        archive=repaired.append,
    )
    assert outcome.completed
    assert [result.hook_result_id for result in repaired] == [old(2).hook_result_id]
    assert gapped.reads == [utc_date(BASE_MS)]
    assert audit.resynced() == {utc_date(BASE_MS): digest_of([old(1).hook_result_id])}


def test_what_the_listing_counts_agrees_with_what_the_archive_holds() -> None:
    in_run, remembered = old(1), hook_result(2, invoked_at_ms=NOW_MS - 1)
    abandoned = old(3, status=IN_PROGRESS)  # archived as in progress after the timeout, still listed so
    recent_not_yet = hook_result(4, invoked_at_ms=NOW_MS - 1)
    recent_running = hook_result(5, invoked_at_ms=NOW_MS - 1, status=IN_PROGRESS)
    pending = old(6, status=IN_PROGRESS)
    undated = hook_result(7, invoked_at_ms=None)
    finished_missing = old(8)
    audit = Audit(
        ArchiveDays(),
        now_ms=NOW_MS,
        late_window_ms=LATE_MS,
        handled=lambda result_id: result_id in {in_run.hook_result_id, pending.hook_result_id},
        archived_in_run=lambda result_id: result_id == in_run.hook_result_id,
        remembered=lambda result_id: result_id == remembered.hook_result_id,
    )
    held = [in_run, remembered, abandoned, finished_missing]
    not_held = [recent_not_yet, recent_running, pending, undated]
    assert [audit.should_hold(result) for result in held] == [True] * 4
    assert [audit.should_hold(result) for result in not_held] == [False] * 4
    audit.count([*held, *not_held, in_run])  # listed twice: counted once
    assert audit.listed == {
        utc_date(BASE_MS): digest_of(r.hook_result_id for r in (in_run, abandoned, finished_missing)),
        utc_date(NOW_MS - 1): digest_of([remembered.hook_result_id]),
    }


def test_only_days_the_api_holds_whole_are_compared() -> None:
    days = compared_days(NOW_MS)
    assert days[-1] == utc_date(NOW_MS)
    assert days[0] == utc_date(NOW_MS - 90 * DAY_MS) + (utc_date(DAY_MS * 2) - utc_date(0))
    assert len(days) == 89
    assert digest_keep_from(NOW_MS) < days[0]


def test_a_checkpoint_written_before_digests_loads_with_every_day_unknown_and_round_trips_with_them() -> None:
    before = b'{"format": "cfn-hook-archive/checkpoint", "version": 2, "account_id": "1", "region": "r"}'
    assert Checkpoint.from_json_bytes(before, where="test").id_digests is None
    day = utc_date(BASE_MS)
    digests = IdDigests(since=day, days={day: DayDigest(count=2, sum=5)})
    checkpoint = Checkpoint.initial(account_id="1", region="r").model_copy(update={"id_digests": digests})
    assert Checkpoint.from_json_bytes(checkpoint.to_json_bytes(), where="test").id_digests == digests
    assert Checkpoint.initial(account_id="1", region="r").id_digests == IdDigests(since=date(1970, 1, 1))


def test_a_commit_adds_to_known_days_keeps_unknown_days_unknown_resyncs_and_prunes() -> None:
    today = utc_date(NOW_MS)
    yesterday, ancient = utc_date(NOW_MS - DAY_MS), utc_date(NOW_MS - 100 * DAY_MS)
    digests = IdDigests.starting_after(yesterday).model_copy(update={"days": {ancient: DayDigest(count=1)}})
    assert (digests.of(yesterday), digests.of(today)) == (None, DayDigest())
    added = {today: digest_of(["a"]), yesterday: digest_of(["b"])}
    after = digests.updated(added, resynced={}, keep_from=digest_keep_from(NOW_MS))
    assert (after.of(today), after.of(yesterday), after.days.get(ancient)) == (digest_of(["a"]), None, None)
    resynced = digests.updated(
        added, resynced={yesterday: digest_of(["c"])}, keep_from=digest_keep_from(NOW_MS)
    )
    assert resynced.of(yesterday) == digest_of(["b", "c"])
