"""The self-audit on the wire: the real handler (AUDIT_INTERVAL_HOURS from template.yaml), its role's IAM
enforced, moto's S3 and the ListHookResults emulator. The README's "late arrival" limit (a result the API
lists later than LATE_ARRIVAL_WINDOW_SECONDS behind newer ones) is missed by the scans and repaired once by
the audit; a crash before any step of the audit run loses and doubles nothing
(emulation/reconciliation.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from emulation.hook_results_api import EmulatedHookResult
from emulation.synthetic_history import synthetic_results
from tests.faults.conftest import Rig, SimulatedCrash
from tests.faults.test_crash_points import StepCounter, _Counted

LATE_WINDOW = timedelta(seconds=900)  # template.yaml's LATE_ARRIVAL_WINDOW_SECONDS
AUDIT_INTERVAL = timedelta(hours=24)  # template.yaml's AUDIT_INTERVAL_HOURS


def plant_a_late_failure(rig: Rig) -> EmulatedHookResult:
    """A failed invocation from well behind the newest archived one, that the API lists only from now on."""
    newest = max(result.invoked_at for result in rig.aws.emulator.results())
    start = newest - 2 * LATE_WINDOW
    (late,) = synthetic_results(start=start, end=start + timedelta(seconds=1), count=1, seed=77)
    late = dataclasses.replace(
        late, status="HOOK_COMPLETE_FAILED", hook_status_reason="late", visible_from=rig.clock.now()
    )
    rig.aws.emulator.add(late)
    return late


def counted(counter: StepCounter) -> Any:
    """StepCounter's wrapping, the audit's archive reads counted too."""

    def wrap(deps: Any) -> Any:
        wrapped = counter.wrap(deps)
        return dataclasses.replace(wrapped, archived_ids=_Counted(deps.archived_ids, counter, "archived_ids"))

    return wrap


def report(outcome: dict[str, Any] | BaseException) -> dict[str, Any]:
    assert isinstance(outcome, dict), repr(outcome)
    assert not outcome["errors"], outcome["errors"]
    return outcome


def test_a_late_arrival_is_missed_by_scans_and_repaired_exactly_once_by_the_daily_audit(rig: Rig) -> None:
    # Given a complete archive, and a failed result the API starts listing later than the window allows,
    rig.seed(days=3, per_day=30)
    assert report(rig.run())["audit_pages"] == 0  # the first run starts the audit's clock
    rig.clock.advance(timedelta(minutes=5))
    late = plant_a_late_failure(rig)
    # when scheduled runs happen before the audit is due, then they miss it,
    for _ in range(2):
        assert report(rig.run())["archived"] == 0
        rig.clock.advance(timedelta(minutes=5))
    assert rig.reconcile().missing == {late.hook_result_id}
    # when the audit is due, then one run archives it, through the role's own reads, and announces it,
    rig.clock.advance(AUDIT_INTERVAL)
    audited = report(rig.run())
    assert (audited["audit_repaired"], audited["audit_completed"]) == (1, True)
    # reading only the late result's day (one object): the other days' digests agree with the listing,
    assert audited["audit_objects_read"] == 1
    assert rig.reconcile().ok, rig.reconcile().summary()
    assert rig.harness.checkpoint()["audit"]["last_completed_ms"] is not None
    # and neither the next runs nor the next audit archive it again.
    rig.clock.advance(timedelta(minutes=5))
    assert report(rig.run())["archived"] == 0
    rig.clock.advance(AUDIT_INTERVAL)
    again = report(rig.run())
    assert (again["audit_completed"], again["audit_repaired"], again["archived"]) == (True, 0, 0)
    assert again["audit_objects_read"] == 0  # every day's digest agrees: no read
    ids = rig.harness.read_archive().column("hook_result_id").to_pylist()
    assert ids.count(late.hook_result_id) == 1
    assert rig.reconcile().ok, rig.reconcile().summary()


def prepare_an_audit_run(rig: Rig) -> None:
    rig.seed(days=3, per_day=30)
    report(rig.run())
    rig.clock.advance(timedelta(minutes=5))
    plant_a_late_failure(rig)
    rig.clock.advance(AUDIT_INTERVAL)


def test_a_crash_before_any_step_of_an_audit_run_then_clean_runs_keep_the_archive_exact(rig: Rig) -> None:
    start = rig.clock.offset
    prepare_an_audit_run(rig)
    counter = StepCounter()
    assert report(rig.run(wrap=counted(counter)))["audit_repaired"] == 1
    steps = counter.steps
    assert {"archived_ids.ids_of_days", "archive.upload", "checkpoints.save", "events.publish"} <= set(steps)
    failures = []
    for crash_at in range(1, len(steps) + 1):
        # Given the same world, when the audit run dies before step crash_at, then clean runs follow,
        rig.aws.reset()
        rig.events.clear()
        rig.clock.offset = start
        prepare_an_audit_run(rig)
        outcome = rig.run(wrap=counted(StepCounter(crash_at)))
        assert isinstance(outcome, SimulatedCrash), f"step {crash_at}: {outcome!r}"
        rig.settle(runs=3)
        # then the archive equals the ground truth (the late result once) and every failure was announced.
        reconciliation = rig.reconcile()
        if not reconciliation.ok:
            failures.append(
                f"crash before step {crash_at} ({steps[crash_at - 1]}): {reconciliation.summary()}"
            )
    assert not failures, "\n".join(failures)
