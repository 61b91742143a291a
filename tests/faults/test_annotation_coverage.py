"""Enrichment coverage on the wire: the real handler, moto's S3, the GetHookResult emulator and its faults.
A failure not enriched in its run waits on the checkpoint's catch-up list; later runs archive its annotations
exactly once, and the reconciliation (emulation/reconciliation.py) then finds every archived failure's
annotations, once, and an empty list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.faults.conftest import Rig, SimulatedCrash
from tests.simulated_crash import crash_on_commit

FAILED = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})
BOUND = 5


def report(outcome: Any) -> dict[str, Any]:
    assert isinstance(outcome, dict), repr(outcome)
    assert outcome["status"] == "complete", outcome
    return outcome


def listed(rig: Rig) -> list[str]:
    return [item["hook_result_id"] for item in rig.harness.checkpoint().get("annotations_due", [])]


def burst(rig: Rig) -> int:
    """A history with more failures than one run's GetHookResult bound; returns how many failed."""
    rig.harness.settings["MAX_ENRICHMENTS_PER_RUN"] = str(BOUND)
    history = rig.seed(days=2, per_day=60, seed=14)
    failures = sum(1 for item in history if item.status in FAILED)
    assert failures > 3 * BOUND
    return failures


def next_run(rig: Rig, **options: Any) -> Any:
    rig.clock.advance(timedelta(minutes=5))
    return rig.run(**options)


def test_a_burst_of_failures_larger_than_the_bound_has_every_annotation_archived_once_after_a_few_runs(
    rig: Rig,
) -> None:
    failures = burst(rig)
    # Given a first run that archives every result and announces every failure, but enriches only 5,
    first = report(rig.run())
    assert (first["failures"], first["enriched"]) == (failures, BOUND)
    assert first["annotations_pending"] == failures - BOUND
    # then the reconciliation finds the rest of the annotations missing, and the list open (its control case),
    early = rig.reconcile()
    waiting = listed(rig)
    assert len(waiting) == failures - BOUND
    truth = {item.hook_result_id: item for item in rig.aws.emulator.results()}
    with_annotations = {result_id for result_id in waiting if truth[result_id].annotations}
    assert with_annotations
    assert early.annotations_missing == with_annotations
    assert f"{failures - BOUND} failure(s) still due their annotations" in early.checkpoint_problems
    assert (early.missing, early.duplicated, early.failures_without_event) == (set(), set(), set())
    # when later runs work the list down, 5 a run,
    runs = 0
    while listed(rig):
        runs += 1
        assert report(next_run(rig))["annotations_caught_up"] == BOUND or not listed(rig)
    assert runs == -(-(failures - BOUND) // BOUND)
    # then every archived failure's annotations are there, exactly once, and nothing is left to catch up.
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()
    assert reconciliation.annotation_rows == sum(
        len(item.annotations) for item in rig.aws.emulator.results() if item.status in FAILED
    )


def test_a_crash_during_a_catch_up_run_loses_and_doubles_no_annotation(rig: Rig) -> None:
    burst(rig)
    report(rig.run())
    before = listed(rig)
    # Given a catch-up run that writes its annotation objects and dies before its commit,
    assert isinstance(next_run(rig, wrap=crash_on_commit), SimulatedCrash)
    assert listed(rig) == before
    assert rig.harness.read_annotations().num_rows > 0
    # when clean runs follow (the first adopts the dead run's rows),
    rig.clock.advance(timedelta(minutes=10))
    adopting = report(rig.run())
    assert adopting["annotations_adopted"] > 0
    rig.settle(runs=len(before) // BOUND + 2)
    # then no annotation is lost or doubled, and the list is empty.
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()


def test_not_found_and_access_denied_are_counted_by_reason_and_leave_the_list(rig: Rig) -> None:
    burst(rig)
    report(rig.run())
    before = listed(rig)
    # Given the catch-up's first call refused for kms:Decrypt and its second for a result aged out,
    rig.aws.emulator.inject(operation="GetHookResult", kind="access_denied", times=1)
    rig.aws.emulator.inject(operation="GetHookResult", kind="not_found", times=1)
    second = report(next_run(rig))
    # then each is counted by its reason, in the run's report (the summary log line), and leaves the list.
    assert second["annotations_unavailable_reasons"] == {"AccessDenied": 1, "HookResultNotFound": 1}
    assert second["annotations_unavailable"] == 2
    assert second["annotations_caught_up"] == BOUND - 2
    refused = set(before[:2])
    assert not refused & set(listed(rig))
    rig.settle(runs=len(before) // BOUND + 2)
    # The reconciliation knows them from the API's answers, and finds every other annotation archived once.
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()
    # Control: without the API's record of those two refusals, exactly those two are reported missing.
    rig.aws.emulator.reset_calls()
    assert rig.reconcile().annotations_missing == refused


def test_throttling_keeps_failures_listed_and_a_later_run_catches_them_up(rig: Rig) -> None:
    burst(rig)
    report(rig.run())
    before = listed(rig)
    # Given GetHookResult throttling beyond botocore's retries,
    rig.aws.emulator.inject(operation="GetHookResult", kind="throttle", times=None)
    throttled = report(next_run(rig))
    # then the run stops asking after three refusals; nothing leaves the list and each refusal is counted.
    assert (throttled["annotations_caught_up"], throttled["annotations_unavailable"]) == (0, 0)
    assert listed(rig) == before
    attempts = [item["attempts"] for item in rig.harness.checkpoint()["annotations_due"]]
    assert sorted(attempts, reverse=True) == [1, 1, 1] + [0] * (len(before) - 3)
    # When the API recovers, the list drains and every annotation is archived once.
    rig.settle(runs=len(before) // BOUND + 2)
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()
