"""The fakes tier's judge: the fake archive, bus and checkpoint against the fake API's ground truth, read
from the outside (the stored objects, the delivered events), never from the archiver's own counters.
The same three invariants as emulation/reconciliation.py checks on the wire."""

from __future__ import annotations

from collections import Counter

from emulation.invariants import Reconciliation
from hook_archive.logic.partitioning import s3_uri
from hook_archive.models.hook_result import API_FIELDS, FAILED_STATUSES, IN_PROGRESS, HookResult, utc_date
from tests.functional.fakes import FakeWorld

_COMPARED = tuple(name for _, name in API_FIELDS if name not in {"hook_result_id"})
_FINAL_ONLY = frozenset({"status", "hook_status_reason"})


def ground_truth(world: FakeWorld) -> dict[str, HookResult]:
    """Every finished result the API has listed or lists now (including those aged out since)."""
    now = world.clock()
    return {
        stored.result.hook_result_id: stored.result
        for stored in world.api.stored_results()
        if stored.result.status != IN_PROGRESS
        and (stored.visible_from_ms is None or stored.visible_from_ms <= now)
    }


def reconcile(world: FakeWorld, *, exempt_from_events: frozenset[str] = frozenset()) -> Reconciliation:
    """1. archive == ground truth, each row once, with its fields and partition;
    2. every failed row announced by an event that names the object holding it, and no other event;
    3. the checkpoint valid, closed (no intent, scan or outbox) and bounded."""
    truth = ground_truth(world)
    rows = world.archive_rows()
    report = Reconciliation(rows=len(rows), expected=len(truth))
    counts = Counter(row["hook_result_id"] for row in rows)
    report.duplicated = {result_id for result_id, count in counts.items() if count > 1}
    report.missing = set(truth) - set(counts)
    report.unexpected = set(counts) - set(truth)
    settings = world.settings
    for row in rows:
        expected = truth.get(row["hook_result_id"])
        if expected is None:
            continue
        # An invocation still in progress past IN_PROGRESS_TIMEOUT is archived as it stood, by design.
        abandoned = row["status"] == IN_PROGRESS
        for name in _COMPARED:
            if abandoned and name in _FINAL_ONLY:
                continue
            if row[name] != getattr(expected, name):
                report.mismatched.append(f"{row['hook_result_id']}.{name}: {row[name]!r}")
        if expected.invoked_at_ms is not None and row["dt"] != utc_date(expected.invoked_at_ms).isoformat():
            report.mismatched.append(f"{row['hook_result_id']}.dt: {row['dt']!r}")
        if (row["account_id"], row["region"]) != (settings.account_id, settings.region):
            report.mismatched.append(
                f"{row['hook_result_id']}: account/region {row['account_id']}/{row['region']}"
            )
    failed_rows = {row["hook_result_id"]: row["key"] for row in rows if row["status"] in FAILED_STATUSES}
    uris: dict[str, set[str]] = {}
    for event in world.bus.delivered:
        uris.setdefault(event.detail["hook_result_id"], set()).add(event.detail["archive_uri"])
    report.events = len(world.bus.delivered)
    report.failures_without_event = set(failed_rows) - set(uris) - exempt_from_events
    report.events_without_failed_row = set(uris) - set(failed_rows)
    report.events_naming_another_object = {
        result_id
        for result_id, key in failed_rows.items()
        if result_id in uris and s3_uri(settings.bucket, key) not in uris[result_id]
    }
    report.checkpoint_problems = checkpoint_problems(world, truth)
    return report


def checkpoint_problems(world: FakeWorld, truth: dict[str, HookResult]) -> list[str]:
    try:
        checkpoint = world.load_checkpoint()
    except Exception as error:  # any failure to read or parse is the finding
        return [f"invalid: {error}"]
    if checkpoint is None:
        return ["no checkpoint"]
    problems = []
    if checkpoint.intent is not None:
        problems.append("a write intent is still open")
    if checkpoint.scan is not None:
        problems.append("a scan is still open")
    if checkpoint.outbox:
        problems.append(f"{len(checkpoint.outbox)} event(s) still in the outbox")
    # Bounded: only ids within the late-arrival window of the newest result are remembered (and those
    # without InvokedAt, placed at the time they were archived until the newest result passes it).
    positions = [result.invoked_at_ms for result in truth.values() if result.invoked_at_ms is not None]
    horizon = max(positions, default=world.clock()) - world.settings.late_window_ms
    near_top = sum(1 for position in positions if position >= horizon - 1)
    undated = len(truth) - len(positions)
    if len(checkpoint.known_ids) > near_top + undated + len(checkpoint.pending):
        problems.append(f"{len(checkpoint.known_ids)} known ids for {near_top} results near the top")
    return problems
