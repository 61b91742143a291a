"""``status``, ``verify``, ``query`` and ``report``: each reads through its adapter (archive_reads,
athena_reads, local_archive), judges or shapes with its pure module (status, verify, named_queries, query,
html_report) and prints through render. Every failure that stops a command is a CliError carrying its exit
status."""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3

from fleet_health.logic.fleet_check import FleetCheckDependencies, check_fleet
from fleet_health.models.config import FleetHealthConfig
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import utc_date
from hook_archive_cli import html_report, named_queries, query, render, replay
from hook_archive_cli.archive_location import ArchiveLocation, from_stack_outputs
from hook_archive_cli.archive_reads import (
    ArchiveReader,
    list_hook_results,
    open_session,
    read_caller_account,
    read_stack_outputs,
)
from hook_archive_cli.athena_reads import AthenaQueries, AthenaTarget, target_from_stack_outputs
from hook_archive_cli.errors import (
    EXIT_AWS,
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_STATUS_HELP,
    CliError,
    UsageError,
)
from hook_archive_cli.event_replays import put_replays
from hook_archive_cli.local_archive import LocalArchive, QueryResult
from hook_archive_cli.progress import Progress
from hook_archive_cli.repair import RepairOutcome, repair
from hook_archive_cli.status import (
    RETENTION_MS,
    StatusReport,
    archiver_status,
    committed_versions,
    read_checkpoint,
)
from hook_archive_cli.verify import ArchivedRow, VerifyReport, compare

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
invocations still in progress, failures whose annotations a later run still fetches (count and
the oldest dt), the self-audit (last completed, next due, phase and pages of one in progress,
results the last one repaired; "-" for checkpoints older than these fields), and the last error
the checkpoint records. Read-only.

{LOCATION_HELP}

{EXIT_STATUS_HELP.format(findings=STATUS_FINDINGS)}"""
VERIFY_DESCRIPTION = f"""\
For the caller's account and region, page the live ListHookResults API (unfiltered) and read the
archive's Parquet for the same days, then report per day: finished results older than the
late-arrival window that the archive lacks (missing), ids archived more than once (duplicates),
and archived fields that differ from the API (mismatches). Results still in progress, results
inside the late-arrival window and archived rows the API no longer lists are counted, not faulted.
Read-only, unless --repair.

--repair first makes the archiver's own run, in this process, with your credentials, for your
account and region, with its self-audit forced: what the archive lacks is archived under the
run's write intent and lease, and committed with the checkpoint's conditional write, as the
scheduled archiver does (failure events of repaired failures are published too); then verify
reports on the result. It needs what the archiver's role has. Exit 4: a scheduled run holds the
checkpoint lease (or committed first); nothing was changed, try again in a few minutes.

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
        repaired = build_repair(args, clock=clock) if args.repair else None
        report = build_verify(args, clock=clock)
    except CliError as error:
        return _fail("verify", error)
    if repaired is None:
        print(render.as_json(report.as_json()) if args.json else render.verify_table(report))
        return EXIT_OK if report.ok else EXIT_FINDINGS
    if args.json:
        print(render.as_json({**report.as_json(), "repair": repaired.as_json()}))
    else:
        print("\n".join([*repaired.summary_lines(), "", render.verify_table(report)]))
    for problem in repaired.errors:
        print(f"cfn-hook-archive verify --repair: {problem}", file=sys.stderr)
    return EXIT_OK if report.ok and not repaired.errors else EXIT_FINDINGS


