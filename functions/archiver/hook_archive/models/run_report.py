"""What one archiving run did: returned by the handler, logged once, and turned into EMF metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

RunStatus = Literal[
    "complete", "partial_time_budget", "partial_event_budget", "partial_api_error", "skipped_run_in_progress"
]


@dataclass(kw_only=True)
class SweepStats:
    """What the sweep (logic/sweep.py) counted; the run report carries the same counters."""

    results_seen: int = 0
    archived_new: int = 0
    archived_completed: int = 0
    archived_abandoned: int = 0
    archived_adopted: int = 0
    deferred_in_progress: int = 0
    already_archived: int = 0
    repeated_in_run: int = 0
    out_of_order: bool = False

    def total_archived(self) -> int:
        return self.archived_new + self.archived_completed + self.archived_abandoned + self.archived_adopted


@dataclass(kw_only=True)
class RunReport(SweepStats):
    run_id: str
    status: RunStatus = "complete"
    pages: int = 0
    malformed_results: int = 0
    archived: int = 0
    stopped_early: bool = False
    failures: int = 0
    events_published: int = 0
    events_failed: int = 0
    events_outboxed: int = 0
    events_dropped: int = 0
    events_deferred: int = 0
    event_error_codes: dict[str, int] = field(default_factory=dict)  # of the events not delivered
    enriched: int = 0
    enrichment_unavailable: int = 0
    annotations_archived: int = 0  # rows written to the annotations table, adopted ones included
    annotations_adopted: int = 0  # of those, rows a dead run had written and this run kept
    # The catch-up list (Checkpoint.annotations_due): failures whose annotations a later run archives.
    annotations_caught_up: int = 0  # listed failures whose annotations this run fetched (and wrote, if any)
    annotations_deferred: int = 0  # this run's failures left for the list (bound, time, throttled)
    annotations_pending: int = 0  # on the list after this run (deferred ones that fit included)
    annotations_overflowed: int = 0  # not put on the list, which was full: never archived (logged)
    # Failures whose annotations will never be archived, overflow included; by reason in the next field.
    annotations_unavailable: int = 0
    # Error code (HookResultNotFound: aged out; AccessDenied: often kms:Decrypt), "<code> (gave up)" after
    # the attempts bound for a passing error, or "overflow".
    annotations_unavailable_reasons: dict[str, int] = field(default_factory=dict)
    objects_written: int = 0
    bytes_written: int = 0
    orphans_deleted: int = 0
    audit_pages: int = 0  # ListHookResults pages the self-audit read in this run (0: no audit this run)
    audit_objects_read: int = 0  # archive objects whose hook_result_id column it read
    audit_repaired: int = 0  # results it found missing from the archive and archived (counted in archived)
    audit_completed: bool = False  # it reached the end of the listing in this run
    partitions: dict[str, int] = field(default_factory=dict)
    checkpoint_committed: bool = False
    sequence: int = 0
    duration_ms: int = 0
    detail: str = ""
    # Problems met after the data was safe: the handler fails the invocation for them after recording.
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        # run_id and status first, as a reader of the log line expects; then every field in its order.
        return {"run_id": self.run_id, "status": self.status} | asdict(self)
