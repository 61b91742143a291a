"""`make demo-org`: an AWS Organization archiving into one central archive, on the local emulation.

The management account holds the central stack (template.yaml with OrganizationId: bucket with its own KMS
key, bus, fleet health). Three member accounts in two regions each run the member StackSet's archiver (the
member template generated from template.yaml, its role created as that template defines it) against their
own account-region's ListHookResults. Then one member stops; the others commit hours later; fleet health,
run with its own read-only role, names the stopped one. The central stack's curator, with its CuratorRole,
then fills hook_results from every member's raw objects, and the named queries answered from it are
compared with the raw archive's answers. Every call is authorized as IAM would, on the wire.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from botocore.exceptions import ClientError

from emulation.aws_stack import LocalAws, local_aws
from emulation.curated_queries import curate, curate_annotations, latest_failure_id, named_queries
from emulation.curator_harness import CentralDeployment, CuratorHarness
from emulation.hook_results_api import HookResultsEmulator
from emulation.organization import CentralArchive, FleetHealthCheck, LocalOrganization, MemberArchiver
from emulation.reconciliation import reconcile_member
from emulation.synthetic_history import synthetic_history, synthetic_results

REPO_ROOT = Path(__file__).resolve().parent.parent
MEMBERS = ("member-a", "member-b", "member-c")
REGIONS = ("us-east-1", "eu-west-1")
STOPPED = ("member-c", "eu-west-1")
HOURS_LATER = 4
HOUR_MS = 3_600_000
HISTORY_DAYS = 30
PER_DAY = 25


@contextmanager
def member_api(aws: LocalAws, seed: int) -> Iterator[HookResultsEmulator]:
    """One account-region's CloudFormation hook results, authorized like the rest of the local stack."""
    emulator = HookResultsEmulator(tls=True, page_size=100, seed=seed)
    emulator.authorizer = aws.authorizer
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def main() -> int:
    started = time.monotonic()
    with local_aws(page_size=100) as aws, ExitStack() as stack:
        organization = LocalOrganization.create(aws, member_names=MEMBERS)
        central = CentralArchive.create(organization)
        print(
            f"Organization {organization.organization_id}: central archive s3://{central.bucket} (SSE-KMS, "
            f"its own key) and bus {central.bus_arn}, in the management account {central.account}."
        )
        members: dict[tuple[str, str], MemberArchiver] = {}
        now = datetime.now(UTC)
        for index, (name, region) in enumerate((n, r) for n in MEMBERS for r in REGIONS):
            emulator = stack.enter_context(member_api(aws, seed=index))
            emulator.add(
                *synthetic_history(
                    end=now - timedelta(minutes=20), days=HISTORY_DAYS, per_day=PER_DAY, seed=100 + index
                )
            )
            members[(name, region)] = MemberArchiver(
                central,
                organization.members[name],
                region,
                emulator,
                settings={"POWERTOOLS_LOG_LEVEL": "WARNING", "TIME_SAFETY_MARGIN_SECONDS": "10"},
                runtime_environment={"POWERTOOLS_METRICS_DISABLED": "true"},
            )
        print(
            f"{len(members)} member account-regions ({len(MEMBERS)} accounts x {len(REGIONS)} regions), each "
            f"with {HISTORY_DAYS} days of its own hook results; archivers from the member template.\n"
        )
        print("| account | region | run | status | archived | failures | events sent |")
        print("|---|---|---|---|---:|---:|---:|")
        for (name, region), member in members.items():
            _show(name, region, "backfill", member.run())
        for index, ((name, region), member) in enumerate(members.items()):
            if (name, region) == STOPPED:
                continue
            moment = datetime.now(UTC)
            # a seed of its own: hook_result_ids are unique across accounts and regions, as on AWS
            member.emulator.add(
                *synthetic_results(start=moment - timedelta(minutes=3), end=moment, count=8, seed=7 + index)
            )
            _show(name, region, f"{HOURS_LATER} h later", member.run(later_ms=HOURS_LATER * HOUR_MS))
        events = aws.receive_events()
        ok = _reconcile(central, members, events)
        ok &= _refusals(central, members)
        ok &= _fleet(central, members)
        with tempfile.TemporaryDirectory() as workdir:
            ok &= _queries(central, Path(workdir), members)
            ok &= _curated(central, Path(workdir) / central.prefix, latest_failure_id(events))
    print(f"\nOrganization demo finished in {time.monotonic() - started:.1f} s; everything local is stopped.")
    return 0 if ok else 1


def _show(name: str, region: str, run: str, report: dict[str, Any]) -> None:
    print(
        f"| {name} | {region} | {run} | {report['status']} | {report['archived']:,} | {report['failures']} | "
        f"{report['events_published']} |"
    )