def build_repair(args: argparse.Namespace, *, clock: Clock) -> RepairOutcome:
    """The archiver's own run, with the audit forced, for the caller's account and region (repair.py)."""
    if args.late_window_seconds < 0:
        raise UsageError("--late-window-seconds must not be negative")
    session, region = open_session(profile=args.profile, region=args.region)
    progress = Progress(json_output=args.json)
    location = resolve_location(args, session, progress)
    account_id = read_caller_account(session)
    event_bus = args.event_bus
    if event_bus is None:
        outputs = read_stack_outputs(session, args.stack) if args.stack else {}
        event_bus = outputs.get("EventBusName") or "default"
    with progress.step(f"Repairing {location.uri}: an archiving run with the self-audit") as step:
        return repair(
            session,
            location,
            account_id=account_id,
            region=region,
            late_window_seconds=args.late_window_seconds,
            event_bus=event_bus,
            event_source=args.event_source,
            clock_ms=clock,
            on_run=lambda number: step.update(f"Repairing {location.uri}: archiving run {number}"),
            # Read inside the step: while a spinner shows, sys.stderr is rich's, which keeps the two apart.
            archiver_log=sys.stderr if args.verbose else None,
        )


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=offset) for offset in range((until - since).days + 1)]


def _read_rows(
    session: boto3.Session,
    location: ArchiveLocation,
    progress: Progress,
    since: date,
    until: date,
    *,
    account_id: str,
    region: str,
    archived_at: bool = False,
) -> list[ArchivedRow]:
    """One account-region's archived rows of the days since..until, with a progress step (verify, replay)."""
    with progress.step(f"Reading the archive under {location.uri}") as step:
        return ArchiveReader(session, location).rows_of_days(
            _days(since, until),
            account_id=account_id,
            region=region,
            on_progress=lambda message: step.update(f"Reading the archive: {message}"),
            archived_at=archived_at,
        )


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
    rows = _read_rows(session, location, progress, since, until, account_id=account_id, region=region)
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


# ---------------------------------------------------------------------------------------------- query

QUERY_DESCRIPTION = """\
Run one of the named queries (the stack's saved queries) and print its answer: queries/NAME.sql
read hook_results, queries/annotations/NAME.sql (NAME annotations/..., or the file name alone)
read hook_annotations, the rules and controls GetHookResult reported for each failure.

On Athena (the default): in the stack's workgroup and Glue database, read from --stack NAME's
outputs (AthenaWorkGroupName, GlueTableName) or given with --workgroup and --database. The
workgroup's own result location, encryption and bytes-scanned cutoff apply. It polls until the
query ends, then prints the rows, the bytes scanned and what they cost ($5 per TB, at least 10 MB
a query). A query Athena fails or cancels exits 2 when Athena blames the query (USER), else 3.

With --local DIR: DuckDB runs the same query (translated by sqlglot) over a local copy of the
archive, e.g. `aws s3 sync s3://BUCKET/PREFIX DIR` (DIR/dt=YYYY-MM-DD/*.parquet, or
DIR/PREFIX/dt=... with --prefix); hook_annotations is DIR/annotations/dt=YYYY-MM-DD/*.parquet
of the same copy. A copy without objects is an empty archive: no rows, exit 0.

Narrowing (the parsed query is edited, not its text; values become quoted literals):
  --days N   the query's dt window becomes the last N days (dt >= today - N, UTC), instead of
             its own 7, 14 or 30; refused by a query without a window (invocation_by_id)
  --hook T   only invocations of hook type T (type_name = T in every SELECT that reads
             hook_results or hook_annotations), so counts, rankings and "latest" are of that
             hook alone
  --id ID    the hook_result_id invocation_by_id looks up (it needs one)

{names}

{exit_status}"""
QUERY_FINDINGS = "never (an empty answer is not a finding)"


def _query_description() -> str:
    known = named_queries.names()
    names = textwrap.fill(
        "Named queries: " + (", ".join(known) if known else "none found (run from a checkout)") + ".",
        width=96,
    )
    return QUERY_DESCRIPTION.format(names=names, exit_status=EXIT_STATUS_HELP.format(findings=QUERY_FINDINGS))


