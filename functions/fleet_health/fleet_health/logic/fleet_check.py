"""The check: every checkpoint under the prefix, judged against one clock. Pure: S3 is behind the
CheckpointSource port, which dal/checkpoint_reader.py implements."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fleet_health.errors import CheckpointGoneError, CheckpointReadError
from fleet_health.logic.checkpoint_keys import account_region_of, state_prefix
from fleet_health.models.checkpoint_view import (
    AuditView,
    CheckpointView,
    MalformedCheckpointError,
    parse_checkpoint,
)
from fleet_health.models.report import ArchiverHealth, CommitSource, FleetReport

_MS_PER_HOUR = 3_600_000
# The audit runs daily (AUDIT_INTERVAL_HOURS); a repair is reported for a day after the audit that made it,
# so each repairing audit raises ArchiversWithAuditRepairs for a day and then clears.
AUDIT_REPAIRS_WINDOW_MS = 24 * _MS_PER_HOUR
Unjudged = Literal["malformed", "unreadable"]


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified_ms: int


class CheckpointSource(Protocol):
    def list_objects(self, prefix: str) -> Iterator[StoredObject]: ...

    def read(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class FleetCheckDependencies:
    checkpoints: CheckpointSource
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)


def is_stale(*, last_commit_ms: int, now_ms: int, stale_after_ms: int) -> bool:
    """No commit for stale_after_ms or longer. A commit stamped in the future (clock skew) is fresh."""
    return now_ms - last_commit_ms >= stale_after_ms


def age_hours(*, last_commit_ms: int, now_ms: int) -> float:
    return round(max(0, now_ms - last_commit_ms) / _MS_PER_HOUR, 2)


def audit_repairs_recent(audit: AuditView | None, *, now_ms: int) -> bool:
    """The last completed audit archived anything, and completed within AUDIT_REPAIRS_WINDOW_MS."""
    if audit is None or audit.last_completed_ms is None or not audit.last_repaired:
        return False
    return now_ms - audit.last_completed_ms < AUDIT_REPAIRS_WINDOW_MS


def assess(
    checkpoint: CheckpointView,
    *,
    account_id: str,
    region: str,
    stored: StoredObject,
    now_ms: int,
    stale_after_ms: int,
) -> ArchiverHealth:
    """One archiver's health from its checkpoint. A checkpoint claiming another account-region than its
    key is reported as malformed: the key is what the bucket policy scopes to the writer."""
    if (checkpoint.account_id, checkpoint.region) != (account_id, region):
        return unusable(
            account_id=account_id,
            region=region,
            stored=stored,
            now_ms=now_ms,
            status="malformed",
            problem=f"names {checkpoint.account_id}/{checkpoint.region}, not the account-region of its key",
        )
    # updated_at_ms is stamped at each commit only; LastModified also moves when a run writes its intent
    # (and then crashes), so it is the fallback for checkpoints written before updated_at_ms existed.
    source: CommitSource = "updated_at"
    last_commit_ms = checkpoint.updated_at_ms
    if last_commit_ms is None:
        source, last_commit_ms = "last_modified", stored.last_modified_ms
    stale = is_stale(last_commit_ms=last_commit_ms, now_ms=now_ms, stale_after_ms=stale_after_ms)
    lease = checkpoint.intent
    audit = checkpoint.audit
    return ArchiverHealth(
        account_id=account_id,
        region=region,
        checkpoint_key=stored.key,
        status="stale" if stale else "ok",
        stale=stale,
        last_commit_ms=last_commit_ms,
        last_commit_source=source,
        age_hours=age_hours(last_commit_ms=last_commit_ms, now_ms=now_ms),
        sequence=checkpoint.sequence,
        lease_holder=lease.run_id if lease else None,
        lease_expires_ms=lease.lease_expires_ms if lease else None,
        lease_live=bool(lease and lease.lease_expires_ms > now_ms),
        outbox=len(checkpoint.outbox),
        scan_open=checkpoint.scan is not None,
        scan_results_seen=checkpoint.scan.results_seen if checkpoint.scan else None,
        audit_completed_ms=audit.last_completed_ms if audit else None,
        audit_repaired=audit.last_repaired if audit else None,
        audit_repairs_recent=audit_repairs_recent(audit, now_ms=now_ms),
    )


def unusable(
    *,
    account_id: str,
    region: str,
    stored: StoredObject,
    now_ms: int,
    status: Unjudged,
    problem: str,
) -> ArchiverHealth:
    """An archiver whose checkpoint cannot be judged: stale, since no commit can be proven (and the
    archiver itself refuses to run on a malformed checkpoint)."""
    return ArchiverHealth(
        account_id=account_id,
        region=region,
        checkpoint_key=stored.key,
        status=status,
        stale=True,
        last_commit_ms=stored.last_modified_ms,
        last_commit_source="last_modified",
        age_hours=age_hours(last_commit_ms=stored.last_modified_ms, now_ms=now_ms),
        problem=problem,
    )


def check_fleet(
    deps: FleetCheckDependencies, *, archive_prefix: str, stale_after_hours: float
) -> FleetReport:
    """Every checkpoint under the prefix; a listing failure raises, one bad checkpoint is one finding."""
    now_ms = deps.clock_ms()
    stale_after_ms = int(stale_after_hours * _MS_PER_HOUR)
    archivers = []
    for stored in deps.checkpoints.list_objects(state_prefix(archive_prefix)):
        names = account_region_of(archive_prefix, stored.key)
        if names is None:
            continue
        account_id, region = names
        try:
            checkpoint = parse_checkpoint(deps.checkpoints.read(stored.key))
        except CheckpointGoneError:
            continue  # deleted since the listing: the account-region is being removed
        except (CheckpointReadError, MalformedCheckpointError) as error:
            status: Unjudged = "malformed" if isinstance(error, MalformedCheckpointError) else "unreadable"
            archivers.append(
                unusable(
                    account_id=account_id,
                    region=region,
                    stored=stored,
                    now_ms=now_ms,
                    status=status,
                    problem=str(error),
                )
            )
            continue
        archivers.append(
            assess(
                checkpoint,
                account_id=account_id,
                region=region,
                stored=stored,
                now_ms=now_ms,
                stale_after_ms=stale_after_ms,
            )
        )
    archivers.sort(key=lambda archiver: (archiver.account_id, archiver.region))
    return FleetReport(checked_at_ms=now_ms, stale_after_hours=stale_after_hours, archivers=archivers)
