"""`cfn-hook-archive query NAME` over an archive the real archiver wrote.

Locally (--local): every named query's rows equal DuckDB's over the same copy (a connection and translation
made here), and for three of them, narrowed by --days and --hook, the rows counted in plain Python from the
Parquet (pyarrow, no SQL). Then the output shapes, an empty archive and the refusals.

On Athena: moto serves Athena but does not run SQL. Its answers are canned (moto's query-results queue) and
its queries always succeed, so these tests prove the call flow only: the SQL the CLI sends, to which
workgroup and database, the polling until the query ends, the paging of the answer, the header row dropped,
the values typed, the bytes and cost reported, and each failure's exit status. A query that FAILED or was
CANCELLED cannot be made in moto: those come from botocore's Stubber, which checks each request and response
against Athena's service model.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot
from botocore.stub import ANY, Stubber

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import REGION
from hook_archive_cli.__main__ import build_parser, main
from hook_archive_cli.commands import run_query
from tests.cli.conftest import ArchiveSnapshot, CliRun, Operator, _moto_client

QUERIES = Path(__file__).resolve().parents[2] / "queries"
NAMES = sorted(path.stem for path in QUERIES.glob("*.sql")) + sorted(
    f"annotations/{path.stem}" for path in (QUERIES / "annotations").glob("*.sql")
)
ANNOTATION_NAMES = [name for name in NAMES if name.startswith("annotations/")]
FAILED = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})
WORKGROUP = "cfn-hook-archive"
DATABASE = "cfn_hook_archive"

# ------------------------------------------------------------------------------------ the ground truth


def write_copy(objects: dict[str, bytes], directory: Path) -> Path:
    """The archive's Parquet objects (results and annotations) under directory, with their keys:
    `aws s3 sync s3://BUCKET DIR`."""
    for key, body in objects.items():
        if key.startswith((f"{ARCHIVE_PREFIX}/dt=", f"{ARCHIVE_PREFIX}/annotations/dt=")) and key.endswith(
            ".parquet"
        ):
            target = directory / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
    return directory


def read_rows(directory: Path) -> list[dict[str, Any]]:
    """Every archived row with its dt, read with pyarrow: no SQL, no DuckDB."""
    rows: list[dict[str, Any]] = []
    for path in sorted((directory / ARCHIVE_PREFIX).glob("dt=*/*.parquet")):
        dt = path.parent.name.removeprefix("dt=")
        rows.extend({**values, "dt": dt} for values in pq.read_table(path).to_pylist())
    return rows


def read_annotations(directory: Path) -> list[dict[str, Any]]:
    """Every archived annotation with its dt, read with pyarrow: no SQL, no DuckDB."""
    rows: list[dict[str, Any]] = []
    for path in sorted((directory / ARCHIVE_PREFIX / "annotations").glob("dt=*/*.parquet")):
        dt = path.parent.name.removeprefix("dt=")
        rows.extend({**values, "dt": dt} for values in pq.read_table(path).to_pylist())
    return rows


def since(rows: list[dict[str, Any]], days: int) -> list[dict[str, Any]]:
    """The rows a named query's `dt >= current_date - INTERVAL 'days' DAY` reads."""
    first = (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
    return [row for row in rows if row["dt"] >= first]


def target_of(row: dict[str, Any]) -> str:
    return str(row["hook_execution_target"] or row["target_id"])


def truth_failures_per_hook(rows: list[dict[str, Any]], *, days: int, hook: str | None) -> list[list[Any]]:
    counts = Counter(
        (row["type_name"], row["failure_mode"])
        for row in since(rows, days)
        if row["status"] in FAILED and (hook is None or row["type_name"] == hook)
    )
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    return [[name, mode, count] for (name, mode), count in ordered]


def truth_daily(rows: list[dict[str, Any]], *, days: int) -> dict[tuple[str, str], tuple[int, int]]:
    """(dt, hook) -> (failures, invocations)."""
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in since(rows, days):
        cell = cells[(row["dt"], row["type_name"])]
        cell[0] += row["status"] in FAILED
        cell[1] += 1
    return {key: (failures, total) for key, (failures, total) in cells.items()}


def truth_warn_mode(rows: list[dict[str, Any]], *, days: int) -> dict[str, tuple[int, int, int]]:
    """hook -> (warnings, hook errors, distinct targets) of its WARN-mode failures."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in since(rows, days):
        if row["failure_mode"] == "WARN" and row["status"] in FAILED:
            groups[row["type_name"]].append(row)
    return {
        hook: (
            len(group),
            sum(r["status"] == "HOOK_FAILED" for r in group),
            len({target_of(r) for r in group}),
        )
        for hook, group in groups.items()
    }


def truth_top_targets(rows: list[dict[str, Any]], *, days: int) -> list[list[Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in since(rows, days):
        if row["status"] in FAILED:
            groups[(row["target_type"], target_of(row))].append(row)
    ranked = [
        (kind, name, len(group), len({r["type_name"] for r in group}))
        for (kind, name), group in groups.items()
    ]
    return [list(item) for item in sorted(ranked, key=lambda item: (-item[2], item[1], item[0]))[:10]]


def failed_annotations(
    annotations: list[dict[str, Any]], *, days: int, hook: str | None = None
) -> list[dict[str, Any]]:
    return [
        row
        for row in since(annotations, days)
        if row["status"] == "FAILED" and (hook is None or row["type_name"] == hook)
    ]


def truth_top_rules(
    annotations: list[dict[str, Any]], *, days: int, hook: str | None = None
) -> list[list[Any]]:
    """[hook, rule, severity, failures, remediation message, link], the most failed first, at most 20."""
    fields = ("type_name", "annotation_name", "severity_level", "remediation_message", "remediation_link")
    counts = Counter(
        tuple(row[f] for f in fields) for row in failed_annotations(annotations, days=days, hook=hook)
    )
    ranked = [
        [hook_, rule, severity, n, message, link]
        for (hook_, rule, severity, message, link), n in counts.items()
    ]
    return sorted(ranked, key=lambda r: (-r[3], r[0], r[1], r[2], r[4], r[5]))[:20]


SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


def truth_severity(
    annotations: list[dict[str, Any]], *, days: int, hook: str | None = None
) -> list[list[Any]]:
    """[hook, severity, failures, failed invocations], per hook the most severe first."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in failed_annotations(annotations, days=days, hook=hook):
        groups[(row["type_name"], row["severity_level"])].append(row["hook_result_id"])
    ranked = [[hook_, severity, len(ids), len(set(ids))] for (hook_, severity), ids in groups.items()]
    return sorted(ranked, key=lambda r: (r[0], SEVERITY_ORDER.index(r[1]), r[1]))


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def copy_dir(archive_snapshot: ArchiveSnapshot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of the archive the real archiver wrote (four days, every result archived)."""
    return write_copy(archive_snapshot.objects, tmp_path_factory.mktemp("copy"))


@pytest.fixture(scope="module")
def truth(copy_dir: Path) -> list[dict[str, Any]]:
    rows = read_rows(copy_dir)
    assert len(rows) > 50
    return rows


@pytest.fixture(scope="module")
def independent(copy_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB over the copy, set up here: the CLI's view and translation are not reused."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    pattern = str(copy_dir / ARCHIVE_PREFIX / "dt=*" / "*.parquet")
    connection.execute(
        "CREATE VIEW hook_results AS SELECT * FROM read_parquet("  # noqa: S608  # our own temp path
        f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
    )
    annotations = str(copy_dir / ARCHIVE_PREFIX / "annotations" / "dt=*" / "*.parquet")
    connection.execute(
        "CREATE VIEW hook_annotations AS SELECT * FROM read_parquet("  # noqa: S608  # our own temp path
        f"'{annotations}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
    )
    yield connection
    connection.close()


def cli(*argv: str) -> CliRun:
    """The CLI in this process, with no AWS anywhere near (--local needs none)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main(list(argv))
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
    return CliRun(status, stdout.getvalue(), stderr.getvalue())


def _plain(value: Any) -> Any:
    """A DuckDB value as the JSON output shows it: Athena's timestamp text, decimals as numbers."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d} UTC"
    if isinstance(value, Decimal):
        return float(value)
    return value


def a_failed_id(truth: list[dict[str, Any]]) -> str:
    return str(next(row["hook_result_id"] for row in truth if row["status"] in FAILED))


# ------------------------------------------------------------------------------------------ --local


@pytest.mark.parametrize("name", NAMES)
def test_every_named_query_run_locally_returns_duckdbs_rows_over_the_same_archive(
    name: str, copy_dir: Path, independent: duckdb.DuckDBPyConnection, truth: list[dict[str, Any]]
) -> None:
    sql = (QUERIES / f"{name}.sql").read_text()
    extra: list[str] = []
    if name == "invocation_by_id":
        wanted = a_failed_id(truth)
        sql = sql.replace("00000000-0000-0000-0000-000000000000", wanted)
        extra = ["--id", wanted]
    cursor = independent.execute(sqlglot.transpile(sql, read="athena", write="duckdb")[0])
    columns = [column[0] for column in cursor.description]
    expected = [[_plain(value) for value in row] for row in cursor.fetchall()]
    assert expected, f"{name} answers nothing over this archive: the comparison would prove nothing"

    run = cli("query", name, "--local", str(copy_dir), "--json", *extra)

    assert run.exit_status == 0, run.stderr
    assert run.report["columns"] == columns
    assert [[row[column] for column in columns] for row in run.report["rows"]] == expected


def test_failures_per_hook_equals_the_archives_rows_counted_in_python(
    copy_dir: Path, truth: list[dict[str, Any]]
) -> None:
    run = cli("query", "failures_per_hook_last_7_days", "--local", str(copy_dir), "--json")

    assert run.exit_status == 0, run.stderr
    rows = [[row["type_name"], row["failure_mode"], row["failures"]] for row in run.report["rows"]]
    assert rows == truth_failures_per_hook(truth, days=7, hook=None)
    assert run.report["window_days"] == 7


def test_days_and_hook_narrow_failures_per_hook_to_that_window_and_hook(
    copy_dir: Path, truth: list[dict[str, Any]]
) -> None:
    # Given the hook with the most failures, and a window that leaves out the history's oldest days
    (busiest, _mode, _count) = truth_failures_per_hook(truth, days=30, hook=None)[0]
    expected = truth_failures_per_hook(truth, days=1, hook=busiest)
    assert expected
    assert expected != truth_failures_per_hook(truth, days=7, hook=busiest)  # the window matters

    run = cli(
        "query", "failures_per_hook_last_7_days", "--local", str(copy_dir), "--days", "1",
        "--hook", busiest, "--json",
    )  # fmt: skip

    assert run.exit_status == 0, run.stderr
    assert [
        [row["type_name"], row["failure_mode"], row["failures"]] for row in run.report["rows"]
    ] == expected
    assert run.report["window_days"] == 1
    assert "INTERVAL '1' DAY" in run.report["sql"]


def test_daily_failure_trend_narrowed_by_days_counts_each_day_and_hook(
    copy_dir: Path, truth: list[dict[str, Any]]
) -> None:
    run = cli("query", "daily_failure_trend", "--local", str(copy_dir), "--days", "2", "--json")

    assert run.exit_status == 0, run.stderr
    actual = {
        (row["dt"], row["type_name"]): (row["failures"], row["invocations"]) for row in run.report["rows"]
    }
    expected = truth_daily(truth, days=2)
    assert actual == expected
    assert len({day for day, _hook in expected}) == 3  # today and the two days before


def test_top_failing_targets_equals_the_archives_rows_counted_in_python(
    copy_dir: Path, truth: list[dict[str, Any]]
) -> None:
    run = cli("query", "top_failing_targets_last_30_days", "--local", str(copy_dir), "--format", "json")

    assert run.exit_status == 0, run.stderr
    rows = [[row["target_type"], row["target"], row["failures"], row["hooks"]] for row in run.report["rows"]]
    assert rows == truth_top_targets(truth, days=30)


def test_a_hook_name_with_a_quote_is_a_literal_not_sql(copy_dir: Path) -> None:
    run = cli(
        "query", "failures_per_hook_last_7_days", "--local", str(copy_dir), "--hook", "x' OR '1'='1", "--json"
    )

    assert run.exit_status == 0, run.stderr
    assert run.report["rows"] == []


def test_csv_is_a_header_and_one_line_per_row_with_the_json_values(copy_dir: Path) -> None:
    as_json = cli("query", "warn_mode_failures_last_30_days", "--local", str(copy_dir), "--json").report
    run = cli("query", "warn_mode_failures_last_30_days", "--local", str(copy_dir), "--format", "csv")

    assert run.exit_status == 0, run.stderr
    header, *rows = list(csv.reader(io.StringIO(run.stdout)))
    assert (
        header == as_json["columns"] == ["type_name", "warnings", "hook_errors", "targets", "last_warning_at"]
    )
    assert len(rows) == as_json["row_count"] >= 1
    assert rows == [[str(row[column]) for column in header] for row in as_json["rows"]]
    assert rows[0][4].endswith(" UTC")


def test_json_has_the_query_its_sql_columns_and_rows_and_the_table_the_same_rows(copy_dir: Path) -> None:
    run = cli("query", "results_per_account_region_last_7_days", "--local", str(copy_dir), "--json")

    assert run.exit_status == 0, run.stderr
    assert set(run.report) == {
        "query",
        "engine",
        "window_days",
        "sql",
        "columns",
        "row_count",
        "rows",
        "statistics",
    }
    assert run.report["engine"] == "duckdb"
    assert run.report["sql"] == (QUERIES / "results_per_account_region_last_7_days.sql").read_text()
    (row,) = run.report["rows"]
    assert isinstance(row["invocations"], int)
    assert isinstance(row["failures"], int)

    table = cli("query", "results_per_account_region_last_7_days", "--local", str(copy_dir))
    assert table.exit_status == 0
    lines = table.stdout.splitlines()
    assert lines[2].split() == run.report["columns"]
    assert lines[4].split()[:4] == [
        row["account_id"],
        row["region"],
        str(row["invocations"]),
        str(row["failures"]),
    ]
    assert lines[-1] == "1 row(s)"


def test_a_copy_of_the_bucket_prefix_itself_reads_the_same(copy_dir: Path) -> None:
    whole = cli("query", "failures_per_hook_last_7_days", "--local", str(copy_dir), "--json").report
    nested = cli(
        "query", "failures_per_hook_last_7_days", "--local", str(copy_dir / ARCHIVE_PREFIX), "--json"
    ).report

    assert nested["rows"] == whole["rows"] != []


def test_an_empty_archive_answers_no_rows_with_exit_zero_and_says_it_is_empty(tmp_path: Path) -> None:
    run = cli("query", "daily_failure_trend", "--local", str(tmp_path), "--json")

    assert run.exit_status == 0, run.stderr
    assert run.report["rows"] == []
    assert run.report["columns"] == ["dt", "type_name", "failures", "invocations", "failure_pct"]
    assert "the archive is empty" in run.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "no_such_query"], "the named queries are: " + ", ".join(NAMES)),
        (["query", "invocation_by_id"], "invocation_by_id needs --id"),
        (["query", "invocation_by_id", "--id", "abc", "--days", "3"], "has no day window"),
        (["query", "daily_failure_trend", "--id", "abc"], "--id applies to invocation_by_id only"),
        (["query", "invocation_by_id", "--id", "x' OR 1=1 --"], "is not a hook result id"),
        (["query", "daily_failure_trend", "--days", "-1"], "--days must be between"),
    ],
)
def test_a_bad_name_or_narrowing_exits_two_and_says_why(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    run = cli(*argv, "--local", str(tmp_path))

    assert run.exit_status == 2
    assert message in run.stderr
    assert run.stdout == ""


def test_a_local_directory_that_does_not_exist_exits_two(tmp_path: Path) -> None:
    run = cli("query", "daily_failure_trend", "--local", str(tmp_path / "nowhere"))

    assert run.exit_status == 2
    assert "no such directory" in run.stderr


@pytest.fixture(scope="module")
def archived_annotations(copy_dir: Path) -> list[dict[str, Any]]:
    rows = read_annotations(copy_dir)
    assert len({row["type_name"] for row in rows if row["status"] == "FAILED"}) >= 2
    return rows


def test_top_failing_rules_equals_the_archived_annotations_counted_in_python(
    copy_dir: Path, archived_annotations: list[dict[str, Any]]
) -> None:
    run = cli("query", "annotations/top_failing_rules_last_30_days", "--local", str(copy_dir), "--json")

    assert run.exit_status == 0, run.stderr
    fields = [
        "type_name",
        "annotation_name",
        "severity_level",
        "failures",
        "remediation_message",
        "remediation_link",
    ]
    assert [[row[f] for f in fields] for row in run.report["rows"]] == truth_top_rules(
        archived_annotations, days=30
    )
    assert run.report["window_days"] == 30
    assert "FROM hook_annotations" in run.report["sql"]


def test_days_and_hook_narrow_the_annotations_queries_to_that_window_and_hook(
    copy_dir: Path, archived_annotations: list[dict[str, Any]]
) -> None:
    # Given the hook with the most failed rules, and a window that leaves out the history's oldest days
    busiest = max(
        {row[0] for row in truth_severity(archived_annotations, days=30)},
        key=lambda hook: len(failed_annotations(archived_annotations, days=30, hook=hook)),
    )
    expected_rules = truth_top_rules(archived_annotations, days=1, hook=busiest)
    expected_severity = truth_severity(archived_annotations, days=1, hook=busiest)
    assert expected_rules
    assert expected_rules != truth_top_rules(
        archived_annotations, days=30, hook=busiest
    )  # the window matters
    assert expected_severity != truth_severity(archived_annotations, days=1)  # the hook matters

    # The file name alone names an annotations query
    rules = cli(
        "query",
        "top_failing_rules_last_30_days",
        "--local",
        str(copy_dir),
        "--days",
        "1",
        "--hook",
        busiest,
        "--json",
    )
    severity = cli(
        "query", "annotations/failure_severity_per_hook_last_30_days", "--local", str(copy_dir),
        "--days", "1", "--hook", busiest, "--json",
    )  # fmt: skip

    assert rules.exit_status == severity.exit_status == 0, rules.stderr + severity.stderr
    assert rules.report["query"] == "annotations/top_failing_rules_last_30_days"
    fields = [
        "type_name",
        "annotation_name",
        "severity_level",
        "failures",
        "remediation_message",
        "remediation_link",
    ]
    assert [[row[f] for f in fields] for row in rules.report["rows"]] == expected_rules
    assert [
        [row["type_name"], row["severity_level"], row["failures"], row["failed_invocations"]]
        for row in severity.report["rows"]
    ] == expected_severity
    for run in (rules, severity):
        assert run.report["window_days"] == 1
        assert "INTERVAL '1' DAY" in run.report["sql"]
        assert f"type_name = '{busiest}'" in run.report["sql"]


def test_an_annotations_query_over_a_copy_without_annotations_answers_no_rows_and_says_so(
    copy_dir: Path, tmp_path: Path
) -> None:
    # Given a copy of the results only (an archive from before annotations were kept)
    for path in (copy_dir / ARCHIVE_PREFIX).glob("dt=*/*.parquet"):
        target = tmp_path / path.relative_to(copy_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())

    run = cli(
        "query", "annotations/failure_severity_per_hook_last_30_days", "--local", str(tmp_path), "--json"
    )

    assert run.exit_status == 0, run.stderr
    assert run.report["rows"] == []
    assert run.report["columns"] == ["type_name", "severity_level", "failures", "failed_invocations"]
    assert "annotations/dt=*/*.parquet" in run.stderr
    assert "the archive is empty" in run.stderr
    # while a results query over the same copy answers
    assert cli("query", "daily_failure_trend", "--local", str(tmp_path), "--json").report["rows"]


def test_the_help_lists_the_named_queries_the_narrowing_and_the_exit_statuses() -> None:
    run = cli("query", "--help")

    assert run.exit_status == 0
    text = " ".join(run.stdout.split())
    for name in NAMES:
        assert name in text
    for option in ("--days", "--hook", "--id", "--format", "--local", "--stack", "--workgroup", "--database"):
        assert option in text
    assert "2 could not run" in text
    assert "3 AWS refused or could not be reached" in text


# ------------------------------------------------------------------------------------------ Athena


def athena_stack(operator: Operator, name: str = "hook-archive") -> None:
    """A stack with the outputs template.yaml declares for Athena (moto cannot run the SAM template)."""
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-queue"}}},
        "Outputs": {
            "AthenaWorkGroupName": {"Value": WORKGROUP},
            "GlueTableName": {"Value": f"{DATABASE}.hook_results"},
        },
    }
    _moto_client(operator.aws, "cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )
    operator.aws.client("athena").create_work_group(Name=WORKGROUP)


def _moto_api(operator: Operator, path: str, document: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310  # moto's own loopback URL
        f"{operator.aws.moto_url}/moto-api/{path}",
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


def _cell(value: str | None) -> dict[str, str]:
    return {} if value is None else {"VarCharValue": value}


@pytest.fixture
def slow_athena(operator: Operator) -> Iterator[None]:
    """moto's executions move QUEUED -> RUNNING -> SUCCEEDED one step per two GetQueryExecution calls."""
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}}
    _moto_api(operator, "state-manager/set-transition", transition)
    try:
        yield
    finally:
        _moto_api(operator, "state-manager/unset-transition", {"model_name": "athena::execution"})


