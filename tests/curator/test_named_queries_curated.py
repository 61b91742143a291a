"""Every named query (queries/*.sql over hook_results, queries/annotations/*.sql over hook_annotations,
Athena SQL) answers the same against the curated Iceberg tables as against the raw archive they were curated
from.

The raw archive: two account-regions, 17 days spread over the last 33, archiver runs each day written by the
archiver's real writer (tests/curator/conftest.py), then a late object landing in a day already compacted
and an adopting run rewriting an object (new ETag, same rows). Each run's failures have their annotations
(1 to 4 rules each) in an annotation object of the same run. The curator ingests, compacts closed days and
re-curates what changed. DuckDB stands in for Athena on both sides: the raw objects are read as
tests/template/test_named_queries.py reads them (Hive dt partitions as VARCHAR); the Iceberg table is
scanned with pyiceberg to Arrow, its two lineage columns dropped. Each query is transpiled athena -> duckdb
by sqlglot and run against both."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from curator.dal.curated_table import glue_catalog
from curator.logic.curation import CurationRequest
from curator.models.curated_table import LINEAGE_COLUMNS
from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from hook_archive.models.annotation_schema import AnnotationRow
from hook_archive.models.hook_result import HookResult, to_epoch_ms
from tests.curator.conftest import (
    ANNOTATIONS,
    ARCHIVE_PREFIX,
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_annotations_equal_raw,
    assert_curated_equals_raw,
    catalog_properties,
    run_annotations_curator,
    run_curator,
)
from tests.template.cfn import REPO_ROOT

pytestmark = pytest.mark.integration

QUERIES = REPO_ROOT / "queries"
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
FAILED = ("HOOK_COMPLETE_FAILED", "HOOK_FAILED")
STATUSES = ("HOOK_COMPLETE_SUCCEEDED", *FAILED)
HOOKS = tuple(f"MyOrg::Guard::Rule{n}" for n in range(5))
# Days before today that hold rows: every day of the 7-day window and its edge, the 14-day edge, and each
# side of the 30-day edge (dt >= today - 30), so every window's boundary is exercised.
DAYS_AGO = (*range(9), 14, 15, 22, 29, 30, 31, 32)
RUNS_PER_DAY = 2
ROWS_PER_RUN = 8
OTHER_ACCOUNT, OTHER_REGION = "210987654321", "eu-west-1"
RULES = tuple(f"rule_{n}" for n in range(6))
Row = tuple[Any, ...]


@dataclass
class Answers:
    raw: duckdb.DuckDBPyConnection
    curated: duckdb.DuckDBPyConnection
    curated_arrow: pa.Table  # what the curated view holds (lineage dropped)
    annotations_arrow: pa.Table  # what the curated hook_annotations view holds (lineage dropped)
    failed_id: str  # a failed hook_result_id of the archive, for invocation_by_id

    def sql(self, name: str) -> str:
        """queries/NAME.sql (NAME may be annotations/...)."""
        athena_sql = (QUERIES / f"{name}.sql").read_text()
        if name == "invocation_by_id":
            assert PLACEHOLDER_ID in athena_sql
            athena_sql = athena_sql.replace(PLACEHOLDER_ID, self.failed_id)
        return athena_sql


def today() -> date:
    return datetime.now(UTC).date()


def results(rng: random.Random, day: date, count: int) -> list[HookResult]:
    """Varied rows: five hooks, both failure modes, nullable fields sometimes null, hook_execution_target
    sometimes set (the queries coalesce it with target_id)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return [
        HookResult(
            hook_result_id=str(uuid.UUID(int=rng.getrandbits(128))),
            invocation_point="PRE_PROVISION",
            failure_mode=rng.choice(("FAIL", "WARN")),
            type_name=rng.choice(HOOKS),
            type_version_id="00000001",
            type_configuration_version_id="00000001",
            status=rng.choice(STATUSES),
            hook_status_reason=rng.choice(("reason", "another reason", None)),
            invoked_at_ms=to_epoch_ms(start + timedelta(milliseconds=rng.randrange(86_400_000))),
            target_type=rng.choice(("RESOURCE", "STACK", "CHANGE_SET")),
            target_id=f"target/{rng.randrange(12)}",
            type_arn="arn:aws:cloudformation:us-east-1:123456789012:type/hook/MyOrg-Guard",
            hook_execution_target=rng.choice((None, None, f"arn:stack/{rng.randrange(6)}")),
        )
        for _ in range(count)
    ]


