"""`cfn-hook-archive status` shows enrichment coverage (failures whose annotations a later run still
fetches) and the daily self-audit, from checkpoints the real archiver committed; checkpoints older than
those fields still render, with "-"."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import ACCOUNT_ID, REGION
from hook_archive.models.checkpoint import Checkpoint
from tests.cli.conftest import Operator

CHECKPOINT_KEY = f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
AUDIT_FIELDS = {
    "next_due_ms",
    "last_completed_ms",
    "last_completed_age_seconds",
    "last_repaired",
    "in_progress",
    "phase",
    "pages",
    "repaired_so_far",
}
HOUR_MS = 3_600_000


def _row(operator: Operator, *, clock: Any = None) -> dict[str, Any]:
    run = operator.cli("status", *operator.location, "--json", **({"clock": clock} if clock else {}))
    assert run.exit_status == 0, run.stderr
    [row] = run.report["archivers"]
    return dict(row)


def _table_row(operator: Operator, *, clock: Any = None) -> tuple[str, str]:
    run = operator.cli("status", *operator.location, **({"clock": clock} if clock else {}))
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.startswith("ARCHIVER"))
    [row] = [line for line in lines if line.startswith(f"{ACCOUNT_ID}/{REGION}")]
    return header, row


def _rewrite_checkpoint(operator: Operator, change: Callable[[Checkpoint], Checkpoint]) -> Checkpoint:
    """The committed checkpoint, changed through the archiver's own model (so it stays valid), put back."""
    s3 = operator.s3()
    body = s3.get_object(Bucket=operator.aws.bucket, Key=CHECKPOINT_KEY)["Body"].read()
    changed = change(Checkpoint.from_json_bytes(body, where=CHECKPOINT_KEY))
    Checkpoint.from_json_bytes(changed.to_json_bytes(), where="the rewritten checkpoint")  # still valid
    document = json.loads(body) | json.loads(changed.to_json_bytes())
    s3.put_object(Bucket=operator.aws.bucket, Key=CHECKPOINT_KEY, Body=json.dumps(document).encode())
    return changed


def test_failures_waiting_for_their_annotations_show_their_count_and_oldest_dt(operator: Operator) -> None:
    # Given a run allowed two GetHookResult calls for many failures, which leaves the rest for later runs,
    operator.seed(days=3, per_day=20)
    operator.harness.runtime_environment["MAX_ENRICHMENTS_PER_RUN"] = "2"
    operator.run_archiver()
    due = operator.harness.checkpoint()["annotations_due"]
    assert due  # control: the archiver really left a catch-up list

    row = _row(operator)

    assert row["annotations"] == {"pending": len(due), "oldest_pending_dt": min(item["dt"] for item in due)}
    header, line = _table_row(operator)
    assert "ANNOTATIONS DUE" in header
    assert f"{len(due)} (oldest {min(item['dt'] for item in due)})" in line


def test_an_archiver_that_enriched_every_failure_has_no_annotations_pending(archived: Operator) -> None:
    row = _row(archived)

    assert archived.harness.checkpoint()["annotations_due"] == []
    assert row["annotations"] == {"pending": 0, "oldest_pending_dt": None}


def test_the_audit_clock_the_first_run_started_shows_no_completed_audit_and_when_one_is_due(
    archived: Operator,
) -> None:
    audit = archived.harness.checkpoint()["audit"]

    row = _row(archived)

    assert set(row["audit"]) == AUDIT_FIELDS
    assert row["audit"] == {
        "next_due_ms": audit["next_due_ms"],
        "last_completed_ms": None,
        "last_completed_age_seconds": None,
        "last_repaired": None,
        "in_progress": False,
        "phase": None,
        "pages": None,
        "repaired_so_far": None,
    }
    _header, line = _table_row(archived)
    assert "last never, due in " in line
    # Once past its due time, it is due now (control: the same row with another clock).
    _header, overdue = _table_row(archived, clock=lambda: audit["next_due_ms"] + 1)
    assert "last never, due now" in overdue


def test_an_audit_in_progress_shows_its_phase_pages_and_what_the_last_one_repaired(
    archived: Operator,
) -> None:
    committed = archived.harness.checkpoint()["updated_at_ms"]

    # Given the archiver's checkpoint as a run cut short in the repair phase of an audit leaves it (the last
    # audit completed 2 h before, having archived 3 results; this one has read 12 pages and archived 1),
    def mid_audit(checkpoint: Checkpoint) -> Checkpoint:
        assert checkpoint.audit is not None  # the first run started the audit clock
        audit = checkpoint.audit.model_copy(
            update={
                "last_completed_ms": committed - 2 * HOUR_MS,
                "last_repaired": 3,
                "started_ms": committed,
                "next_token": "resume-here",
                "phase": "repair",
                "pages": 12,
                "repaired": 1,
            }
        )
        return checkpoint.model_copy(update={"audit": audit})

    checkpoint = _rewrite_checkpoint(archived, mid_audit)
    assert checkpoint.audit is not None

    row = _row(archived, clock=lambda: committed + HOUR_MS)

    assert row["audit"] == {
        "next_due_ms": checkpoint.audit.next_due_ms,
        "last_completed_ms": committed - 2 * HOUR_MS,
        "last_completed_age_seconds": 3 * 3600,
        "last_repaired": 3,
        "in_progress": True,
        "phase": "repair",
        "pages": 12,
        "repaired_so_far": 1,
    }
    _header, line = _table_row(archived, clock=lambda: committed + HOUR_MS)
    assert "repair 12 page(s), last 3h ago (3 repaired), due " in line


def test_a_checkpoint_older_than_the_catch_up_list_and_the_audit_renders_dashes(archived: Operator) -> None:
    # Given a checkpoint as an archiver before annotations_due and audit existed wrote it,
    s3 = archived.s3()
    document = json.loads(s3.get_object(Bucket=archived.aws.bucket, Key=CHECKPOINT_KEY)["Body"].read())
    assert "annotations_due" in document  # control: the current archiver writes both fields
    assert "audit" in document
    for field in ("annotations_due", "audit"):
        del document[field]
    s3.put_object(Bucket=archived.aws.bucket, Key=CHECKPOINT_KEY, Body=json.dumps(document).encode())

    row = _row(archived)

    assert row["health"] == "ok"
    assert row["annotations"] == {"pending": None, "oldest_pending_dt": None}
    assert row["audit"] is None
    header, line = _table_row(archived)
    cells = line.split()
    assert header.split()[-3:] == ["ANNOTATIONS", "DUE", "AUDIT"]
    assert cells[-2:] == ["-", "-"]
