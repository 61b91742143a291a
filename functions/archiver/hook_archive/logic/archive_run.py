"""One archiving run, in the order that makes every crash safe:

1. read the checkpoint (and clean up after a dead run whose lease expired);
2. page ListHookResults, classify, spool new terminal rows locally;
3. if there is anything to write: commit a write intent (conditional write = the lock), upload one object
   per touched partition under keys fixed by the next sequence number, delete a dead run's leftovers;
4. publish failure events (at least once: a crash after this re-sends them);
5. commit the new checkpoint (conditional write). Only now are the rows counted as archived.

A crash before 5 leaves the old checkpoint (with the intent): the next run re-reads the same results,
writes the same keys, and deletes any leftover key it does not rewrite, so no row is lost or doubled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from hook_archive.errors import (
    ArchiveConflictError,
    CheckpointCorruptError,
    HookResultsError,
    MalformedHookResultError,
    PaginationError,
    RunInProgressError,
)
from hook_archive.logic.annotation_catch_up import (
    OVERFLOW,
    as_result,
    bounded,
    due_for,
    gave_up_reason,
    is_permanent,
    oldest_first,
)
from hook_archive.logic.audit import ArchivedIds, Audit, digest_keep_from, digest_of, plan, run_audit
from hook_archive.logic.failure_events import EventEnvelope, build_detail, enrichment_from_api, to_envelope
from hook_archive.logic.partitioning import (
    annotation_key,
    archive_key,
    is_annotation_key,
    key_partition_date,
    partition_date,
    s3_uri,
)
from hook_archive.logic.sweep import Sweep, SweepOutcome
from hook_archive.models.annotation_schema import AnnotationRow, annotation_rows
from hook_archive.models.checkpoint import (
    AnnotationDue,
    AuditProgress,
    Checkpoint,
    DayDigest,
    IdDigests,
    OutboxEntry,
    WriteIntent,
)
from hook_archive.models.failure_event import DETAIL_TYPE, Enrichment
from hook_archive.models.hook_result import HookResult, utc_date
from hook_archive.models.run_report import RunReport, SweepStats

_MAX_CONSECUTIVE_ENRICHMENT_ERRORS = 3
_PUBLISH_SLICE = 100  # PutEvents entries between two deadline checks

logger = Logger(child=True)


class HookResultsSource(Protocol):
    def pages(
        self, start_token: str | None = None
    ) -> Generator[tuple[list[Mapping[str, Any]], str | None], None, None]: ...
    def get_hook_result(self, hook_result_id: str) -> Mapping[str, Any]: ...


class CheckpointStore(Protocol):
    @property
    def location(self) -> str: ...
    def load(self) -> tuple[Checkpoint | None, str | None]: ...
    def save(self, checkpoint: Checkpoint, *, etag: str | None) -> str: ...


class SpooledArchiveObject(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def rows(self) -> int: ...


class ArchiveSpool(Protocol):
    def add(self, key: str, result: HookResult) -> None: ...
    @property
    def keys(self) -> list[str]: ...
    def finish(self) -> Sequence[SpooledArchiveObject]: ...
    def discard(self) -> None: ...


class ArchiveStore(Protocol):
    def upload(self, spooled: Any, *, replacing_etag: str | None = None) -> int: ...
    def read_results(self, key: str) -> tuple[list[HookResult], str | None]: ...
    def delete(self, keys: list[str]) -> None: ...


class AnnotationSpool(Protocol):
    def add(self, key: str, result: AnnotationRow) -> None: ...
    @property
    def keys(self) -> list[str]: ...
    def finish(self) -> Sequence[SpooledArchiveObject]: ...
    def discard(self) -> None: ...


class AnnotationStore(Protocol):
    def upload(self, spooled: Any, *, replacing_etag: str | None = None) -> int: ...
    def read_annotations(self, key: str) -> tuple[list[AnnotationRow], str | None]: ...


class FailedEvent(Protocol):
    @property
    def envelope(self) -> EventEnvelope: ...
    @property
    def error_code(self) -> str: ...
    @property
    def error_message(self) -> str: ...
    @property
    def retryable(self) -> bool: ...


class PublishResult(Protocol):
    @property
    def published(self) -> int: ...
    @property
    def failed(self) -> Sequence[FailedEvent]: ...


class EventSink(Protocol):
    def publish(self, envelopes: Sequence[EventEnvelope]) -> PublishResult: ...


@dataclass(frozen=True)
class ArchiverDependencies:
    hook_results: HookResultsSource
    checkpoints: CheckpointStore
    archive: ArchiveStore
    events: EventSink
    new_spool: Callable[[int], ArchiveSpool]  # archived_at_ms -> an empty spool
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    # The annotations table (GetHookResult's annotations of each enriched failure). Without both, a run
    # archives no annotations (the in-memory tier's fakes of the results table only).
    annotations: AnnotationStore | None = None
    new_annotation_spool: Callable[[int], AnnotationSpool] | None = None
    # The self-audit's reads of the archive's ids (logic/audit.py). Without it, a run never audits.
    archived_ids: ArchivedIds | None = None


@dataclass(frozen=True)
class RunSettings:
    bucket: str
    archive_prefix: str
    account_id: str
    region: str
    event_source: str
    late_window_ms: int
    in_progress_timeout_ms: int
    safety_margin_ms: int
    enrich_failures: bool
    max_enrichments: int
    max_outbox: int
    # The catch-up list of failures whose annotations are still due (logic/annotation_catch_up.py): its
    # bound (MAX_ANNOTATIONS_DUE), and how many passing errors (Throttling, 5xx) one failure may meet before
    # the list gives up on it (ANNOTATION_FETCH_ATTEMPTS). No defaults here: models/config.py owns them.
    max_annotations_due: int
    max_enrichment_attempts: int
    max_events: int = 10_000
    lease_grace_ms: int = 60_000
    # A run that changed nothing still commits when the last commit is this old: `updated_at_ms` then tells
    # an idle archiver (no new results) from a stopped one, for fleet health. One PUT an hour.
    heartbeat_ms: int = 3_600_000
    # The self-audit (logic/audit.py): every this long (0: never), and forced by `verify --repair`.
    audit_interval_ms: int = 0
    audit_forced: bool = False


@dataclass
class _Failure:
    result: HookResult
    key: str


@dataclass
class _Run:
    settings: RunSettings
    deps: ArchiverDependencies
    clock_ms: Callable[[], int]
    deadline_ms: int
    report: RunReport
    failures: list[_Failure] = field(default_factory=list)
    # GetHookResult, shared by this run's failures and the catch-up list: calls made, the current streak of
    # errors and its last code, and the failures whose own call failed.
    enrichment_calls: int = 0
    enrichment_errors: int = 0
    last_enrichment_error: str | None = None
    enrichment_refused: set[str] = field(default_factory=set)
    # The audit's archive digests (models/checkpoint.py IdDigests): of the rows this run spools, per day, and
    # of the days the audit read, which replace the checkpoint's at the commit.
    spooled_digests: dict[date, DayDigest] = field(default_factory=dict)
    resynced_digests: dict[date, DayDigest] = field(default_factory=dict)

    def time_left_for_paging(self) -> bool:
        return self.clock_ms() < self.deadline_ms - self.settings.safety_margin_ms

    def time_left_for_committing(self) -> bool:
        # Half the safety margin stays reserved for the checkpoint commit.
        return self.clock_ms() < self.deadline_ms - self.settings.safety_margin_ms // 2


def run_archive(
    settings: RunSettings, deps: ArchiverDependencies, *, run_id: str, deadline_ms: int
) -> RunReport:
    """Make one archiving run. Errors met once the data is safe go to RunReport.errors, after the commit."""
    clock = deps.clock_ms
    started_ms = clock()
    run = _Run(settings, deps, clock, deadline_ms, RunReport(run_id=run_id))
    checkpoint, etag, orphans = _load_checkpoint(settings, deps.checkpoints, started_ms)
    spool = deps.new_spool(started_ms)
    annotation_spool = _new_annotation_spool(deps, started_ms)
    holding: Checkpoint | None = None  # the checkpoint carrying our write intent, once saved
    try:
        sweep, exhausted, resume_token, scan_error = _scan(run, checkpoint, spool, started_ms)
        adopted_etags: dict[str, str] = {}  # a dead run's objects, replaced only if still as read here
        annotated_ids = _adopt_annotations(
            run, orphans, adopted_etags, annotation_spool, checkpoint.sequence + 1
        )
        _adopt_results(
            run, sweep, spool, orphans, adopted_etags, sequence=checkpoint.sequence + 1, now_ms=started_ms
        )
        outcome = sweep.finish(exhausted=exhausted, resume_token=resume_token)
        sequence = checkpoint.sequence
        for result in outcome.abandoned:
            _spool(run, spool, result, sequence + 1, started_ms)
        _copy_stats(run.report, sweep)
        outcome, audit_state = _audit(
            run, checkpoint, outcome, spool, sequence=sequence + 1, now_ms=started_ms
        )
        # Enriched before the intent: the annotation objects' keys are part of it, like the results'.
        enrichments = _enrich(run)
        annotations_due = _annotate(
            run,
            checkpoint,
            enrichments,
            annotation_spool,
            already_annotated=annotated_ids,
            sequence=sequence + 1,
        )
        annotation_keys = annotation_spool.keys if annotation_spool is not None else []
        if spool.keys or annotation_keys or orphans:
            sequence += 1
            intent = WriteIntent(
                run_id=run_id,
                sequence=sequence,
                object_keys=sorted({*spool.keys, *annotation_keys, *orphans}),
                lease_expires_ms=deadline_ms + settings.lease_grace_ms,
            )
            with_intent = checkpoint.model_copy(update={"intent": intent})
            etag = deps.checkpoints.save(with_intent, etag=etag)
            holding = with_intent  # only now is the lease ours to release
            _write_objects(
                run, spool, annotation_spool, orphans, adopted_etags, lease_expires_ms=intent.lease_expires_ms
            )
        outbox = _publish(run, checkpoint.outbox, started_ms, enrichments)
        new_checkpoint = outcome.applied_to(checkpoint).model_copy(
            update={
                "sequence": sequence,
                "outbox": outbox,
                "annotations_due": annotations_due,
                "intent": None,
                "audit": audit_state,
                "id_digests": _id_digests(run, checkpoint, started_ms),
            }
        )
        heartbeat_due = clock() - (checkpoint.updated_at_ms or 0) >= settings.heartbeat_ms
        if new_checkpoint != checkpoint or etag is None or heartbeat_due:
            if holding is not None and holding.intent is not None:
                _check_lease(run, holding.intent.lease_expires_ms, before="the commit")
            deps.checkpoints.save(new_checkpoint.model_copy(update={"updated_at_ms": clock()}), etag=etag)
            run.report.checkpoint_committed = True
    except Exception:
        if holding is not None:
            _release_lease(deps.checkpoints, holding, etag)
        raise
    finally:
        spool.discard()
        if annotation_spool is not None:
            annotation_spool.discard()
    run.report.sequence = sequence
    run.report.duration_ms = clock() - started_ms
    _report_errors(run.report, scan_error)
    return run.report


def _load_checkpoint(
    settings: RunSettings, checkpoints: CheckpointStore, now_ms: int
) -> tuple[Checkpoint, str | None, list[str]]:
    """The checkpoint, its ETag, and the keys a dead run may have left behind."""
    checkpoint, etag = checkpoints.load()
    if checkpoint is None:
        return Checkpoint.initial(account_id=settings.account_id, region=settings.region), None, []
    if (checkpoint.account_id, checkpoint.region) != (settings.account_id, settings.region):
        raise CheckpointCorruptError(
            f"checkpoint {checkpoints.location} belongs to {checkpoint.account_id}/{checkpoint.region}, "
            f"not {settings.account_id}/{settings.region}"
        )
    if checkpoint.intent is None:
        return checkpoint, etag, []
    if checkpoint.intent.lease_expires_ms > now_ms:
        raise RunInProgressError(
            f"run {checkpoint.intent.run_id} holds the checkpoint lease until "
            f"{checkpoint.intent.lease_expires_ms} (epoch ms); this run did nothing"
        )
    return checkpoint, etag, list(checkpoint.intent.object_keys)


def _report_errors(report: RunReport, scan_error: HookResultsError | None) -> None:
    if scan_error is not None:
        report.errors.append(str(scan_error))
    if report.events_failed:
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(report.event_error_codes.items()))
        report.errors.append(
            f"{report.events_failed} failure event(s) not delivered ({codes}): "
            f"{report.events_outboxed} kept in the outbox for the next run, "
            f"{report.events_dropped} dropped (see the error log)"
        )


def _release_lease(checkpoints: CheckpointStore, holding: Checkpoint, etag: str | None) -> None:
    """After a failure, expire our lease at once so the next run cleans up instead of waiting for it."""
    if holding.intent is None:
        return
    expired = holding.model_copy(update={"intent": holding.intent.model_copy(update={"lease_expires_ms": 0})})
    try:
        checkpoints.save(expired, etag=etag)
    except Exception:  # best effort: the lease also expires by itself
        logger.warning("could not release the checkpoint lease", extra={"run_id": holding.intent.run_id})


def _scan(
    run: _Run, checkpoint: Checkpoint, spool: ArchiveSpool, now_ms: int
) -> tuple[Sweep, bool, str | None, HookResultsError | None]:
    """Page and classify. Returns the sweep, whether the API was exhausted, where to resume, any API error."""
    settings = run.settings
    sweep = Sweep(
        checkpoint,
        late_window_ms=settings.late_window_ms,
        in_progress_timeout_ms=settings.in_progress_timeout_ms,
        now_ms=now_ms,
    )
    sequence = checkpoint.sequence + 1
    resume_token = checkpoint.scan.next_token if checkpoint.scan else None
    pages = run.deps.hook_results.pages(resume_token)
    try:
        for raw_page, next_token in pages:
            run.report.pages += 1
            for result in sweep.observe(_parse(run.report, raw_page)):
                _spool(run, spool, result, sequence, now_ms)
            if next_token is None:
                break
            resume_token = next_token
            if sweep.can_stop_early():
                run.report.stopped_early = True
                return sweep, False, None, None
            if not run.time_left_for_paging():
                run.report.status = "partial_time_budget"
                return sweep, False, resume_token, None
            # Events still in the outbox count too, so a backlog of them slows paging instead of growing.
            if len(run.failures) + len(checkpoint.outbox) >= settings.max_events:
                run.report.status = "partial_event_budget"
                return sweep, False, resume_token, None
    except HookResultsError as error:
        # Keep what was read: it is committed like a time-budget stop, then the error fails the invocation.
        run.report.status = "partial_api_error"
        run.report.detail = str(error)
        if error.error_code == "ValidationError" or isinstance(error, PaginationError):
            resume_token = None  # a token the API refuses (expired, invalid) or loops on: start over
        return sweep, False, resume_token, error
    finally:
        pages.close()
    return sweep, True, None, None


def _audit(
    run: _Run,
    checkpoint: Checkpoint,
    outcome: SweepOutcome,
    spool: ArchiveSpool,
    *,
    sequence: int,
    now_ms: int,
) -> tuple[SweepOutcome, AuditProgress | None]:
    """The self-audit's share of this run, when due and the scan is complete (during a backfill the scan
    itself reads everything). What it finds joins this run's rows and archived ids (logic/audit.py)."""
    settings, report = run.settings, run.report
    archived_ids = run.deps.archived_ids
    audit_plan = plan(
        checkpoint.audit, now_ms=now_ms, interval_ms=settings.audit_interval_ms, forced=settings.audit_forced
    )
    if not audit_plan.due or archived_ids is None or not outcome.complete or report.status != "complete":
        return outcome, audit_plan.state
    known = checkpoint.known_ids
    digests = checkpoint.id_digests

    def archive_digest(day: date) -> DayDigest | None:
        # The archive as the commit will leave it: what the checkpoint counted plus this run's rows so far.
        counted = digests.of(day) if digests is not None else None
        return counted.plus(run.spooled_digests.get(day, DayDigest())) if counted is not None else None

    audit = Audit(
        archived_ids,
        now_ms=now_ms,
        late_window_ms=settings.late_window_ms,
        handled=lambda result_id: result_id in outcome.archived or result_id in outcome.pending,
        archived_in_run=lambda result_id: result_id in outcome.archived,
        remembered=lambda result_id: result_id in known,
        archive_digest=archive_digest,
    )
    result = run_audit(
        audit,
        audit_plan,
        run.deps.hook_results.pages,
        interval_ms=settings.audit_interval_ms,
        may_continue=lambda: (
            run.time_left_for_paging() and len(run.failures) + len(checkpoint.outbox) < settings.max_events
        ),
        archive=lambda missing: _spool(run, spool, missing, sequence, now_ms),
    )
    report.audit_pages = audit.pages
    report.audit_objects_read = audit.objects_read
    report.audit_repaired = len(audit.repaired)
    report.audit_completed = result.completed
    run.resynced_digests = audit.resynced()
    report.archived += len(audit.repaired)
    if result.error is not None:
        report.errors.append(f"self-audit stopped: {result.error}")
    if audit.repaired:
        logger.warning(
            "self-audit archived results missing from the archive",
            extra={"audit_repaired": len(audit.repaired), "hook_result_ids": sorted(audit.repaired)[:100]},
        )
    return replace(outcome, archived={**outcome.archived, **audit.repaired}), result.state


