"""Publishing fits in the run: paging stops at an event budget, and events that meet the deadline wait."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from tests.faults.conftest import Rig


def test_event_budget_stops_paging_and_later_runs_finish_the_backfill(rig: Rig) -> None:
    # Given a backfill with far more failures than one run may announce,
    rig.seed(days=6, per_day=40)
    rig.harness.runtime_environment["MAX_EVENTS_PER_RUN"] = "12"
    # when runs follow each other,
    statuses = []
    for _ in range(40):
        outcome = rig.run()
        assert isinstance(outcome, dict), repr(outcome)
        statuses.append(outcome["status"])
        assert outcome["failures"] <= 12 + 25  # the budget, plus at most the page that crossed it
        if outcome["status"] == "complete":
            break
        rig.clock.advance(timedelta(minutes=5))
    # then each run stopped at the budget, and the archive and the events end up complete.
    assert statuses[0] == "partial_event_budget"
    assert statuses[-1] == "complete"
    rig.settle(runs=2)
    assert rig.reconcile().ok, rig.reconcile().summary()


def test_events_that_meet_the_deadline_wait_in_the_outbox_for_the_next_run(rig: Rig) -> None:
    rig.seed(days=20, per_day=40)  # well over one 100-entry publishing slice of failures

    class SlowBus:
        """After the first PutEvents batch, time jumps to the edge of the 300 s deadline: past the point
        where publishing must stop (half the 60 s safety margin before it), short of the deadline."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self.calls = 0

        def publish(self, envelopes: Any) -> Any:
            result = self._inner.publish(envelopes)
            self.calls += 1
            if self.calls == 1:
                rig.clock.advance(timedelta(seconds=280))
            return result

    rig.harness.runtime_environment["MAX_EVENTS_PER_RUN"] = "1000"
    rig.harness.settings["TIME_SAFETY_MARGIN_SECONDS"] = "60"  # the template's: publishing stops at 270 s
    first = rig.run(wrap=lambda deps: dataclasses.replace(deps, events=SlowBus(deps.events)))
    assert isinstance(first, dict), repr(first)
    assert first["events_deferred"] > 0
    assert first["events_failed"] == 0
    assert first["checkpoint_committed"] is True
    assert len(rig.harness.checkpoint()["outbox"]) == first["events_deferred"]
    rig.settle(runs=2)
    assert rig.reconcile().ok, rig.reconcile().summary()
