"""What status and verify print besides their reports: spinners (only for a person at a terminal), the
documented exit statuses, and the arithmetic behind a backfill's progress and ETA and verify's undated
results. No AWS here: pure functions and the argument parser."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from typing import Any

import pytest

from fleet_health.models.report import ArchiverHealth
from hook_archive.models.checkpoint import Checkpoint, ScanProgress
from hook_archive.models.hook_result import HookResult
from hook_archive_cli.__main__ import main
from hook_archive_cli.progress import Progress
from hook_archive_cli.render import duration
from hook_archive_cli.status import RETENTION_MS, CommittedVersion, archiver_status
from hook_archive_cli.verify import UNDATED, ArchivedRow, compare

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
NOW_MS = 1_800_000_000_000


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a person's stderr does."""

    def isatty(self) -> bool:
        return True


# ------------------------------------------------------------------------------------------ spinners


def test_a_person_at_a_terminal_sees_a_spinner_on_stderr() -> None:
    stream = Terminal()
    progress = Progress(json_output=False, stream=stream)

    with progress.step("Listing hook results") as step:
        step.update("Listing hook results: 3 page(s)")

    assert progress.enabled
    assert "Listing hook results" in stream.getvalue()


@pytest.mark.parametrize(
    ("stream", "json_output"),
    [(Terminal(), True), (io.StringIO(), False)],
    ids=["json-at-a-terminal", "stderr-not-a-terminal"],
)
def test_json_output_or_a_pipe_gets_no_spinner(stream: io.StringIO, json_output: bool) -> None:
    progress = Progress(json_output=json_output, stream=stream)

    with progress.step("Listing hook results") as step:
        step.update("still listing")

    assert not progress.enabled
    assert stream.getvalue() == ""


# ------------------------------------------------------------------------------------ help and exits


@pytest.mark.parametrize("command", ["status", "verify"])
def test_each_commands_help_documents_the_exit_statuses(command: str) -> None:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exited:
        main([command, "--help"])

    assert exited.value.code == 0
    text = " ".join(stdout.getvalue().split())
    assert "Exit status: 0 nothing wrong; 1 " in text
    assert "2 could not run" in text
    assert "3 AWS refused or could not be reached" in text
    for option in ("--profile", "--region", "--stack", "--bucket", "--prefix", "--json"):
        assert option in text


def test_durations_show_their_two_largest_units() -> None:
    assert [duration(seconds) for seconds in (0, 59, 61, 3_600, 90_061)] == [
        "0s",
        "59s",
        "1m 1s",
        "1h",
        "1d 1h",
    ]


# ----------------------------------------------------------------------------------- backfill, ETA


def _health(**changes: Any) -> ArchiverHealth:
    values: dict[str, Any] = {
        "account_id": "123456789012",
        "region": "us-east-1",
        "checkpoint_key": "hook-results/_state/123456789012/us-east-1/checkpoint.json",
        "status": "ok",
        "stale": False,
        "last_commit_ms": NOW_MS,
        "last_commit_source": "updated_at",
        "age_hours": 0.0,
        "sequence": 3,
    } | changes
    return ArchiverHealth(**values)


def _backfilling(*, last_ms: int, results_seen: int, committed_ms: int) -> Checkpoint:
    return Checkpoint(
        account_id="123456789012",
        region="us-east-1",
        newest_seen_ms=NOW_MS - HOUR_MS,
        scan=ScanProgress(
            next_token=f"after-{results_seen}",
            results_seen=results_seen,
            out_of_order=False,
            last_ms=last_ms,
            max_ms=NOW_MS - HOUR_MS,
        ),
        updated_at_ms=committed_ms,
    )


def test_a_backfills_eta_comes_from_the_rate_between_commits_and_the_retention_edge_closing_in() -> None:
    # Given a first scan that covered 10 days of history in the hour between two commits, and now stands
    # 50 days back: 40 days before the 90-day edge,
    top = NOW_MS - HOUR_MS
    now_checkpoint = _backfilling(last_ms=top - 50 * DAY_MS, results_seen=5_000, committed_ms=NOW_MS)
    an_hour_before = _backfilling(
        last_ms=top - 40 * DAY_MS, results_seen=4_000, committed_ms=NOW_MS - HOUR_MS
    )
    history = [CommittedVersion(NOW_MS - HOUR_MS, an_hour_before)]

    row = archiver_status(_health(), now_checkpoint, history, now_ms=NOW_MS)

    # then it is 240 ms of history per ms, and the edge rises 1 ms per ms: the ~40 days left close at 241.
    remaining_ms = (top - 50 * DAY_MS) - (NOW_MS - RETENTION_MS)
    assert row.scan.state == "backfill"
    assert row.scan.eta_seconds == round(remaining_ms / 241 / 1000)
    assert row.scan.percent == round(50 * DAY_MS / (top - (NOW_MS - RETENTION_MS)) * 100, 1)
    assert row.scan.oldest_reached_ms == top - 50 * DAY_MS


