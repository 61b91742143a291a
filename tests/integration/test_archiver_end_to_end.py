"""The archiver end to end: real handler, real protocol servers, the archive and the events read back."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import LocalAws
from emulation.hook_results_api import EmulatedHookResult
from emulation.synthetic_history import synthetic_results
from tests.integration.conftest import failed_ids, seed_history, terminal_ids
from tests.simulated_crash import CrashOnCommit, SimulatedCrash


def event_ids(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event["detail"]["hook_result_id"] for event in events)


def test_backfill_over_many_pages_archives_every_terminal_result_once_with_its_fields(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    history = seed_history(aws, days=10, per_day=30)
    report = archiver.run()
    table = archiver.read_archive()
    ids = table.column("hook_result_id").to_pylist()
    assert report["pages"] >= 12
    assert len(ids) == len(set(ids)) == len(terminal_ids(aws)) == report["archived"]
    assert set(ids) == terminal_ids(aws)
    rows = {row["hook_result_id"]: row for row in table.to_pylist()}
    for expected in history[::37]:
        row = rows[expected.hook_result_id]
        assert row["status"] == expected.status
        assert row["type_name"] == expected.type_name
        assert row["type_arn"] == expected.type_arn
        assert row["failure_mode"] == expected.failure_mode
        assert row["hook_status_reason"] == expected.hook_status_reason
        assert row["target_type"] == expected.target_type
        assert row["target_id"] == expected.target_id
        assert row["hook_execution_target"] == expected.hook_execution_target
        assert row["invoked_at"] == expected.invoked_at.replace(
            microsecond=expected.invoked_at.microsecond // 1000 * 1000
        )
        assert row["dt"] == expected.invoked_at.date().isoformat()
        assert row["account_id"] == "123456789012"
        assert row["region"] == "us-east-1"
    # One object per touched partition for the run.
    assert Counter(table.column("dt").to_pylist()).keys() == {
        key.split("dt=")[1][:10] for key in archiver.object_keys()
    }
    assert len(archiver.object_keys()) == len(set(table.column("dt").to_pylist()))
    assert event_ids(aws.receive_events()) == Counter(failed_ids(aws))


def test_second_run_with_nothing_new_writes_no_object_and_emits_no_event(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=3, per_day=20)
    archiver.run()
    keys = archiver.object_keys()
    aws.receive_events()
    report = archiver.run()
    assert report["archived"] == 0
    assert report["objects_written"] == 0
    assert archiver.object_keys() == keys
    assert aws.receive_events() == []


def test_new_results_between_runs_are_archived_in_their_partitions(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=3, per_day=20)
    archiver.run()
    now = datetime.now(UTC)
    new = synthetic_results(start=now - timedelta(minutes=30), end=now, count=40, seed=9)
    aws.emulator.add(*new)
    report = archiver.run()
    assert report["archived"] == 40
    rows = {row["hook_result_id"]: row for row in archiver.read_archive().to_pylist()}
    for result in new:
        assert rows[result.hook_result_id]["dt"] == result.invoked_at.date().isoformat()
    assert len(rows) == len(terminal_ids(aws))


def test_in_progress_invocation_is_archived_once_in_its_final_status_with_one_event(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=2, per_day=20)
    now = datetime.now(UTC)
    running = dataclasses.replace(
        synthetic_results(start=now - timedelta(minutes=5), end=now, count=1, seed=4)[0],
        status="HOOK_IN_PROGRESS",
        hook_status_reason=None,
    )
    aws.emulator.add(running)
    first = archiver.run()
    assert first["deferred_in_progress"] == 1
    assert running.hook_result_id not in set(archiver.read_archive().column("hook_result_id").to_pylist())
    aws.receive_events()
    aws.emulator.set_status(running.hook_result_id, "HOOK_COMPLETE_FAILED", "Guard rule S3_BUCKET_SSE failed")
    second = archiver.run()
    third = archiver.run()
    table = archiver.read_archive()
    matches = [row for row in table.to_pylist() if row["hook_result_id"] == running.hook_result_id]
    assert [row["status"] for row in matches] == ["HOOK_COMPLETE_FAILED"]
    assert second["archived"] == 1
    assert third["archived"] == 0
    assert event_ids(aws.receive_events()) == Counter({running.hook_result_id: 1})


def test_newest_first_steady_state_stops_one_page_after_the_new_results(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=10, per_day=30)
    archiver.run()  # backfill: proves the order
    now = datetime.now(UTC)
    aws.emulator.add(*synthetic_results(start=now - timedelta(minutes=10), end=now, count=30, seed=5))
    aws.emulator.reset_calls()
    report = archiver.run()
    assert report["archived"] == 30
    assert report["stopped_early"] is True
    assert aws.emulator.call_count("ListHookResults") <= -(-30 // 25) + 1
    assert len(archiver.read_archive()) == len(terminal_ids(aws))


def test_shuffled_order_scans_everything_and_stays_complete(aws: LocalAws, archiver: ArchiverHarness) -> None:
    aws.emulator.order = "shuffled"
    seed_history(aws, days=6, per_day=25)
    first = archiver.run()
    now = datetime.now(UTC)
    aws.emulator.add(*synthetic_results(start=now - timedelta(minutes=10), end=now, count=20, seed=6))
    second = archiver.run()
    assert first["out_of_order"] is True
    assert second["stopped_early"] is False
    assert second["pages"] == -(-(150 + 20) // 25)
    ids = archiver.read_archive().column("hook_result_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == terminal_ids(aws)


def test_crash_after_parquet_write_before_commit_then_rerun_loses_and_duplicates_nothing(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=5, per_day=30)
    real = archiver.real_dependencies()
    crashing = dataclasses.replace(real, checkpoints=CrashOnCommit(real.checkpoints))
    with pytest.raises(SimulatedCrash):
        archiver.run(dependencies=crashing)
    written_by_crashed_run = archiver.object_keys()
    assert written_by_crashed_run
    # New results arrive meanwhile, so the retry does not see exactly what the crashed run saw.
    now = datetime.now(UTC)
    aws.emulator.add(*synthetic_results(start=now - timedelta(minutes=3), end=now, count=7, seed=8))
    # The dead run's lease must lapse before anyone touches its objects.
    blocked = archiver.run()
    assert blocked["status"] == "skipped_run_in_progress"
    later = dataclasses.replace(real, clock_ms=lambda: real.clock_ms() + 20 * 60_000)
    archiver.run(dependencies=later)
    ids = archiver.read_archive().column("hook_result_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == terminal_ids(aws)
    assert archiver.checkpoint()["intent"] is None


def test_time_budget_running_out_mid_history_commits_cleanly_and_later_runs_finish(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=20, per_day=40)
    aws.emulator.inject(kind="slow", delay=0.15, times=None)
    archiver.settings["TIME_SAFETY_MARGIN_SECONDS"] = "1"
    first = archiver.run(timeout_seconds=2.5)
    assert first["status"] == "partial_time_budget"
    assert 0 < first["archived"] < len(terminal_ids(aws))
    assert archiver.checkpoint()["intent"] is None
    assert archiver.checkpoint()["scan"]["next_token"]
    # Every run stays slow and short: each resumes the scan where the last one stopped.
    runs = [first]
    while runs[-1]["status"] != "complete" and len(runs) < 12:
        runs.append(archiver.run(timeout_seconds=2.5))
    assert runs[-1]["status"] == "complete"
    assert sum(run["pages"] for run in runs) == -(-800 // 25)
    ids = archiver.read_archive().column("hook_result_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == terminal_ids(aws)
    assert event_ids(aws.receive_events()).keys() == failed_ids(aws)


def test_throttling_and_server_errors_are_retried_without_loss(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=4, per_day=30)
    aws.emulator.inject(kind="throttle", times=3)
    aws.emulator.inject(kind="internal_error", times=1, after_calls=2)
    aws.emulator.inject(kind="unavailable", times=1, after_calls=4)
    report = archiver.run()
    assert report["status"] == "complete"
    ids = archiver.read_archive().column("hook_result_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == terminal_ids(aws)
    statuses = Counter(call.status for call in aws.emulator.calls if call.operation == "ListHookResults")
    assert statuses[400] == 3
    assert statuses[500] == 1
    assert statuses[503] == 1


class PartiallyFailingEvents:
    """EventBridge client that fails the given entries once, with the given codes, and records each call."""

    def __init__(self, inner: Any, failures: dict[int, str]) -> None:
        self._inner = inner
        self._failures = dict(failures)
        self.calls: list[list[str]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # boto3's name
        self.calls.append([entry["Detail"] for entry in Entries])
        forwarded: list[dict[str, Any]] = []
        results: list[dict[str, str]] = []
        for entry in Entries:
            number = sum(len(call) for call in self.calls[:-1]) + len(results)
            code = self._failures.pop(number, None)
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                forwarded.append(entry)
                results.append({"EventId": "pending"})
        if forwarded:
            self._inner.put_events(Entries=forwarded)
        return {"FailedEntryCount": sum(1 for item in results if "ErrorCode" in item), "Entries": results}


def test_put_events_partial_failure_resends_only_the_failed_retryable_entries(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=4, per_day=30)
    from hook_archive.dal.event_publisher import EventBridgePublisher  # noqa: PLC0415

    real = archiver.real_dependencies()
    flaky = PartiallyFailingEvents(aws.client("events"), {1: "ThrottlingException", 4: "InternalException"})
    # One worker, so the calls arrive in a known order.
    publisher = EventBridgePublisher(bus_name=aws.bus_name, client=flaky, workers=1, sleep=lambda _: None)  # type: ignore[arg-type]
    report = archiver.run(dependencies=dataclasses.replace(real, events=publisher))
    assert report["events_failed"] == 0
    assert all(len(call) <= 10 for call in flaky.calls)
    retried = flaky.calls[1]
    assert retried == [flaky.calls[0][1], flaky.calls[0][4]]
    assert event_ids(aws.receive_events()) == Counter(failed_ids(aws))


def test_bad_environment_variable_fails_cold_start_naming_it(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    from hook_archive.errors import ConfigError  # noqa: PLC0415

    archiver.settings["LATE_ARRIVAL_WINDOW_SECONDS"] = "soon"
    with pytest.raises(ConfigError, match=r"LATE_ARRIVAL_WINDOW_SECONDS.*'soon'"):
        archiver.run()
    archiver.settings.pop("LATE_ARRIVAL_WINDOW_SECONDS")
    archiver.settings["EVENT_SOURCE"] = "aws.cloudformation"
    with pytest.raises(ConfigError, match="EVENT_SOURCE"):
        archiver.run()


def test_unknown_enum_values_and_missing_optional_fields_are_stored(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    now = datetime.now(UTC)
    base = synthetic_results(start=now - timedelta(minutes=20), end=now, count=3, seed=11)
    odd: list[EmulatedHookResult] = [
        dataclasses.replace(base[0], status="HOOK_SOMETHING_NEW", failure_mode="AUDIT"),
        dataclasses.replace(
            base[1], omitted_fields=frozenset({"HookStatusReason", "TypeVersionId", "FailureMode"})
        ),
        dataclasses.replace(base[2], target_type="NEW_TARGET_KIND", hook_status_reason="<&> ünïcödé 🚀"),
    ]
    aws.emulator.add(*odd)
    report = archiver.run()
    assert report["archived"] == 3
    rows = {row["hook_result_id"]: row for row in archiver.read_archive().to_pylist()}
    assert rows[odd[0].hook_result_id]["status"] == "HOOK_SOMETHING_NEW"
    assert rows[odd[0].hook_result_id]["failure_mode"] == "AUDIT"
    assert rows[odd[1].hook_result_id]["hook_status_reason"] is None
    assert rows[odd[1].hook_result_id]["type_version_id"] is None
    assert rows[odd[2].hook_result_id]["target_type"] == "NEW_TARGET_KIND"
    assert rows[odd[2].hook_result_id]["hook_status_reason"] == "<&> ünïcödé 🚀"
