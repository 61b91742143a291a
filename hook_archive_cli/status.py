"""``status``: one row per account-region from the checkpoints under the prefix. Pure: the fleet-health
check (fleet_health/logic/fleet_check.py) judges each checkpoint's commit age and lease, and this module adds
what an operator asks next from the archiver's own checkpoint model: how far a scan has come, how much waits
in the outbox, which failures still wait for their annotations, where the self-audit stands, and what went
wrong last.

The checkpoint is the archiver's only durable record, so "last error" is what it can prove: a run that died
or failed after its write intent (the intent is still there), failure events that PutEvents kept refusing
(outbox entries with attempts), or a checkpoint that cannot be read. Errors that left no trace in the
checkpoint are in the function's logs and alarms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from fleet_health.models.report import ArchiverHealth
from hook_archive.errors import CheckpointCorruptError
from hook_archive.models.checkpoint import Checkpoint

# ListHookResults keeps 90 days: a backfill is done when its scan reaches this far back.
RETENTION_MS = 90 * 86_400_000

ScanState = Literal["complete", "backfill", "catching_up", "unknown"]


@dataclass(frozen=True)
class CommittedVersion:
    """An earlier committed version of the same checkpoint (S3 versioning keeps them), and when it was
    committed."""

    committed_ms: int
    checkpoint: Checkpoint


@dataclass(frozen=True)
class ScanStatus:
    """How far the archiver's scan of ListHookResults has come.

    complete: the last scan finished (reached the end of the listing, or everything older was settled).
    backfill: the first complete scan is still under way, spread over several runs.
    catching_up: a later scan cut short by a run's time or event budget, resumed by the next run.
    unknown: the checkpoint could not be read.
    """

    state: ScanState
    results_seen: int | None = None  # by the open scan, over all its runs
    oldest_reached_ms: int | None = None  # the InvokedAt the open scan has reached, going back in time
    percent: float | None = None  # of the span from the newest result down to where the scan ends
    eta_seconds: int | None = None  # from the rate between earlier commits of this scan; None: not derivable


@dataclass(frozen=True)
class AnnotationsStatus:
    """Enrichment coverage: failures archived without their annotations, which a later run fetches
    (the checkpoint's annotations_due). ``pending`` is None when the checkpoint predates that list."""

    pending: int | None = None
    oldest_pending_dt: str | None = None  # the dt partition of the oldest one waiting


@dataclass(frozen=True)
class AuditStatus:
    """The daily self-audit as the checkpoint records it (models/checkpoint.py AuditProgress)."""

    next_due_ms: int
    last_completed_ms: int | None  # None: no audit has reached the end of the listing yet
    last_completed_age_seconds: int | None
    last_repaired: int | None  # results the last completed audit archived; None: not recorded
    in_progress: bool
    phase: str | None  # compare | repair, while an audit is in progress
    pages: int | None  # read so far by the audit in progress
    repaired_so_far: int | None  # archived so far by the audit in progress


@dataclass(frozen=True)
class ArchiverStatus:
    account_id: str
    region: str
    checkpoint_key: str
    health: str  # ok | stale | malformed | unreadable (fleet_health's judgement)
    last_commit_ms: int
    last_commit_source: str  # updated_at (the commit's own stamp) | last_modified (the object's)
    age_seconds: int
    sequence: int | None
    lease_holder: str | None  # the run id of an open write intent
    lease_expires_ms: int | None
    lease_live: bool
    scan: ScanStatus
    outbox: int  # failure events waiting for the next run
    events_deferred: int  # of those, never tried: the run ran out of time
    events_failing: int  # of those, refused by PutEvents with a retryable code
    pending: int  # invocations HOOK_IN_PROGRESS, waiting for a final status
    annotations: AnnotationsStatus
    audit: AuditStatus | None  # None: no audit recorded (an older archiver) or the checkpoint is unreadable
    last_error: str | None

    @property
    def name(self) -> str:
        return f"{self.account_id}/{self.region}"

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class StatusReport:
    location: str
    checked_at_ms: int
    stale_after_hours: float
    archivers: list[ArchiverStatus]

    @property
    def ok(self) -> bool:
        """Something is archiving here, and every archiver committed recently."""
        return bool(self.archivers) and all(archiver.health == "ok" for archiver in self.archivers)

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "location": self.location,
            "checked_at_ms": self.checked_at_ms,
            "stale_after_hours": self.stale_after_hours,
            "archivers": [archiver.as_json() for archiver in self.archivers],
        }


def iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def read_checkpoint(body: bytes | None, *, where: str) -> tuple[Checkpoint | None, str | None]:
    """The archiver's own model of a checkpoint fleet health could read, or why it cannot be had (a
    checkpoint written by a newer archiver, with fields this CLI does not know)."""
    if body is None:
        return None, None
    try:
        return Checkpoint.from_json_bytes(body, where=where), None
    except CheckpointCorruptError as error:
        return None, f"this CLI cannot read every field of the checkpoint (a newer archiver?): {error}"


def committed_versions(versions: Iterable[tuple[int, bytes]]) -> list[CommittedVersion]:
    """Earlier versions (last modified, body), newest first, reduced to the commits: a version holding a
    write intent is the previous commit's state rewritten at the start of a run, not a commit of its own."""
    committed = []
    for last_modified_ms, body in versions:
        checkpoint, _problem = read_checkpoint(body, where="an earlier version")
        if checkpoint is not None and checkpoint.intent is None:
            committed.append(CommittedVersion(checkpoint.updated_at_ms or last_modified_ms, checkpoint))
    return committed


def retention_floor_ms(now_ms: int) -> int:
    """The oldest InvokedAt ListHookResults still lists."""
    return now_ms - RETENTION_MS


def _scan_target_ms(checkpoint: Checkpoint, now_ms: int) -> int:
    """Where the open scan will end: the edge of the API's retention, or, once an earlier complete scan
    proved newest-first order, the settled range it only has to reach."""
    floor = retention_floor_ms(now_ms)
    if checkpoint.settled_below_ms is not None and checkpoint.order == "newest_first":
        return max(floor, checkpoint.settled_below_ms)
    return floor


def _scan_start(checkpoint: Checkpoint, history: Sequence[CommittedVersion]) -> tuple[int, int] | None:
    """When the open scan was first committed and the InvokedAt it had reached then: the earliest version
    in ``history`` (newest first) that belongs to the same scan."""
    scan = checkpoint.scan
    if scan is None or scan.last_ms is None:
        return None
    start = None
    for version in history:
        earlier = version.checkpoint.scan
        if earlier is None or earlier.last_ms is None:
            break
        if earlier.results_seen > scan.results_seen or earlier.last_ms < scan.last_ms:
            break  # another scan: the one open now started after this version
        start = (version.committed_ms, earlier.last_ms)
    return start


def _eta_seconds(
    checkpoint: Checkpoint, history: Sequence[CommittedVersion], *, target_ms: int, now_ms: int
) -> int | None:
    scan, committed_ms = checkpoint.scan, checkpoint.updated_at_ms
    start = _scan_start(checkpoint, history)
    if scan is None or scan.last_ms is None or committed_ms is None or start is None:
        return None
    start_ms, start_last_ms = start
    elapsed_ms, covered_ms = committed_ms - start_ms, start_last_ms - scan.last_ms
    if elapsed_ms <= 0 or covered_ms <= 0:
        return None
    rate = covered_ms / elapsed_ms  # milliseconds of history scanned per millisecond of wall clock
    # The retention edge moves up as time passes, so the scan meets it sooner than its own rate says.
    closing_rate = rate + 1 if target_ms == retention_floor_ms(now_ms) else rate
    eta_ms = (scan.last_ms - target_ms) / closing_rate - max(0, now_ms - committed_ms)
    return max(0, round(eta_ms / 1000))


def scan_status(checkpoint: Checkpoint, history: Sequence[CommittedVersion], *, now_ms: int) -> ScanStatus:
    scan = checkpoint.scan
    if scan is None:
        return ScanStatus("complete", percent=100.0)
    state: ScanState = "backfill" if checkpoint.settled_below_ms is None else "catching_up"
    if scan.last_ms is None or scan.out_of_order:
        # Listed out of InvokedAt order: where the scan stands in time says nothing about what is left.
        return ScanStatus(state, results_seen=scan.results_seen, oldest_reached_ms=scan.last_ms)
    target = _scan_target_ms(checkpoint, now_ms)
    top = max(value for value in (scan.max_ms, checkpoint.newest_seen_ms, scan.last_ms) if value is not None)
    percent = 100.0 if top <= target else (top - scan.last_ms) / (top - target) * 100
    return ScanStatus(
        state,
        results_seen=scan.results_seen,
        oldest_reached_ms=scan.last_ms,
        percent=round(min(100.0, max(0.0, percent)), 1),
        eta_seconds=_eta_seconds(checkpoint, history, target_ms=target, now_ms=now_ms),
    )