def test_no_eta_without_an_earlier_commit_of_the_same_scan() -> None:
    checkpoint = _backfilling(last_ms=NOW_MS - 20 * DAY_MS, results_seen=500, committed_ms=NOW_MS)
    # An earlier version from a previous scan that had gone further than this one: not the same scan.
    other_scan = _backfilling(last_ms=NOW_MS - 60 * DAY_MS, results_seen=9_000, committed_ms=NOW_MS - HOUR_MS)

    alone = archiver_status(_health(), checkpoint, [], now_ms=NOW_MS)
    after_another = archiver_status(
        _health(), checkpoint, [CommittedVersion(NOW_MS - HOUR_MS, other_scan)], now_ms=NOW_MS
    )

    assert (alone.scan.eta_seconds, after_another.scan.eta_seconds) == (None, None)
    assert alone.scan.percent is not None


def test_a_scan_listed_out_of_order_shows_results_seen_but_no_percentage() -> None:
    checkpoint = _backfilling(last_ms=NOW_MS - 20 * DAY_MS, results_seen=500, committed_ms=NOW_MS)
    assert checkpoint.scan is not None
    shuffled = checkpoint.model_copy(
        update={"scan": checkpoint.scan.model_copy(update={"out_of_order": True})}
    )

    row = archiver_status(_health(), shuffled, [], now_ms=NOW_MS)

    assert (row.scan.state, row.scan.results_seen, row.scan.percent) == ("backfill", 500, None)


def test_an_unreadable_checkpoint_reports_fleet_healths_problem_as_the_last_error() -> None:
    health = _health(status="malformed", stale=True, sequence=None, problem="format: Input should be ...")

    row = archiver_status(health, None, now_ms=NOW_MS)

    assert (row.health, row.scan.state, row.last_error) == (
        "malformed",
        "unknown",
        "format: Input should be ...",
    )


# --------------------------------------------------------------------------------------- undated rows


def _result(
    hook_result_id: str, *, invoked_at_ms: int | None, status: str = "HOOK_COMPLETE_SUCCEEDED"
) -> HookResult:
    return HookResult(
        hook_result_id=hook_result_id,
        invocation_point="PRE_PROVISION",
        failure_mode="FAIL",
        type_name="MyOrg::Guard::S3",
        type_version_id="00000001",
        type_configuration_version_id="00000001",
        status=status,
        hook_status_reason=None,
        invoked_at_ms=invoked_at_ms,
        target_type="STACK",
        target_id="stack",
        type_arn="arn:aws:cloudformation:us-east-1:123456789012:type/hook/MyOrg-Guard-S3",
        hook_execution_target=None,
    )


def test_results_without_invoked_at_are_matched_by_id_and_reported_as_undated() -> None:
    day = date(2027, 1, 15)
    archived_one = _result("a" * 36, invoked_at_ms=None)
    lost_one = _result("b" * 36, invoked_at_ms=None)
    rows = [ArchivedRow(archived_one, day, "hook-results/dt=2027-01-15/x.parquet")]

    days = compare(
        [archived_one, lost_one], rows, since=day, until=day, now_ms=NOW_MS, late_window_ms=900_000
    )

    undated = {report.day: report for report in days}[UNDATED]
    assert (undated.listed, undated.missing, undated.mismatches) == (2, ["b" * 36], [])
    assert [report.day for report in days] == ["2027-01-15", UNDATED]  # undated last


def test_a_row_archived_in_progress_after_the_timeout_keeps_that_status_by_design() -> None:
    invoked = 1_800_000_000_000
    day = date(2027, 1, 15)
    finished = _result("c" * 36, invoked_at_ms=invoked, status="HOOK_COMPLETE_FAILED")
    abandoned = _result("c" * 36, invoked_at_ms=invoked, status="HOOK_IN_PROGRESS")

    [report] = compare(
        [finished], [ArchivedRow(abandoned, day, "k")], since=day, until=day, now_ms=NOW_MS, late_window_ms=0
    )

    assert (report.archived_in_progress, report.mismatches, report.missing) == (1, [], [])
