"""A crash between any two steps of a run, then clean runs: no row lost, none doubled, every failure
announced, the checkpoint closed. The same crash points tests/faults/test_crash_points.py covers on the
wire (a crash before each adapter call and each page fetch), and finer ones (before each remote call),
in milliseconds each."""

from __future__ import annotations

import pytest

from hook_archive.models.hook_result import HookResult
from hook_archive.models.run_report import RunReport
from tests.functional.fakes import FakeWorld, Probe, StepLevel, default_settings
from tests.functional.history import BASE_MS, DAY_MS, MINUTE_MS, History
from tests.functional.reconciliation import reconcile
from tests.simulated_crash import SimulatedCrash


def prepared_world(*, seed: int = 1) -> FakeWorld:
    """tests/faults/test_crash_points.py's history: three days, and a few invocations of the last minutes,
    a quarter of them still in progress."""
    world = FakeWorld(now_ms=BASE_MS)
    history = History(seed)
    world.api.add(*history.days(end_ms=BASE_MS - 60 * MINUTE_MS, days=3, per_day=30))
    world.api.add(*history.between(BASE_MS - 5 * MINUTE_MS, BASE_MS, count=8, in_progress_share=0.25))
    return world


def steps_of_a_clean_run(level: StepLevel) -> list[str]:
    probe = Probe(level=level)
    outcome = prepared_world().run(probe)
    assert isinstance(outcome, RunReport), repr(outcome)
    return probe.steps


def crash_then_settle(crash_at: int, level: StepLevel) -> str | None:
    """Die before step crash_at, let new results arrive, settle; return what reconciliation found."""
    world = prepared_world()
    outcome = world.run(Probe(crash_at=crash_at, level=level))
    assert isinstance(outcome, SimulatedCrash), f"step {crash_at}: {outcome!r}"
    # New results keep arriving meanwhile, in a partition the dead run may not have touched.
    now = world.clock()
    world.api.add(*History(1000 + crash_at).between(now - MINUTE_MS, now, count=3))
    world.settle(runs=3)
    reconciliation = reconcile(world)
    return None if reconciliation.ok else reconciliation.summary()


@pytest.mark.parametrize("level", ["adapter", "wire"])
def test_crash_before_every_step_of_a_run_then_clean_runs_keep_the_archive_exact(level: StepLevel) -> None:
    steps = steps_of_a_clean_run(level)
    if level == "adapter":
        # The wire tier's step list: every adapter call and every page fetch.
        assert {"archive.upload", "checkpoints.save", "events.publish", "hook_results.pages"} <= set(steps)
    else:
        assert {"s3.PutObject known-ids", "s3.PutObject checkpoint", "events.PutEvents"} <= set(steps)
    failures = []
    for crash_at in range(1, len(steps) + 1):
        found = crash_then_settle(crash_at, level)
        if found:
            failures.append(f"crash before {level} step {crash_at} ({steps[crash_at - 1]}): {found}")
    assert not failures, "\n".join(failures)


def test_a_second_crash_while_cleaning_up_after_the_first_still_ends_exact() -> None:
    steps = steps_of_a_clean_run("adapter")
    first_upload = steps.index("archive.upload") + 1
    # Given runs that die after the intent, mid-upload, and just before the commit,
    for first_crash in (first_upload, first_upload + 2, len(steps)):
        world = prepared_world()
        assert isinstance(world.run(Probe(crash_at=first_crash)), SimulatedCrash)
        world.clock.advance(20 * MINUTE_MS)
        adopting = Probe()
        assert isinstance(world.run(adopting), RunReport)
        # when the run that adopts the dead run's objects dies too, before any of its own steps,
        for second_crash in range(1, len(adopting.steps) + 1):
            world = prepared_world()
            assert isinstance(world.run(Probe(crash_at=first_crash)), SimulatedCrash)
            world.clock.advance(20 * MINUTE_MS)
            assert isinstance(world.run(Probe(crash_at=second_crash)), SimulatedCrash)
            world.settle(runs=3)
            # then clean runs still end in the exact archive.
            reconciliation = reconcile(world)
            assert reconciliation.ok, f"crashes {first_crash}, {second_crash}: {reconciliation.summary()}"