def test_on_athena_the_named_query_runs_in_the_stacks_workgroup_and_its_answer_is_typed(
    operator: Operator, slow_athena: None
) -> None:
    # Given a stack with its workgroup, and the answer Athena would give: a header row, then the rows
    athena_stack(operator)
    columns = [("type_name", "varchar"), ("failure_mode", "varchar"), ("failures", "bigint")]
    rows: list[list[str | None]] = [
        ["MyOrg::Guard::TaggingPolicy", "WARN", "83"],
        ["AWS::ControlTower::Hook", None, "38"],
    ]
    _moto_api(
        operator,
        "static/athena/query-results",
        {
            "region": REGION,
            "results": [
                {
                    "rows": [
                        {"Data": [_cell(name) for name, _ in columns]},
                        *({"Data": [_cell(value) for value in row]} for row in rows),
                    ],
                    "column_info": [
                        {"Name": name, "Label": name, "Type": kind, "Nullable": "UNKNOWN"}
                        for name, kind in columns
                    ],
                }
            ],
        },
    )

    run = operator.cli(
        "query", "failures_per_hook_last_7_days", "--stack", "hook-archive", "--days", "3",
        "--hook", "MyOrg::Guard::TaggingPolicy", "--json",
    )  # fmt: skip

    assert run.exit_status == 0, run.stderr
    assert run.report["engine"] == "athena"
    assert operator.aws.authorizer is not None
    calls = [verdict.call.operation for verdict in operator.aws.authorizer.verdicts]
    athena_calls = [call for call in calls if call.endswith(("QueryExecution", "QueryResults"))]
    # Started once, polled through QUEUED and RUNNING until it ended, then its answer read once
    assert athena_calls[0] == "StartQueryExecution"
    assert athena_calls[-1] == "GetQueryResults"
    polls = athena_calls[1:-1]
    assert set(polls) == {"GetQueryExecution"}
    assert len(polls) >= 3
    assert run.report["rows"] == [
        {"type_name": "MyOrg::Guard::TaggingPolicy", "failure_mode": "WARN", "failures": 83},
        {"type_name": "AWS::ControlTower::Hook", "failure_mode": None, "failures": 38},
    ]
    statistics = run.report["statistics"]
    assert statistics["bytes_scanned"] == 0  # moto scans nothing: the 10 MB minimum is billed
    assert statistics["cost_usd"] == pytest.approx(10e6 / 1e12 * 5)
    # What Athena was asked: the narrowed SQL, in the stack's workgroup and database, polled to the end
    execution = operator.aws.client("athena").get_query_execution(
        QueryExecutionId=statistics["query_execution_id"]
    )["QueryExecution"]
    assert execution["Query"] == run.report["sql"]
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["QueryExecutionContext"] == {"Database": DATABASE}
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert "INTERVAL '3' DAY" in run.report["sql"]
    assert "type_name = 'MyOrg::Guard::TaggingPolicy'" in run.report["sql"]


