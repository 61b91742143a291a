"""`cfn-hook-archive status` over checkpoints the real archiver committed: one row per account-region, the
exit status, the JSON a script reads, and each way it can fail to run."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import ACCOUNT_ID, REGION
from tests.cli.conftest import STACK, Operator
from tests.simulated_crash import SimulatedCrash

ROW_FIELDS = {
    "account_id",
    "region",
    "checkpoint_key",
    "health",
    "last_commit_ms",
    "last_commit_source",
    "age_seconds",
    "sequence",
    "lease_holder",
    "lease_expires_ms",
    "lease_live",
    "scan",
    "outbox",
    "events_deferred",
    "events_failing",
    "pending",
    "annotations",
    "audit",
    "last_error",
}
SCAN_FIELDS = {"state", "results_seen", "oldest_reached_ms", "percent", "eta_seconds"}
HOUR_MS = 3_600_000


class CrashOnCommit:
    """A checkpoint store whose final commit (the save without an intent) never happens: the process dies
    after writing its Parquet, holding its lease."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.location = inner.location

    def load(self) -> Any:
        return self._inner.load()

    def save(self, checkpoint: Any, *, etag: str | None) -> str:
        if checkpoint.intent is None:
            raise SimulatedCrash
        return str(self._inner.save(checkpoint, etag=etag))


