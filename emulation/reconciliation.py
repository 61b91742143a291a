"""Checks the archive against the emulator's ground truth, from the outside: the Parquet objects read
back, the events drained from the SQS queue behind the rule, and the checkpoint object. Never from the
archiver's own counters."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.hook_results_api import GET_HOOK_RESULT, EmulatedHookResult, HookResultsEmulator
from emulation.invariants import Reconciliation
from emulation.lambda_runtime import FunctionSpec, add_code_to_path, function_spec

FAILED = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})
# Archive column -> emulator attribute (and API member name, for omitted fields).
_COMPARED = {
    "invocation_point": ("invocation_point", "InvocationPoint"),
    "failure_mode": ("failure_mode", "FailureMode"),
    "type_name": ("type_name", "TypeName"),
    "type_version_id": ("type_version_id", "TypeVersionId"),
    "type_configuration_version_id": ("type_configuration_version_id", "TypeConfigurationVersionId"),
    "status": ("status", "Status"),
    "hook_status_reason": ("hook_status_reason", "HookStatusReason"),
    "target_type": ("target_type", "TargetType"),
    "target_id": ("target_id", "TargetId"),
    "type_arn": ("type_arn", "TypeArn"),
    "hook_execution_target": ("hook_execution_target", "HookExecutionTarget"),
}


def _expected_value(result: EmulatedHookResult, attribute: str, member: str) -> Any:
    return None if member in result.omitted_fields else getattr(result, attribute)


def reconcile(
    aws: LocalAws,
    harness: ArchiverHarness,
    events: list[dict[str, Any]],
    *,
    exempt_from_events: frozenset[str] = frozenset(),
    late_window_ms: int = 900_000,
) -> Reconciliation:
    """The three invariants: archive == ground truth, failures notified, checkpoint valid and bounded; and
    in steady state every archived failure's annotations in hook_annotations, exactly once (but for those the
    API refused for good)."""
    truth = _terminal_truth(aws.emulator)
    table = harness.read_archive()
    rows = table.to_pylist() if table.num_columns else []
    report = _rows_against_truth(rows, truth)
    for row in rows:
        expected = truth.get(row["hook_result_id"])
        if expected is None:
            continue
        for column, (attribute, member) in _COMPARED.items():
            if row[column] != _expected_value(expected, attribute, member):
                report.mismatched.append(f"{row['hook_result_id']}.{column}: {row[column]!r}")
        invoked = expected.invoked_at.astimezone(UTC)
        if row["invoked_at"] != invoked.replace(microsecond=invoked.microsecond // 1000 * 1000):
            report.mismatched.append(f"{row['hook_result_id']}.invoked_at: {row['invoked_at']!r}")
        if row["dt"] != invoked.date().isoformat():
            report.mismatched.append(f"{row['hook_result_id']}.dt: {row['dt']!r}")
    _events_against_rows(report, rows, events, exempt=exempt_from_events)
    report.checkpoint_problems = _checkpoint_problems(harness, truth, late_window_ms)
    enriching = harness.settings.get("ENRICH_FAILURES", "true").lower() != "false"
    failed_rows = {row["hook_result_id"] for row in rows if row["status"] in FAILED} if enriching else set()
    _check_annotations(report, harness, truth, events, failed_rows - _refused_for_good(aws.emulator, events))
    return report


# GetHookResult answers after which a failure's annotations are lost by design: the archiver counts them by
# reason and does not ask again (logic/annotation_catch_up.py).
_REFUSED_FOR_GOOD = frozenset({"AccessDenied", "HookResultNotFound"})


def _refused_for_good(emulator: HookResultsEmulator, events: list[dict[str, Any]]) -> set[str]:
    """Failures whose annotations the API refused for good: a GetHookResult call for them answered so (the
    emulator's record), or their event says so (a run stops asking after three refusals in a row)."""
    refused = {
        call.params.get("HookResultId", "")
        for call in emulator.calls
        if call.operation == GET_HOOK_RESULT and call.error_code in _REFUSED_FOR_GOOD
    }
    for event in events:
        enrichment = event["detail"].get("enrichment", {})
        if enrichment.get("status") == "unavailable" and enrichment.get("error_code") in _REFUSED_FOR_GOOD:
            refused.add(event["detail"]["hook_result_id"])
    return refused


_ANNOTATION_COLUMNS = {
    "annotation_name": "AnnotationName",
    "status": "Status",
    "status_message": "StatusMessage",
    "remediation_message": "RemediationMessage",
    "remediation_link": "RemediationLink",
    "severity_level": "SeverityLevel",
}


def _check_annotations(
    report: Reconciliation,
    harness: ArchiverHarness,
    truth: dict[str, EmulatedHookResult],
    events: list[dict[str, Any]],
    due: set[str],
) -> None:
    """Every failure some event announced as enriched, and every failure in `due` (in steady state: each
    archived one, the catch-up list having drained), has its API annotations in hook_annotations exactly
    once (as a multiset, in its result's partition); no other invocation has any there."""
    table = harness.read_annotations()
    rows = table.to_pylist() if table.num_columns else []
    report.annotation_rows = len(rows)
    archived: dict[str, Counter[tuple[Any, ...]]] = {}
    for row in rows:
        archived.setdefault(row["hook_result_id"], Counter())[
            tuple(row[column] for column in _ANNOTATION_COLUMNS)
        ] += 1
        expected = truth.get(row["hook_result_id"])
        if expected is None or expected.status not in FAILED:
            report.annotations_mismatched.append(f"{row['hook_result_id']}: not an archived failure")
            continue
        if row["dt"] != expected.invoked_at.astimezone(UTC).date().isoformat():
            report.annotations_mismatched.append(f"{row['hook_result_id']}.dt: {row['dt']!r}")
        if (row["type_name"], row["account_id"], row["region"]) != (expected.type_name, ACCOUNT_ID, REGION):
            report.annotations_mismatched.append(f"{row['hook_result_id']}: type/account/region")
    enriched = {
        event["detail"]["hook_result_id"]
        for event in events
        if event["detail"].get("enrichment", {}).get("status") == "enriched"
    }
    for hook_result_id in enriched | set(archived) | due:
        item = truth.get(hook_result_id)
        if item is None:
            continue
        wanted = Counter(
            tuple(annotation.get(member) for member in _ANNOTATION_COLUMNS.values())
            for annotation in item.annotations
        )
        got = archived.get(hook_result_id, Counter())
        if got == wanted:
            continue
        if (
            got
            and all(got[key] >= wanted[key] for key in wanted)
            and sum(got.values()) > sum(wanted.values())
        ):
            report.annotations_duplicated.add(hook_result_id)
        elif not got and wanted:
            report.annotations_missing.add(hook_result_id)
        else:
            report.annotations_mismatched.append(f"{hook_result_id}: annotations differ from the API's")


def _terminal_truth(emulator: HookResultsEmulator) -> dict[str, EmulatedHookResult]:
    """Everything the API has served and that has finished, including results since past retention."""
    now = emulator.clock()
    return {
        item.hook_result_id: item
        for item in emulator.results()
        if item.status != "HOOK_IN_PROGRESS" and (item.visible_from is None or item.visible_from <= now)
    }


def _rows_against_truth(rows: list[dict[str, Any]], truth: dict[str, EmulatedHookResult]) -> Reconciliation:
    """Invariant 1 by id: each terminal result archived once, nothing else archived."""
    report = Reconciliation(rows=len(rows), expected=len(truth))
    counts = Counter(row["hook_result_id"] for row in rows)
    report.duplicated = {hook_result_id for hook_result_id, count in counts.items() if count > 1}
    report.missing = set(truth) - set(counts)
    report.unexpected = set(counts) - set(truth)
    return report


def _events_against_rows(
    report: Reconciliation,
    rows: list[dict[str, Any]],
    events: list[dict[str, Any]],
    *,
    exempt: frozenset[str] = frozenset(),
) -> None:
    """Invariant 2: every archived failure announced, and no event without its failed row."""
    failed_rows = {row["hook_result_id"] for row in rows if row["status"] in FAILED}
    event_ids = {event["detail"]["hook_result_id"] for event in events}
    report.events = len(events)
    report.failures_without_event = failed_rows - event_ids - exempt
    report.events_without_failed_row = event_ids - failed_rows


def _near_top(truth: dict[str, EmulatedHookResult], late_ms: int) -> int:
    """How many results lie within the late-arrival window of the newest: the bound on known ids."""
    newest = max((item.invoked_at for item in truth.values()), default=datetime.now(UTC))
    horizon_ms = int(newest.timestamp() * 1000) - late_ms
    return sum(1 for item in truth.values() if item.invoked_at.timestamp() * 1000 >= horizon_ms - 1)


def _checkpoint_problems(
    harness: ArchiverHarness, truth: dict[str, EmulatedHookResult], late_ms: int
) -> list[str]:
    _known_ids, problems = checkpoint_problems(
        harness.aws.client("s3"),
        harness.archive_bucket,
        near_top=_near_top(truth, late_ms),
        spec=harness.spec,
    )
    return problems


def checkpoint_problems(
    s3: Any,
    bucket: str,
    *,
    near_top: int,
    spec: FunctionSpec | None = None,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> tuple[int, list[str]]:
    """Invariant 3, read with the product's own store (the JSON and the known-ids object it names, checked
    by SHA-256): the checkpoint is valid, closed (no intent, scan, outbox, or failure still due its
    annotations) and bounded (no more known ids than the `near_top` results within the late-arrival window,
    plus pending ones). Returns the number of known ids and the problems found."""
    add_code_to_path(spec or function_spec())
    from hook_archive.dal.checkpoint_store import S3CheckpointStore  # noqa: PLC0415
    from hook_archive.logic.partitioning import checkpoint_key, known_ids_prefix  # noqa: PLC0415

    where = {"account_id": account_id, "region": region}
    store = S3CheckpointStore(
        bucket=bucket,
        key=checkpoint_key(ARCHIVE_PREFIX, **where),
        known_ids_prefix=known_ids_prefix(ARCHIVE_PREFIX, **where),
        client=s3,
    )
    try:
        checkpoint, _etag = store.load()
    except Exception as error:  # any failure to read or parse is the finding
        return 0, [f"invalid: {error}"]
    if checkpoint is None:
        return 0, ["no checkpoint"]
    problems = []
    if checkpoint.intent is not None:
        problems.append("a write intent is still open")
    if checkpoint.scan is not None:
        problems.append("a scan is still open")
    if checkpoint.outbox:
        problems.append(f"{len(checkpoint.outbox)} event(s) still in the outbox")
    if checkpoint.annotations_due:
        problems.append(f"{len(checkpoint.annotations_due)} failure(s) still due their annotations")
    # Bounded: only ids near the top are remembered, never the whole history.
    if len(checkpoint.known_ids) > near_top + len(checkpoint.pending):
        problems.append(f"{len(checkpoint.known_ids)} known ids for {near_top} results near the top")
    return len(checkpoint.known_ids), problems


def reconcile_member(
    s3: Any,
    bucket: str,
    *,
    account_id: str,
    region: str,
    emulator: HookResultsEmulator,
    events: list[dict[str, Any]],
    late_window_ms: int = 900_000,
) -> Reconciliation:
    """The three invariants for one account-region of a central archive: its objects (the keys naming it)
    hold exactly its API's terminal results, each row says the account and region its key names, every
    failure reached the central bus, and its checkpoint is closed and bounded."""
    truth = _terminal_truth(emulator)
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{ARCHIVE_PREFIX}/dt="):
        for item in page.get("Contents", []):
            if item["Key"].rsplit("/", 1)[1].startswith(f"{account_id}-{region}-"):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    report = _rows_against_truth(rows, truth)
    report.mismatched = [
        f"{row['hook_result_id']}: account_id/region {row['account_id']}/{row['region']}"
        for row in rows
        if (row["account_id"], row["region"]) != (account_id, region)
    ]
    mine = [
        event
        for event in events
        if (event["detail"].get("account_id"), event["detail"].get("region")) == (account_id, region)
    ]
    _events_against_rows(report, rows, mine)
    _known, report.checkpoint_problems = checkpoint_problems(
        s3, bucket, near_top=_near_top(truth, late_window_ms), account_id=account_id, region=region
    )
    return report
