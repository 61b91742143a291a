"""One test per named fault: the documented outcome of the run, then, after clean runs, the invariant."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import pytest

from emulation.synthetic_history import synthetic_results
from tests.faults.conftest import Rig

DATA_KEY = "/hook-results/dt"  # the = arrives URL-encoded
STATE_KEY = "/hook-results/_state/"


def data_put(call: Any) -> bool:
    return DATA_KEY in call.path


def last_partition_put(rig: Rig) -> Callable[[Any], bool]:
    """The PUT of the run's last results object: objects are written in key order, so the latest dt that holds
    a finished result. (How many dt partitions the seeded history spans depends on the time of day, so a count
    of PUTs to let through cannot name the last one.)"""
    now = rig.clock.now()
    finished = [r for r in rig.aws.emulator.results() if r.at(now).status != "HOOK_IN_PROGRESS"]
    last_day = max(r.invoked_at for r in finished).astimezone(UTC).date().isoformat()
    markers = (f"dt%3D{last_day}/", f"dt={last_day}/")
    return lambda call: data_put(call) and any(marker in call.path for marker in markers)


def checkpoint_put(call: Any) -> bool:
    return STATE_KEY in call.path and call.path.endswith("checkpoint.json")


def known_ids_put(call: Any) -> bool:
    return STATE_KEY in call.path and "/known-ids/" in call.path


def add_recent(rig: Rig, count: int, *, seed: int, in_progress_share: float = 0.0) -> None:
    now = rig.clock.now()
    rig.aws.emulator.add(
        *synthetic_results(
            start=now - timedelta(minutes=5),
            end=now,
            count=count,
            seed=seed,
            in_progress_share=in_progress_share,
        )
    )


def expect_complete(outcome: Any) -> None:
    assert isinstance(outcome, dict), repr(outcome)
    assert outcome["status"] == "complete"


def expect_error(*fragments: str) -> Callable[[Any], None]:
    def check(outcome: Any) -> None:
        assert isinstance(outcome, Exception), repr(outcome)
        for fragment in fragments:
            assert fragment in str(outcome), str(outcome)

    return check


def expect_skipped(outcome: Any) -> None:
    assert isinstance(outcome, dict), repr(outcome)
    assert outcome["status"] == "skipped_run_in_progress"


# name -> (inject faults, check the faulted run's outcome)
FAULTS: dict[str, tuple[Callable[[Rig], object], Callable[[Any], None]]] = {
    "list_throttling_burst": (lambda r: r.aws.emulator.inject(kind="throttle", times=2), expect_complete),
    "list_5xx": (
        lambda r: (
            r.aws.emulator.inject(kind="internal_error", times=2),
            r.aws.emulator.inject(kind="unavailable", times=2, after_calls=4),
        ),
        expect_complete,
    ),
    # A call that hangs past API_READ_TIMEOUT_SECONDS (2 s in these tests) is abandoned and retried.
    "list_read_timeout": (
        lambda r: r.aws.emulator.inject(kind="slow", delay=2.5, after_calls=1),
        expect_complete,
    ),
    "list_connection_reset": (
        lambda r: r.aws.emulator.inject(kind="reset", times=2, after_calls=1),
        expect_complete,
    ),
    "list_invalid_token_mid_scan": (
        lambda r: r.aws.emulator.inject(kind="invalid_token", after_calls=2),
        expect_error("ListHookResults failed on page", "ValidationError"),
    ),
    "list_empty_page_with_token": (
        lambda r: r.aws.emulator.inject(kind="empty_page_with_token", times=3, after_calls=1),
        expect_complete,
    ),
    "list_repeating_token": (
        lambda r: r.aws.emulator.inject(kind="repeat_token", after_calls=1),
        expect_error("NextToken it had already returned"),
    ),
    "list_persistent_throttling": (
        lambda r: r.aws.emulator.inject(kind="throttle", times=None, after_calls=2),
        expect_error("Throttling"),
    ),
    "get_access_denied": (
        lambda r: r.aws.emulator.inject(operation="GetHookResult", kind="access_denied", times=None),
        expect_complete,
    ),
    "get_throttling": (
        lambda r: r.aws.emulator.inject(operation="GetHookResult", kind="throttle", times=2),
        expect_complete,
    ),
    "get_not_found": (
        lambda r: r.aws.emulator.inject(operation="GetHookResult", kind="not_found", times=None),
        expect_complete,
    ),
    "s3_put_first_partition_fails": (
        lambda r: r.aws.proxy.inject("PutObject", "internal_error", match=data_put, times=None),
        expect_error("writing s3://"),
    ),
    "s3_put_middle_partition_fails": (
        lambda r: r.aws.proxy.inject(
            "PutObject", "internal_error", match=data_put, after_calls=2, times=None
        ),
        expect_error("writing s3://"),
    ),
    "s3_put_last_partition_fails": (
        lambda r: r.aws.proxy.inject("PutObject", "internal_error", match=last_partition_put(r), times=None),
        expect_error("writing s3://"),
    ),
    "s3_slow_down_then_recovers": (
        lambda r: r.aws.proxy.inject("PutObject", "slow_down", match=data_put, times=2),
        expect_complete,
    ),
    "checkpoint_intent_write_fails": (
        lambda r: r.aws.proxy.inject("PutObject", "internal_error", match=checkpoint_put, times=None),
        expect_error("writing checkpoint"),
    ),
    "checkpoint_commit_fails": (
        lambda r: r.aws.proxy.inject(
            "PutObject", "internal_error", match=checkpoint_put, after_calls=1, times=None
        ),
        expect_error("writing checkpoint"),
    ),
    "known_ids_object_write_fails": (
        lambda r: r.aws.proxy.inject("PutObject", "internal_error", match=known_ids_put, times=None),
        expect_error("writing known ids"),
    ),
    "checkpoint_conditional_write_conflict": (
        lambda r: r.aws.proxy.inject("PutObject", "precondition_failed", match=checkpoint_put),
        expect_skipped,
    ),
    "put_events_fails_entirely": (
        lambda r: r.aws.proxy.inject("PutEvents", "internal_error", times=None),
        expect_error("failure event(s) not delivered", "kept in the outbox"),
    ),
    "put_events_partial_retryable": (
        lambda r: r.aws.proxy.inject(
            "PutEvents", "partial_events", failed_entries={0: "ThrottlingException", 3: "InternalException"}
        ),
        expect_complete,
    ),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_named_fault_keeps_the_archive_exact_after_clean_runs(rig: Rig, name: str) -> None:
    # Given a history over several partitions and pages, some of it failed, some still running,
    rig.seed()
    add_recent(rig, 10, seed=2, in_progress_share=0.3)
    inject, check = FAULTS[name]
    inject(rig)
    # when the archiver runs into the fault,
    check(rig.run())
    # then clean runs afterwards leave an archive equal to the ground truth, with every failure notified.
    rig.settle()
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()


def test_enrichment_failure_degrades_the_event_but_never_blocks_archiving(rig: Rig) -> None:
    rig.seed(days=1, per_day=30)
    rig.aws.emulator.inject(operation="GetHookResult", kind="access_denied", times=None)
    outcome = rig.run()
    expect_complete(outcome)
    assert rig.events
    enrichments = [event["detail"]["enrichment"] for event in rig.events]
    assert {item["status"] for item in enrichments} == {"unavailable"}
    assert {item["error_code"] for item in enrichments} == {"AccessDenied"}
    # It stops asking after a few refusals instead of spending a call per failure.
    assert rig.aws.emulator.call_count("GetHookResult") == 3


def test_put_events_non_retryable_entry_is_dropped_loudly_and_the_rest_delivered(rig: Rig) -> None:
    rig.seed(days=1, per_day=40)
    rig.aws.proxy.inject("PutEvents", "partial_events", failed_entries={1: "InvalidArgument"})
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "1 dropped" in str(outcome)
    rig.settle()
    reconciliation = rig.reconcile()
    assert len(reconciliation.failures_without_event) == 1
    assert not reconciliation.missing
    assert not reconciliation.duplicated


def test_oversized_failure_event_is_truncated_and_still_delivered(rig: Rig) -> None:
    now = rig.clock.now()
    failed = dataclasses.replace(
        synthetic_results(start=now - timedelta(minutes=3), end=now, count=1, seed=5)[0],
        status="HOOK_COMPLETE_FAILED",
        hook_status_reason="r" * 1024,
        annotations=[
            {
                "AnnotationName": f"RULE_{n}",
                "Status": "FAILED",
                "StatusMessage": "m" * 16384,
                "RemediationMessage": "x" * 16384,
                "SeverityLevel": "HIGH",
            }
            for n in range(12)
        ],
    )
    rig.aws.emulator.add(failed)
    expect_complete(rig.run())
    (event,) = rig.events
    assert event["detail"]["truncated_fields"]
    assert len(json.dumps(event["detail"]).encode()) < 256 * 1024
    assert rig.reconcile().ok


def test_overlapping_run_that_finds_a_live_lease_does_nothing(rig: Rig) -> None:
    rig.seed(days=2)
    second: list[Any] = []

    class RunAnotherDuringUpload:
        """While the first run uploads (its lease is live), a second full run starts and must back off."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def upload(self, spooled: Any, **conditions: Any) -> int:
            if not second:
                second.append(rig.run())
            return int(self._inner.upload(spooled, **conditions))

        def delete(self, keys: list[str]) -> None:
            self._inner.delete(keys)

    first = rig.run(wrap=lambda deps: dataclasses.replace(deps, archive=RunAnotherDuringUpload(deps.archive)))
    expect_complete(first)
    expect_skipped(second[0])
    assert rig.reconcile().ok


