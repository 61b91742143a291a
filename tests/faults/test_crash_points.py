"""A crash between any two steps of a run, then clean runs: no row lost, none doubled."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from emulation.synthetic_history import synthetic_results
from tests.faults.conftest import Rig, SimulatedCrash
from tests.simulated_crash import crash_on_commit as crash_before_commit


class StepCounter:
    """Counts every adapter call of a run (each page fetch counts) and dies before call number crash_at."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.steps: list[str] = []

    def step(self, name: str) -> None:
        self.steps.append(name)
        if self.crash_at is not None and len(self.steps) == self.crash_at:
            raise SimulatedCrash(name)

    def wrap(self, deps: Any) -> Any:
        return dataclasses.replace(
            deps,
            hook_results=_Counted(deps.hook_results, self, "hook_results"),
            checkpoints=_Counted(deps.checkpoints, self, "checkpoints"),
            archive=_Counted(deps.archive, self, "archive"),
            events=_Counted(deps.events, self, "events"),
            annotations=_Counted(deps.annotations, self, "annotations") if deps.annotations else None,
        )


class _Counted:
    def __init__(self, inner: Any, counter: StepCounter, name: str) -> None:
        self._inner = inner
        self._counter = counter
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._inner, attribute)
        if not callable(value):
            return value
        label = f"{self._name}.{attribute}"
        if attribute == "pages":
            return lambda *args: self._pages(value(*args), label)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._counter.step(label)
            return value(*args, **kwargs)

        return call

    def _pages(self, pages: Iterator[Any], label: str) -> Iterator[Any]:
        while True:
            self._counter.step(label)
            try:
                yield next(pages)
            except StopIteration:
                return


def prepare(rig: Rig) -> None:
    rig.seed(days=3, per_day=30)
    now = rig.clock.now()
    rig.aws.emulator.add(
        *synthetic_results(start=now - timedelta(minutes=5), end=now, count=8, seed=3, in_progress_share=0.25)
    )


def count_steps(rig: Rig) -> list[str]:
    counter = StepCounter()
    outcome = rig.run(wrap=counter.wrap)
    assert isinstance(outcome, dict), repr(outcome)
    return counter.steps


def test_crash_before_every_step_of_a_run_then_clean_runs_keep_the_archive_exact(rig: Rig) -> None:
    start = rig.clock.offset
    prepare(rig)
    steps = count_steps(rig)
    assert {"archive.upload", "annotations.upload", "checkpoints.save", "events.publish"} <= set(steps)
    failures = []
    for crash_at in range(1, len(steps) + 1):
        # Given the same history, when the run dies before step crash_at, then clean runs follow,
        rig.aws.reset()
        rig.events.clear()
        # the same moment each time: which days hold annotated failures, so the steps, depend on it.
        rig.clock.offset = start
        prepare(rig)
        outcome = rig.run(wrap=StepCounter(crash_at).wrap)
        assert isinstance(outcome, SimulatedCrash), f"step {crash_at}: {outcome!r}"
        # new results keep arriving meanwhile, in a partition the dead run may not have touched.
        now = rig.clock.now()
        rig.aws.emulator.add(
            *synthetic_results(start=now - timedelta(minutes=1), end=now, count=3, seed=1000 + crash_at)
        )
        rig.settle(runs=3)
        # then the archive equals the ground truth and every failure was notified.
        reconciliation = rig.reconcile()
        if not reconciliation.ok:
            failures.append(
                f"crash before step {crash_at} ({steps[crash_at - 1]}): {reconciliation.summary()}"
            )
    assert not failures, "\n".join(failures)


def test_rows_of_a_dead_run_survive_even_when_the_api_no_longer_lists_them(rig: Rig) -> None:
    # Given a result at the edge of the API's 90-day retention, archived by a run that dies before its commit,
    edge = rig.clock.now() - timedelta(days=90) + timedelta(minutes=10)
    old = synthetic_results(start=edge, end=edge + timedelta(minutes=1), count=1, seed=8)
    rig.aws.emulator.add(*old)
    rig.seed(days=2)

    def crash_on_commit(deps: Any) -> Any:
        return crash_before_commit(deps, around=StepCounter().wrap(deps))

    assert isinstance(rig.run(wrap=crash_on_commit), SimulatedCrash)
    # when it falls out of retention before the next run,
    rig.clock.advance(timedelta(minutes=30))
    visible = {result.hook_result_id for result in rig.aws.emulator.results()}
    assert old[0].hook_result_id in visible
    rig.settle(runs=2)
    # then its row is still in the archive, once.
    ids = rig.harness.read_archive().column("hook_result_id").to_pylist()
    assert ids.count(old[0].hook_result_id) == 1
    assert rig.reconcile().ok, rig.reconcile().summary()


@pytest.mark.parametrize("budget_seconds", [1.2, 2.0, 3.0])
def test_time_budget_expiring_at_different_points_ends_in_a_clean_partial_commit(
    rig: Rig, budget_seconds: float
) -> None:
    rig.seed(days=10, per_day=30)
    rig.aws.emulator.inject(kind="slow", delay=0.1, times=None)
    rig.harness.settings["TIME_SAFETY_MARGIN_SECONDS"] = "1"
    outcome = rig.run(timeout_seconds=budget_seconds)
    assert isinstance(outcome, dict), repr(outcome)
    assert outcome["status"] in {"partial_time_budget", "complete"}
    assert outcome["checkpoint_committed"] is True
    rig.settle()
    assert rig.reconcile().ok, rig.reconcile().summary()


def test_annotations_written_by_a_run_that_dies_before_its_commit_are_adopted_once(rig: Rig) -> None:
    # Given failures whose annotations a run writes, then dies before its commit,
    rig.seed(days=2, per_day=30)

    def crash_on_commit(deps: Any) -> Any:
        return crash_before_commit(deps, around=StepCounter().wrap(deps))

    assert isinstance(rig.run(wrap=crash_on_commit), SimulatedCrash)
    written = rig.harness.read_annotations()
    assert written.num_rows > 0
    dead_run_ids = set(written.column("hook_result_id").to_pylist())
    # when the annotations vanish from the API before the next runs (GetHookResult answers without them),
    for result_id in dead_run_ids:
        rig.aws.emulator.update(str(result_id), annotations=[])
    rig.clock.advance(timedelta(minutes=30))
    rig.settle(runs=2)
    # then the dead run's annotation rows were adopted, not fetched again: each id's rows are there, once.
    after = rig.harness.read_annotations().to_pylist()
    assert sorted((row["hook_result_id"], row["annotation_name"]) for row in after) == sorted(
        (row["hook_result_id"], row["annotation_name"]) for row in written.to_pylist()
    )
