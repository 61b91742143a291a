"""``status`` and ``verify``: each reads through archive_reads, judges with its pure module (status, verify)
and prints through render. Every failure that stops a command is a CliError carrying its exit status."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

import boto3

from fleet_health.logic.fleet_check import FleetCheckDependencies, check_fleet
from fleet_health.models.config import FleetHealthConfig
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import utc_date
from hook_archive_cli import render
from hook_archive_cli.archive_location import ArchiveLocation, from_stack_outputs
from hook_archive_cli.archive_reads import (
    ArchiveReader,
    list_hook_results,
    open_session,
    read_caller_account,
    read_stack_outputs,
)
from hook_archive_cli.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_STATUS_HELP,
    CliError,
    UsageError,
)
from hook_archive_cli.progress import Progress
from hook_archive_cli.status import (
    RETENTION_MS,
    StatusReport,
    archiver_status,
    committed_versions,
    read_checkpoint,
)
from hook_archive_cli.verify import VerifyReport, compare

DEFAULT_PREFIX = ArchiverConfig.model_fields["archive_prefix"].default
DEFAULT_LATE_WINDOW_SECONDS = ArchiverConfig.model_fields["late_arrival_window_seconds"].default
DEFAULT_STALE_AFTER_HOURS = FleetHealthConfig.model_fields["stale_after_hours"].default
# Earlier checkpoint versions read for a backfill's ETA: enough to span several runs, few enough to be quick.
HISTORY_VERSIONS = 12

Clock = Callable[[], int]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


LOCATION_HELP = (
    "Where the archive is: --stack NAME reads the bucket and prefix from the stack's outputs "
    f"(ArchiveBucketName, ArchiveLocation); or give --bucket (and --prefix, default {DEFAULT_PREFIX}). "
    "Credentials and region come from the standard AWS chain, --profile and --region."
)
STATUS_FINDINGS = (
    "an archiver is stale (no commit within --stale-after-hours) or its checkpoint is unreadable, "
    "or no checkpoint is under the prefix"
)
STATUS_DESCRIPTION = f"""\
One row per account-region archiving under the prefix, from its checkpoint
(<prefix>/_state/<account>/<region>/checkpoint.json): the last commit and its age, the lease
holder if a run holds one, how far the scan has come (during a backfill: the oldest InvokedAt
reached against the API's 90-day window, and an ETA from the rate between earlier commits when
the bucket keeps versions), the outbox (events deferred for time, events PutEvents refused),
invocations still in progress, and the last error the checkpoint records. Read-only.

{LOCATION_HELP}

{EXIT_STATUS_HELP.format(findings=STATUS_FINDINGS)}"""
VERIFY_DESCRIPTION = f"""\
For the caller's account and region, page the live ListHookResults API (unfiltered) and read the
archive's Parquet for the same days, then report per day: finished results older than the
late-arrival window that the archive lacks (missing), ids archived more than once (duplicates),
and archived fields that differ from the API (mismatches). Results still in progress, results
inside the late-arrival window and archived rows the API no longer lists are counted, not faulted.
Read-only.

{LOCATION_HELP}

