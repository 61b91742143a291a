"""What the check finds: one row per account-region, and the fleet's summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

# ok: committed within the threshold. stale: no commit for longer. malformed: not a readable checkpoint
# (the archiver refuses to run on one, so it is stopped too). unreadable: GetObject was refused.
Status = Literal["ok", "stale", "malformed", "unreadable"]
# Where the last commit time came from: the checkpoint's updated_at_ms, else the object's LastModified.
CommitSource = Literal["updated_at", "last_modified"]


@dataclass(frozen=True)
class ArchiverHealth:
    account_id: str
    region: str
    checkpoint_key: str
    status: Status
    stale: bool  # no commit proven within the threshold: counted in StaleArchivers
    last_commit_ms: int
    last_commit_source: CommitSource
    age_hours: float
    sequence: int | None = None
    lease_holder: str | None = None  # the run id of the write intent, if any
    lease_expires_ms: int | None = None
    lease_live: bool = False
    outbox: int = 0  # failure events waiting to be re-sent
    scan_open: bool = False  # a scan cut short by the time budget, to be resumed
    scan_results_seen: int | None = None
    problem: str | None = None  # why malformed or unreadable
    audit_completed_ms: int | None = None  # when the last audit completed (None: none recorded)
    audit_repaired: int | None = None  # what that audit archived (None: not recorded)
    audit_repairs_recent: bool = (
        False  # it repaired any within the window: counted in ArchiversWithAuditRepairs
    )

    @property
    def name(self) -> str:
        return f"{self.account_id}/{self.region}"

    def log_fields(self) -> dict[str, object]:
        """The structured fields of this archiver's log line (what a Logs Insights widget reads)."""
        return asdict(self)


@dataclass(frozen=True)
class FleetReport:
    checked_at_ms: int
    stale_after_hours: float
    archivers: list[ArchiverHealth] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return len(self.archivers)

    @property
    def stale(self) -> list[ArchiverHealth]:
        return [archiver for archiver in self.archivers if archiver.stale]

    @property
    def with_audit_repairs(self) -> list[ArchiverHealth]:
        return [archiver for archiver in self.archivers if archiver.audit_repairs_recent]

    def as_dict(self) -> dict[str, object]:
        return {
            "checked_at_ms": self.checked_at_ms,
            "stale_after_hours": self.stale_after_hours,
            "archivers_seen": self.seen,
            "stale_archivers": len(self.stale),
            "stale": [archiver.name for archiver in self.stale],
            "archivers_with_audit_repairs": len(self.with_audit_repairs),
            "audit_repairs": [archiver.name for archiver in self.with_audit_repairs],
            "archivers": [archiver.log_fields() for archiver in self.archivers],
        }
