"""run_archive against the fakes: what one run, and the runs that follow it, leave in the archive, on the
bus and in the checkpoint. Each test ends by reconciling against the fake API's ground truth."""

from __future__ import annotations

import pytest

from hook_archive.errors import (
    ArchiveConflictError,
    CheckpointConflictError,
    CheckpointCorruptError,
    HookResultsError,
    RunInProgressError,
)
from hook_archive.models.hook_result import IN_PROGRESS
from hook_archive.models.run_report import RunReport
from tests.functional.fakes import FakeWorld, ListingOrder, Probe, default_settings
from tests.functional.history import BASE_MS, COMPLETE_FAILED, MINUTE_MS, History
from tests.functional.reconciliation import reconcile


def seeded(
    *, days: int = 3, per_day: int = 30, order: ListingOrder = "newest_first", seed: int = 1
) -> FakeWorld:
    world = FakeWorld(now_ms=BASE_MS, order=order)
    world.api.add(*History(seed).days(end_ms=BASE_MS - 60 * MINUTE_MS, days=days, per_day=per_day))
    return world


def completed(outcome: RunReport | BaseException) -> RunReport:
    assert isinstance(outcome, RunReport), repr(outcome)
    assert outcome.status == "complete", outcome
    assert not outcome.errors, outcome.errors
    return outcome


def assert_exact(world: FakeWorld, *, exempt_from_events: frozenset[str] = frozenset()) -> None:
    reconciliation = reconcile(world, exempt_from_events=exempt_from_events)
    assert reconciliation.ok, reconciliation.summary()


def test_backfill_archives_every_terminal_result_once_with_its_fields_in_its_partition() -> None:
    world = seeded(days=10, per_day=30)
    report = completed(world.run())
    assert report.archived == 300
    assert (
        report.objects_written == len(report.partitions) == len({row["dt"] for row in world.archive_rows()})
    )
    assert_exact(world)


def test_second_run_with_nothing_new_writes_no_object_and_emits_no_event() -> None:
    world = seeded()
    completed(world.run())
    objects, events = dict(world.bucket.objects), len(world.bus.delivered)
    world.clock.advance(5 * MINUTE_MS)
    report = completed(world.run())
    assert (report.archived, report.objects_written, report.events_published) == (0, 0, 0)
    assert {key: stored for key, stored in world.bucket.objects.items() if "/dt=" in key} == {
        key: stored for key, stored in objects.items() if "/dt=" in key
    }
    assert len(world.bus.delivered) == events


def test_a_run_that_changes_nothing_commits_only_as_the_hourly_heartbeat() -> None:
    # Fleet health reads updated_at_ms: an idle archiver must keep it moving, a stopped one must not.
    world = seeded()
    completed(world.run())
    first = world.checkpoint_store().load()[0]
    assert first is not None
    world.clock.advance(30 * MINUTE_MS)
    assert not completed(world.run()).checkpoint_committed
    assert world.checkpoint_store().load()[0] == first
    world.clock.advance(31 * MINUTE_MS)  # the last commit is now over an hour old
    assert completed(world.run()).checkpoint_committed
    beat = world.checkpoint_store().load()[0]
    assert beat is not None
    assert beat.updated_at_ms == world.clock()
    assert beat.model_copy(update={"updated_at_ms": first.updated_at_ms}) == first
    assert_exact(world)


def test_in_progress_invocation_is_archived_once_in_its_final_status_with_one_event() -> None:
    world = seeded()
    waiting = History(50).one(BASE_MS - MINUTE_MS, status=IN_PROGRESS)
    world.api.add(waiting)
    first = completed(world.run())
    assert first.deferred_in_progress == 1
    assert waiting.hook_result_id not in {row["hook_result_id"] for row in world.archive_rows()}
    world.api.set_status(waiting.hook_result_id, COMPLETE_FAILED, "Guard rule failed")
    world.clock.advance(5 * MINUTE_MS)
    second = completed(world.run())
    assert second.archived_completed == 1
    rows = [row for row in world.archive_rows() if row["hook_result_id"] == waiting.hook_result_id]
    assert [row["status"] for row in rows] == [COMPLETE_FAILED]
    events = [e for e in world.bus.delivered if e.detail["hook_result_id"] == waiting.hook_result_id]
    assert len(events) == 1
    assert_exact(world)


def test_an_invocation_in_progress_past_the_timeout_is_archived_as_it_stands() -> None:
    world = seeded()
    stuck = History(51).one(BASE_MS - MINUTE_MS, status=IN_PROGRESS)
    world.api.add(stuck)
    completed(world.run())
    world.clock.advance(world.settings.in_progress_timeout_ms + MINUTE_MS)
    report = completed(world.run())
    assert report.archived_abandoned == 1
    assert [
        row["status"] for row in world.archive_rows() if row["hook_result_id"] == stuck.hook_result_id
    ] == [IN_PROGRESS]