def run_query(
    args: argparse.Namespace, *, clock: Clock = _now_ms, athena_client: object | None = None
) -> int:
    """``athena_client``: a boto3 Athena client to use instead of the session's (tests)."""
    output = "json" if args.json else args.format
    try:
        named = named_queries.load(
            args.name, named_queries.Narrowing(days=args.days, hook=args.hook, hook_result_id=args.id)
        )
        if args.local is not None:
            result, where = _query_local(args, named)
        else:
            result, where = _query_athena(args, named, output=output, athena_client=athena_client)
    except CliError as error:
        return _fail("query", error)
    if output == "json":
        print(query.as_json(named, result))
    elif output == "csv":
        sys.stdout.write(query.as_csv(result))
        if result.engine == "athena":
            print(query.statistics_line(result), file=sys.stderr)
    else:
        print(query.as_table(named, result, where=where))
    return EXIT_OK


def _query_local(args: argparse.Namespace, named: named_queries.NamedQuery) -> tuple[QueryResult, str]:
    if args.stack or args.workgroup or args.database:
        raise UsageError("--local runs DuckDB over a local copy: not with --stack, --workgroup or --database")
    with LocalArchive(Path(args.local), prefix=args.prefix or DEFAULT_PREFIX) as archive:
        if named.name.startswith(f"{named_queries.ANNOTATIONS_DIR}/"):
            objects, layout = archive.annotation_objects, "annotations/dt=*/*.parquet"
        else:
            objects, layout = archive.objects, "dt=*/*.parquet"
        if not objects:
            print(
                f"cfn-hook-archive query: no archive objects under {archive.root} ({layout}): "
                "the archive is empty, or this is not a copy of it",
                file=sys.stderr,
            )
        return archive.run(named.athena_sql), f"DuckDB over {archive.root} ({len(objects)} object(s))"


def _athena_target(args: argparse.Namespace, session: boto3.Session, progress: Progress) -> AthenaTarget:
    if args.prefix:
        raise UsageError("--prefix goes with --local (Athena reads the stack's table)")
    if args.stack and (args.workgroup or args.database):
        raise UsageError("give --stack, or --workgroup and --database, not both")
    if args.stack:
        with progress.step(f"Reading the outputs of stack {args.stack}"):
            return target_from_stack_outputs(args.stack, read_stack_outputs(session, args.stack))
    if args.workgroup and args.database:
        return AthenaTarget(args.workgroup, args.database)
    raise UsageError(
        "say where to run the query: --stack NAME, or --workgroup WORKGROUP --database DATABASE "
        "(Athena), or --local DIR (DuckDB over a local copy)"
    )


def _query_athena(
    args: argparse.Namespace, named: named_queries.NamedQuery, *, output: str, athena_client: object | None
) -> tuple[QueryResult, str]:
    session, _region = open_session(profile=args.profile, region=args.region)
    progress = Progress(json_output=output == "json")
    target = _athena_target(args, session, progress)
    athena = AthenaQueries(session) if athena_client is None else AthenaQueries(client=athena_client)
    where = f"Athena workgroup {target.workgroup}, database {target.database}"
    with progress.step(f"Running {named.name} on {where}") as step:
        answer = athena.run(
            named.athena_sql,
            target,
            on_state=lambda state, seconds: step.update(
                f"Running {named.name} on {where}: {state.lower()}, {seconds:.0f} s"
            ),
        )
    return query.from_athena(answer), where


# ---------------------------------------------------------------------------------------------- report

REPORT_DESCRIPTION = f"""\
Write one self-contained HTML file (no network needed to open it, no script) with charts of the
last --days days: failures per day per hook, WARN-mode failures (what switching to FAIL would
block), top failing targets, the failure-rate trend and the top failing rules and controls (with
severity and remediation link, from the archived annotations), each with its numbers beneath.

The numbers are the named queries' (daily_failure_trend, warn_mode_failures_last_30_days,
top_failing_targets_last_30_days, annotations/top_failing_rules_last_30_days) narrowed to --days,
run by DuckDB over the archive: a local copy (--local DIR, as `query --local`) or the objects of
those days (results and annotations) copied from S3 to a temporary folder.

{LOCATION_HELP}

{EXIT_STATUS_HELP.format(findings="never (a report of an empty archive says it is empty)")}"""


