"""Every named query, as Athena SQL, over an archive the real handler wrote: its answer must be the one
computed straight from the emulator's ground truth (Python over the seeded history, never the same SQL).

DuckDB stands in for Athena: the SQL is parsed with sqlglot's Athena dialect and transpiled, the archive is
read through a view shaped like the Glue table (dt a string partition), and the session is in UTC like
Athena's.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import ACCOUNT_ID, REGION, local_aws
from emulation.hook_results_api import EmulatedHookResult
from tests.integration.conftest import seed_history
from tests.template.cfn import REPO_ROOT

QUERIES = REPO_ROOT / "queries"
FAILED = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
Row = tuple[Any, ...]


@dataclass
class Archive:
    connection: duckdb.DuckDBPyConnection
    truth: list[EmulatedHookResult]  # every invocation, in its final state

    def run(self, name: str, **replacements: str) -> list[Row]:
        athena_sql = (QUERIES / f"{name}.sql").read_text()
        for old, new in replacements.items():
            athena_sql = athena_sql.replace(old, new)
        duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
        return [tuple(row) for row in self.connection.execute(duck_sql).fetchall()]

    def since(self, days: int) -> list[EmulatedHookResult]:
        """Results with dt >= today - days, as the queries' partition filter reads."""
        first = today() - timedelta(days=days)
        return [result for result in self.truth if result.invoked_at.astimezone(UTC).date() >= first]


def today() -> date:
    return datetime.now(UTC).date()


def ms(moment: datetime) -> datetime:
    """InvokedAt as archived: UTC, millisecond precision."""
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def target(result: EmulatedHookResult) -> str:
    return result.hook_execution_target or result.target_id


@pytest.fixture(scope="module")
def archive() -> Iterator[Archive]:
    # Given 40 days of history, archived by the real handler and copied out of the local S3
    with local_aws(page_size=100) as aws, tempfile.TemporaryDirectory() as workdir:
        seed_history(aws, days=40, per_day=40, seed=17)
        # Every failure enriched in the one run, so the annotations table holds the whole ground truth.
        harness = ArchiverHarness(
            aws,
            settings={"MAX_ENRICHMENTS_PER_RUN": "10000"},
            runtime_environment={"POWERTOOLS_METRICS_DISABLED": "true"},
        )
        assert harness.run()["status"] == "complete"
        harness.download_archive(workdir)
        now = aws.emulator.clock()
        truth = [item.at(now) for item in aws.emulator.results()]
        assert all(result.status != "HOOK_IN_PROGRESS" for result in truth)
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        pattern = str(Path(workdir) / ARCHIVE_PREFIX / "dt=*" / "*.parquet").replace("'", "''")
        connection.execute(
            "CREATE VIEW hook_results AS SELECT * FROM read_parquet("  # noqa: S608  # our temp path, quoted
            f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
        )
        annotations = str(Path(workdir) / ARCHIVE_PREFIX / "annotations" / "dt=*" / "*.parquet").replace(
            "'", "''"
        )
        connection.execute(
            "CREATE VIEW hook_annotations AS SELECT * FROM read_parquet("  # noqa: S608  # our temp path, quoted
            f"'{annotations}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
        )
        yield Archive(connection, truth)
        connection.close()


@pytest.mark.parametrize(
    "path",
    sorted(QUERIES.rglob("*.sql")),
    ids=lambda path: path.relative_to(QUERIES).with_suffix("").as_posix(),
)
def test_named_query_parses_as_athena_sql_and_transpiles_to_duckdb(path: Path) -> None:
    sql = path.read_text()
    (statement,) = sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    assert statement is not None
    assert isinstance(statement, sqlglot.exp.Query)
    assert statement.find(sqlglot.exp.Table).name in {"hook_results", "hook_annotations"}  # type: ignore[union-attr]
    sqlglot.transpile(sql, read="athena", write="duckdb", error_level=sqlglot.ErrorLevel.RAISE)


def test_failures_per_hook_last_7_days(archive: Archive) -> None:
    counts = Counter((r.type_name, r.failure_mode) for r in archive.since(7) if r.status in FAILED)
    expected = sorted(
        ((hook, mode, n) for (hook, mode), n in counts.items()), key=lambda row: (-row[2], row[0])
    )
    assert expected
    assert archive.run("failures_per_hook_last_7_days") == expected