def _id_digests(run: _Run, checkpoint: Checkpoint, now_ms: int) -> IdDigests:
    """The archive digests after this commit: the rows it makes archived added (adopted ones included: their
    dead run never committed them), the days the audit read re-synced. A checkpoint that had none starts them
    after today: the days before may hold rows no digest counted, so they stay unknown until read."""
    digests = checkpoint.id_digests or IdDigests.starting_after(utc_date(now_ms))
    return digests.updated(
        run.spooled_digests, resynced=run.resynced_digests, keep_from=digest_keep_from(now_ms)
    )


def _parse(report: RunReport, raw_page: list[Mapping[str, Any]]) -> Iterator[HookResult]:
    for summary in raw_page:
        try:
            yield HookResult.from_api(summary)
        except MalformedHookResultError:
            report.malformed_results += 1


def _spool(run: _Run, spool: ArchiveSpool, result: HookResult, sequence: int, now_ms: int) -> None:
    settings = run.settings
    day = partition_date(result, fallback_ms=now_ms)
    key = archive_key(
        settings.archive_prefix,
        day,
        account_id=settings.account_id,
        region=settings.region,
        sequence=sequence,
    )
    spool.add(key, result)
    if result.invoked_at_ms is not None:
        run.spooled_digests[day] = run.spooled_digests.get(day, DayDigest()).plus(
            digest_of([result.hook_result_id])
        )
    run.report.partitions[day.isoformat()] = run.report.partitions.get(day.isoformat(), 0) + 1
    if result.is_failure:
        run.failures.append(_Failure(result, key))


