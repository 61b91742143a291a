"""The run protocol in a bucket with S3 Object Lock (template parameter ObjectLockMode): every version a run
writes is locked by the bucket's default retention, yet runs stay exact, a crash is still cleaned up, and no
locked version is ever removed: a rewrite adds a version, a delete adds a delete marker.

The local bucket is configured from the template's ArchiveBucket (emulation/archiver_harness.py), and moto
applies the default retention and refuses to delete a locked version, as S3 does.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import ACCOUNT_ID, REGION
from emulation.synthetic_history import synthetic_results
from tests.faults.conftest import Rig, SimulatedCrash
from tests.simulated_crash import crash_on_commit

MODES = ["GOVERNANCE", "COMPLIANCE"]
LOCK_DAYS = 7
STATE_PREFIX = f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/"
KNOWN_IDS_PREFIX = f"{STATE_PREFIX}known-ids/"


@dataclasses.dataclass(frozen=True)
class Versions:
    """Every version and delete marker in the bucket, as ListObjectVersions reports them."""

    objects: frozenset[tuple[str, str]]  # (key, version id)
    markers: frozenset[tuple[str, str]]
    current: frozenset[tuple[str, str]]  # the latest of each key, object or delete marker

    def of(self, key: str) -> set[str]:
        return {version for name, version in self.objects if name == key}


def versions(rig: Rig) -> Versions:
    s3 = rig.aws.client("s3")
    objects: set[tuple[str, str]] = set()
    markers: set[tuple[str, str]] = set()
    current: set[tuple[str, str]] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=rig.harness.archive_bucket):
        for kind, found in (("Versions", objects), ("DeleteMarkers", markers)):
            for item in page.get(kind, []):
                found.add((item["Key"], item["VersionId"]))
                if item["IsLatest"]:
                    current.add((item["Key"], item["VersionId"]))
    return Versions(frozenset(objects), frozenset(markers), frozenset(current))


def lock_on(rig: Rig, mode: str) -> None:
    rig.harness.parameters.update({"ObjectLockMode": mode, "ObjectLockDays": str(LOCK_DAYS)})


def arrive(rig: Rig, count: int, seed: int) -> None:
    """New results, some of them failures, invoked in the last minutes (inside the late-arrival window)."""
    now = rig.clock.now()
    rig.aws.emulator.add(
        *synthetic_results(start=now - timedelta(minutes=3), end=now, count=count, seed=seed)
    )


def assert_every_version_is_locked(rig: Rig, history: Versions, mode: str) -> None:
    s3 = rig.aws.client("s3")
    # The retention runs on S3's clock (the real one), not the tests' shared clock.
    now = datetime.now(UTC)
    for key, version in history.objects:
        head = s3.head_object(Bucket=rig.harness.archive_bucket, Key=key, VersionId=version)
        assert head["ObjectLockMode"] == mode, key
        until = head["ObjectLockRetainUntilDate"]
        assert now + timedelta(days=LOCK_DAYS, minutes=-10) < until <= now + timedelta(days=LOCK_DAYS), key


@pytest.mark.parametrize("mode", MODES)
def test_runs_under_object_lock_archive_exactly_and_only_add_versions_and_delete_markers(
    rig: Rig, mode: str
) -> None:
    # Given a deployment with ObjectLockMode and a history to backfill,
    lock_on(rig, mode)
    rig.seed(days=3, per_day=30)
    # when runs archive it and then the results that keep arriving,
    snapshots = []
    for run in range(4):
        if run:
            arrive(rig, count=6, seed=100 + run)
            rig.clock.advance(timedelta(minutes=6))
        outcome = rig.run()
        assert isinstance(outcome, dict), repr(outcome)
        assert outcome["checkpoint_committed"] is True
        snapshots.append(versions(rig))
    # then the bucket carries the template's default retention, and the archive is exact,
    lock = rig.aws.client("s3").get_object_lock_configuration(Bucket=rig.harness.archive_bucket)
    assert lock["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    retention = lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == (mode, LOCK_DAYS)
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()
    # no version any run wrote was removed, and every one is locked for ObjectLockDays;
    final = snapshots[-1]
    for earlier in snapshots:
        assert earlier.objects <= final.objects
    assert_every_version_is_locked(rig, final, mode)
    # each commit added a checkpoint version, and every replaced known-ids object got a delete marker: only
    # the one the checkpoint names is current, while the replaced ones keep their locked versions.
    assert len(final.of(f"{STATE_PREFIX}checkpoint.json")) >= len(snapshots)
    named = rig.harness.checkpoint()["known_ids_object"]["key"]
    current_known_ids = {key for key, _ in final.current - final.markers if key.startswith(KNOWN_IDS_PREFIX)}
    assert current_known_ids == {named}
    replaced = {key for key, _ in final.objects if key.startswith(KNOWN_IDS_PREFIX)} - {named}
    assert replaced, "the runs never replaced the known ids: this test would prove nothing about deletes"
    assert {key for key, _ in final.markers} == replaced
    assert {key for key, _ in final.current & final.markers} == replaced


@pytest.mark.parametrize("mode", MODES)
def test_adopting_a_dead_runs_locked_objects_adds_versions_and_removes_none(rig: Rig, mode: str) -> None:
    # Given a locked archive with one committed run,
    lock_on(rig, mode)
    rig.seed(days=2, per_day=30)
    assert isinstance(rig.run(), dict)
    # when the next run dies after writing its objects, before its commit,
    arrive(rig, count=8, seed=7)
    rig.clock.advance(timedelta(minutes=6))
    assert isinstance(rig.run(wrap=crash_on_commit), SimulatedCrash)
    intent = rig.harness.checkpoint()["intent"]
    orphans = set(intent["object_keys"])
    before = versions(rig)
    written = {key: before.of(key) for key in orphans if before.of(key)}
    assert written, "the dead run wrote no object: nothing would be adopted"
    assert all(len(found) == 1 for found in written.values())
    # and later runs adopt its objects once its lease has lapsed,
    outcomes = rig.settle(runs=2)
    assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
    after = versions(rig)
    # then the archive is exact,
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()
    assert rig.harness.checkpoint().get("intent") is None
    # every version that existed before is still there,
    assert before.objects <= after.objects
    # each adopted object was rewritten as a new current version beside the dead run's, now noncurrent,
    for key, dead_runs in written.items():
        assert dead_runs < after.of(key), key
        (latest,) = {version for name, version in after.current if name == key}
        assert latest not in dead_runs, key
        assert (key, latest) not in after.markers, key
    # the only deletes, of the known-ids objects the commits replaced, added delete markers,
    named = rig.harness.checkpoint()["known_ids_object"]["key"]
    marked = {key for key, _ in after.markers}
    assert marked
    assert marked == {key for key, _ in after.objects if key.startswith(KNOWN_IDS_PREFIX)} - {named}
    # and every version, the dead run's included, is locked.
    assert_every_version_is_locked(rig, after, mode)


@pytest.mark.parametrize("mode", MODES)
def test_deleting_a_locked_version_is_refused_even_to_an_administrator(rig: Rig, mode: str) -> None:
    # Given a locked archive after one run,
    lock_on(rig, mode)
    rig.seed(days=1, per_day=20)
    assert isinstance(rig.run(), dict)
    s3 = rig.aws.client(
        "s3"
    )  # the account's administrator: the local stack's authorizer allows it everything
    bucket = rig.harness.archive_bucket
    history = versions(rig)
    key, version = min((key, version) for key, version in history.objects if "/dt=" in key)
    # when an administrator deletes an archive object's version by its id, the lock refuses it;
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    batch = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]})
    assert [error["Code"] for error in batch.get("Errors", [])] == ["AccessDenied"]
    assert versions(rig).objects == history.objects
    # a delete without a version id only hides the object behind a delete marker;
    marker = s3.delete_object(Bucket=bucket, Key=key)
    assert marker["DeleteMarker"] is True
    assert version in versions(rig).of(key)
    # and bypassing governance retention (AWS: s3:BypassGovernanceRetention) removes GOVERNANCE versions only.
    if mode == "GOVERNANCE":
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
        assert version not in versions(rig).of(key)
    else:
        with pytest.raises(ClientError) as still_refused:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
        assert still_refused.value.response["Error"]["Code"] == "AccessDenied"
        assert version in versions(rig).of(key)


def test_writes_into_a_locked_bucket_need_the_checksum_botocore_sends_by_default(rig: Rig) -> None:
    # S3 refuses a PUT without Content-MD5 or an x-amz-checksum into a bucket with default retention; the
    # function's botocore sends a CRC32 checksum by default (request_checksum_calculation "when_supported").
    lock_on(rig, "GOVERNANCE")
    rig.seed(days=1, per_day=20)
    # Given a client configured to send checksums only where an operation requires one,
    rig.harness.runtime_environment["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
    # when a run writes, it fails and leaves nothing behind,
    outcome = rig.run()
    assert isinstance(outcome, Exception), repr(outcome)
    assert not versions(rig).objects
    # and with botocore's default the next runs archive everything exactly.
    del rig.harness.runtime_environment["AWS_REQUEST_CHECKSUM_CALCULATION"]
    rig.settle(runs=2)
    reconciliation = rig.reconcile()
    assert reconciliation.ok, reconciliation.summary()
