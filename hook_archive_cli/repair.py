"""``verify --repair``: archive what verify finds missing, through the archiver's own exactly-once run.

It is the scheduled run itself (hook_archive.logic.archive_run.run_archive, with the archiver's own
adapters), made in this process with the caller's credentials for the caller's account and region, with the
self-audit forced (hook_archive.logic.audit): the run pages the whole listing, reads the archive's ids, and
spools what is missing into its own objects under its write intent, then commits the checkpoint
conditionally. A scheduled
run that holds the checkpoint lease makes it refuse (exit 4) without touching anything; a scheduled run that
commits first makes it lose cleanly (exit 4 too). Failure events of repaired failures are published as the
scheduled run would (at least once; consumers drop repeats by detail.hook_result_id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TextIO

import boto3
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from botocore.config import Config

from hook_archive.dal.aws_dependencies import AwsClients, build_dependencies
from hook_archive.errors import ArchiverError, CheckpointConflictError, RunInProgressError
from hook_archive.logic import archive_run
from hook_archive.logic.archive_run import run_archive
from hook_archive.logic.run_settings import settings_for
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.run_report import RunReport
from hook_archive_cli.archive_location import ArchiveLocation
from hook_archive_cli.errors import EXIT_BUSY, AwsAccessError, CliError

# One repair run may take this long (the lease lasts it plus a minute): a whole 90-day listing, at the pace
# bench/RESULTS.md measures, fits many times over.
RUN_BUDGET_MS = 15 * 60_000
# A backfill still in progress makes the audit wait for complete scans: a few runs finish most; more is a job
# for the scheduled archiver.
MAX_RUNS = 5
_CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "total_max_attempts": 10},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="cfn-hook-archive-cli",
)


class LeaseHeldError(CliError):
    """A scheduled run holds the checkpoint lease, or committed while the repair ran: try again later."""

    exit_status = EXIT_BUSY


@dataclass
class RepairOutcome:
    runs: int = 0
    repaired: int = 0  # what the audit found missing and archived
    archived: int = 0  # every row the runs archived (the scan's new results too)
    audit_pages: int = 0
    audit_objects_read: int = 0
    events_published: int = 0
    completed: bool = False  # the audit reached the end of the listing
    errors: list[str] = field(default_factory=list)  # met after the commit (e.g. events kept in the outbox)

    def summary_lines(self) -> list[str]:
        state = "complete" if self.completed else "not complete: run verify --repair again"
        return [
            f"cfn-hook-archive verify --repair: {self.repaired} missing result(s) archived "
            f"({self.archived} in all, {self.events_published} failure event(s) published) in {self.runs} "
            f"archiving run(s); audit {state}: {self.audit_pages} page(s) listed, "
            f"{self.audit_objects_read} archive object(s) read"
        ]

    def as_json(self) -> dict[str, object]:
        return {
            "runs": self.runs,
            "repaired": self.repaired,
            "archived": self.archived,
            "audit_pages": self.audit_pages,
            "audit_objects_read": self.audit_objects_read,
            "events_published": self.events_published,
            "completed": self.completed,
            "errors": self.errors,
        }


def repair(
    session: boto3.Session,
    location: ArchiveLocation,
    *,
    account_id: str,
    region: str,
    late_window_seconds: int,
    event_bus: str,
    event_source: str,
    clock_ms: Callable[[], int] | None = None,
    on_run: Callable[[int], None] | None = None,
    archiver_log: TextIO | None = None,
) -> RepairOutcome:
    """Archiving runs with the audit forced, until one completes its audit (at most MAX_RUNS). The archiver's
    own log lines go to ``archiver_log`` (verify --repair --verbose), else nowhere."""
    try:
        config = ArchiverConfig(
            region=region,
            archive_bucket=location.bucket,
            archive_prefix=location.prefix,
            event_bus_name=event_bus,
            event_source=event_source,
            late_arrival_window_seconds=late_window_seconds,
        )
    except ValueError as error:
        raise CliError(f"cannot repair with these settings: {error}") from None
    clients = AwsClients(
        cloudformation=session.client("cloudformation", config=_CLIENT_CONFIG),
        s3=session.client("s3", config=_CLIENT_CONFIG),
        events=session.client("events", region_name=config.event_bus_region, config=_CLIENT_CONFIG),
    )
    settings = replace(settings_for(config, account_id), audit_forced=True)
    outcome = RepairOutcome()
    with archiver_log_to(archiver_log):
        while not outcome.completed and outcome.runs < MAX_RUNS:
            deps = build_dependencies(config, clients, account_id=account_id)
            if clock_ms is not None:
                deps = replace(deps, clock_ms=clock_ms)
            run_id = f"cfn-hook-archive-repair-{uuid.uuid4()}"
            now_ms = deps.clock_ms()
            if on_run is not None:
                on_run(outcome.runs + 1)
            try:
                report = run_archive(settings, deps, run_id=run_id, deadline_ms=now_ms + RUN_BUDGET_MS)
            except (RunInProgressError, CheckpointConflictError) as error:
                raise LeaseHeldError(
                    f"a scheduled archiving run is under way ({error}); nothing was changed: "
                    "run verify --repair again once it has finished (a few minutes)"
                ) from None
            except ArchiverError as error:
                raise AwsAccessError(
                    f"the repair run failed and committed nothing: {error}", error_code=type(error).__name__
                ) from None
            _add(outcome, report)
    return outcome


@contextmanager
def archiver_log_to(stream: TextIO | None) -> Iterator[None]:
    """While the block runs, the archiver's loggers write to ``stream`` the JSON lines they write in Lambda,
    or nothing (None), and never reach this process's other handlers. Otherwise the run's warnings (the
    self-audit's "archived results missing from the archive") reach logging's last-resort handler on stderr,
    or a Powertools logger's JSON on stdout, in the middle of the CLI's output. The Lambda's logging is not
    touched: this changes this process's loggers only, and only for the block."""
    # Powertools names the archiver's child loggers <service>.<module>: this one is all of hook_archive's.
    archiver = logging.getLogger(f"{archive_run.logger.service}.hook_archive")
    handler: logging.Handler = logging.NullHandler()
    if stream is not None:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(LambdaPowertoolsFormatter(service=archive_run.logger.service))
    propagate = archiver.propagate
    archiver.addHandler(handler)
    archiver.propagate = False
    try:
        yield
    finally:
        archiver.removeHandler(handler)
        archiver.propagate = propagate


def _add(outcome: RepairOutcome, report: RunReport) -> None:
    outcome.runs += 1
    outcome.repaired += report.audit_repaired
    outcome.archived += report.archived
    outcome.audit_pages += report.audit_pages
    outcome.audit_objects_read += report.audit_objects_read
    outcome.events_published += report.events_published
    outcome.completed = report.audit_completed
    outcome.errors.extend(report.errors)
