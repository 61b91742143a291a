"""`cfn-hook-archive verify`: the live ListHookResults listing against an archive the real archiver wrote,
with gaps, duplicates and mismatches planted the ways they happen, and each way verify can fail to run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import ACCOUNT_ID, REGION
from emulation.synthetic_history import synthetic_results
from tests.cli.conftest import STACK, Operator, day_of, today

REPORT_FIELDS = {
    "ok",
    "account_id",
    "region",
    "location",
    "since",
    "until",
    "checked_at_ms",
    "late_window_seconds",
    "listed",
    "malformed",
    "archived",
    "discrepancies",
    "totals",
    "days",
}
DAY_FIELDS = {
    "day",
    "listed",
    "archived",
    "missing",
    "duplicates",
    "mismatches",
    "not_yet_due",
    "in_progress",
    "not_listed",
    "archived_in_progress",
    "discrepancies",
}


def _days(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {day["day"]: day for day in report["days"]}


def _late_result(*, ago: timedelta, seed: int) -> Any:
    now = datetime.now(UTC)
    [result] = synthetic_results(start=now - ago - timedelta(minutes=1), end=now - ago, count=1, seed=seed)
    return result


# ------------------------------------------------------------------------------------------- success


def test_a_complete_archive_verifies_clean_day_by_day_and_exits_zero(archived: Operator) -> None:
    run = archived.cli("verify", *archived.location, "--json")

    assert run.exit_status == 0, run.stdout + run.stderr
    assert run.stderr == ""  # no spinner: --json, and stderr is not a terminal
    report = run.report
    assert set(report) == REPORT_FIELDS
    assert (report["ok"], report["discrepancies"]) == (True, 0)
    assert (report["account_id"], report["region"]) == (ACCOUNT_ID, REGION)
    assert report["until"] == today().isoformat()
    assert report["since"] == (today() - timedelta(days=90)).isoformat()
    terminal = archived.terminal_ids()
    assert report["listed"] == len(archived.history)
    assert report["archived"] == len(terminal)
    assert set(report["totals"].values()) == {0}
    days = _days(report)
    assert all(set(day) == DAY_FIELDS for day in days.values())
    expected = Counter(day_of(result) for result in archived.history if result.hook_result_id in terminal)
    assert {day: entry["listed"] for day, entry in days.items()} == dict(expected)
    assert {day: entry["archived"] for day, entry in days.items()} == dict(expected)


def test_the_table_shows_a_line_per_day_and_the_totals(archived: Operator) -> None:
    run = archived.cli("verify", *archived.history_window)

    assert run.exit_status == 0
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"cfn-hook-archive verify: account {ACCOUNT_ID}, {REGION}")
    header = lines[2].split()
    assert header[:3] == ["DAY", "LISTED", "ARCHIVED"]
    day_lines = [line for line in lines if line[:4].isdigit()]
    assert len(day_lines) == len({day_of(result) for result in archived.history})
    assert lines[-1].endswith("0 discrepancy(ies): 0 missing, 0 duplicated, 0 mismatched")


def test_the_stack_outputs_give_the_archive_to_verify(archived: Operator) -> None:
    archived.deploy_stack()

    run = archived.cli("verify", "--stack", STACK, "--since", archived.history_window[-1], "--json")

    assert run.exit_status == 0, run.stderr
    assert run.report["location"] == f"s3://{archived.aws.bucket}/{ARCHIVE_PREFIX}/"
    assert run.report["archived"] == len(archived.terminal_ids())


def test_since_limits_the_days_read_and_compared(archived: Operator) -> None:
    last_day = max(day_of(result) for result in archived.history)

    run = archived.cli("verify", *archived.location, "--since", last_day, "--json")

    assert run.exit_status == 0
    assert [day["day"] for day in run.report["days"]] == [last_day]
    on_that_day = [result for result in archived.history if day_of(result) == last_day]
    assert run.report["days"][0]["listed"] == len(on_that_day)
    assert run.report["archived"] == len(on_that_day)


def test_an_id_the_api_lists_twice_is_not_a_duplicate_in_the_archive(archived: Operator) -> None:
    archived.aws.emulator.inject(kind="duplicate_items", times=None)

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 0
    assert run.report["totals"]["duplicates"] == 0


def test_another_accounts_objects_in_the_same_partition_are_not_read(archived: Operator) -> None:
    # Given another account's archiver writing the same partition, as in an Organization's central bucket,
    key = archived.object_keys()[0]
    body = archived.s3().get_object(Bucket=archived.aws.bucket, Key=key)["Body"].read()
    foreign = key.replace(f"{ACCOUNT_ID}-{REGION}-", f"210987654321-{REGION}-")
    archived.s3().put_object(Bucket=archived.aws.bucket, Key=foreign, Body=body)

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 0
    assert run.report["archived"] == len(archived.terminal_ids())


# ------------------------------------------------------------------------------------ discrepancies


def test_a_late_arrival_the_archiver_treats_as_settled_is_reported_missing(archived: Operator) -> None:
    # Given a result that appears in the API a day after it ran, once newer ones were archived (the limit
    # docs/design.md names), and a scheduled run after it,
    late = _late_result(ago=timedelta(days=1), seed=41)
    archived.aws.emulator.add(late)
    assert archived.run_archiver()["archived"] == 0
    # when verify compares,
    run = archived.cli("verify", *archived.history_window, "--json")
    # then it is the one missing result, on its day, and verify fails.
    assert run.exit_status == 1
    assert run.report["ok"] is False
    assert run.report["totals"]["missing"] == 1
    assert _days(run.report)[day_of(late)]["missing"] == [late.hook_result_id]


def test_a_deleted_archive_object_makes_each_of_its_rows_missing_on_its_day(archived: Operator) -> None:
    key = archived.object_keys()[1]
    lost = sorted(archived.ids_in(key))
    archived.s3().delete_object(Bucket=archived.aws.bucket, Key=key)

    run = archived.cli("verify", *archived.history_window, "--json")
    table = archived.cli("verify", *archived.history_window)

    assert run.exit_status == 1
    day = key.split("/dt=", 1)[1].split("/", 1)[0]
    days = _days(run.report)
    assert days[day]["missing"] == lost
    assert days[day]["archived"] == 0
    assert run.report["discrepancies"] == len(lost)
    assert all(not entry["missing"] for name, entry in days.items() if name != day)
    assert table.exit_status == 1
    assert f"{day} missing: {lost[0]}" in table.stdout


def test_an_object_written_twice_under_two_keys_duplicates_each_of_its_rows(archived: Operator) -> None:
    key = archived.object_keys()[0]
    copied = sorted(archived.ids_in(key))
    again = key.replace("-000000000001.parquet", "-000000000099.parquet")
    archived.s3().copy_object(
        Bucket=archived.aws.bucket, Key=again, CopySource={"Bucket": archived.aws.bucket, "Key": key}
    )

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 1
    day = key.split("/dt=", 1)[1].split("/", 1)[0]
    assert _days(run.report)[day]["duplicates"] == copied
    assert _days(run.report)[day]["archived"] == 2 * len(copied)
    assert run.report["totals"] | {"duplicates": 0} == dict.fromkeys(run.report["totals"], 0)


def test_a_field_that_differs_from_the_api_is_a_mismatch_naming_the_field_and_object(
    archived: Operator,
) -> None:
    changed = archived.history[3]
    archived.aws.emulator.update(changed.hook_result_id, type_version_id="00000042")

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 1
    [mismatch] = _days(run.report)[day_of(changed)]["mismatches"]
    assert mismatch["hook_result_id"] == changed.hook_result_id
    assert (mismatch["field"], mismatch["listed"], mismatch["archived"]) == (
        "type_version_id",
        "00000042",
        changed.type_version_id,
    )
    assert mismatch["key"] in archived.object_keys()
    assert run.report["discrepancies"] == 1


def test_an_empty_archive_misses_every_finished_result_the_api_lists(operator: Operator) -> None:
    operator.seed(days=2, per_day=10)

    run = operator.cli("verify", *operator.history_window, "--json")

    assert run.exit_status == 1
    assert run.report["archived"] == 0
    missing = {hook_result_id for day in run.report["days"] for hook_result_id in day["missing"]}
    assert missing == operator.terminal_ids()


# ------------------------------------------------------------------------------- not discrepancies


def test_nothing_listed_and_nothing_archived_verifies_clean(operator: Operator) -> None:
    run = operator.cli("verify", *operator.history_window, "--json")

    assert run.exit_status == 0
    assert (run.report["listed"], run.report["archived"], run.report["days"]) == (0, 0, [])


def test_a_new_result_inside_the_late_arrival_window_is_not_yet_due(archived: Operator) -> None:
    fresh = _late_result(ago=timedelta(minutes=2), seed=42)
    archived.aws.emulator.add(fresh)

    run = archived.cli("verify", *archived.history_window, "--json")
    without_window = archived.cli("verify", *archived.history_window, "--json", "--late-window-seconds", "0")

    assert run.exit_status == 0
    assert run.report["totals"]["not_yet_due"] == 1
    assert without_window.exit_status == 1
    assert _days(without_window.report)[day_of(fresh)]["missing"] == [fresh.hook_result_id]


def test_results_still_in_progress_are_counted_not_missing(archived: Operator) -> None:
    now = datetime.now(UTC)
    running = synthetic_results(
        start=now - timedelta(hours=1, minutes=1),
        end=now - timedelta(hours=1),
        count=1,
        seed=43,
        in_progress_share=1.0,
    )
    archived.aws.emulator.add(*running)

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 0
    assert run.report["totals"]["in_progress"] == 1


# ------------------------------------------------------------------------------------------- failures


def test_unknown_credentials_exit_three(archived: Operator) -> None:
    archived.use_credentials("AKIAIOSFODNN7EXAMPLE", "not-a-secret")

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 3
    assert run.stdout == ""
    assert "InvalidClientTokenId" in run.stderr


def test_a_caller_who_may_read_the_archive_but_not_list_all_hook_results_exits_three(
    archived: Operator,
) -> None:
    # An unfiltered ListHookResults is authorized as cloudformation:ListAllHookResults; ListHookResults
    # alone covers only calls filtered by target.
    reader = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
            {"Effect": "Allow", "Action": "cloudformation:ListHookResults", "Resource": "*"},
        ],
    }
    archived.use_credentials(*archived.iam_user("auditor", reader))

    run = archived.cli("verify", *archived.history_window, "--json")

    assert run.exit_status == 3
    assert "ListHookResults failed: AccessDenied" in run.stderr


def test_a_missing_stack_exits_two(archived: Operator) -> None:
    run = archived.cli("verify", "--stack", "no-such-stack")

    assert run.exit_status == 2
    assert "no stack no-such-stack" in run.stderr


def test_a_since_after_today_or_not_a_date_exits_two(archived: Operator) -> None:
    future = archived.cli("verify", *archived.location, "--since", (today() + timedelta(days=1)).isoformat())
    not_a_date = archived.cli("verify", *archived.location, "--since", "yesterday")

    assert (future.exit_status, not_a_date.exit_status) == (2, 2)
    assert "is after today" in future.stderr
    assert "not a date" in not_a_date.stderr