{EXIT_STATUS_HELP.format(findings="a discrepancy was found")}"""


def add_location_options(parser: argparse.ArgumentParser) -> None:
    aws = parser.add_argument_group("AWS and the archive")
    aws.add_argument("--profile", help="the AWS profile to use (default: the standard credential chain)")
    aws.add_argument("--region", help="the region (default: AWS_DEFAULT_REGION, then the profile's region)")
    aws.add_argument("--stack", metavar="NAME", help="read the archive's bucket and prefix from this stack")
    aws.add_argument("--bucket", help="the archive bucket (instead of --stack)")
    aws.add_argument("--prefix", help=f"the archive prefix (with --bucket; default {DEFAULT_PREFIX})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON, without spinners")


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: YYYY-MM-DD (UTC)") from None


def resolve_location(args: argparse.Namespace, session: boto3.Session, progress: Progress) -> ArchiveLocation:
    if args.stack and (args.bucket or args.prefix):
        raise UsageError("give --stack, or --bucket and --prefix, not both")
    if args.stack:
        with progress.step(f"Reading the outputs of stack {args.stack}"):
            return from_stack_outputs(args.stack, read_stack_outputs(session, args.stack))
    if args.bucket:
        return ArchiveLocation(args.bucket, args.prefix or DEFAULT_PREFIX)
    if args.prefix:
        raise UsageError("--prefix needs --bucket")
    raise UsageError("say where the archive is: --stack NAME, or --bucket BUCKET [--prefix PREFIX]")


def _fail(command: str, error: CliError) -> int:
    print(f"cfn-hook-archive {command}: {error}", file=sys.stderr)
    return error.exit_status


# ---------------------------------------------------------------------------------------------- status


def run_status(args: argparse.Namespace, *, clock: Clock = _now_ms) -> int:
    try:
        report = build_status(args, clock=clock)
    except CliError as error:
        return _fail("status", error)
    print(render.as_json(report.as_json()) if args.json else render.status_table(report))
    return EXIT_OK if report.ok else EXIT_FINDINGS


def build_status(args: argparse.Namespace, *, clock: Clock) -> StatusReport:
    session, _region = open_session(profile=args.profile, region=args.region)
    progress = Progress(json_output=args.json)
    location = resolve_location(args, session, progress)
    reader = ArchiveReader(session, location)
    now_ms = clock()
    with progress.step(f"Reading the checkpoints under {location.uri}") as step:
        fleet = check_fleet(
            FleetCheckDependencies(reader, clock_ms=lambda: now_ms),
            archive_prefix=location.prefix,
            stale_after_hours=args.stale_after_hours,
        )
        rows = []
        for health in fleet.archivers:
            step.update(f"Reading the checkpoint of {health.name}")
            checkpoint, problem = read_checkpoint(
                reader.bodies.get(health.checkpoint_key), where=health.checkpoint_key
            )
            history = []
            if checkpoint is not None and checkpoint.scan is not None and health.status == "ok":
                versions = reader.earlier_versions(health.checkpoint_key, limit=HISTORY_VERSIONS)
                history = committed_versions((item.last_modified_ms, item.body) for item in versions)
            rows.append(
                archiver_status(health, checkpoint, history, now_ms=now_ms, unreadable_reason=problem)
            )
    return StatusReport(location.uri, now_ms, args.stale_after_hours, rows)


# ---------------------------------------------------------------------------------------------- verify


def run_verify(args: argparse.Namespace, *, clock: Clock = _now_ms) -> int:
    try:
        report = build_verify(args, clock=clock)
    except CliError as error:
        return _fail("verify", error)
    print(render.as_json(report.as_json()) if args.json else render.verify_table(report))
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=offset) for offset in range((until - since).days + 1)]


def build_verify(args: argparse.Namespace, *, clock: Clock) -> VerifyReport:
    now_ms = clock()
    until = utc_date(now_ms)
    since: date = args.since or utc_date(now_ms - RETENTION_MS)
    if since > until:
        raise UsageError(f"--since {since} is after today ({until}, UTC)")
    if args.late_window_seconds < 0:
        raise UsageError("--late-window-seconds must not be negative")
    session, region = open_session(profile=args.profile, region=args.region)
    progress = Progress(json_output=args.json)
    location = resolve_location(args, session, progress)
    account_id = read_caller_account(session)
    with progress.step("Listing hook results") as step:
        listed = list_hook_results(
            session,
            on_page=lambda pages, results: step.update(
                f"Listing hook results: {pages} page(s), {results} result(s)"
            ),
        )
    reader = ArchiveReader(session, location)
    with progress.step(f"Reading the archive under {location.uri}") as step:
        rows = reader.rows_of_days(
            _days(since, until),
            account_id=account_id,
            region=region,
            on_progress=lambda message: step.update(f"Reading the archive: {message}"),
        )
    return VerifyReport(
        account_id=account_id,
        region=region,
        location=location.uri,
        since=since,
        until=until,
        checked_at_ms=now_ms,
        late_window_seconds=args.late_window_seconds,
        listed=len(listed.results),
        malformed=listed.malformed,
        archived=len(rows),
        days=compare(
            listed.results,
            rows,
            since=since,
            until=until,
            now_ms=now_ms,
            late_window_ms=args.late_window_seconds * 1000,
        ),
    )


# ---------------------------------------------------------------------------------------------- parsers


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="one row per account-region: last commit, lease, scan progress, outbox, last error",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_location_options(status)
    status.add_argument(
        "--stale-after-hours",
        type=float,
        default=DEFAULT_STALE_AFTER_HOURS,
        help=f"an archiver without a commit this long is stale (default: {DEFAULT_STALE_AFTER_HOURS:g}, "
        "as the fleet-health check; the archiver commits at least hourly)",
    )
    status.set_defaults(run=run_status)

    verify = commands.add_parser(
        "verify",
        help="compare the live ListHookResults API with the archive, per day; non-zero on a discrepancy",
        description=VERIFY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_location_options(verify)
    verify.add_argument(
        "--since",
        type=parse_day,
        metavar="DATE",
        help="the first day (UTC, YYYY-MM-DD) to verify (default: the oldest day the API keeps, 90 days ago)",
    )
    verify.add_argument(
        "--late-window-seconds",
        type=int,
        default=DEFAULT_LATE_WINDOW_SECONDS,
        help="the archiver's LATE_ARRIVAL_WINDOW_SECONDS: newer results may not be archived yet "
        f"(default: {DEFAULT_LATE_WINDOW_SECONDS})",
    )
    verify.set_defaults(run=run_verify)