def raw_connection(aws: LocalAws, workdir: Path) -> duckdb.DuckDBPyConnection:
    """The raw objects of both tables copied out of S3 under their keys, each read as a Hive table (dt a
    VARCHAR)."""
    s3 = aws.client("s3")
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for view, prefix in (("hook_results", ARCHIVE_PREFIX), (ANNOTATIONS, f"{ARCHIVE_PREFIX}/annotations")):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket, Prefix=f"{prefix}/dt="):
            for item in page.get("Contents", []):
                path = workdir / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=aws.bucket, Key=item["Key"])["Body"].read())
        pattern = str(workdir / prefix / "dt=*" / "*.parquet").replace("'", "''")
        connection.execute(
            f"CREATE VIEW {view} AS SELECT * FROM read_parquet("  # noqa: S608  # our names and temp path
            f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
        )
    return connection


def curated_connection(rows: pa.Table, annotations: pa.Table) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("hook_results", rows)
    connection.register(ANNOTATIONS, annotations)
    return connection


def annotations_of(rng: random.Random, results: list[HookResult]) -> list[AnnotationRow]:
    """1 to 4 annotations of each failure, as GetHookResult reports a Guard hook's rules: a few rules shared
    across hooks (so the rankings have ties and counts above one), some null fields."""
    return [
        AnnotationRow(
            hook_result_id=result.hook_result_id,
            type_name=result.type_name,
            annotation_name=rng.choice(RULES),
            status=rng.choice(("FAILED", "FAILED", "PASSED", "SKIPPED")),
            status_message=rng.choice(("not compliant", None)),
            remediation_message=rng.choice(("encrypt the bucket", "tag the resource", None)),
            remediation_link=rng.choice(("https://docs.aws.amazon.com/", None)),
            severity_level=rng.choice(("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", None)),
        )
        for result in results
        if result.status in FAILED
        for _ in range(rng.randint(1, 4))
    ]


def _late_object_and_adoption(
    rng: random.Random,
    writers: list[RawArchiveWriter],
    *,
    late_day: date,
    adopted: dict[date, list[HookResult]],
    adopted_annotations: dict[date, list[AnnotationRow]],
    sequence: int,
) -> None:
    """A late object (with its annotations) in a compacted day, and an adopting run rewriting an object of
    each table: the same results, their annotations' rules drawn again."""
    late = {late_day: results(rng, late_day, 6)}
    writers[0].write_run(late)
    writers[0].write_annotations(
        {late_day: annotations_of(rng, late[late_day])}, sequence=writers[0].sequence
    )
    writers[1].write_run(adopted, sequence=sequence, replacing=True, archived_at_ms=1_000)
    rewritten = {when: annotations_of(rng, rows) for when, rows in adopted.items()}
    assert rewritten != adopted_annotations
    writers[1].write_annotations(rewritten, sequence=sequence, replacing=True)


def _as_analysts_read(aws: LocalAws, table_name: str) -> pa.Table:
    """A curated table's rows, scanned with pyiceberg, without the lineage columns."""
    scanned = glue_catalog(catalog_properties(aws)).load_table((DATABASE, table_name)).scan().to_arrow()
    assert set(LINEAGE_COLUMNS) <= set(scanned.column_names)
    return scanned.drop_columns(list(LINEAGE_COLUMNS))


