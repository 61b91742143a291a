"""Odd and hostile input: every case gets a clear outcome and loses no row."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from emulation.hook_results_api import FaultKind
from emulation.synthetic_history import synthetic_results
from tests.faults.conftest import Rig

SPECIAL = "<&>\"' ünï©ødé 🚀 ]]> &amp; \t"


def recent(rig: Rig, count: int, *, seed: int) -> list:  # type: ignore[type-arg]
    now = rig.clock.now()
    return synthetic_results(start=now - timedelta(minutes=10), end=now, count=count, seed=seed)


def test_xml_special_and_unicode_text_in_every_free_text_field_round_trips(rig: Rig) -> None:
    base = recent(rig, 1, seed=21)[0]
    odd = dataclasses.replace(
        base,
        status="HOOK_COMPLETE_FAILED",
        hook_status_reason=f"reason {SPECIAL}",
        target_id=f"target {SPECIAL}",
        hook_execution_target=f"arn:aws:cloudformation:us-east-1:123456789012:stack/x/{SPECIAL}",
        annotations=[{"AnnotationName": "RULE", "Status": "FAILED", "StatusMessage": f"msg {SPECIAL}"}],
    )
    rig.aws.emulator.add(odd)
    outcome = rig.run()
    assert isinstance(outcome, dict), repr(outcome)
    (row,) = rig.harness.read_archive().to_pylist()
    assert row["hook_status_reason"] == f"reason {SPECIAL}"
    assert row["target_id"] == f"target {SPECIAL}"
    (event,) = rig.events
    assert event["detail"]["enrichment"]["annotations"][0]["status_message"] == f"msg {SPECIAL}"
    assert rig.reconcile().ok, rig.reconcile().summary()


def test_longest_reason_the_api_allows_is_stored_whole(rig: Rig) -> None:
    base = recent(rig, 1, seed=22)[0]
    rig.aws.emulator.add(dataclasses.replace(base, hook_status_reason="ß" * 1024))
    rig.run()
    (row,) = rig.harness.read_archive().to_pylist()
    assert row["hook_status_reason"] == "ß" * 1024


def test_every_optional_field_missing_is_stored_as_null(rig: Rig) -> None:
    base = recent(rig, 1, seed=23)[0]
    optional = frozenset(
        {
            "InvocationPoint",
            "FailureMode",
            "TypeName",
            "TypeVersionId",
            "TypeConfigurationVersionId",
            "HookStatusReason",
            "TargetType",
            "TargetId",
            "TypeArn",
            "HookExecutionTarget",
        }
    )
    rig.aws.emulator.add(dataclasses.replace(base, omitted_fields=optional))
    outcome = rig.run()
    assert isinstance(outcome, dict), repr(outcome)
    (row,) = rig.harness.read_archive().to_pylist()
    assert row["type_name"] is None
    assert row["target_id"] is None
    assert rig.reconcile().ok, rig.reconcile().summary()


def test_invoked_at_on_the_edges_of_a_utc_day_and_below_a_millisecond(rig: Rig) -> None:
    day = (rig.clock.now() - timedelta(days=1)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    times = [midnight - timedelta(microseconds=1), midnight, midnight + timedelta(microseconds=999)]
    base = recent(rig, 3, seed=24)
    rig.aws.emulator.add(
        *(dataclasses.replace(item, invoked_at=moment) for item, moment in zip(base, times, strict=True))
    )
    rig.run()
    rows = {row["hook_result_id"]: row for row in rig.harness.read_archive().to_pylist()}
    assert rows[base[0].hook_result_id]["dt"] == day.isoformat()
    assert rows[base[1].hook_result_id]["dt"] == midnight.date().isoformat()
    assert rows[base[0].hook_result_id]["invoked_at"] == midnight - timedelta(milliseconds=1)
    assert rows[base[2].hook_result_id]["invoked_at"] == midnight
    assert rig.reconcile().ok, rig.reconcile().summary()


@pytest.mark.parametrize("kind", ["duplicate_items", "overlapping_pages"])
def test_ids_repeated_within_a_page_or_across_pages_are_archived_once(rig: Rig, kind: FaultKind) -> None:
    rig.seed(days=2)
    fault = rig.aws.emulator.inject(kind=kind, times=None, after_calls=1)  # page 1 clean, every later one not
    outcome = rig.run()
    assert isinstance(outcome, dict), repr(outcome)
    assert fault.fired > 0
    assert outcome["repeated_in_run"] >= 3 * fault.fired
    assert rig.reconcile().ok, rig.reconcile().summary()
    # A later run that meets the same repeats archives none of them again.
    rig.clock.advance(timedelta(minutes=5))
    again = rig.run()
    assert isinstance(again, dict), repr(again)
    assert again["archived"] == 0
    assert rig.reconcile().ok, rig.reconcile().summary()


@pytest.mark.parametrize("page_size", [1, 1000])
def test_pages_of_one_and_of_a_thousand_items(rig: Rig, page_size: int) -> None:
    rig.aws.emulator.page_size = page_size
    try:
        rig.seed(days=30 if page_size == 1000 else 1, per_day=100 if page_size == 1000 else 20)
        outcome = rig.run()
        assert isinstance(outcome, dict), repr(outcome)
        assert outcome["status"] == "complete"
        assert rig.reconcile().ok, rig.reconcile().summary()
    finally:
        rig.aws.emulator.page_size = 25


def test_an_empty_api_commits_a_valid_checkpoint_and_writes_nothing(rig: Rig) -> None:
    outcome = rig.run()
    assert isinstance(outcome, dict), repr(outcome)
    assert outcome["pages"] == 1
    assert rig.harness.object_keys() == []
    assert rig.reconcile().ok, rig.reconcile().summary()


def test_malformed_checkpoint_stops_the_run_with_a_clear_error_and_touches_nothing(rig: Rig) -> None:
    rig.seed(days=1)
    key = "hook-results/_state/123456789012/us-east-1/checkpoint.json"
    rig.aws.client("s3").put_object(
        Bucket=rig.aws.bucket, Key=key, Body=b'{"format": "cfn-hook-archive/checkpoint", "version": 7}'
    )
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "is not a valid checkpoint" in str(outcome)
    assert "Refusing to reset" in str(outcome)
    assert rig.harness.object_keys() == []
    body = rig.aws.client("s3").get_object(Bucket=rig.aws.bucket, Key=key)["Body"].read()
    assert b'"version": 7' in body


def test_a_bucket_that_does_not_exist_fails_the_first_run_clearly(rig: Rig) -> None:
    rig.seed(days=1)
    rig.harness.parameters["ExistingArchiveBucketName"] = "no-such-archive-bucket"
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "reading checkpoint s3://no-such-archive-bucket/" in str(outcome)
    assert "NoSuchBucket" in str(outcome)


def test_a_bus_that_does_not_exist_fails_the_run_clearly_and_keeps_the_events(rig: Rig) -> None:
    rig.seed(days=1, per_day=30)
    rig.harness.parameters["EventBusName"] = "no-such-bus"
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "not delivered" in str(outcome)
    # The rows are safe, and the events wait in the outbox until the bus exists.
    assert rig.harness.read_archive().num_rows == 30
    assert rig.harness.checkpoint()["outbox"]


KNOWN_IDS_PREFIX = "hook-results/_state/123456789012/us-east-1/known-ids/"


def known_ids_keys(rig: Rig) -> list[str]:
    listing = rig.aws.client("s3").list_objects_v2(Bucket=rig.aws.bucket, Prefix=KNOWN_IDS_PREFIX)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_known_ids_live_in_one_object_the_checkpoint_names_and_a_replaced_one_is_deleted(rig: Rig) -> None:
    rig.aws.emulator.add(*recent(rig, 5, seed=31))
    rig.run()
    first = rig.harness.checkpoint()["known_ids_object"]
    assert first["count"] == 5
    assert known_ids_keys(rig) == [first["key"]]
    rig.clock.advance(timedelta(minutes=1))
    rig.aws.emulator.add(*recent(rig, 3, seed=32))
    rig.run()
    second = rig.harness.checkpoint()["known_ids_object"]
    assert second["count"] == 8
    assert known_ids_keys(rig) == [second["key"]]
    assert rig.reconcile().ok, rig.reconcile().summary()


@pytest.mark.parametrize(
    ("damage", "message"),
    [("delete", "which does not exist"), ("overwrite", "do not match checkpoint")],
)
def test_a_missing_or_altered_known_ids_object_stops_the_run_and_touches_nothing(
    rig: Rig, damage: str, message: str
) -> None:
    rig.aws.emulator.add(*recent(rig, 5, seed=33))
    rig.run()
    s3 = rig.aws.client("s3")
    key = rig.harness.checkpoint()["known_ids_object"]["key"]
    if damage == "delete":
        s3.delete_object(Bucket=rig.aws.bucket, Key=key)
    else:
        body = s3.get_object(Bucket=rig.aws.bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=rig.aws.bucket, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))
    objects = rig.harness.object_keys()
    checkpoint = rig.harness.checkpoint()
    rig.aws.emulator.add(*recent(rig, 2, seed=34))
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert message in str(outcome)
    # Never read as "no ids": that would archive the remembered results a second time.
    assert rig.harness.object_keys() == objects
    assert rig.harness.checkpoint() == checkpoint
