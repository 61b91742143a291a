"""Fleet health against real checkpoints: the archiver's handler runs on the local stack (moto, the
ListHookResults emulator, its role's authorization) and writes them; the check reads them through moto.

Only the local account (123456789012) can run the archiver here. The other members' checkpoints are the
bytes a real run wrote, copied by the admin client under the member's key with account_id and region
rewritten to match it: what that member's archiver would have committed at the same moment."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.lambda_runtime import LambdaContext, environment_variables
from emulation.synthetic_history import synthetic_results
from tests.integration.conftest import seed_history
from tests.simulated_crash import CrashOnCommit, SimulatedCrash

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
STOPPED = ("222222222222", "eu-west-1")
LIVE = ("111111111111", "eu-central-1")
LOCAL = (ACCOUNT_ID, REGION)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def state_key(account: str, region: str) -> str:
    return f"{ARCHIVE_PREFIX}/_state/{account}/{region}/checkpoint.json"


def copy_as_member(aws: LocalAws, bucket: str, member: tuple[str, str]) -> None:
    """The local archiver's current checkpoint, as `member`'s archiver would have committed it."""
    s3 = aws.client("s3")
    document = json.loads(s3.get_object(Bucket=bucket, Key=state_key(*LOCAL))["Body"].read())
    document["account_id"], document["region"] = member
    s3.put_object(Bucket=bucket, Key=state_key(*member), Body=json.dumps(document).encode())


@pytest.fixture
def fleet_handler(aws: LocalAws, archiver: ArchiverHarness) -> Iterator[ModuleType]:
    """The fleet-health handler, cold-started with the central stack's variables; its S3 client goes to
    the local stack through the standard boto3 variables (admin credentials: no fleet role exists yet)."""
    environment = {
        **aws.process_environment(),
        "ARCHIVE_BUCKET": archiver.archive_bucket,
        "ARCHIVE_PREFIX": ARCHIVE_PREFIX,
        "STALE_AFTER_HOURS": "3",
        "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchiveFleet",
        "POWERTOOLS_SERVICE_NAME": "central-fleet",
    }
    with environment_variables(environment):
        sys.modules.pop("fleet_health.handlers.fleet_check", None)
        yield importlib.import_module("fleet_health.handlers.fleet_check")


def check_at(handler: ModuleType, at_ms: int) -> dict[str, Any]:
    """One scheduled check with its real S3 adapter, judged at `at_ms`."""
    deps = dataclasses.replace(handler.default_dependencies(), clock_ms=lambda: at_ms)
    context = LambdaContext(
        function_name="fleet-health", memory_mb=256, timeout_seconds=60, region=REGION, account_id=ACCOUNT_ID
    )
    report: dict[str, Any] = handler.lambda_handler({"id": "tick"}, context, dependencies=deps)
    return report


def new_results_arrive(aws: LocalAws, seed: int) -> None:
    # A run that finds nothing new does not commit (so updated_at_ms does not move): give it something.
    now = datetime.now(UTC)
    aws.emulator.add(*synthetic_results(start=now - timedelta(minutes=3), end=now, count=5, seed=seed))


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{row['account_id']}/{row['region']}": row for row in report["archivers"]}


def test_the_check_names_exactly_the_member_that_stopped_committing_and_counts_it(
    aws: LocalAws, archiver: ArchiverHarness, fleet_handler: ModuleType
) -> None:
    # Given: at T0 every archiver commits; the STOPPED member's last checkpoint is this one.
    seed_history(aws, days=3, per_day=20)
    started_ms = now_ms()
    archiver.run()
    copy_as_member(aws, archiver.archive_bucket, STOPPED)
    # When: four hours later the local archiver and the LIVE member commit again, STOPPED does not.
    new_results_arrive(aws, seed=11)
    real = archiver.real_dependencies()
    archiver.run(dependencies=dataclasses.replace(real, clock_ms=lambda: real.clock_ms() + 4 * HOUR_MS))
    copy_as_member(aws, archiver.archive_bucket, LIVE)
    report = check_at(fleet_handler, now_ms() + 4 * HOUR_MS)
    # Then: the one stopped is named, counted, and its age is the four hours.
    assert report["archivers_seen"] == 3
    assert report["stale"] == ["/".join(STOPPED)]
    assert report["stale_archivers"] == 1
    found = rows(report)
    assert found["/".join(STOPPED)]["last_commit_source"] == "updated_at"
    assert found["/".join(STOPPED)]["age_hours"] >= 4.0
    assert found["/".join(STOPPED)]["last_commit_ms"] >= started_ms
    assert {found[name]["status"] for name in found if name != "/".join(STOPPED)} == {"ok"}
    assert all(row["lease_holder"] is None and row["outbox"] == 0 for row in found.values())


def test_a_malformed_checkpoint_is_reported_and_the_rest_of_the_fleet_is_still_checked(
    aws: LocalAws, archiver: ArchiverHarness, fleet_handler: ModuleType
) -> None:
    seed_history(aws, days=2, per_day=10)
    archiver.run()
    copy_as_member(aws, archiver.archive_bucket, LIVE)
    s3 = aws.client("s3")
    broken = ("333333333333", "us-west-2")
    s3.put_object(Bucket=archiver.archive_bucket, Key=state_key(*broken), Body=b'{"format": "cfn-hook-arch')

    report = check_at(fleet_handler, now_ms())

    found = rows(report)
    assert report["archivers_seen"] == 3
    assert found["/".join(broken)]["status"] == "malformed"
    assert "invalid JSON" in found["/".join(broken)]["problem"] or "EOF" in found["/".join(broken)]["problem"]
    assert found["/".join(LOCAL)]["status"] == found["/".join(LIVE)]["status"] == "ok"
    # The archiver refuses a malformed checkpoint, so that account-region has stopped: it is counted.
    assert report["stale"] == ["/".join(broken)]


def test_an_archiver_whose_runs_crash_before_committing_is_stale_and_the_dead_runs_lease_is_named(
    aws: LocalAws, archiver: ArchiverHarness, fleet_handler: ModuleType
) -> None:
    # Given: a clean commit at T0, then a run four hours later that writes its intent and dies.
    seed_history(aws, days=2, per_day=10)
    archiver.run()
    new_results_arrive(aws, seed=12)
    real = archiver.real_dependencies()
    later = dataclasses.replace(
        real, clock_ms=lambda: real.clock_ms() + 4 * HOUR_MS, checkpoints=CrashOnCommit(real.checkpoints)
    )
    with pytest.raises(SimulatedCrash):
        archiver.run(dependencies=later)
    # When: the check looks just after the crash (the object itself was rewritten moments ago).
    report = check_at(fleet_handler, now_ms() + 4 * HOUR_MS)
    # Then: stale by its last commit, not by LastModified, with the dead run's live lease shown.
    (row,) = report["archivers"]
    assert (row["status"], row["last_commit_source"]) == ("stale", "updated_at")
    assert row["age_hours"] >= 4.0
    assert row["lease_holder"]
    assert row["lease_live"] is True
    assert row["lease_expires_ms"] > now_ms() + 4 * HOUR_MS


# An archiver commits when a run changed something, and at least hourly otherwise (RunSettings.heartbeat_ms):
# an idle account's updated_at_ms keeps moving, so fleet health tells it from a stopped one.
def test_an_idle_archiver_whose_runs_find_nothing_new_is_not_reported_stale(
    aws: LocalAws, archiver: ArchiverHarness, fleet_handler: ModuleType
) -> None:
    seed_history(aws, days=2, per_day=10)
    archiver.run()
    real = archiver.real_dependencies()
    archiver.run(dependencies=dataclasses.replace(real, clock_ms=lambda: real.clock_ms() + 4 * HOUR_MS))
    report = check_at(fleet_handler, now_ms() + 4 * HOUR_MS)
    assert report["stale"] == []