@pytest.fixture(scope="module")
def answers(_stack: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Answers]:
    aws = _stack
    aws.reset()
    aws.client("glue").create_database(DatabaseInput={"Name": DATABASE})
    rng = random.Random(13)
    writers = [RawArchiveWriter(aws), RawArchiveWriter(aws, account_id=OTHER_ACCOUNT, region=OTHER_REGION)]
    days = sorted(today() - timedelta(days=ago) for ago in DAYS_AGO)
    late_day = today() - timedelta(days=5)
    adopted: dict[date, list[HookResult]] = {}
    adopted_annotations: dict[date, list[AnnotationRow]] = {}
    adopted_sequence = 0
    # Given several archiver runs a day for each account-region, each run writing its day (and, every
    # other run, a few late rows of the day before), the curator ingesting after each round of runs
    for run in range(RUNS_PER_DAY):
        written = 0
        for day in days:
            for writer in writers:
                by_day = {day: results(rng, day, ROWS_PER_RUN)}
                if run % 2:
                    by_day[day - timedelta(days=1)] = results(rng, day - timedelta(days=1), 2)
                written += len(writer.write_run(by_day))
                notes = {when: annotations_of(rng, rows) for when, rows in by_day.items()}
                writer.write_annotations(notes, sequence=writer.sequence)
                if day == late_day and run == 0 and writer is writers[1]:
                    adopted, adopted_sequence = by_day, writer.sequence
                    adopted_annotations = notes
        # When the curator ingests each round, and after the last one compacts the closed days
        report = run_curator(aws, CurationRequest(full=True, compact=run == RUNS_PER_DAY - 1))
        assert report.objects_added == written
        run_annotations_curator(aws, CurationRequest(full=True, compact=run == RUNS_PER_DAY - 1))
    assert len(report.days_compacted) >= len(days) - 2, "closed days must be compacted"
    assert adopted_sequence
    # And then a late object lands in a compacted day and an adopting run rewrites an object
    _late_object_and_adoption(
        rng,
        writers,
        late_day=late_day,
        adopted=adopted,
        adopted_annotations=adopted_annotations,
        sequence=adopted_sequence,
    )
    second = run_curator(aws, CurationRequest(full=True))
    annotations_report = run_annotations_curator(aws, CurationRequest(full=True))
    assert (annotations_report.objects_added, annotations_report.objects_replaced) == (1, 1)
    assert second.objects_added == 1
    assert second.objects_replaced == 1
    assert late_day.isoformat() in second.days_compacted
    assert_curated_equals_raw(aws)
    assert_curated_annotations_equal_raw(aws)
    # Then: the curated tables read as Athena would see them, and the raw archive beside them
    curated, annotations = (_as_analysts_read(aws, name) for name in (TABLE, ANNOTATIONS))
    raw = raw_connection(aws, tmp_path_factory.mktemp("raw"))
    failed = raw.execute(
        "SELECT hook_result_id FROM hook_results WHERE status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED') "
        "AND hook_execution_target IS NOT NULL ORDER BY invoked_at DESC, hook_result_id LIMIT 1"
    ).fetchone()
    assert failed is not None
    connection = curated_connection(curated, annotations)
    yield Answers(raw, connection, curated, annotations, str(failed[0]))
    raw.close()
    connection.close()


def order_is_total(athena_sql: str) -> bool:
    """A grouped query whose ORDER BY names every GROUP BY key (itself or its output alias): each output
    row has its own sort key, so the row order is fixed. Any other query's order may differ between two
    correct engines, and its rows are compared sorted."""
    statement = sqlglot.parse_one(athena_sql, read="athena")
    if not isinstance(statement, exp.Select):
        return False
    order, group = statement.args.get("order"), statement.args.get("group")
    if order is None or group is None:
        return False
    aliases = {e.alias: e.unalias().sql() for e in statement.expressions if e.alias}
    ordered = set()
    for key in order.expressions:
        ordered.add(key.this.sql())
        if isinstance(key.this, exp.Column) and key.this.name in aliases:
            ordered.add(aliases[key.this.name])
    return all(key.sql() in ordered for key in group.expressions)


def run(connection: duckdb.DuckDBPyConnection, athena_sql: str) -> tuple[list[str], list[Row]]:
    duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
    rows = [tuple(row) for row in connection.execute(duck_sql).fetchall()]
    return [column[0] for column in connection.description or []], rows