def _copy_stats(report: RunReport, sweep: Sweep) -> None:
    for counter in fields(SweepStats):
        setattr(report, counter.name, getattr(sweep.stats, counter.name))
    report.archived = sweep.stats.total_archived()


def _check_lease(run: _Run, lease_expires_ms: int, *, before: str) -> None:
    """A run past its lease may already have been replaced: it must not write or commit anything more.
    (Lambda ends an invocation at its timeout, well inside the lease; this guards any other host.)"""
    if run.clock_ms() >= lease_expires_ms:
        raise ArchiveConflictError(
            f"this run outlived its lease (until {lease_expires_ms} epoch ms) before {before}: "
            "it stops without writing or committing more"
        )


def _write_objects(
    run: _Run,
    spool: ArchiveSpool,
    annotation_spool: AnnotationSpool | None,
    orphans: list[str],
    adopted_etags: Mapping[str, str],
    *,
    lease_expires_ms: int,
) -> None:
    """One object per touched partition and table, then a dead run's leftovers that were not rewritten."""
    keys = spool.keys
    for spooled in spool.finish():
        _check_lease(run, lease_expires_ms, before=f"writing {spooled.key}")
        run.report.bytes_written += run.deps.archive.upload(
            spooled, replacing_etag=adopted_etags.get(spooled.key)
        )
        run.report.objects_written += 1
    if annotation_spool is not None and run.deps.annotations is not None:
        keys = [*keys, *annotation_spool.keys]
        for spooled in annotation_spool.finish():
            _check_lease(run, lease_expires_ms, before=f"writing {spooled.key}")
            run.report.bytes_written += run.deps.annotations.upload(
                spooled, replacing_etag=adopted_etags.get(spooled.key)
            )
            run.report.objects_written += 1
            run.report.annotations_archived += spooled.rows
    leftovers = sorted(set(orphans) - set(keys))
    if leftovers:
        run.deps.archive.delete(leftovers)
        run.report.orphans_deleted = len(leftovers)