def run_report(args: argparse.Namespace, *, clock: Clock = _now_ms) -> int:
    out = Path(args.out)
    try:
        if not out.parent.is_dir():
            raise UsageError(f"--out {out}: no directory {out.parent}")
        data = build_report(args, now=datetime.fromtimestamp(clock() / 1000, tz=UTC))
        page = html_report.render(data)
        try:
            out.write_text(page, encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--out {out}: {error.strerror}") from None
    except CliError as error:
        return _fail("report", error)
    if args.json:
        print(render.as_json({"out": str(out), "bytes": len(page.encode()), **data.as_json()}))
    else:
        failures = sum(row.failures for row in data.daily)
        invocations = sum(row.invocations for row in data.daily)
        print(
            f"cfn-hook-archive report: wrote {out} ({len(page.encode()):,} bytes): the last {data.days} "
            f"day(s) of {data.source}, {invocations:,} invocation(s), {failures:,} failed"
        )
    return EXIT_OK


def build_report(args: argparse.Namespace, *, now: datetime) -> html_report.ReportData:
    if not 0 <= args.days <= named_queries.MAX_DAYS:
        raise UsageError(f"--days must be between 0 and {named_queries.MAX_DAYS}")
    progress = Progress(json_output=args.json)
    if args.local is not None:
        if args.stack or args.bucket:
            raise UsageError("--local reads a local copy: not with --stack or --bucket")
        with LocalArchive(Path(args.local), prefix=args.prefix or DEFAULT_PREFIX) as archive:
            return html_report.collect(archive, days=args.days, source=f"local copy {archive.root}", now=now)
    session, _region = open_session(profile=args.profile, region=args.region)
    location = resolve_location(args, session, progress)
    today = now.date()
    days = [today - timedelta(days=offset) for offset in range(args.days + 1)]
    with tempfile.TemporaryDirectory(prefix="cfn-hook-archive-report-") as copy:
        with progress.step(f"Copying {len(days)} day(s) of {location.uri}") as step:
            ArchiveReader(session, location).download_partitions(
                days,
                Path(copy),
                on_progress=lambda message: step.update(f"Copying the archive: {message}"),
                annotations=True,
            )
        with LocalArchive(Path(copy), prefix=location.prefix) as archive:
            return html_report.collect(archive, days=args.days, source=location.uri, now=now)


# ---------------------------------------------------------------------------------------------- parsers


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="one row per account-region: last commit, lease, scan progress, outbox, annotations due, "
        "self-audit, last error",
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
    repairing = verify.add_argument_group("repairing")
    repairing.add_argument(
        "--repair",
        action="store_true",
        help="first archive what is missing, through the archiver's own exactly-once run (its write intent, "
        "lease and conditional commit) with the caller's credentials, then verify; exit 4 when a scheduled "
        "run holds the lease",
    )
    repairing.add_argument(
        "--event-bus",
        metavar="NAME",
        help="with --repair: the bus for repaired failures' events (default: the stack's EventBusName "
        "output with --stack, else default)",
    )
    repairing.add_argument(
        "--event-source",
        default=ArchiverConfig.model_fields["event_source"].default,
        help="with --repair: the stack's EventSource parameter (default: %(default)s)",
    )
    repairing.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="with --repair: also print the archiver's own log lines (JSON, as in its Lambda) on stderr",
    )
    verify.set_defaults(run=run_verify)

    add_query_command(commands)
    add_report_command(commands)
    add_replay_command(commands)


