"""What `make demo` and `make demo-org` show of the curated tables: one run of CuratorFunction with its
template role, hook_results and hook_annotations as an analyst reads them, and every named query answered
from them, each answer compared row for row with the raw tables' (hook_results_raw, hook_annotations_raw)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import sqlglot
from pyiceberg.catalog.glue import GlueCatalog

from emulation.curator_harness import CuratorHarness, Deployment

REPO_ROOT = Path(__file__).resolve().parent.parent
QUERIES = REPO_ROOT / "queries"
# The curated table's lineage of each row (its raw object); the named queries' SELECT * shows the raw columns.
LINEAGE_COLUMNS = ("raw_object_key", "raw_object_etag")
# queries/invocation_by_id.sql's stand-in id, replaced by a real failure's as its comment asks a user to.
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"

D = TypeVar("D", bound=Deployment)


def curate(curator: CuratorHarness[D], keys: list[str], raw_ids: Iterable[object]) -> tuple[pa.Table, bool]:
    """One scheduled run of CuratorFunction with template.yaml's CuratorRole; then hook_results as an
    analyst reads it (pyiceberg, the Glue catalog) and its data files per day beside the raw objects
    (`keys`). True when it holds every raw row (`raw_ids`), once."""
    print(
        "\n## The curator (CuratorFunction, template.yaml's CuratorRole) fills hook_results and "
        "hook_annotations\n"
    )
    started = time.monotonic()
    report = curator.run()
    elapsed_ms = (time.monotonic() - started) * 1000
    print(f"- one scheduled run (a cold start, {elapsed_ms:,.0f} ms):")
    for name, table_report in (("hook_results", report), ("hook_annotations", report["annotations"])):
        print(
            f"  - {name}: {table_report['objects_added']} raw objects read, "
            f"{table_report['rows_written']:,} rows written in {table_report['commits']} commit(s), "
            f"{len(table_report['days_compacted'])} day(s) compacted, {table_report['conflicts']} conflict(s)"
        )
    catalog = GlueCatalog("admin", None, **curator.admin_catalog_properties())
    table = catalog.load_table((curator.database, curator.table_name))
    rows = table.scan().to_arrow()
    files = table.inspect.files()
    files_per_day = Counter(
        str(partition["dt"]) for partition in files.column("partition").to_pylist() if partition is not None
    )
    objects_per_day = Counter(key.split("/dt=", 1)[1][:10] for key in keys)
    print(
        f"- {curator.database}.{curator.table_name}: {rows.num_rows:,} rows, {files.num_rows} data files "
        f"in {len(files_per_day)} dt partitions (raw: {len(keys)} objects in {len(objects_per_day)})"
    )
    shapes = Counter(
        (objects_per_day[day], files_per_day.get(day, 0)) for day in objects_per_day | files_per_day
    )
    print("\n| raw objects in the day | curated data files in the day | days |")
    print("|---:|---:|---:|")
    for (objects, data_files), days in sorted(shapes.items()):
        print(f"| {objects} | {data_files} | {days} |")
    ids = rows.column("hook_result_id").to_pylist()
    raw = list(raw_ids)
    # the raw archive holds each id once too: otherwise the raw answers count rows the table holds once
    ok = len(ids) == len(set(ids)) == len(raw) and set(ids) == set(raw)
    print(f"\n- every raw row in hook_results, and once: {'yes' if ok else 'NO'}")
    return rows.drop_columns(list(LINEAGE_COLUMNS)), ok


def annotation_rows(table: pa.Table) -> Counter[tuple[Any, ...]]:
    """The rows as a multiset of every column but the lineage: an id has several rows, and no row a key."""
    columns = sorted(name for name in table.column_names if name not in LINEAGE_COLUMNS)
    return Counter(tuple(row[name] for name in columns) for row in table.to_pylist())


def curate_annotations(curator: CuratorHarness[D], archive_root: Path) -> tuple[pa.Table, bool]:
    """hook_annotations after the run `curate` made, as an analyst reads it. True when it holds exactly the
    raw annotation rows (the local copy of the archive under `archive_root`): each, once."""
    curated = curator.curated_annotations()
    connection = duckdb.connect()
    _raw_view(connection, "hook_annotations_raw", archive_root / "annotations")
    raw = connection.sql("SELECT * FROM hook_annotations_raw").to_arrow_table()
    ok = curated.num_rows > 0 and annotation_rows(curated) == annotation_rows(raw)
    ids = len(set(curated.column("hook_result_id").to_pylist()))
    print(
        f"- {curator.database}.{curator.annotations_table_name}: {curated.num_rows:,} rows (the annotations "
        f"of {ids:,} failures); every raw annotation in it, and once: {'yes' if ok else 'NO'}"
    )
    return curated.drop_columns(list(LINEAGE_COLUMNS)), ok


def latest_failure_id(events: list[Any]) -> str | None:
    """The hook_result_id of the newest failure event received: what a user looks up with invocation_by_id."""
    if not events:
        return None
    latest = max(events, key=lambda event: str(event["detail"].get("invoked_at") or ""))
    return str(latest["detail"]["hook_result_id"])


def _raw_view(connection: Any, name: str, root: Path) -> None:
    pattern = str(root / "dt=*" / "*.parquet").replace("'", "''")
    # dt stays a string, as in the Glue table; DuckDB would otherwise infer DATE.
    connection.execute(
        f"CREATE VIEW {name} AS SELECT * FROM read_parquet("  # noqa: S608  # our own names and temp path, quoted
        f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
    )


def named_queries(
    archive_root: Path, curated: pa.Table, annotations: pa.Table, *, failed_id: str | None
) -> bool:
    """Each named query over hook_results and hook_annotations (the curated tables) and over
    hook_results_raw and hook_annotations_raw (the archive's objects under `archive_root`): the curated
    answer is printed, and must be the raw one, row for row. The annotation queries must answer rows."""
    print(
        "\n## Athena named queries over hook_results and hook_annotations, transpiled with sqlglot and run "
        "by DuckDB, each compared with the raw tables' answer\n"
    )
    raw = duckdb.connect()
    curated_connection = duckdb.connect()
    for connection in (raw, curated_connection):
        connection.execute("SET TimeZone = 'UTC'")
    _raw_view(raw, "hook_results", archive_root)
    _raw_view(raw, "hook_annotations", archive_root / "annotations")
    curated_connection.register("hook_results", curated)
    curated_connection.register("hook_annotations", annotations)
    all_same = True
    for path in [*sorted(QUERIES.glob("*.sql")), *sorted((QUERIES / "annotations").glob("*.sql"))]:
        athena_sql = path.read_text()
        note = ""
        if PLACEHOLDER_ID in athena_sql and failed_id is not None:
            athena_sql = athena_sql.replace(PLACEHOLDER_ID, failed_id)
            note = f"With the newest failure event's hook_result_id, {failed_id}, for the placeholder.\n\n"
        duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
        columns, rows = answer(curated_connection, duck_sql)
        same = (columns, rows) == answer(raw, duck_sql)
        over_annotations = path.parent.name == "annotations"
        all_same = all_same and same and (bool(rows) or not over_annotations)
        print(f"### {'annotations/' if over_annotations else ''}{path.stem}\n")
        print(note, end="")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows[:5]:
            print("| " + " | ".join(str(value) for value in row) + " |")
        raw_table = "hook_annotations_raw" if over_annotations else "hook_results_raw"
        print(f"\n{len(rows):,} row(s); same rows as {raw_table}: {'yes' if same else 'NO'}\n")
    return all_same


def answer(connection: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = connection.execute(sql)
    return [column[0] for column in result.description], result.fetchall()