def _new_annotation_spool(deps: ArchiverDependencies, archived_at_ms: int) -> AnnotationSpool | None:
    if deps.annotations is None or deps.new_annotation_spool is None:
        return None
    return deps.new_annotation_spool(archived_at_ms)


def _adopt_results(
    run: _Run,
    sweep: Sweep,
    spool: ArchiveSpool,
    orphans: list[str],
    adopted_etags: dict[str, str],
    *,
    sequence: int,
    now_ms: int,
) -> None:
    for key in orphans:
        if is_annotation_key(run.settings.archive_prefix, key):
            continue
        # A dead run's rows are kept, not re-derived: the API may no longer list them (retention).
        rows, object_etag = run.deps.archive.read_results(key)
        if object_etag is not None:
            adopted_etags[key] = object_etag
        for result in sweep.adopt(rows):
            _spool(run, spool, result, sequence, now_ms)


def _adopt_annotations(
    run: _Run,
    orphans: list[str],
    adopted_etags: dict[str, str],
    annotation_spool: AnnotationSpool | None,
    sequence: int,
) -> set[str]:
    """Keep every annotation row of a dead run (its GetHookResult calls are not repeated, and the result may
    be gone from the API by now); return the ids they belong to, which this run then does not add again."""
    store = run.deps.annotations
    settings = run.settings
    annotated: set[str] = set()
    for key in orphans:
        if not is_annotation_key(settings.archive_prefix, key):
            continue
        if store is None or annotation_spool is None:
            raise ArchiveConflictError(
                f"the write intent names the annotation object {key}, but this run cannot archive annotations"
            )
        rows, object_etag = store.read_annotations(key)
        if object_etag is not None:
            adopted_etags[key] = object_etag
        target = annotation_key(
            settings.archive_prefix,
            key_partition_date(key),
            account_id=settings.account_id,
            region=settings.region,
            sequence=sequence,
        )
        for row in rows:
            annotation_spool.add(target, row)
            annotated.add(row.hook_result_id)
        run.report.annotations_adopted += len(rows)
    return annotated


