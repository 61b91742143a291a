"""The curator's pure logic: planning, merging, maintenance decisions, events and config. No sockets."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from curator.errors import ConfigError
from curator.logic.ingest_plan import (
    colliding_ids,
    commit_summary,
    held_elsewhere,
    listing_fingerprint,
    listing_summary,
    merge_incoming,
    plan_day,
    plan_ingest,
    scheduled_window,
    superseding_candidates,
    superseding_objects,
    unchanged_days,
    with_superseding,
    without_ids,
)
from curator.logic.maintenance import (
    day_end_ms,
    days_to_compact,
    expirable_snapshots,
    files_wanted,
    is_closed,
    maintenance_due,
    orphan_files,
)
from curator.logic.requests import request_from_event
from curator.models.config import CuratorConfig
from curator.models.plan import (
    DayFiles,
    DayWindow,
    RecordedDay,
    SnapshotEntry,
    SnapshotHistory,
    StoredFile,
)
from curator.models.raw_archive import RawObject

pytestmark = pytest.mark.disable_socket

DAY = date(2026, 3, 10)
HOUR = 3_600_000


def obj(key: str, etag: str = "e1", day: date = DAY) -> RawObject:
    return RawObject(day=day, key=f"p/dt={day.isoformat()}/{key}", etag=etag)


def test_plan_day_adds_new_keys_replaces_changed_etags_and_keeps_the_rows_of_vanished_keys() -> None:
    recorded = RecordedDay(objects={obj("a").key: "e1", obj("b").key: "e1", obj("c").key: "e1"})
    plan = plan_day(DAY, [obj("a"), obj("b", "e2"), obj("d")], recorded)
    assert plan.add == (obj("d"),)
    assert plan.replace == (obj("b", "e2"),)
    assert plan.vanished == (obj("c").key,)
    # an expired raw object is not a retraction: only the rewritten key's rows are deleted
    assert plan.keys_to_delete == (obj("b").key,)


def test_a_day_expired_whole_plans_nothing_and_reads_nothing() -> None:
    recorded = RecordedDay(objects={obj("a").key: "e1"}, ids={"id-1": obj("a").key})
    plan = plan_day(DAY, [], recorded)
    assert plan.empty
    assert plan.vanished == (obj("a").key,)
    assert superseding_candidates(plan, [], recorded) == []


def test_an_object_delivering_ids_of_a_vanished_key_is_read_again_and_replaces_them() -> None:
    # Given a dead run's leftover (c) whose rows the table holds, deleted by the adopting run, and a
    # committed object (a) holding one of them, beside an unrelated one (b)
    recorded = RecordedDay(
        objects={obj("a").key: "e1", obj("b").key: "e1", obj("c").key: "e1"},
        ids={"id-1": obj("c").key, "id-2": obj("a").key, "id-3": obj("b").key, "id-4": obj("c").key},
    )
    plan = plan_day(DAY, [obj("a"), obj("b")], recorded)
    assert plan.empty
    assert superseding_candidates(plan, [obj("a"), obj("b")], recorded) == [obj("a"), obj("b")]
    superseding = superseding_objects(plan, recorded, {obj("a"): ["id-1", "id-2"], obj("b"): ["id-3"]})
    # Then only (a) is read again: its rows replace the held id-1; id-4, found nowhere, stays
    assert superseding == (obj("a"),)
    assert with_superseding(plan, superseding).keys_to_delete == (obj("a").key,)


def test_plan_day_of_an_unchanged_day_is_empty() -> None:
    recorded = RecordedDay(objects={obj("a").key: "e1"})
    assert plan_day(DAY, [obj("a")], recorded).empty


def test_plan_stops_before_the_day_that_would_exceed_the_budget_and_marks_the_last_whole_day() -> None:
    days = [DAY + timedelta(days=offset) for offset in range(3)]
    listed = {day: [obj(f"{n}", day=day) for n in range(2)] for day in days}
    plan = plan_ingest(listed, {}, window=DayWindow(), max_objects=3, scheduled=True)
    assert [day.day for day in plan.days] == days[:1]
    assert plan.mark == days[0]


def test_plan_always_takes_a_first_day_bigger_than_the_budget_whole() -> None:
    listed = {DAY: [obj(f"{n}") for n in range(5)]}
    plan = plan_ingest(listed, {}, window=DayWindow(), max_objects=2, scheduled=True)
    assert len(plan.to_read) == 5


def test_plan_covers_recorded_days_with_nothing_listed_only_inside_the_window() -> None:
    old = DAY - timedelta(days=5)
    recorded = {old: RecordedDay(objects={obj("a", day=old).key: "e1"}), DAY: RecordedDay()}
    inside = plan_ingest({}, recorded, window=DayWindow(), max_objects=10, scheduled=False)
    # a full run sees the expired day's key vanished, and keeps its rows
    assert [day.vanished for day in inside.days if day.day == old] == [(obj("a", day=old).key,)]
    assert inside.keys_to_delete == ()
    assert inside.empty
    outside = plan_ingest({}, recorded, window=DayWindow(start=DAY), max_objects=10, scheduled=False)
    assert outside.empty


def test_unscheduled_plans_never_move_the_mark() -> None:
    plan = plan_ingest({DAY: [obj("a")]}, {}, window=DayWindow(), max_objects=10, scheduled=False)
    assert plan.mark is None


def test_scheduled_window_starts_lookback_days_before_the_mark_or_takes_everything() -> None:
    assert scheduled_window(None, lookback_days=2) == DayWindow()
    assert scheduled_window(DAY, lookback_days=2) == DayWindow(start=DAY - timedelta(days=2))
    assert DAY - timedelta(days=2) in scheduled_window(DAY, lookback_days=2)
    assert DAY - timedelta(days=3) not in scheduled_window(DAY, lookback_days=2)


def _rows(*pairs: tuple[str, str]) -> pa.Table:
    return pa.table({"hook_result_id": [p[0] for p in pairs], "raw_object_key": [p[1] for p in pairs]})


def test_merge_keeps_one_row_per_id_the_last_object_read_winning() -> None:
    merged = merge_incoming(
        [_rows(("1", "a"), ("2", "a")), _rows(("2", "b"), ("3", "b"))], one_row_per_id=True
    )
    assert sorted(zip(*merged.to_pydict().values(), strict=True)) == [("1", "a"), ("2", "b"), ("3", "b")]


def test_merge_of_annotations_keeps_every_row_of_an_id_from_the_last_object_holding_it() -> None:
    # Annotations: several rows per id, all from one object. Object b rewrote id 2 with three annotations;
    # a's two rows of 2 go, b's three stay, and nothing of 1 or 3 is lost.
    a = _rows(("1", "a"), ("1", "a"), ("2", "a"), ("2", "a"))
    b = _rows(("2", "b"), ("2", "b"), ("2", "b"), ("3", "b"))
    merged = merge_incoming([a, b], one_row_per_id=False)
    assert sorted(zip(*merged.to_pydict().values(), strict=True)) == [
        ("1", "a"),
        ("1", "a"),
        ("2", "b"),
        ("2", "b"),
        ("2", "b"),
        ("3", "b"),
    ]
    # The results' rule on the same rows would keep one row of each id: the annotations' rule is not it.
    assert merge_incoming([a, b], one_row_per_id=True).num_rows == 3


def test_colliding_ids_are_those_held_under_a_key_that_stays() -> None:
    recorded = {DAY: RecordedDay(objects={"a": "e", "b": "e"}, ids={"1": "a", "2": "b"})}
    incoming = _rows(("1", "c"), ("2", "c"), ("3", "c"))
    assert colliding_ids(incoming, recorded, keys_deleted=["b"]) == {"1"}


def test_an_id_held_under_a_listed_object_keeps_its_row_and_the_incoming_one_is_dropped() -> None:
    recorded = {DAY: RecordedDay(objects={"a": "e", "b": "e", "v": "e"}, ids={"1": "a", "2": "b", "4": "v"})}
    incoming = _rows(("1", "c"), ("2", "c"), ("3", "c"), ("4", "c"))
    # a is listed and stays: its row of 1 is kept; b is rewritten by this commit; v has vanished
    kept = held_elsewhere(incoming, recorded, keys_deleted=["b"], keys_listed=["a", "b", "c"])
    assert kept == {"1"}
    remaining = without_ids(incoming, kept)
    assert remaining.column("hook_result_id").to_pylist() == ["2", "3", "4"]
    # v's row of 4 is replaced by the incoming one (the archiver moved it there)
    assert colliding_ids(remaining, recorded, keys_deleted=["b"]) == {"4"}


def test_commit_summary_counts_and_fingerprints_the_objects_read() -> None:
    plan = plan_ingest({DAY: [obj("a"), obj("b")]}, {}, window=DayWindow(), max_objects=9, scheduled=True)
    summary = commit_summary(plan, read=[obj("a"), obj("b")], rows=7)
    reordered = commit_summary(plan, read=[obj("b"), obj("a")], rows=7)
    other = commit_summary(plan, read=[obj("a"), obj("b", "e2")], rows=7)
    assert summary["cfn-hook-archive.raw-objects-added"] == "2"
    assert summary["cfn-hook-archive.rows"] == "7"
    assert summary == reordered
    assert summary["cfn-hook-archive.raw-objects-sha256"] != other["cfn-hook-archive.raw-objects-sha256"]


def test_a_listing_fingerprint_changes_with_a_new_object_a_new_etag_or_a_vanished_key_not_the_order() -> None:
    listing = [obj("a"), obj("b")]
    same = listing_fingerprint(listing)
    assert listing_fingerprint(list(reversed(listing))) == same
    assert listing_fingerprint([*listing, obj("c")]) != same
    assert listing_fingerprint([obj("a"), obj("b", "e2")]) != same
    assert listing_fingerprint([obj("a")]) != same


def test_only_a_day_listed_as_the_current_snapshot_records_it_is_unchanged() -> None:
    yesterday = DAY - timedelta(days=1)
    listed = {yesterday: [obj("a", day=yesterday)], DAY: [obj("b"), obj("c")]}
    plan = plan_ingest(listed, {}, window=DayWindow(), max_objects=9, scheduled=True)
    summary = listing_summary(plan, listed)
    assert unchanged_days(listed, summary) == {yesterday, DAY}
    # Given today's listing moves on: only yesterday stays skipped
    moved = {**listed, DAY: [obj("b"), obj("c", "e2")]}
    assert unchanged_days(moved, summary) == {yesterday}
    # A snapshot without the record (a compaction's, another writer's) or a malformed one skips nothing
    assert unchanged_days(listed, {"cfn-hook-archive.operation": "compact"}) == set()
    assert unchanged_days(listed, {"cfn-hook-archive.listing.not-a-day": "x"}) == set()


def test_an_unchanged_day_plans_nothing_reads_nothing_and_still_moves_the_mark() -> None:
    yesterday = DAY - timedelta(days=1)
    listed = {yesterday: [obj("a", day=yesterday)], DAY: [obj("b")]}
    # Yesterday's record was not read (skipped): without `unchanged` it would look wholly new
    plan = plan_ingest(
        listed, {}, window=DayWindow(), max_objects=9, scheduled=True, unchanged=frozenset({yesterday})
    )
    assert [day.day for day in plan.days] == [yesterday, DAY]
    assert plan.days[0].empty
    assert plan.to_read == (obj("b"),)
    assert plan.mark == DAY
    # The commit still vouches for yesterday's listing: the next run skips it again
    assert set(listing_summary(plan, listed)) == {
        f"cfn-hook-archive.listing.{yesterday.isoformat()}",
        f"cfn-hook-archive.listing.{DAY.isoformat()}",
    }


def test_maintenance_is_due_once_the_interval_has_passed_or_never_ran() -> None:
    interval = 60 * 60_000
    assert maintenance_due(None, now_ms=10 * HOUR, interval_ms=interval)
    assert not maintenance_due(10 * HOUR, now_ms=10 * HOUR + interval - 1, interval_ms=interval)
    assert maintenance_due(10 * HOUR, now_ms=10 * HOUR + interval, interval_ms=interval)
    assert maintenance_due(10 * HOUR, now_ms=10 * HOUR, interval_ms=0)
    # A time in the future would stop maintenance for good: it counts as due
    assert maintenance_due(11 * HOUR, now_ms=10 * HOUR, interval_ms=interval)


def test_a_day_closes_close_after_hours_past_its_end() -> None:
    end = day_end_ms(DAY)
    assert end == int(datetime(2026, 3, 11, tzinfo=UTC).timestamp() * 1000)
    assert not is_closed(DAY, now_ms=end + 3 * HOUR - 1, close_after_hours=3)
    assert is_closed(DAY, now_ms=end + 3 * HOUR, close_after_hours=3)


def test_only_closed_days_with_more_files_than_their_bytes_need_are_compacted() -> None:
    mb = 1024 * 1024
    now = day_end_ms(DAY) + 10 * HOUR
    parts = [
        DayFiles(DAY - timedelta(days=1), files=1, bytes=mb, rows=10),  # compact already
        DayFiles(DAY - timedelta(days=2), files=2, bytes=mb, rows=10),  # a late object
        DayFiles(DAY - timedelta(days=3), files=3, bytes=300 * mb, rows=10),  # big: 3 files are right
        DayFiles(DAY + timedelta(days=1), files=9, bytes=mb, rows=10),  # still open
    ]
    compact = days_to_compact(
        parts, now_ms=now, close_after_hours=3, target_file_bytes=128 * mb, open_day_max_files=0
    )
    assert compact == [DAY - timedelta(days=2)]
    assert files_wanted(0, target_file_bytes=mb) == 1


def test_an_open_day_is_compacted_once_it_holds_more_than_open_day_max_files() -> None:
    mb = 1024 * 1024
    now = day_end_ms(DAY) - 6 * HOUR  # DAY is today, its end 6 hours away
    yesterday = DAY - timedelta(days=1)  # ended 18 hours ago: closed

    def compact(*parts: DayFiles, limit: int) -> list[date]:
        return days_to_compact(
            parts, now_ms=now, close_after_hours=3, target_file_bytes=128 * mb, open_day_max_files=limit
        )

    assert compact(DayFiles(DAY, files=12, bytes=mb, rows=10), limit=12) == []
    assert compact(DayFiles(DAY, files=13, bytes=mb, rows=10), limit=12) == [DAY]
    # 0: open days wait until they close, as before the setting existed
    assert compact(DayFiles(DAY, files=300, bytes=mb, rows=10), limit=0) == []
    # a big open day is left with the files its bytes need, not forced below them
    assert compact(DayFiles(DAY, files=14, bytes=2000 * mb, rows=10), limit=12) == []
    # closed days keep their own rule whatever the limit
    assert compact(DayFiles(yesterday, files=2, bytes=mb, rows=10), limit=12) == [yesterday]


def test_snapshots_expire_by_when_they_were_superseded_not_when_they_were_committed() -> None:
    now = 100 * HOUR
    history = SnapshotHistory(
        snapshots=(SnapshotEntry(1, 0), SnapshotEntry(2, 10 * HOUR), SnapshotEntry(3, 99 * HOUR)),
        log=(SnapshotEntry(1, 0), SnapshotEntry(2, 10 * HOUR), SnapshotEntry(3, 99 * HOUR)),
        current_id=3,
        protected_ids=frozenset({3}),
    )
    # 1 was superseded 90 hours ago; 2, committed 90 hours ago, was current until an hour ago
    assert expirable_snapshots(history, now_ms=now, retention_ms=24 * HOUR) == {1}
    assert expirable_snapshots(history, now_ms=now, retention_ms=HOUR // 2) == {1, 2}


def test_a_snapshot_never_current_expires_by_its_commit_time_and_protected_ones_never() -> None:
    history = SnapshotHistory(
        snapshots=(SnapshotEntry(1, 0), SnapshotEntry(2, HOUR), SnapshotEntry(3, HOUR), SnapshotEntry(4, 0)),
        log=(SnapshotEntry(1, 0), SnapshotEntry(3, HOUR)),
        current_id=3,
        protected_ids=frozenset({3, 4}),
    )
    assert expirable_snapshots(history, now_ms=3 * HOUR, retention_ms=HOUR) == {1, 2}


def test_orphans_are_unreferenced_files_older_than_the_grace() -> None:
    stored = [StoredFile("s3://b/t/a", 0), StoredFile("s3://b/t/b", 0), StoredFile("s3://b/t/c", 95)]
    assert orphan_files(stored, referenced={"s3://b/t/a"}, now_ms=100, grace_ms=10) == ["s3://b/t/b"]


def _sqs(*keys: str) -> dict[str, object]:
    body = {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": key}}} for key in keys]}
    return {"Records": [{"eventSource": "aws:sqs", "body": json.dumps(body)}]}


def test_s3_notifications_through_sqs_ask_for_their_days_only() -> None:
    event = _sqs(
        "hook-results/dt=2026-03-10/a.parquet",
        "hook-results/_state/x",
        "hook-results/dt=2026-03-09/b.parquet",
    )
    request = request_from_event(event, archive_prefix="hook-results")
    assert request.days == frozenset({DAY, DAY - timedelta(days=1)})
    assert not request.expire


def test_schedule_and_full_events() -> None:
    assert request_from_event({"source": "aws.events"}, archive_prefix="p").scheduled
    assert request_from_event({"full": True}, archive_prefix="p").full


ENVIRONMENT = {
    "ARCHIVE_BUCKET": "hook-archive-local",
    "GLUE_DATABASE": "cfn_hook_archive",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
    "POWERTOOLS_SERVICE_NAME": "cfn-hook-archive",
}


def test_config_defaults_put_the_table_beside_the_raw_archive_not_in_it() -> None:
    config = CuratorConfig.from_environ(ENVIRONMENT)
    assert config.maintenance_interval_minutes == 60
    assert config.open_day_max_files == 12
    assert config.table_location == "s3://hook-archive-local/curated/hook_results"
    assert "glue.endpoint" not in config.catalog_properties()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CURATED_LOCATION", "s3://hook-archive-local/hook-results/curated"),
        ("ORPHAN_GRACE_HOURS", "0.1"),
        ("GLUE_DATABASE", "Bad-Name"),
        ("LOOKBACK_DAYS", "-1"),
        ("ARCHIVE_BUCKET_REGION", "Europe"),
        ("MAINTENANCE_INTERVAL_MINUTES", "-5"),
        ("MAINTENANCE_INTERVAL_MINUTES", "1441"),
        ("MAINTENANCE_INTERVAL_MINUTES", "hourly"),
        ("OPEN_DAY_MAX_FILES", "-1"),
        ("OPEN_DAY_MAX_FILES", "a dozen"),
    ],
)
def test_a_bad_variable_fails_the_cold_start_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        CuratorConfig.from_environ({**ENVIRONMENT, variable: value})


def test_the_annotations_table_defaults_beside_the_results_table() -> None:
    config = CuratorConfig.from_environ(ENVIRONMENT)
    assert config.curated_annotations_table == "hook_annotations"
    assert config.annotations_table_location == "s3://hook-archive-local/curated/hook_annotations"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"CURATED_ANNOTATIONS_TABLE": "hook_results"}, "CURATED_ANNOTATIONS_TABLE must be two tables"),
        ({"CURATED_ANNOTATIONS_TABLE": "Hook-Annotations"}, "CURATED_ANNOTATIONS_TABLE: "),
        # inside the raw archive, where the raw tables' projections read
        (
            {"CURATED_ANNOTATIONS_LOCATION": "s3://hook-archive-local/hook-results/annotations/curated"},
            "CURATED_ANNOTATIONS_LOCATION must be outside",
        ),
        # inside the results table's location: its orphan removal would delete the annotations' files
        (
            {"CURATED_ANNOTATIONS_LOCATION": "s3://hook-archive-local/curated/hook_results/annotations"},
            "must not contain one another",
        ),
        (
            {"CURATED_LOCATION": "s3://hook-archive-local/curated/hook_annotations/results"},
            "must not contain one another",
        ),
    ],
)
def test_an_annotations_table_that_would_collide_fails_the_cold_start(
    variables: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        CuratorConfig.from_environ({**ENVIRONMENT, **variables})


def test_s3_calls_are_signed_for_the_bucket_region_when_one_is_named() -> None:
    # Without ARCHIVE_BUCKET_REGION, S3 is the function's region (a bucket of this stack's region)
    assert CuratorConfig.from_environ(ENVIRONMENT).catalog_properties()["s3.region"] == "us-east-1"
    named = CuratorConfig.from_environ({**ENVIRONMENT, "ARCHIVE_BUCKET_REGION": "eu-west-1"})
    assert named.bucket_region == "eu-west-1"
    # pyiceberg's file IO goes to the bucket's region; its Glue catalog stays in the function's
    assert named.catalog_properties() == {"glue.region": "us-east-1", "s3.region": "eu-west-1"}


def test_a_missing_variable_fails_the_cold_start_naming_it() -> None:
    environment = {name: value for name, value in ENVIRONMENT.items() if name != "ARCHIVE_BUCKET"}
    with pytest.raises(ConfigError, match="ARCHIVE_BUCKET"):
        CuratorConfig.from_environ(environment)