def add_query_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "query",
        help="run a named query on Athena (or with DuckDB over a local copy) and print its rows",
        description=_query_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("name", metavar="NAME", help="the named query (queries/NAME.sql)")
    narrowing = command.add_argument_group("narrowing")
    narrowing.add_argument("--days", type=int, metavar="N", help="the last N days instead of the query's own")
    narrowing.add_argument("--hook", metavar="TYPE", help="one hook type name only")
    narrowing.add_argument("--id", metavar="HOOK_RESULT_ID", help="invocation_by_id's id")
    command.add_argument("--format", choices=query.FORMATS, default="table", help="default: table")
    command.add_argument("--json", action="store_true", help="the same as --format json")
    local = command.add_argument_group("DuckDB over a local copy")
    local.add_argument("--local", metavar="DIR", help="a local copy of the archive (dt=YYYY-MM-DD/*.parquet)")
    local.add_argument("--prefix", help=f"the archive's folder inside DIR, if any (default {DEFAULT_PREFIX})")
    aws = command.add_argument_group("Athena")
    aws.add_argument("--profile", help="the AWS profile to use (default: the standard credential chain)")
    aws.add_argument("--region", help="the region (default: AWS_DEFAULT_REGION, then the profile's region)")
    aws.add_argument("--stack", metavar="NAME", help="read the workgroup and database from this stack")
    aws.add_argument("--workgroup", help="the Athena workgroup (instead of --stack)")
    aws.add_argument("--database", help="the Glue database holding hook_results (instead of --stack)")
    command.set_defaults(run=run_query)


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "report",
        help="write a self-contained HTML report with charts of the last --days days",
        description=REPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--days", type=int, default=30, metavar="N", help="the last N days (default: 30)")
    command.add_argument("--out", required=True, metavar="FILE", help="the HTML file to write")
    command.add_argument("--local", metavar="DIR", help="a local copy of the archive instead of S3")
    add_location_options(command)
    command.set_defaults(run=run_report)


# ---------------------------------------------------------------------------------------------- replay

DEFAULT_REPLAY_RATE = 50
DEFAULT_EVENT_SOURCE = ArchiverConfig.model_fields["event_source"].default
REPLAY_DESCRIPTION = f"""\
Send the failure events of archived invocations again: every row of the caller's account and region
with status HOOK_COMPLETE_FAILED or HOOK_FAILED invoked from --since to --until (UTC days, both
included), narrowed to one hook type (--hook) or to some invocations (--ids). Use it after an
outage of a consumer, or to feed a rule added since.

Each event is built by the archiver's own builder, in the same versioned detail schema
(schemas/hook-failure-event.v1.json), with schema_version 1.1 and a `replay` object (replayed_at,
reason); live events have no `replay`. The archive does not keep GetHookResult's annotations and
target: enrichment is status unavailable, error_code NotArchived.

Idempotent for consumers: an event keeps its hook_result_id, so a consumer that drops repeats by it
(as every consumer of these at-least-once events must) sees nothing new; one that has not seen it
gets it once.

PutEvents takes 10 entries a call; at most --rate entries go out in any one second; entries that
fail with a retryable code (throttling, internal errors) are sent again, up to 4 attempts in all.
The bus is --bus, else the stack's EventBusName output; --source is the stack's EventSource.
--dry-run reads the archive, prints the entries it would send (all of them with --json) and sends
nothing.

{LOCATION_HELP}

Exit status: 0 every event was put (or --dry-run); 1 some entries still failed after retries (they
are listed); 2 could not run (bad arguments, no region, unknown profile, missing stack, bucket or
bus); 3 AWS refused or could not be reached (credentials, access denied, network): the replay stops
there, and the events not sent are listed."""


