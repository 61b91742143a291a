"""Fleet health's pure logic: staleness, what each archiver's row says, and the fleet's summary."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fleet_health.errors import CheckpointGoneError, CheckpointReadError
from fleet_health.logic.fleet_check import FleetCheckDependencies, age_hours, check_fleet, is_stale
from tests.unit.fleet_health_fakes import MemoryCheckpoints

HOUR_MS = 3_600_000
NOW_MS = 1_780_000_000_000
PREFIX = "hook-results"


def key(account: str, region: str) -> str:
    return f"{PREFIX}/_state/{account}/{region}/checkpoint.json"


def checkpoint(account: str, region: str, **fields: object) -> bytes:
    document = {
        "format": "cfn-hook-archive/checkpoint",
        "version": 2,
        "account_id": account,
        "region": region,
    }
    return json.dumps({**document, **fields}).encode()


def run_check(source: MemoryCheckpoints, *, stale_after_hours: float = 3.0) -> dict[str, Any]:
    deps = FleetCheckDependencies(checkpoints=source, clock_ms=lambda: NOW_MS)
    return check_fleet(deps, archive_prefix=PREFIX, stale_after_hours=stale_after_hours).as_dict()


@given(
    threshold_ms=st.integers(min_value=1, max_value=90 * 24 * HOUR_MS),
    offset_ms=st.integers(min_value=-HOUR_MS, max_value=HOUR_MS),
)
def test_an_archiver_is_stale_exactly_from_the_threshold_on(threshold_ms: int, offset_ms: int) -> None:
    last_commit_ms = NOW_MS - threshold_ms - offset_ms
    stale = is_stale(last_commit_ms=last_commit_ms, now_ms=NOW_MS, stale_after_ms=threshold_ms)
    assert stale == (offset_ms >= 0)


@given(ahead_ms=st.integers(min_value=0, max_value=10 * HOUR_MS))
def test_a_commit_stamped_in_the_future_by_clock_skew_is_fresh_with_age_zero(ahead_ms: int) -> None:
    assert not is_stale(last_commit_ms=NOW_MS + ahead_ms, now_ms=NOW_MS, stale_after_ms=1)
    assert age_hours(last_commit_ms=NOW_MS + ahead_ms, now_ms=NOW_MS) == 0


@given(ages_hours=st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), max_size=30))
def test_the_summary_counts_and_names_exactly_the_archivers_past_the_threshold(
    ages_hours: list[float],
) -> None:
    source = MemoryCheckpoints()
    for index, age in enumerate(ages_hours):
        account = f"{index:012d}"
        updated = NOW_MS - int(age * HOUR_MS)
        source.put(
            key(account, "us-east-1"),
            checkpoint(account, "us-east-1", updated_at_ms=updated),
            last_modified_ms=NOW_MS,
        )
    report = run_check(source)
    expected = sorted(
        f"{i:012d}/us-east-1" for i, age in enumerate(ages_hours) if int(age * HOUR_MS) >= 3 * HOUR_MS
    )
    assert report["archivers_seen"] == len(ages_hours)
    assert report["stale"] == expected
    assert report["stale_archivers"] == len(expected)


def test_last_commit_falls_back_to_last_modified_when_the_checkpoint_has_no_updated_at() -> None:
    source = MemoryCheckpoints()
    source.put(
        key("111111111111", "eu-west-1"),
        checkpoint("111111111111", "eu-west-1"),
        last_modified_ms=NOW_MS - 4 * HOUR_MS,
    )
    source.put(
        key("222222222222", "eu-west-1"),
        checkpoint("222222222222", "eu-west-1", updated_at_ms=NOW_MS - 4 * HOUR_MS),
        last_modified_ms=NOW_MS,  # an intent written since: not a commit
    )
    rows = run_check(source)["archivers"]
    assert isinstance(rows, list)
    assert [(row["last_commit_source"], row["stale"], row["age_hours"]) for row in rows] == [
        ("last_modified", True, 4.0),
        ("updated_at", True, 4.0),
    ]


def test_lease_outbox_and_open_scan_are_reported_from_the_checkpoint() -> None:
    source = MemoryCheckpoints()
    body = checkpoint(
        "111111111111",
        "eu-west-1",
        sequence=7,
        updated_at_ms=NOW_MS - HOUR_MS,
        outbox=[{"hook_result_id": f"r{i}", "detail": "{}", "attempts": 1} for i in range(3)],
        scan={"next_token": "t", "results_seen": 40, "out_of_order": False},
        intent={"run_id": "run-1", "sequence": 8, "object_keys": [], "lease_expires_ms": NOW_MS + 60_000},
        some_future_field={"ignored": True},
    )
    source.put(key("111111111111", "eu-west-1"), body, last_modified_ms=NOW_MS)
    (row,) = run_check(source)["archivers"]
    assert row == row | {
        "status": "ok",
        "stale": False,
        "sequence": 7,
        "lease_holder": "run-1",
        "lease_expires_ms": NOW_MS + 60_000,
        "lease_live": True,
        "outbox": 3,
        "scan_open": True,
        "scan_results_seen": 40,
        "age_hours": 1.0,
    }


def test_a_malformed_checkpoint_is_its_own_finding_and_the_others_are_still_checked() -> None:
    source = MemoryCheckpoints()
    source.put(
        key("111111111111", "eu-west-1"),
        b'{"format": "cfn-hook-archive/checkpoint", "acc',
        last_modified_ms=NOW_MS,
    )
    source.put(key("222222222222", "eu-west-1"), b'{"format": "something-else"}', last_modified_ms=NOW_MS)
    source.put(
        key("333333333333", "eu-west-1"),
        checkpoint("333333333333", "eu-west-1", updated_at_ms=NOW_MS),
        last_modified_ms=NOW_MS,
    )
    report = run_check(source)
    rows = report["archivers"]
    assert isinstance(rows, list)
    assert [row["status"] for row in rows] == ["malformed", "malformed", "ok"]
    assert all(row["problem"] for row in rows[:2])
    # The archiver refuses to run on a malformed checkpoint: it has stopped, so it counts as stale.
    assert report["stale"] == ["111111111111/eu-west-1", "222222222222/eu-west-1"]


def test_a_checkpoint_claiming_another_account_than_its_key_is_reported_malformed() -> None:
    source = MemoryCheckpoints()
    source.put(
        key("111111111111", "eu-west-1"),
        checkpoint("999999999999", "eu-west-1", updated_at_ms=NOW_MS),
        last_modified_ms=NOW_MS,
    )
    (row,) = run_check(source)["archivers"]
    assert row["status"] == "malformed"
    assert "999999999999/eu-west-1" in row["problem"]


def test_an_unreadable_checkpoint_is_reported_and_one_deleted_since_the_listing_is_skipped() -> None:
    source = MemoryCheckpoints()
    denied = CheckpointReadError(
        "reading checkpoint s3://b/k failed: AccessDenied", error_code="AccessDenied"
    )
    source.put(key("111111111111", "eu-west-1"), denied, last_modified_ms=NOW_MS)
    gone = CheckpointGoneError("checkpoint s3://b/k is gone", error_code="NoSuchKey")
    source.put(key("222222222222", "eu-west-1"), gone, last_modified_ms=NOW_MS)
    report = run_check(source)
    rows = report["archivers"]
    assert isinstance(rows, list)
    assert [(row["account_id"], row["status"]) for row in rows] == [("111111111111", "unreadable")]
    assert "AccessDenied" in rows[0]["problem"]
    assert report["stale_archivers"] == 1


def test_only_checkpoint_keys_are_read_known_ids_and_stray_objects_are_ignored() -> None:
    source = MemoryCheckpoints()
    source.put(
        key("111111111111", "eu-west-1"), checkpoint("111111111111", "eu-west-1"), last_modified_ms=NOW_MS
    )
    for stray in (
        f"{PREFIX}/_state/111111111111/eu-west-1/known-ids/{'a' * 64}.bin",
        f"{PREFIX}/_state/111111111111/checkpoint.json",
        f"{PREFIX}/_state/111111111111/eu-west-1/old/checkpoint.json",
        f"{PREFIX}/dt=2026-01-01/111111111111-eu-west-1-000000000001.parquet",
        "other/_state/111111111111/eu-west-1/checkpoint.json",
    ):
        source.put(stray, b"not json", last_modified_ms=NOW_MS)
    report = run_check(source)
    assert report["archivers_seen"] == 1
    assert source.reads == [key("111111111111", "eu-west-1")]


def test_archivers_whose_last_audit_repaired_any_within_24_hours_are_counted() -> None:
    source = MemoryCheckpoints()
    audits: dict[str, dict[str, object] | None] = {
        "111111111111": {
            "next_due_ms": NOW_MS,
            "last_completed_ms": NOW_MS - 2 * HOUR_MS,
            "last_repaired": 3,
        },
        "222222222222": {
            "next_due_ms": NOW_MS,
            "last_completed_ms": NOW_MS - 2 * HOUR_MS,
            "last_repaired": 0,
        },
        "333333333333": {
            "next_due_ms": NOW_MS,
            "last_completed_ms": NOW_MS - 25 * HOUR_MS,
            "last_repaired": 5,
        },
        "444444444444": None,  # a checkpoint from before the audit existed
        # An archiver from before last_repaired was recorded, and one whose audit in progress found some:
        # only a completed audit's count is read.
        "555555555555": {"next_due_ms": NOW_MS, "last_completed_ms": NOW_MS - HOUR_MS},
        "666666666666": {
            "next_due_ms": NOW_MS,
            "last_completed_ms": NOW_MS - 3 * HOUR_MS,
            "last_repaired": 0,
            "started_ms": NOW_MS - HOUR_MS,
            "repaired": 4,
        },
        # Exactly 24 hours ago: the window is over.
        "777777777777": {
            "next_due_ms": NOW_MS,
            "last_completed_ms": NOW_MS - 24 * HOUR_MS,
            "last_repaired": 1,
        },
    }
    for account, audit in audits.items():
        fields: dict[str, object] = {"updated_at_ms": NOW_MS} | ({"audit": audit} if audit else {})
        source.put(
            key(account, "eu-west-1"), checkpoint(account, "eu-west-1", **fields), last_modified_ms=NOW_MS
        )
    report = run_check(source)
    assert report["audit_repairs"] == ["111111111111/eu-west-1"]
    assert report["archivers_with_audit_repairs"] == 1
    rows = {row["account_id"]: row for row in report["archivers"]}
    assert (rows["111111111111"]["audit_repaired"], rows["111111111111"]["audit_completed_ms"]) == (
        3,
        NOW_MS - 2 * HOUR_MS,
    )
    assert (rows["444444444444"]["audit_repaired"], rows["444444444444"]["audit_completed_ms"]) == (
        None,
        None,
    )
    assert (rows["555555555555"]["audit_repaired"], rows["666666666666"]["audit_repaired"]) == (None, 0)


def test_a_checkpoint_that_cannot_be_read_counts_no_audit_repairs() -> None:
    source = MemoryCheckpoints()
    source.put(key("111111111111", "eu-west-1"), b"{not json", last_modified_ms=NOW_MS)
    report = run_check(source)
    assert (report["archivers_with_audit_repairs"], report["audit_repairs"]) == (0, [])