def test_on_athena_the_table_shows_bytes_scanned_and_cost(operator: Operator) -> None:
    athena_stack(operator)

    run = operator.cli("query", "daily_failure_trend", "--workgroup", WORKGROUP, "--database", DATABASE)

    assert run.exit_status == 0, run.stderr
    assert f"Athena workgroup {WORKGROUP}, database {DATABASE}" in run.stdout
    assert "0 row(s)" in run.stdout
    assert "scanned 0 bytes (0.00 MB): $0.000050 at $5/TB, billed at least 10 MB a query" in run.stdout


def _stubbed_athena(state: str, status: dict[str, Any]) -> tuple[Any, Stubber]:
    client = boto3.client("athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
    stubber = Stubber(client)
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {"QueryString": ANY, "QueryExecutionContext": {"Database": DATABASE}, "WorkGroup": WORKGROUP},
    )
    stubber.add_response(
        "get_query_execution", {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": "RUNNING"}}}
    )
    stubber.add_response(
        "get_query_execution",
        {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": state, **status}}},
    )
    stubber.activate()
    return client, stubber


@pytest.mark.parametrize(
    ("state", "category", "reason", "exit_status"),
    [
        (
            "FAILED",
            2,
            "TABLE_NOT_FOUND: line 4:6: Table 'awsdatacatalog.cfn_hook_archive.hook_results' does not exist",
            2,
        ),
        ("FAILED", 1, "Query exhausted resources at this scale factor", 3),
        ("CANCELLED", 2, "Bytes scanned limit was exceeded", 2),
    ],
)
def test_a_query_athena_fails_or_cancels_exits_non_zero_with_athenas_reason(
    operator: Operator, state: str, category: int, reason: str, exit_status: int
) -> None:
    client, stubber = _stubbed_athena(
        state, {"StateChangeReason": reason, "AthenaError": {"ErrorCategory": category, "ErrorType": 1301}}
    )
    args = build_parser().parse_args(
        ["query", "daily_failure_trend", "--workgroup", WORKGROUP, "--database", DATABASE]
    )
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = run_query(args, athena_client=client)

    assert status == exit_status
    assert f"Athena query q-1 {state} (Athena error type 1301): {reason}" in stderr.getvalue()
    assert stdout.getvalue() == ""
    stubber.assert_no_pending_responses()  # no GetQueryResults after a failure


def test_athena_with_unknown_credentials_exits_three(operator: Operator) -> None:
    operator.use_credentials("AKIAUNKNOWNUNKNOWN00", "not-a-secret")

    run = operator.cli("query", "daily_failure_trend", "--workgroup", WORKGROUP, "--database", DATABASE)

    assert run.exit_status == 3
    assert "StartQueryExecution in workgroup" in run.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "say where to run the query"),
        (["--stack", "s", "--workgroup", "w"], "not both"),
        (["--workgroup", "w"], "say where to run the query"),
        (["--prefix", "p", "--workgroup", "w", "--database", "d"], "--prefix goes with --local"),
    ],
)
def test_athena_without_a_workgroup_and_database_exits_two(
    operator: Operator, argv: list[str], message: str
) -> None:
    run = operator.cli("query", "daily_failure_trend", *argv)

    assert run.exit_status == 2
    assert message in run.stderr