def run_replay(
    args: argparse.Namespace,
    *,
    clock: Clock = _now_ms,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """``monotonic`` and ``sleep`` pace the calls and back off retries (a test gives fakes of both)."""
    try:
        report = build_replay(args, clock=clock, monotonic=monotonic, sleep=sleep)
    except CliError as error:
        return _fail("replay", error)
    print(render.as_json(report.as_json()) if args.json else "\n".join(report.lines()))
    if report.refused_exit_status is not None:
        return report.refused_exit_status
    if report.aws_refused:
        return EXIT_AWS
    return EXIT_OK if report.ok else EXIT_FINDINGS


def build_replay(
    args: argparse.Namespace,
    *,
    clock: Clock,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
) -> replay.ReplayReport:
    since: date = args.since
    until: date = args.until
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    if args.rate < 1:
        raise UsageError("--rate must be at least 1 entry a second")
    if args.source.startswith("aws.") or not 1 <= len(args.source) <= 256:  # noqa: PLR2004  # EventBridge's
        raise UsageError("--source must be 1-256 characters and must not start with 'aws.'")
    pacer = replay.Pacer(args.rate, clock=monotonic, sleep=sleep)
    session, region = open_session(profile=args.profile, region=args.region)
    progress = Progress(json_output=args.json)
    if args.stack and (args.bucket or args.prefix):
        raise UsageError("give --stack, or --bucket and --prefix, not both")
    bus: str | None = args.bus
    if args.stack:
        with progress.step(f"Reading the outputs of stack {args.stack}"):
            outputs = read_stack_outputs(session, args.stack)
        location = from_stack_outputs(args.stack, outputs)
        bus = bus or outputs.get("EventBusName") or None
    else:
        location = resolve_location(args, session, progress)
    if bus is None and not args.dry_run:
        raise UsageError("say which bus to send to: --bus NAME_OR_ARN, or --stack NAME (its EventBusName)")
    account_id = read_caller_account(session)
    rows = _read_rows(
        session, location, progress, since, until, account_id=account_id, region=region, archived_at=True
    )
    selection = replay.select(rows, since=since, until=until, hook=args.hook, ids=args.ids or ())
    events = replay.replay_events(
        selection.rows,
        bucket=location.bucket,
        account_id=account_id,
        region=region,
        source=args.source,
        replayed_at_ms=clock(),
    )
    report = replay.ReplayReport(
        bus=bus,
        source=args.source,
        since=since,
        until=until,
        hook=args.hook,
        dry_run=args.dry_run,
        rate=args.rate,
        events=events,
        not_found=selection.not_found,
    )
    if args.dry_run or not events or bus is None:
        return report
    with progress.step(f"Sending {len(events)} event(s) to {bus}") as step:
        outcome = put_replays(
            session,
            events,
            bus=bus,
            pacer=pacer,
            sleep=sleep,
            on_progress=lambda done, total: step.update(f"Sending events to {bus}: {done}/{total}"),
        )
    report.put, report.calls, report.failed, report.not_sent = (
        outcome.put,
        outcome.calls,
        outcome.failed,
        outcome.not_sent,
    )
    if outcome.refusal is not None:
        report.refused = str(outcome.refusal)
        report.refused_exit_status = outcome.refusal.exit_status
    return report


def add_replay_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "replay",
        help="send the failure events of archived failed invocations again (idempotent by hook_result_id)",
        description=REPLAY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    window = command.add_argument_group("what to replay")
    window.add_argument("--since", type=parse_day, required=True, metavar="DATE", help="first day (UTC)")
    window.add_argument("--until", type=parse_day, required=True, metavar="DATE", help="last day (UTC)")
    window.add_argument("--hook", metavar="TYPE", help="only failures of this hook type name")
    window.add_argument("--ids", nargs="+", action="extend", metavar="ID", help="only these hook_result_ids")
    sending = command.add_argument_group("sending")
    sending.add_argument("--bus", metavar="NAME_OR_ARN", help="the event bus (default: the stack's)")
    sending.add_argument(
        "--source",
        default=DEFAULT_EVENT_SOURCE,
        help=f"the events' source: the stack's EventSource (default: {DEFAULT_EVENT_SOURCE})",
    )
    sending.add_argument(
        "--rate",
        type=int,
        default=DEFAULT_REPLAY_RATE,
        metavar="N",
        help=f"at most N entries a second (default: {DEFAULT_REPLAY_RATE})",
    )
    sending.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    add_location_options(command)
    command.set_defaults(run=run_replay)