def comparable(athena_sql: str, rows: list[Row]) -> list[Row]:
    return rows if order_is_total(athena_sql) else sorted(rows, key=repr)


NAMED_QUERIES = sorted(
    str(path.relative_to(QUERIES).with_suffix(""))
    for path in [*QUERIES.glob("*.sql"), *QUERIES.glob("annotations/*.sql")]
)


@pytest.mark.parametrize("name", NAMED_QUERIES)
def test_named_query_answers_the_same_on_the_curated_table_as_on_the_raw_archive(
    answers: Answers, name: str
) -> None:
    sql = answers.sql(name)
    raw_columns, raw_rows = run(answers.raw, sql)
    curated_columns, curated_rows = run(answers.curated, sql)
    assert raw_rows, f"{name} answers nothing on this archive: the comparison would prove nothing"
    assert curated_columns == raw_columns
    assert comparable(sql, curated_rows) == comparable(sql, raw_rows)


def test_invocation_by_id_finds_the_failed_invocation_in_both(answers: Answers) -> None:
    sql = answers.sql("invocation_by_id")
    for connection in (answers.raw, answers.curated):
        columns, rows = run(connection, sql)
        (row,) = rows
        record = dict(zip(columns, row, strict=True))
        assert record["hook_result_id"] == answers.failed_id
        assert record["status"] in FAILED


def test_results_per_account_region_sees_both_account_regions(answers: Answers) -> None:
    _, rows = run(answers.curated, answers.sql("results_per_account_region_last_7_days"))
    assert [(row[0], row[1]) for row in rows] == sorted([(ACCOUNT_ID, REGION), (OTHER_ACCOUNT, OTHER_REGION)])


def test_ordered_queries_are_compared_in_order_and_the_others_sorted() -> None:
    totals = {path.stem: order_is_total(path.read_text()) for path in QUERIES.glob("*.sql")}
    assert totals["top_failing_targets_last_30_days"]
    assert totals["daily_failure_trend"]
    # ORDER BY failures DESC, type_name leaves a hook's FAIL and WARN rows with equal counts unordered
    assert not totals["failures_per_hook_last_7_days"]
    assert not totals["invocation_by_id"]
    assert not totals["latest_status_per_hook"]


def test_comparison_notices_a_curated_table_missing_one_failed_row(answers: Answers) -> None:
    # Given the curated rows without one recent failure
    week = (today() - timedelta(days=2)).isoformat()
    rows = answers.curated_arrow.select(["status", "dt"]).to_pylist()
    victim = next(i for i, row in enumerate(rows) if row["status"] in FAILED and str(row["dt"]) >= week)
    keep = pa.array([i != victim for i in range(len(rows))])
    short = curated_connection(answers.curated_arrow.filter(keep), answers.annotations_arrow)
    # Then the queries that count failures over the week or longer answer differently
    try:
        for name in ("failures_per_hook_last_7_days", "daily_failure_trend"):
            sql = answers.sql(name)
            assert comparable(sql, run(short, sql)[1]) != comparable(sql, run(answers.raw, sql)[1]), name
    finally:
        short.close()


def test_comparison_notices_a_curated_annotations_table_missing_one_failed_rule(answers: Answers) -> None:
    # Given the curated annotations without one recent failed rule
    week = (today() - timedelta(days=2)).isoformat()
    rows = answers.annotations_arrow.select(["status", "dt"]).to_pylist()
    victim = next(i for i, row in enumerate(rows) if row["status"] == "FAILED" and str(row["dt"]) >= week)
    keep = pa.array([i != victim for i in range(len(rows))])
    short = curated_connection(answers.curated_arrow, answers.annotations_arrow.filter(keep))
    # Then the severity per hook answers differently (its counts include every failed rule)
    try:
        sql = answers.sql("annotations/failure_severity_per_hook_last_30_days")
        assert comparable(sql, run(short, sql)[1]) != comparable(sql, run(answers.raw, sql)[1])
    finally:
        short.close()