def test_newest_first_steady_state_stops_at_the_first_page_that_reaches_settled_results() -> None:
    world = seeded(days=6, per_day=25)  # 150 results: 6 pages of 25
    completed(world.run())
    world.clock.advance(10 * MINUTE_MS)
    now = world.clock()
    world.api.add(*History(6).between(now - 10 * MINUTE_MS, now, count=20))
    second = completed(world.run())
    assert second.stopped_early
    assert second.pages == 1  # the 20 new results and 5 settled ones
    assert second.archived == 20
    assert_exact(world)


@pytest.mark.parametrize("order", ["shuffled", "oldest_first"])
def test_an_api_order_other_than_newest_first_scans_everything_and_stays_exact(order: ListingOrder) -> None:
    world = seeded(days=6, per_day=25, order=order)
    first = completed(world.run())
    world.clock.advance(10 * MINUTE_MS)
    now = world.clock()
    world.api.add(*History(6).between(now - 10 * MINUTE_MS, now, count=20))
    second = completed(world.run())
    assert first.out_of_order
    assert not second.stopped_early
    assert second.pages == -(-(150 + 20) // 25)
    assert_exact(world)


def test_a_late_arrival_inside_the_late_window_is_archived_once() -> None:
    world = seeded()
    completed(world.run())
    newest = max(r.invoked_at_ms or 0 for r in world.api.results())
    # Given a result invoked before the newest one archived, that the API lists only now,
    world.clock.advance(5 * MINUTE_MS)
    late = History(52).one(newest - world.settings.late_window_ms // 2)
    world.api.add(late)
    # when the next runs happen, then it is archived, once.
    assert completed(world.run()).archived == 1
    world.clock.advance(5 * MINUTE_MS)
    assert completed(world.run()).archived == 0
    assert_exact(world)


def test_results_that_appear_mid_scan_are_archived_by_the_next_run() -> None:
    world = seeded(days=4, per_day=25)
    arrivals = History(53).between(BASE_MS - 2 * MINUTE_MS, BASE_MS, count=5)

    def arrive_on_the_third_page(number: int, label: str) -> None:
        if label == "hook_results.pages" and number == 4:
            world.api.add(*arrivals)

    first = completed(world.run(Probe(on_step=arrive_on_the_third_page)))
    assert first.archived == 100  # the scan lists what was visible at its first call
    world.clock.advance(5 * MINUTE_MS)
    assert completed(world.run()).archived == 5
    assert_exact(world)


def test_put_events_partial_failure_resends_only_the_failed_retryable_entries() -> None:
    world = seeded()
    world.bus.fail_entries(["ThrottlingException", "", "InternalException"])
    report = completed(world.run())
    assert report.events_published == report.failures > 3
    assert report.events_failed == 0
    # One call per 10 entries, plus one that re-sends the two refused entries of the first chunk.
    assert world.bus.calls == -(-report.failures // 10) + 1
    assert_exact(world)


def test_events_that_keep_failing_wait_in_the_outbox_and_the_next_run_delivers_them() -> None:
    world = seeded()
    world.bus.fail_calls("InternalFailure", times=None)
    first = world.run()
    assert isinstance(first, RunReport), repr(first)
    assert first.checkpoint_committed
    assert first.events_outboxed == first.failures > 0
    assert first.errors  # the handler fails the invocation for it, after the commit
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert len(checkpoint.outbox) == first.failures
    world.bus.clear_faults()
    world.clock.advance(5 * MINUTE_MS)
    second = completed(world.run())
    assert second.events_published == first.failures
    assert_exact(world)


def test_a_non_retryable_event_is_dropped_loudly_and_its_row_is_still_archived() -> None:
    world = seeded()
    world.bus.fail_entries(["ValidationException"])
    report = world.run()
    assert isinstance(report, RunReport), repr(report)
    assert report.events_dropped == 1
    assert report.errors
    announced = {event.detail["hook_result_id"] for event in world.bus.delivered}
    failed = {
        r.hook_result_id for r in world.api.results() if r.status in {"HOOK_COMPLETE_FAILED", "HOOK_FAILED"}
    }
    assert len(failed - announced) == 1
    assert_exact(world, exempt_from_events=frozenset(failed - announced))


def test_enrichment_refused_degrades_the_events_and_stops_asking_after_three_refusals() -> None:
    world = seeded()
    world.api.inject("GetHookResult", "AccessDeniedException", times=None)
    report = completed(world.run())
    assert world.api.calls["GetHookResult"] == 3
    statuses = {event.detail["enrichment"]["status"] for event in world.bus.delivered}
    assert statuses == {"unavailable"}
    assert report.events_published == report.failures
    assert_exact(world)


def test_event_budget_stops_paging_and_later_runs_finish_the_backfill() -> None:
    world = seeded(days=6, per_day=40)
    world.settings = default_settings(max_events=12)
    statuses = []
    for _ in range(40):
        report = world.run()
        assert isinstance(report, RunReport), repr(report)
        statuses.append(report.status)
        assert report.failures <= 12 + world.api.page_size
        if report.status == "complete":
            break
        world.clock.advance(5 * MINUTE_MS)
    assert statuses[0] == "partial_event_budget"
    assert statuses[-1] == "complete"
    world.settle(runs=2)
    assert_exact(world)


def test_events_that_meet_the_deadline_wait_in_the_outbox_for_the_next_run() -> None:
    world = seeded(days=20, per_day=40)  # well over one 100-entry publishing slice of failures

    def stall_after_the_first_publish(number: int, label: str) -> None:
        # The 10th PutEvents ends the first 100-entry slice: after it, time is past where publishing must
        # stop (half the safety margin before the deadline), short of the deadline.
        if label == "events.PutEvents" and world.bus.calls == 9:
            world.clock.advance(280_000)

    first = world.run(Probe(level="wire", on_step=stall_after_the_first_publish))
    assert isinstance(first, RunReport), repr(first)
    assert first.events_deferred > 0
    assert first.events_failed == 0
    assert first.checkpoint_committed
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert len(checkpoint.outbox) == first.events_deferred
    world.settle(runs=2)
    assert_exact(world)


@pytest.mark.parametrize(
    ("fault", "after_calls"),
    [("ThrottlingException", 2), ("InternalFailure", 0), ("ValidationError", 3), ("repeat_token", 1)],
)
def test_an_api_failure_mid_scan_commits_what_was_read_reports_it_and_loses_nothing(
    fault: str, after_calls: int
) -> None:
    world = seeded(days=6, per_day=25)
    world.api.inject("ListHookResults", fault, after_calls=after_calls)
    report = world.run()
    assert isinstance(report, RunReport), repr(report)
    assert report.status == "partial_api_error"
    assert report.checkpoint_committed
    assert report.errors
    world.settle(runs=3)
    assert_exact(world)


def test_an_expired_resume_token_restarts_the_scan_from_the_top() -> None:
    world = FakeWorld(now_ms=BASE_MS, settings=default_settings(safety_margin_ms=1_000))
    world.api.add(*History(3).days(end_ms=BASE_MS - 60 * MINUTE_MS, days=10, per_day=30))
    cut = world.run(Probe(tick_ms=100, slow_calls="cloudformation."), timeout_ms=1_500)
    assert isinstance(cut, RunReport), repr(cut)
    assert cut.status == "partial_time_budget"
    world.clock.advance(2 * 3_600_000)  # past the token's lifetime
    expired = world.run()
    assert isinstance(expired, RunReport), repr(expired)
    assert expired.status == "partial_api_error"
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.scan is None
    completed(world.run())
    assert_exact(world)


def test_overlapping_run_that_finds_a_live_lease_does_nothing() -> None:
    world = seeded(days=2)
    second: list[RunReport | BaseException] = []

    def run_another_during_the_upload(number: int, label: str) -> None:
        if label == "archive.upload" and not second:
            second.append(world.run())

    completed(world.run(Probe(on_step=run_another_during_the_upload)))
    assert isinstance(second[0], RunInProgressError), repr(second[0])
    assert_exact(world)


def test_overlapping_run_that_commits_first_makes_the_other_lose_cleanly() -> None:
    world = seeded(days=2)
    second: list[RunReport | BaseException] = []

    def run_another_after_the_load(number: int, label: str) -> None:
        if number == 2 and not second:
            second.append(world.run())

    first = world.run(Probe(on_step=run_another_after_the_load))
    completed(second[0])
    assert isinstance(first, CheckpointConflictError), repr(first)
    assert_exact(world)


@pytest.mark.parametrize(
    ("stalled_upload", "successor_runs", "message"),
    [
        (1, True, "changed under this run"),  # the successor created the key the stalled PUT targets
        (2, True, "changed under this run"),  # the successor replaced the object the stalled run wrote first
        (1, False, "outlived its lease"),  # nobody took over yet: the run stops itself
    ],
)
def test_a_run_that_outlives_its_lease_can_neither_overwrite_nor_commit_over_its_successor(
    stalled_upload: int, successor_runs: bool, message: str
) -> None:
    # Given a run that writes several partitions and stalls in one of its uploads past its lease
    # (on a host that does not end it at its timeout),
    world = seeded(days=3)
    successor: list[RunReport | BaseException] = []
    rows_after_successor: list[int] = []
    uploads = 0

    def stall(number: int, label: str) -> None:
        nonlocal uploads
        if label != "archive.upload":
            return
        uploads += 1
        if uploads == stalled_upload:
            world.clock.advance(20 * MINUTE_MS)
            if successor_runs:
                now = world.clock()
                world.api.add(*History(77).between(now - 5 * MINUTE_MS, now, count=5))
                successor.append(world.run())
                rows_after_successor.append(len(world.archive_rows()))

    stalled = world.run(Probe(on_step=stall, lambda_timeout=False))
    # then the stalled run fails without touching what a successor wrote or committed,
    assert isinstance(stalled, ArchiveConflictError), repr(stalled)
    assert message in str(stalled)
    if successor_runs:
        completed(successor[0])
        assert len(world.archive_rows()) == rows_after_successor[0]
        assert_exact(world)
    # and after clean runs the archive is exact.
    world.settle()
    assert_exact(world)


def test_a_corrupt_checkpoint_stops_the_run_and_touches_nothing() -> None:
    world = seeded()
    world.bucket.put(world.checkpoint_key, b'{"format": "something else"}')
    outcome = world.run()
    assert isinstance(outcome, CheckpointCorruptError), repr(outcome)
    assert world.archive_keys() == []
    assert world.bus.delivered == []


def test_a_checkpoint_of_another_account_is_refused() -> None:
    # Given a checkpoint copied over from another account's archiver,
    world = seeded()
    completed(world.run())
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    copied = checkpoint.model_copy(update={"account_id": "210987654321"}).to_json_bytes()
    world.bucket.put(world.checkpoint_key, copied)
    objects = dict(world.bucket.objects)
    world.clock.advance(5 * MINUTE_MS)
    outcome = world.run()
    assert isinstance(outcome, CheckpointCorruptError), repr(outcome)
    assert world.bucket.objects == objects


def test_get_hook_result_of_an_unknown_id_is_hook_result_not_found() -> None:
    world = seeded()
    with pytest.raises(HookResultsError) as raised:
        world.dependencies().hook_results.get_hook_result("00000000-0000-4000-8000-000000000000")
    assert raised.value.error_code == "HookResultNotFound"


def test_a_result_without_invoked_at_goes_to_the_partition_of_its_archive_day_once_per_window() -> None:
    world = seeded()
    undated = History(54).one(None, status=COMPLETE_FAILED)
    world.api.add(undated)
    completed(world.run())
    world.clock.advance(5 * MINUTE_MS)
    completed(world.run())
    rows = [row for row in world.archive_rows() if row["hook_result_id"] == undated.hook_result_id]
    assert [(row["invoked_at_ms"], row["dt"]) for row in rows] == [(None, "2026-11-18")]
    assert_exact(world)


def test_a_result_without_invoked_at_is_archived_once_even_after_newer_results_settle_past_it() -> None:
    # Its id is remembered for good: no time settles a result without one.
    world = FakeWorld(now_ms=BASE_MS)
    world.api.add(History(55).one(None))
    completed(world.run())
    world.clock.advance(16 * MINUTE_MS)
    now = world.clock()
    world.api.add(History(56).one(now - 1000))
    world.settle(runs=3)
    assert_exact(world)


# A complete scan of 3 results once proved "newest first" (a reshuffled listing comes out sorted 1 time in 6),
# and early stops then skipped new results for good; an order is now proven by 20 results or more
# (logic/sweep.py MIN_RESULTS_TO_PROVE_ORDER).
def test_an_api_that_reshuffles_every_scan_loses_no_result_even_when_a_small_listing_came_sorted() -> None:
    lost = {}
    for seed in range(20):
        # Given an API that lists in a new random order every scan, and runs over a 3-result history,
        world = FakeWorld(now_ms=BASE_MS, page_size=1, order="shuffled", seed=seed)
        history = History(seed)
        world.api.add(*history.days(end_ms=BASE_MS - 60 * MINUTE_MS, days=1, per_day=3))
        for _ in range(6):
            completed(world.run())
        # when a new result arrives, then a newer one more than the late window later,
        world.api.add(history.one(world.clock() - 1000))
        world.run()
        world.clock.advance(30 * MINUTE_MS)
        world.api.add(history.one(world.clock() - 1000))
        for _ in range(3):
            world.run()
        # then clean runs still archive every result.
        world.settle(runs=10)
        reconciliation = reconcile(world)
        if not reconciliation.ok:
            lost[seed] = reconciliation.summary()
    assert not lost, lost