def _annotate(
    run: _Run,
    checkpoint: Checkpoint,
    enrichments: Mapping[str, Enrichment],
    annotation_spool: AnnotationSpool | None,
    *,
    already_annotated: set[str],
    sequence: int,
) -> list[AnnotationDue]:
    """Spool this run's annotations and the catch-up list's; return the new list. A run that cannot write
    annotations keeps the list as it is."""
    if annotation_spool is None:
        return list(checkpoint.annotations_due)
    _spool_annotations(run, annotation_spool, enrichments, already_annotated, sequence)
    return _catch_up(
        run,
        checkpoint.annotations_due,
        enrichments,
        annotation_spool,
        already_annotated=already_annotated,
        sequence=sequence,
    )


def _spool_annotations(
    run: _Run,
    annotation_spool: AnnotationSpool,
    enrichments: Mapping[str, Enrichment],
    already_annotated: set[str],
    sequence: int,
) -> None:
    """The annotations of this run's enriched failures, in their result's partition of the annotations
    table; an id whose rows a dead run left (adopted) is not added twice."""
    for failure in run.failures:
        enrichment = enrichments.get(failure.result.hook_result_id)
        if enrichment is not None:
            _spool_rows(
                run,
                annotation_spool,
                failure.result,
                enrichment,
                day=key_partition_date(failure.key),
                already_annotated=already_annotated,
                sequence=sequence,
            )