def annotations_status(checkpoint: Checkpoint) -> AnnotationsStatus:
    if "annotations_due" not in checkpoint.model_fields_set:
        return AnnotationsStatus()  # written before the catch-up list existed
    due = checkpoint.annotations_due
    return AnnotationsStatus(pending=len(due), oldest_pending_dt=min((item.dt for item in due), default=None))


def audit_status(checkpoint: Checkpoint, *, now_ms: int) -> AuditStatus | None:
    audit = checkpoint.audit
    if audit is None:
        return None
    completed = audit.last_completed_ms
    return AuditStatus(
        next_due_ms=audit.next_due_ms,
        last_completed_ms=completed,
        last_completed_age_seconds=None if completed is None else max(0, (now_ms - completed) // 1000),
        last_repaired=audit.last_repaired,
        in_progress=audit.in_progress,
        phase=audit.phase if audit.in_progress else None,
        pages=audit.pages if audit.in_progress else None,
        repaired_so_far=audit.repaired if audit.in_progress else None,
    )


def last_error(checkpoint: Checkpoint, *, now_ms: int) -> str | None:
    """What the checkpoint proves went wrong, most recent first; None when it proves nothing."""
    problems = []
    intent = checkpoint.intent
    if intent is not None and intent.lease_expires_ms <= now_ms:
        if intent.lease_expires_ms == 0:
            problems.append(
                f"run {intent.run_id} failed after its write intent and released its lease; the next run "
                "adopts or removes its objects"
            )
        else:
            problems.append(
                f"run {intent.run_id} stopped (killed or timed out) holding its lease, which lapsed at "
                f"{iso(intent.lease_expires_ms)}; the next run adopts or removes its objects"
            )
    failing = [entry for entry in checkpoint.outbox if entry.attempts > 0]
    if failing:
        attempts = max(entry.attempts for entry in failing)
        problems.append(
            f"{len(failing)} failure event(s) refused by PutEvents (up to {attempts} attempt(s)); "
            "the next run sends them again"
        )
    return "; ".join(problems) or None


def archiver_status(
    health: ArchiverHealth,
    checkpoint: Checkpoint | None,
    history: Sequence[CommittedVersion] = (),
    *,
    now_ms: int,
    unreadable_reason: str | None = None,
) -> ArchiverStatus:
    """One row. ``checkpoint`` is None when fleet health could not read the checkpoint, or when the
    archiver's model could not read all of it (``unreadable_reason`` says why)."""
    if checkpoint is None:
        scan = ScanStatus("unknown")
        outbox, deferred, failing, pending = health.outbox, 0, 0, 0
        annotations, audit = AnnotationsStatus(), None
        error = health.problem or unreadable_reason
    else:
        # The rate of a stopped archiver's last commits says nothing about when it will finish.
        scan = scan_status(checkpoint, history if health.status == "ok" else (), now_ms=now_ms)
        outbox, pending = len(checkpoint.outbox), len(checkpoint.pending)
        deferred = sum(1 for entry in checkpoint.outbox if entry.attempts == 0)
        failing = outbox - deferred
        annotations, audit = annotations_status(checkpoint), audit_status(checkpoint, now_ms=now_ms)
        error = last_error(checkpoint, now_ms=now_ms)
    return ArchiverStatus(
        account_id=health.account_id,
        region=health.region,
        checkpoint_key=health.checkpoint_key,
        health=health.status,
        last_commit_ms=health.last_commit_ms,
        last_commit_source=health.last_commit_source,
        age_seconds=max(0, (now_ms - health.last_commit_ms) // 1000),
        sequence=health.sequence,
        lease_holder=health.lease_holder,
        lease_expires_ms=health.lease_expires_ms,
        lease_live=health.lease_live,
        scan=scan,
        outbox=outbox,
        events_deferred=deferred,
        events_failing=failing,
        pending=pending,
        annotations=annotations,
        audit=audit,
        last_error=error,
    )