def _reconcile(
    central: CentralArchive, members: dict[tuple[str, str], MemberArchiver], events: list[dict[str, Any]]
) -> bool:
    print("\n## Reconciliation, per account-region (the objects whose keys name it)\n")
    print("| account | region | rows | API terminal results | missing | duplicated | events | verdict |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    s3 = central.organization.aws.client("s3")
    ok = True
    for (name, region), member in members.items():
        report = reconcile_member(
            s3,
            central.bucket,
            account_id=member.account,
            region=region,
            emulator=member.emulator,
            events=events,
        )
        ok &= report.ok
        verdict = "exact" if report.ok else report.summary()
        print(
            f"| {name} ({member.account}) | {region} | {report.rows:,} | {report.expected:,} | "
            f"{len(report.missing)} | {len(report.duplicated)} | {report.events} | {verdict} |"
        )
    on_bus = {event["detail"]["account_id"] for event in events}
    print(f"\nFailure events on the central bus: {len(events):,}, from {len(on_bus)} accounts.")
    return ok


def _refusals(central: CentralArchive, members: dict[tuple[str, str], MemberArchiver]) -> bool:
    """A role in a member account named like the archiver and granted the whole bucket by its own
    (identity) policy, as a member's administrator could make it: the central policies still refuse."""
    print("\n## What a member may not do, whatever its own IAM grants (judged by the central policies)\n")
    first, second = members[(MEMBERS[0], REGIONS[0])], members[(MEMBERS[1], REGIONS[0])]
    everything = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"},
        ],
    }
    session = central.organization.role_session(first.account, f"{first.role_name}-tampered", everything)
    s3 = central.organization.client(session, "s3")
    attempts: dict[str, Callable[[], object]] = {
        f"write a row claiming account {second.account}": lambda: s3.put_object(
            Bucket=central.bucket,
            Key=f"{central.prefix}/dt=2026-11-27/{second.account}-{REGIONS[0]}-forged.parquet",
            Body=b"forged",
        ),
        f"overwrite {second.account}'s checkpoint": lambda: s3.put_object(
            Bucket=central.bucket,
            Key=f"{central.prefix}/_state/{second.account}/{REGIONS[0]}/checkpoint.json",
            Body=b"{}",
        ),
        f"read {second.account}'s rows": lambda: s3.get_object(
            Bucket=central.bucket, Key=central.object_keys(second.account)[0]
        ),
    }
    ok = True
    for attempt, call in attempts.items():
        try:
            call()
        except ClientError as error:
            reason = error.response["Error"]["Message"].rsplit(" because ", 1)[-1]
            print(f"- {attempt}: refused, {error.response['Error']['Code']} ({reason})")
        else:
            print(f"- {attempt}: ALLOWED (a defect)")
            ok = False
    forged = [key for key in central.object_keys() if key.endswith("forged.parquet")]
    print(f"- objects written by another account under a key naming {second.account}: {len(forged)}")
    return ok and not forged


def _fleet(central: CentralArchive, members: dict[tuple[str, str], MemberArchiver]) -> bool:
    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    report = FleetHealthCheck(central, runtime_environment=quiet).run(later_ms=HOURS_LATER * HOUR_MS + 60_000)
    stopped = members[STOPPED]
    print(f"\n## Fleet health ({HOURS_LATER} h after the backfill, with the central FleetHealthRole)\n")
    print(
        f"- archivers seen: {report['archivers_seen']}; stale: {report['stale_archivers']}: {report['stale']}"
    )
    expected = [f"{stopped.account}/{stopped.region}"]
    named = "yes" if report["stale"] == expected else "NO"
    print(f"- the stopped member ({STOPPED[0]} {STOPPED[1]}) is named: {named}")
    return bool(report["stale"] == expected and report["archivers_seen"] == len(members))


def _queries(central: CentralArchive, workdir: Path, members: dict[tuple[str, str], MemberArchiver]) -> bool:
    """Named queries over the central archive (DuckDB over a copy of both raw tables, Athena SQL transpiled
    with sqlglot)."""
    s3 = central.organization.aws.client("s3")
    for key in central.object_keys() + central.object_keys(table="annotations"):
        target = workdir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=central.bucket, Key=key)["Body"].read())
    connection = duckdb.connect()
    pattern = str(workdir / central.prefix / "dt=*" / "*.parquet").replace("'", "''")
    connection.execute(
        "CREATE VIEW hook_results AS SELECT * FROM read_parquet("  # noqa: S608  # our own temp path, quoted
        f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
    )
    print("\n## Named query results_per_account_region_last_7_days over the central archive\n")
    athena = (REPO_ROOT / "queries" / "results_per_account_region_last_7_days.sql").read_text()
    rows = connection.execute(sqlglot.transpile(athena, read="athena", write="duckdb")[0]).fetchall()
    print("| account | region | invocations | failures | latest invoked_at |\n|---|---|---:|---:|---|")
    for account, region, invocations, failures, latest in rows:
        print(f"| {account} | {region} | {invocations:,} | {failures:,} | {latest:%Y-%m-%d %H:%M} |")
    wanted = {(member.account, region) for (_name, region), member in members.items()}
    seen = {(account, region) for account, region, *_counts in rows}
    print(f"\nAll {len(wanted)} account-regions in one query: {'yes' if seen == wanted else 'NO'}")
    return bool(seen == wanted)


def _curated(central: CentralArchive, archive_root: Path, failed_id: str | None) -> bool:
    """The central stack's CuratorFunction over every member's raw objects, then the named queries from
    hook_results and hook_annotations, each compared with the raw tables' answer (`_queries`' copy)."""
    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    curator = CuratorHarness(CentralDeployment(central), runtime_environment=quiet)
    raw_ids = pa.concat_tables(
        pq.read_table(path, columns=["hook_result_id"])
        for path in sorted(archive_root.glob("dt=*/*.parquet"))
    ).column("hook_result_id")
    curated, curated_ok = curate(curator, central.object_keys(), raw_ids.to_pylist())
    annotations, annotations_ok = curate_annotations(curator, archive_root)
    queries_ok = named_queries(archive_root, curated, annotations, failed_id=failed_id)
    return queries_ok and curated_ok and annotations_ok


if __name__ == "__main__":
    sys.exit(main())