def _spool_rows(
    run: _Run,
    annotation_spool: AnnotationSpool,
    result: HookResult,
    enrichment: Enrichment,
    *,
    day: date,
    already_annotated: set[str],
    sequence: int,
) -> None:
    if result.hook_result_id in already_annotated:
        return
    rows = annotation_rows(result, enrichment)
    if not rows:
        return
    # A result spooled twice (adopted, then seen) is annotated once.
    already_annotated.add(result.hook_result_id)
    settings = run.settings
    key = annotation_key(
        settings.archive_prefix,
        day,
        account_id=settings.account_id,
        region=settings.region,
        sequence=sequence,
    )
    for row in rows:
        annotation_spool.add(key, row)


def _may_enrich(run: _Run) -> bool:
    return run.enrichment_calls < run.settings.max_enrichments and run.time_left_for_paging()


def _get_hook_result(run: _Run, hook_result_id: str) -> Mapping[str, Any]:
    """One GetHookResult call, counted against the run's bound; errors extend the streak that stops asking."""
    run.enrichment_calls += 1
    try:
        response = run.deps.hook_results.get_hook_result(hook_result_id)
    except HookResultsError as error:
        run.enrichment_errors += 1
        run.last_enrichment_error = error.error_code
        raise
    run.enrichment_errors = 0
    return response