def test_top_failing_targets_last_30_days(archive: Archive) -> None:
    failures: dict[tuple[str, str], list[EmulatedHookResult]] = defaultdict(list)
    for result in archive.since(30):
        if result.status in FAILED:
            failures[(result.target_type, target(result))].append(result)
    rows = [
        (kind, name, len(group), len({r.type_name for r in group}))
        for (kind, name), group in failures.items()
    ]
    expected = sorted(rows, key=lambda row: (-row[2], row[1], row[0]))[:10]
    assert len(expected) == 10
    assert archive.run("top_failing_targets_last_30_days") == expected


def _failed_annotations(archive: Archive, days: int) -> Iterator[tuple[EmulatedHookResult, dict[str, str]]]:
    """The emulator's FAILED annotations of every failed invocation in the window, not what was archived."""
    for result in archive.since(days):
        if result.status in FAILED:
            for annotation in result.annotations:
                if annotation.get("Status") == "FAILED":
                    yield result, annotation


def _top_failing_rules(archive: Archive) -> list[Row]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for result, annotation in _failed_annotations(archive, 30):
        counts[
            (
                result.type_name,
                annotation.get("AnnotationName"),
                annotation.get("SeverityLevel"),
                annotation.get("RemediationMessage"),
                annotation.get("RemediationLink"),
            )
        ] += 1
    rows = [
        (hook, name, severity, n, message, link)
        for (hook, name, severity, message, link), n in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row[3], row[0], row[1], row[2], row[4], row[5]))[:20]


def test_top_failing_rules_last_30_days(archive: Archive) -> None:
    expected = _top_failing_rules(archive)
    assert len(expected) >= 5  # several hooks' rules fail in the synthetic account
    assert archive.run("annotations/top_failing_rules_last_30_days") == expected


# The most severe first: GetHookResult's SeverityLevel values
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Annotation.html).
SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


def _failure_severity_per_hook(archive: Archive) -> list[Row]:
    groups: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for result, annotation in _failed_annotations(archive, 30):
        groups[(result.type_name, annotation.get("SeverityLevel"))].append(result.hook_result_id)
    rows = [(hook, severity, len(ids), len(set(ids))) for (hook, severity), ids in groups.items()]

    def rank(severity: str | None) -> int:
        return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)

    return sorted(rows, key=lambda row: (row[0], rank(row[1]), row[1] or ""))


def test_failure_severity_per_hook_last_30_days(archive: Archive) -> None:
    expected = _failure_severity_per_hook(archive)
    assert len({row[0] for row in expected}) >= 3  # several hooks
    assert len({row[1] for row in expected}) >= 3  # several severity levels
    assert any(row[2] > row[3] for row in expected)  # an invocation that failed two rules of one severity
    assert archive.run("annotations/failure_severity_per_hook_last_30_days") == expected


@pytest.mark.parametrize(
    ("name", "truth", "broken"),
    [
        # PASSED annotations counted as failures
        ("annotations/top_failing_rules_last_30_days", _top_failing_rules, {"AND status = 'FAILED'": ""}),
        (
            "annotations/failure_severity_per_hook_last_30_days",
            _failure_severity_per_hook,
            {"AND status = 'FAILED'": ""},
        ),
        # every annotation counted as an invocation
        (
            "annotations/failure_severity_per_hook_last_30_days",
            _failure_severity_per_hook,
            {"count(DISTINCT hook_result_id)": "count(hook_result_id)"},
        ),
        # a window 10 days too wide
        (
            "annotations/failure_severity_per_hook_last_30_days",
            _failure_severity_per_hook,
            {"'30' DAY": "'40' DAY"},
        ),
    ],
    ids=["rules-with-passed", "severity-with-passed", "severity-without-distinct", "severity-40-days"],
)
def test_control_a_wrong_annotations_query_disagrees_with_the_ground_truth(
    archive: Archive, name: str, truth: Callable[[Archive], list[Row]], broken: dict[str, str]
) -> None:
    # The comparisons above can fail: the same query, broken in one way, no longer matches.
    sql = (QUERIES / f"{name}.sql").read_text()
    assert all(old in sql for old in broken)
    assert archive.run(name, **broken) != truth(archive)