def _row(run_report: dict[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = run_report["archivers"]
    assert len(rows) == 1, rows
    return rows[0]


# ------------------------------------------------------------------------------------------- success


def test_an_archiver_that_just_ran_is_one_ok_row_with_a_complete_scan_and_exit_zero(
    archived: Operator,
) -> None:
    checkpoint = archived.harness.checkpoint()

    run = archived.cli("status", *archived.location, "--json")

    assert run.exit_status == 0, run.stderr
    assert run.stderr == ""  # no spinner: --json, and stderr is not a terminal
    assert set(run.report) == {"ok", "location", "checked_at_ms", "stale_after_hours", "archivers"}
    assert run.report["ok"] is True
    assert run.report["location"] == f"s3://{archived.aws.bucket}/{ARCHIVE_PREFIX}/"
    row = _row(run.report)
    assert set(row) == ROW_FIELDS
    assert set(row["scan"]) == SCAN_FIELDS
    assert (row["account_id"], row["region"], row["health"]) == (ACCOUNT_ID, REGION, "ok")
    assert row["checkpoint_key"] == f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
    assert (row["last_commit_ms"], row["last_commit_source"]) == (checkpoint["updated_at_ms"], "updated_at")
    assert row["sequence"] == checkpoint["sequence"] == 1
    assert (row["lease_holder"], row["lease_live"]) == (None, False)
    assert row["scan"]["state"] == "complete"
    assert (row["outbox"], row["events_deferred"], row["events_failing"]) == (0, 0, 0)
    assert row["last_error"] is None


def test_the_table_shows_each_archiver_on_one_line_for_a_person(archived: Operator) -> None:

    run = archived.cli("status", *archived.location)

    assert run.exit_status == 0
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"cfn-hook-archive status: s3://{archived.aws.bucket}/{ARCHIVE_PREFIX}/")
    [row] = [line for line in lines if line.startswith(f"{ACCOUNT_ID}/{REGION}")]
    assert row.split()[1:2] == ["ok"]
    assert "complete" in row
    assert lines[-1] == "1 archiver(s): 1 ok, 0 not"


def test_every_account_region_under_the_prefix_gets_its_own_row(archived: Operator) -> None:
    # Given a second archiver (another account) sharing the bucket and prefix, as in an Organization,
    other = json.loads(
        archived.s3().get_object(Bucket=archived.aws.bucket, Key=_checkpoint_key())["Body"].read()
    )
    other |= {"account_id": "210987654321", "known_ids_object": None}
    archived.s3().put_object(
        Bucket=archived.aws.bucket,
        Key=f"{ARCHIVE_PREFIX}/_state/210987654321/{REGION}/checkpoint.json",
        Body=json.dumps(other).encode(),
    )

    run = archived.cli("status", *archived.location, "--json")

    assert [(row["account_id"], row["region"]) for row in run.report["archivers"]] == [
        ("123456789012", REGION),
        ("210987654321", REGION),
    ]


def test_the_stack_outputs_give_the_bucket_and_prefix(archived: Operator) -> None:
    archived.deploy_stack()

    run = archived.cli("status", "--stack", STACK, "--json")

    assert run.exit_status == 0, run.stderr
    assert run.report["location"] == f"s3://{archived.aws.bucket}/{ARCHIVE_PREFIX}/"
    assert _row(run.report)["health"] == "ok"


# ---------------------------------------------------------------------------------- what status shows


def test_an_archiver_without_a_recent_commit_is_stale_and_exits_one(archived: Operator) -> None:
    committed = archived.harness.checkpoint()["updated_at_ms"]

    run = archived.cli("status", *archived.location, "--json", clock=lambda: committed + 4 * HOUR_MS)

    assert run.exit_status == 1
    assert run.report["ok"] is False
    row = _row(run.report)
    assert row["health"] == "stale"
    assert row["age_seconds"] == 4 * 3600
    # Shorter than the threshold it is fresh again:
    fresh = archived.cli(
        "status",
        *archived.location,
        "--json",
        "--stale-after-hours",
        "5",
        clock=lambda: committed + 4 * HOUR_MS,
    )
    assert fresh.exit_status == 0


def test_a_backfill_shows_how_far_back_its_scan_reached_and_an_eta_and_ends_complete(
    operator: Operator,
) -> None:
    # Given a 14-day history with far more failures than one run may announce, so the backfill takes runs,
    operator.seed(days=14, per_day=20)
    operator.harness.runtime_environment["MAX_EVENTS_PER_RUN"] = "10"
    # when two runs have each committed part of the scan,
    assert operator.run_archiver()["status"] == "partial_event_budget"
    assert operator.run_archiver()["status"] == "partial_event_budget"
    checkpoint = operator.harness.checkpoint()

    first = _row(operator.cli("status", *operator.location, "--json").report)

    # then status places the scan in the 90-day window and derives an ETA from the two commits' rate,
    assert first["scan"]["state"] == "backfill"
    assert first["scan"]["oldest_reached_ms"] == checkpoint["scan"]["last_ms"]
    assert first["scan"]["results_seen"] == checkpoint["scan"]["results_seen"]
    assert 0 < first["scan"]["percent"] < 100
    assert first["scan"]["eta_seconds"] is not None
    assert first["scan"]["eta_seconds"] >= 0
    # the progress grows as runs go on,
    operator.run_archiver()
    second = _row(operator.cli("status", *operator.location, "--json").report)
    assert second["scan"]["percent"] > first["scan"]["percent"]
    # and the scan ends complete.
    for _ in range(40):
        if operator.run_archiver()["status"] == "complete":
            break
    done = _row(operator.cli("status", *operator.location, "--json").report)
    assert (done["scan"]["state"], done["scan"]["percent"], done["scan"]["eta_seconds"]) == (
        "complete",
        100.0,
        None,
    )


def test_a_run_that_died_holding_its_lease_shows_as_lease_holder_then_as_the_last_error(
    operator: Operator,
) -> None:
    operator.seed()
    real = operator.harness.real_dependencies()
    with pytest.raises(SimulatedCrash):
        operator.run_archiver(
            dependencies=dataclasses.replace(real, checkpoints=CrashOnCommit(real.checkpoints))
        )
    intent = operator.harness.checkpoint()["intent"]

    while_live = _row(operator.cli("status", *operator.location, "--json").report)

    assert (while_live["lease_holder"], while_live["lease_live"]) == (intent["run_id"], True)
    assert while_live["lease_expires_ms"] == intent["lease_expires_ms"]
    assert while_live["last_error"] is None  # a live lease is a run at work, as far as anyone can tell
    lapsed = _row(
        operator.cli(
            "status", *operator.location, "--json", clock=lambda: intent["lease_expires_ms"] + 60_000
        ).report
    )
    assert (lapsed["lease_holder"], lapsed["lease_live"]) == (intent["run_id"], False)
    assert intent["run_id"] in lapsed["last_error"]
    assert "lapsed" in lapsed["last_error"]


def test_events_put_events_keeps_refusing_wait_in_the_outbox_as_failing(operator: Operator) -> None:
    operator.seed(days=2, per_day=20)
    # Every PutEvents call refuses its first entry with a retryable code, however often it is re-sent.
    operator.aws.proxy.inject(
        "PutEvents", "partial_events", failed_entries={0: "ThrottlingException"}, times=None
    )
    with pytest.raises(Exception, match="not delivered"):
        operator.run_archiver()
    outbox = operator.harness.checkpoint()["outbox"]
    assert outbox

    row = _row(operator.cli("status", *operator.location, "--json").report)

    assert (row["outbox"], row["events_failing"], row["events_deferred"]) == (len(outbox), len(outbox), 0)
    assert f"{len(outbox)} failure event(s) refused by PutEvents" in row["last_error"]


# ------------------------------------------------------------------------------------------- failures


def test_an_empty_archive_has_no_rows_and_exits_one(operator: Operator) -> None:
    run = operator.cli("status", *operator.location, "--json")
    table = operator.cli("status", *operator.location)

    assert run.exit_status == 1
    assert (run.report["ok"], run.report["archivers"]) == (False, [])
    assert table.exit_status == 1
    assert "no checkpoint under" in table.stdout


def test_a_missing_stack_exits_two_and_names_it(operator: Operator) -> None:
    run = operator.cli("status", "--stack", "no-such-stack", "--json")

    assert run.exit_status == 2
    assert run.stdout == ""
    assert "no stack no-such-stack in us-east-1" in run.stderr


def test_a_stack_without_the_archive_outputs_exits_two(operator: Operator) -> None:
    from tests.cli.conftest import _moto_client  # noqa: PLC0415

    _moto_client(operator.aws, "cloudformation").create_stack(
        StackName="unrelated",
        TemplateBody=json.dumps(
            {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "unrelated"}}}}
        ),
    )

    run = operator.cli("status", "--stack", "unrelated")

    assert run.exit_status == 2
    assert "has no output(s) ArchiveBucketName, ArchiveLocation" in run.stderr


