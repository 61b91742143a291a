"""`cfn-hook-archive verify --repair`: a planted gap (a late arrival the scheduled archiver settled past) is
found by verify, archived once by --repair through the archiver's own run, and gone from the next verify; a
second --repair archives nothing; a scheduled run's live lease makes it refuse and change nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import ACCOUNT_ID, REGION
from emulation.synthetic_history import synthetic_results
from tests.cli.conftest import Operator, day_of

REPO_ROOT = Path(__file__).resolve().parents[2]
# The self-audit's warning when it archives what the archive lacked (hook_archive/logic/archive_run.py).
AUDIT_WARNING = "self-audit archived results missing from the archive"


def _plant_a_late_failure(archived: Operator, *, seed: int = 43) -> Any:
    """A failed result that appears in the API a day after it ran, once newer ones were archived."""
    now = datetime.now(UTC)
    ago = timedelta(days=1)
    [late] = synthetic_results(start=now - ago - timedelta(minutes=1), end=now - ago, count=1, seed=seed)
    late = dataclasses.replace(late, status="HOOK_COMPLETE_FAILED", hook_status_reason="late")
    archived.aws.emulator.add(late)
    assert archived.run_archiver()["archived"] == 0  # the scheduled run settles past it
    return late


def _archived_ids(archived: Operator) -> Counter[str]:
    return Counter(row for key in archived.object_keys() for row in archived.ids_in(key))


def _repair(archived: Operator, *extra: str) -> Any:
    return archived.cli(
        "verify", *archived.history_window, "--repair", "--event-bus", archived.aws.bus_name, *extra
    )


def test_verify_repair_archives_the_missing_result_once_and_the_next_verify_is_clean(
    archived: Operator,
) -> None:
    # Given a gap verify reports,
    late = _plant_a_late_failure(archived)
    before = archived.cli("verify", *archived.history_window, "--json")
    assert before.exit_status == 1, before.stdout + before.stderr
    assert before.report["totals"]["missing"] == 1
    # when verify --repair runs,
    repaired = _repair(archived, "--json")
    # then it archives that result, announces its failure, and verifies clean,
    assert repaired.exit_status == 0, repaired.stdout + repaired.stderr
    report = repaired.report
    assert (report["ok"], report["discrepancies"]) == (True, 0)
    assert report["repair"]["repaired"] == 1
    assert report["repair"]["completed"] is True
    assert report["repair"]["events_published"] == 1
    assert report["repair"]["errors"] == []
    announced = [event["detail"]["hook_result_id"] for event in archived.aws.receive_events()]
    assert announced == [late.hook_result_id]
    # the next verify finds nothing,
    after = archived.cli("verify", *archived.history_window, "--json")
    assert after.exit_status == 0, after.stdout + after.stderr
    assert after.report["totals"]["missing"] == 0
    # and a second repair archives nothing: each id is in the archive once.
    again = _repair(archived, "--json")
    assert again.exit_status == 0, again.stdout + again.stderr
    assert (again.report["repair"]["repaired"], again.report["repair"]["archived"]) == (0, 0)
    ids = _archived_ids(archived)
    assert ids[late.hook_result_id] == 1
    assert max(ids.values()) == 1
    assert set(ids) == archived.terminal_ids()


def test_verify_repair_says_what_it_repaired_in_its_table(archived: Operator) -> None:
    late = _plant_a_late_failure(archived)
    run = _repair(archived)
    assert run.exit_status == 0, run.stdout + run.stderr
    assert "1 missing result(s) archived" in run.stdout
    assert "audit complete" in run.stdout
    assert day_of(late) in run.stdout


def test_verify_repair_refuses_while_a_scheduled_run_holds_the_lease_and_changes_nothing(
    archived: Operator,
) -> None:
    # Given a gap, and a scheduled run that holds the checkpoint's lease,
    _plant_a_late_failure(archived)
    s3 = archived.s3()
    key = f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
    checkpoint = json.loads(s3.get_object(Bucket=archived.aws.bucket, Key=key)["Body"].read())
    checkpoint["intent"] = {
        "run_id": "scheduled-run",
        "sequence": checkpoint["sequence"] + 1,
        "object_keys": [],
        "lease_expires_ms": time.time_ns() // 1_000_000 + 600_000,
    }
    s3.put_object(Bucket=archived.aws.bucket, Key=key, Body=json.dumps(checkpoint).encode())
    objects = archived.object_keys()
    # when verify --repair runs, then it exits 4 saying why, and the archive and checkpoint are unchanged.
    run = _repair(archived, "--json")
    assert run.exit_status == 4, run.stdout + run.stderr
    assert run.stdout == ""
    assert "scheduled archiving run is under way" in run.stderr
    assert "scheduled-run" in run.stderr
    assert archived.object_keys() == objects
    assert json.loads(s3.get_object(Bucket=archived.aws.bucket, Key=key)["Body"].read()) == checkpoint
    # and the control: the same command once the lease is gone repairs.
    checkpoint["intent"] = None
    s3.put_object(Bucket=archived.aws.bucket, Key=key, Body=json.dumps(checkpoint).encode())
    assert _repair(archived, "--json").report["repair"]["repaired"] == 1


def _repair_in_a_process_of_its_own(archived: Operator, *extra: str) -> subprocess.CompletedProcess[str]:
    """`cfn-hook-archive verify --repair` as an operator runs it: its own interpreter, with no test runner's
    log capture in the way, its stdout and stderr what the terminal would show."""
    paths = ("functions/archiver", "functions/fleet_health", "functions/curator", ".")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / path) for path in paths)}
    argv = ["verify", *archived.history_window, "--repair", "--event-bus", archived.aws.bus_name, *extra]
    return subprocess.run(  # noqa: S603  # this interpreter, our own module and arguments
        [sys.executable, "-m", "hook_archive_cli", *argv],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_verify_repair_keeps_the_archivers_log_lines_off_the_terminal_unless_verbose(
    archived: Operator,
) -> None:
    # Given a gap, whose repair makes the archiver's run log a warning,
    late = _plant_a_late_failure(archived)
    # when verify --repair runs, then its output is its summary and table only: no log line of the archiver.
    quiet = _repair_in_a_process_of_its_own(archived)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "1 missing result(s) archived" in quiet.stdout
    assert AUDIT_WARNING not in quiet.stdout + quiet.stderr
    assert quiet.stderr == ""
    # Control: with --verbose the same warning of a second repair is on stderr, as the Lambda's JSON line.
    later = _plant_a_late_failure(archived, seed=44)
    assert later.hook_result_id != late.hook_result_id
    verbose = _repair_in_a_process_of_its_own(archived, "--verbose", "--json")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert json.loads(verbose.stdout)["repair"]["repaired"] == 1
    [line] = [json.loads(line) for line in verbose.stderr.splitlines() if AUDIT_WARNING in line]
    assert (line["level"], line["message"], line["hook_result_ids"]) == (
        "WARNING",
        AUDIT_WARNING,
        [later.hook_result_id],
    )