def _enrich(run: _Run) -> dict[str, Enrichment]:
    settings = run.settings
    run.report.failures = len(run.failures)
    enrichments: dict[str, Enrichment] = {}
    for failure in run.failures:
        result_id = failure.result.hook_result_id
        if not settings.enrich_failures:
            enrichments[result_id] = Enrichment(status="disabled")
        elif run.enrichment_errors >= _MAX_CONSECUTIVE_ENRICHMENT_ERRORS:
            # The API keeps refusing (often a KMS key the role cannot use): stop spending calls on it.
            enrichments[result_id] = Enrichment(status="unavailable", error_code=run.last_enrichment_error)
        elif not _may_enrich(run):
            enrichments[result_id] = Enrichment(status="skipped_run_limit")
            continue
        else:
            try:
                enrichments[result_id] = enrichment_from_api(_get_hook_result(run, result_id))
                run.report.enriched += 1
                continue
            except HookResultsError as error:
                run.enrichment_refused.add(result_id)
                enrichments[result_id] = Enrichment(status="unavailable", error_code=error.error_code)
        if enrichments[result_id].status == "unavailable":
            run.report.enrichment_unavailable += 1
    return enrichments


def _catch_up(
    run: _Run,
    listed: Sequence[AnnotationDue],
    enrichments: Mapping[str, Enrichment],
    annotation_spool: AnnotationSpool,
    *,
    already_annotated: set[str],
    sequence: int,
) -> list[AnnotationDue]:
    """Fetch the annotations of earlier runs' failures (oldest first) with the calls this run's own left,
    spool their rows under this run's intent, and return the new catch-up list: what is still due, then
    this run's failures whose annotations could not be fetched now. Never blocks the run: it only spends
    what remains of the enrichment bound and the time budget."""
    report = run.report
    own = {failure.result.hook_result_id for failure in run.failures}
    kept: list[AnnotationDue] = []
    for item in oldest_first(listed):
        if item.hook_result_id in already_annotated or item.hook_result_id in own:
            continue  # a dead run wrote them (adopted), or this run handles it as its own failure
        if (
            not run.settings.enrich_failures
            or run.enrichment_errors >= _MAX_CONSECUTIVE_ENRICHMENT_ERRORS
            or not _may_enrich(run)
        ):
            kept.append(item)
            continue
        try:
            enrichment = enrichment_from_api(_get_hook_result(run, item.hook_result_id))
        except HookResultsError as error:
            retried = item.model_copy(update={"attempts": item.attempts + 1})
            if is_permanent(error.error_code):
                _annotations_lost(report, error.error_code or "unknown")
            elif retried.attempts >= run.settings.max_enrichment_attempts:
                _annotations_lost(report, gave_up_reason(error.error_code))
            else:
                kept.append(retried)
            continue
        _spool_rows(
            run,
            annotation_spool,
            as_result(item),
            enrichment,
            day=date.fromisoformat(item.dt),
            already_annotated=already_annotated,
            sequence=sequence,
        )
        report.annotations_caught_up += 1
    added = _deferred_annotations(run, enrichments, already_annotated)
    report.annotations_deferred = len(added)
    due, overflow = bounded(kept, added, limit=run.settings.max_annotations_due)
    for item in overflow:
        report.annotations_overflowed += 1
        _annotations_lost(report, OVERFLOW)
        # In the error log with its partition: a GetHookResult by hand can still fetch it for 90 days.
        logger.error("annotations not archived: the catch-up list is full", extra=item.model_dump())
    report.annotations_pending = len(due)
    return due