def test_a_bucket_that_does_not_exist_exits_two(operator: Operator) -> None:
    run = operator.cli("status", "--bucket", "no-such-archive-bucket", "--json")

    assert run.exit_status == 2
    assert "NoSuchBucket" in run.stderr


def test_unknown_credentials_exit_three(operator: Operator) -> None:
    operator.use_credentials("AKIAIOSFODNN7EXAMPLE", "not-a-secret")

    run = operator.cli("status", *operator.location, "--json")

    assert run.exit_status == 3
    assert run.stdout == ""
    assert "InvalidAccessKeyId" in run.stderr


def test_no_credentials_at_all_exit_three_with_the_remedy(operator: Operator) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        operator.monkeypatch.delenv(name)

    run = operator.cli("status", *operator.location)

    assert run.exit_status == 3
    assert "no AWS credentials found" in run.stderr


def test_a_caller_who_may_not_list_the_bucket_exits_three(archived: Operator) -> None:
    reads_objects_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    archived.use_credentials(*archived.iam_user("reader", reads_objects_only))

    run = archived.cli("status", *archived.location, "--json")

    assert run.exit_status == 3
    assert "AccessDenied" in run.stderr


def test_stack_and_bucket_together_are_a_usage_error(operator: Operator) -> None:
    run = operator.cli("status", "--stack", STACK, "--bucket", operator.aws.bucket)
    nowhere = operator.cli("status")

    assert (run.exit_status, nowhere.exit_status) == (2, 2)
    assert "not both" in run.stderr
    assert "say where the archive is" in nowhere.stderr


def test_without_a_region_status_cannot_run(operator: Operator) -> None:
    operator.monkeypatch.delenv("AWS_REGION")
    operator.monkeypatch.delenv("AWS_DEFAULT_REGION")

    run = operator.cli("status", *operator.location)

    assert run.exit_status == 2
    assert "no region" in run.stderr


def _checkpoint_key() -> str:
    return f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