def _percent(part: int, whole: int) -> Decimal:
    # round(x, 1) in Athena (and DuckDB) rounds halves away from zero.
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def test_daily_failure_trend(archive: Archive) -> None:
    days: dict[tuple[str, str], list[EmulatedHookResult]] = defaultdict(list)
    for result in archive.since(14):
        days[(result.invoked_at.astimezone(UTC).date().isoformat(), result.type_name)].append(result)
    expected = []
    # ORDER BY dt DESC, type_name
    for (day, hook), group in sorted(
        days.items(), key=lambda item: (-date.fromisoformat(item[0][0]).toordinal(), item[0][1])
    ):
        failed = sum(1 for r in group if r.status in FAILED)
        expected.append((day, hook, failed, len(group), _percent(failed, len(group))))
    actual = archive.run("daily_failure_trend")
    assert [row[:4] for row in actual] == [row[:4] for row in expected]
    assert [Decimal(str(row[4])) for row in actual] == [row[4] for row in expected]


def test_warn_mode_failures_last_30_days(archive: Archive) -> None:
    groups: dict[str, list[EmulatedHookResult]] = defaultdict(list)
    for result in archive.since(30):
        if result.failure_mode == "WARN" and result.status in FAILED:
            groups[result.type_name].append(result)
    expected = sorted(
        (
            (
                hook,
                len(group),
                sum(1 for r in group if r.status == "HOOK_FAILED"),
                len({target(r) for r in group}),
                max(ms(r.invoked_at) for r in group),
            )
            for hook, group in groups.items()
        ),
        key=lambda row: (-row[1], row[0]),
    )
    assert len(expected) >= 2  # both WARN-mode hooks of the synthetic account
    assert archive.run("warn_mode_failures_last_30_days") == expected


def test_invocation_by_id_returns_the_whole_row(archive: Archive) -> None:
    wanted = next(r for r in reversed(archive.truth) if r.status in FAILED and r.hook_status_reason)
    (row,) = archive.run("invocation_by_id", **{PLACEHOLDER_ID: wanted.hook_result_id})
    columns = [column[0] for column in archive.connection.description or []]
    record = dict(zip(columns, row, strict=True))
    expected = {
        "hook_result_id": wanted.hook_result_id,
        "invocation_point": wanted.invocation_point,
        "failure_mode": wanted.failure_mode,
        "type_name": wanted.type_name,
        "type_version_id": wanted.type_version_id,
        "type_configuration_version_id": wanted.type_configuration_version_id,
        "status": wanted.status,
        "hook_status_reason": wanted.hook_status_reason,
        "invoked_at": ms(wanted.invoked_at),
        "target_type": wanted.target_type,
        "target_id": wanted.target_id,
        "type_arn": wanted.type_arn,
        "hook_execution_target": wanted.hook_execution_target,
        "account_id": ACCOUNT_ID,
        "region": REGION,
        "dt": wanted.invoked_at.astimezone(UTC).date().isoformat(),
    }
    archived_at = record.pop("archived_at")
    assert record == expected
    assert archived_at >= ms(wanted.invoked_at)
    assert archive.run("invocation_by_id") == []  # the placeholder id matches nothing


def test_latest_status_per_hook(archive: Archive) -> None:
    latest: dict[str, EmulatedHookResult] = {}
    key: Callable[[EmulatedHookResult], tuple[datetime, str]] = lambda r: (ms(r.invoked_at), r.hook_result_id)  # noqa: E731
    for result in archive.since(30):
        if result.type_name not in latest or key(result) > key(latest[result.type_name]):
            latest[result.type_name] = result
    expected = [
        (hook, r.status, r.failure_mode, ms(r.invoked_at), r.target_type, target(r), r.hook_status_reason)
        for hook, r in sorted(latest.items())
    ]
    assert len(expected) == 5  # every hook of the synthetic account
    assert archive.run("latest_status_per_hook") == expected


def test_results_per_account_region_last_7_days(archive: Archive) -> None:
    # One account-region archived here; the central archive's many are in tests/integration (organization).
    week = archive.since(7)
    expected = [
        (
            ACCOUNT_ID,
            REGION,
            len(week),
            sum(1 for r in week if r.status in FAILED),
            max(ms(r.invoked_at) for r in week),
        )
    ]
    assert expected[0][3] > 0
    assert archive.run("results_per_account_region_last_7_days") == expected


def test_every_named_query_has_a_test_here() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    for path in QUERIES.rglob("*.sql"):
        assert any(name.startswith(path.stem) for name in tested), path.relative_to(QUERIES)