def _deferred_annotations(
    run: _Run, enrichments: Mapping[str, Enrichment], already_annotated: set[str]
) -> list[AnnotationDue]:
    """This run's failures whose annotations a later run fetches: those past the bound or the time budget,
    and those refused for a passing reason. A permanent refusal is counted here, by its code."""
    added: list[AnnotationDue] = []
    for failure in run.failures:
        result_id = failure.result.hook_result_id
        enrichment = enrichments.get(result_id)
        if enrichment is None or result_id in already_annotated:
            continue
        day = key_partition_date(failure.key)
        if enrichment.status == "skipped_run_limit":
            added.append(due_for(failure.result, dt=day))
        elif enrichment.status == "unavailable":
            if is_permanent(enrichment.error_code):
                _annotations_lost(run.report, enrichment.error_code or "unknown")
            else:  # asked and refused, or not asked once the API kept refusing for a passing reason
                attempts = 1 if result_id in run.enrichment_refused else 0
                if attempts >= run.settings.max_enrichment_attempts:
                    _annotations_lost(run.report, gave_up_reason(enrichment.error_code))
                else:
                    added.append(due_for(failure.result, dt=day, attempts=attempts))
    return added


def _annotations_lost(report: RunReport, reason: str) -> None:
    report.annotations_unavailable += 1
    reasons = report.annotations_unavailable_reasons
    reasons[reason] = reasons.get(reason, 0) + 1


def _publish(
    run: _Run, previous_outbox: list[OutboxEntry], archived_at_ms: int, enrichments: Mapping[str, Enrichment]
) -> list[OutboxEntry]:
    """Send the old outbox and this run's failure events; return the entries to keep for next time."""
    settings = run.settings
    envelopes: list[EventEnvelope] = []
    attempts: dict[int, tuple[str, int]] = {}
    for entry in previous_outbox:
        envelope = EventEnvelope(settings.event_source, DETAIL_TYPE, entry.detail, tuple(entry.resources))
        attempts[id(envelope)] = (entry.hook_result_id, entry.attempts)
        envelopes.append(envelope)
    for failure in run.failures:
        detail = build_detail(
            failure.result,
            account_id=settings.account_id,
            region=settings.region,
            archive_uri=s3_uri(settings.bucket, failure.key),
            archived_at_ms=archived_at_ms,
            enrichment=enrichments[failure.result.hook_result_id],
        )
        envelope = to_envelope(detail, source=settings.event_source)
        attempts[id(envelope)] = (failure.result.hook_result_id, 0)
        envelopes.append(envelope)
    if not envelopes:
        return []
    outbox: list[OutboxEntry] = []
    failed_events: list[FailedEvent] = []
    for start in range(0, len(envelopes), _PUBLISH_SLICE):
        if not run.time_left_for_committing():
            # Out of time: the rest waits in the outbox (never tried, so not a failure) for the next run.
            for envelope in envelopes[start:]:
                hook_result_id, tries = attempts[id(envelope)]
                outbox.append(_outbox_entry(hook_result_id, envelope, tries))
            run.report.events_deferred = len(envelopes) - start
            break
        outcome = run.deps.events.publish(envelopes[start : start + _PUBLISH_SLICE])
        run.report.events_published += outcome.published
        failed_events.extend(outcome.failed)
    run.report.events_failed = len(failed_events)
    for failed in failed_events:
        codes = run.report.event_error_codes
        codes[failed.error_code] = codes.get(failed.error_code, 0) + 1
        hook_result_id, tries = attempts[id(failed.envelope)]
        if failed.retryable and len(outbox) < settings.max_outbox:
            outbox.append(_outbox_entry(hook_result_id, failed.envelope, tries + 1))
        else:
            run.report.events_dropped += 1
            _log_dropped(hook_result_id, failed)
    run.report.events_outboxed = len(outbox)
    return outbox


def _outbox_entry(hook_result_id: str, envelope: EventEnvelope, attempts: int) -> OutboxEntry:
    return OutboxEntry(
        hook_result_id=hook_result_id,
        detail=envelope.detail,
        resources=list(envelope.resources),
        attempts=attempts,
    )


def _log_dropped(hook_result_id: str, failed: FailedEvent) -> None:
    # Kept in the error log with its full detail, so even a dropped event can be replayed by hand.
    logger.error(
        "failure event dropped",
        extra={
            "hook_result_id": hook_result_id,
            "error_code": failed.error_code,
            "error_message": failed.error_message,
            "detail": failed.envelope.detail,
        },
    )