@pytest.mark.parametrize(
    ("stalled_upload", "successor_runs", "message"),
    [
        (1, True, "changed under this run"),  # the successor created the key the zombie PUTs
        (2, True, "changed under this run"),  # the successor replaced the object the zombie wrote first
        (1, False, "outlived its lease"),  # nobody took over yet: the run stops itself
    ],
)
def test_a_run_that_outlives_its_lease_can_neither_overwrite_nor_commit_over_its_successor(
    rig: Rig, stalled_upload: int, successor_runs: bool, message: str
) -> None:
    # Given a run that writes several partitions and stalls in one of its uploads past its lease,
    rig.seed(days=3)
    successor: list[Any] = []

    class StallPastTheLease:
        """The stall: time jumps past the lease and, optionally, a successor run takes over (adopts, writes,
        commits) before the stalled run's PUT reaches S3."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self.calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def upload(self, spooled: Any, **conditions: Any) -> int:
            self.calls += 1
            if self.calls == stalled_upload:
                rig.clock.advance(timedelta(minutes=20))
                if successor_runs:
                    add_recent(rig, 5, seed=77)  # arrivals only the successor sees
                    successor.append(rig.run())
                    successor.append(rig.harness.read_archive().num_rows)
            return int(self._inner.upload(spooled, **conditions))

    stalled = rig.run(wrap=lambda deps: dataclasses.replace(deps, archive=StallPastTheLease(deps.archive)))
    # then the stalled run fails, without touching what a successor wrote or committed,
    assert isinstance(stalled, Exception), repr(stalled)
    assert message in str(stalled), str(stalled)
    if successor_runs:
        expect_complete(successor[0])
        assert rig.harness.read_archive().num_rows == successor[1]
        assert rig.reconcile().ok, rig.reconcile().summary()
    # and after clean runs the archive is exact: nothing lost, nothing doubled.
    rig.settle()
    assert rig.reconcile().ok, rig.reconcile().summary()


def test_overlapping_run_that_commits_first_makes_the_other_lose_cleanly(rig: Rig) -> None:
    rig.seed(days=2)
    second: list[Any] = []

    class RunAnotherAfterLoad:
        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self.location = inner.location

        def load(self) -> Any:
            loaded = self._inner.load()
            if not second:
                second.append(rig.run())
            return loaded

        def save(self, checkpoint: Any, *, etag: str | None) -> str:
            return str(self._inner.save(checkpoint, etag=etag))

    first = rig.run(
        wrap=lambda deps: dataclasses.replace(deps, checkpoints=RunAnotherAfterLoad(deps.checkpoints))
    )
    expect_complete(second[0])
    expect_skipped(first)
    assert rig.reconcile().ok