def test_a_stack_that_does_not_exist_or_has_no_athena_outputs_exits_two(operator: Operator) -> None:
    operator.deploy_stack("archive-only")  # ArchiveBucketName and ArchiveLocation, no Athena outputs

    missing = operator.cli("query", "daily_failure_trend", "--stack", "no-such-stack")
    no_outputs = operator.cli("query", "daily_failure_trend", "--stack", "archive-only")

    assert (missing.exit_status, no_outputs.exit_status) == (2, 2)
    assert "no stack no-such-stack" in missing.stderr
    assert "has no AthenaWorkGroupName and GlueTableName outputs" in no_outputs.stderr


def test_local_and_athena_options_together_exit_two(tmp_path: Path) -> None:
    run = cli("query", "daily_failure_trend", "--local", str(tmp_path), "--workgroup", WORKGROUP)

    assert run.exit_status == 2
    assert "--local runs DuckDB over a local copy" in run.stderr


def test_on_athena_an_annotations_query_reads_hook_annotations_in_the_stacks_database(
    operator: Operator,
) -> None:
    athena_stack(operator)

    run = operator.cli(
        "query", "failure_severity_per_hook_last_30_days", "--stack", "hook-archive", "--days", "3",
        "--hook", "MyOrg::Guard::TaggingPolicy", "--json",
    )  # fmt: skip

    assert run.exit_status == 0, run.stderr
    assert run.report["query"] == "annotations/failure_severity_per_hook_last_30_days"
    execution = operator.aws.client("athena").get_query_execution(
        QueryExecutionId=run.report["statistics"]["query_execution_id"]
    )["QueryExecution"]
    assert execution["Query"] == run.report["sql"]
    assert (execution["WorkGroup"], execution["QueryExecutionContext"]) == (WORKGROUP, {"Database": DATABASE})
    assert "FROM hook_annotations" in execution["Query"]
    assert "INTERVAL '3' DAY" in execution["Query"]
    assert "type_name = 'MyOrg::Guard::TaggingPolicy'" in execution["Query"]