def world_with_a_result_about_to_age_out() -> tuple[FakeWorld, HookResult]:
    world = FakeWorld(now_ms=BASE_MS)
    history = History(8)
    old = history.one(BASE_MS - 90 * DAY_MS + 10 * MINUTE_MS)
    world.api.add(old, *history.days(end_ms=BASE_MS - 60 * MINUTE_MS, days=2, per_day=40))
    return world, old


def test_rows_of_a_dead_run_survive_even_when_the_api_no_longer_lists_them() -> None:
    # Given a result at the edge of the API's 90-day retention, archived by a run that dies before its commit,
    clean = Probe()
    assert isinstance(world_with_a_result_about_to_age_out()[0].run(clean), RunReport)
    assert clean.steps[-1] == "checkpoints.save"
    world, old = world_with_a_result_about_to_age_out()
    assert isinstance(world.run(Probe(crash_at=len(clean.steps))), SimulatedCrash)
    assert old.hook_result_id in {row["hook_result_id"] for row in world.archive_rows()}
    # when it falls out of retention before the next run,
    world.clock.advance(30 * MINUTE_MS)
    assert not world.api.visible(world.api.stored(old.hook_result_id))
    world.settle(runs=2)
    # then its row is still in the archive, once.
    ids = [row["hook_result_id"] for row in world.archive_rows()]
    assert ids.count(old.hook_result_id) == 1
    reconciliation = reconcile(world)
    assert reconciliation.ok, reconciliation.summary()


@pytest.mark.parametrize("budget_ms", range(1_200, 6_001, 400))
def test_time_budget_expiring_at_different_points_ends_in_a_clean_partial_commit(budget_ms: int) -> None:
    # Given a slow API (100 ms a call) and a run with only budget_ms, paging stops a second before the end
    world = FakeWorld(now_ms=BASE_MS, settings=default_settings(safety_margin_ms=1_000))
    world.api.add(*History(3).days(end_ms=BASE_MS - 60 * MINUTE_MS, days=10, per_day=30))
    slow = Probe(tick_ms=100, slow_calls="cloudformation.")
    outcome = world.run(slow, timeout_ms=budget_ms)
    assert isinstance(outcome, RunReport), repr(outcome)
    assert outcome.status in {"partial_time_budget", "complete"}
    assert outcome.checkpoint_committed
    # and clean runs finish the backfill.
    world.settle()
    reconciliation = reconcile(world)
    assert reconciliation.ok, reconciliation.summary()


def test_a_dead_runs_object_that_the_retry_does_not_rewrite_is_deleted() -> None:
    # Given a result without InvokedAt (archived in the partition of its archive day), written by a run that
    # dies before its commit,
    world = FakeWorld(now_ms=BASE_MS)
    undated = History(60).one(None)
    world.api.add(undated)
    assert isinstance(world.run(Probe(on_step=die_before_the_commit)), SimulatedCrash)
    (dead_object,) = world.archive_keys()
    # when the next run happens the next UTC day, and so archives it in another partition,
    world.clock.advance(13 * 60 * MINUTE_MS)
    report = world.run()
    assert isinstance(report, RunReport), repr(report)
    # then the dead run's object is deleted and the result is archived once.
    assert report.orphans_deleted == 1
    assert dead_object not in world.archive_keys()
    reconciliation = reconcile(world)
    assert reconciliation.ok, reconciliation.summary()


def die_before_the_commit(number: int, label: str) -> None:
    # The first save commits the write intent; the last, after the uploads, the run.
    if label == "checkpoints.save" and number > 3:
        raise SimulatedCrash("before the commit")
