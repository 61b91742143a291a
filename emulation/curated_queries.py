"""What `make demo` and `make demo-org` show of the curated table: one run of CuratorFunction with its
template role, hook_results as an analyst reads it, and every named query answered from it, each answer
compared row for row with the raw archive's (hook_results_raw)."""

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
    print("\n## The curator (CuratorFunction, template.yaml's CuratorRole) fills hook_results\n")
    started = time.monotonic()
    report = curator.run()
    elapsed_ms = (time.monotonic() - started) * 1000
    print(
        f"- one scheduled run (a cold start, {elapsed_ms:,.0f} ms): {report['objects_added']} raw objects "
        f"read, {report['rows_written']:,} rows written in {report['commits']} commit(s), "
        f"{len(report['days_compacted'])} day(s) compacted, {report['conflicts']} conflict(s)"
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


def latest_failure_id(events: list[Any]) -> str | None:
    """The hook_result_id of the newest failure event received: what a user looks up with invocation_by_id."""
    if not events:
        return None
    latest = max(events, key=lambda event: str(event["detail"].get("invoked_at") or ""))
    return str(latest["detail"]["hook_result_id"])


def named_queries(archive_root: Path, curated: pa.Table, *, failed_id: str | None) -> bool:
    """Each named query over hook_results (the curated table) and over hook_results_raw (the archive's
    objects under `archive_root`): the curated answer is printed, and must be the raw one, row for row."""
    print(
        "\n## Athena named queries over hook_results, transpiled with sqlglot and run by DuckDB, "
        "each compared with hook_results_raw's answer\n"
    )
    raw = duckdb.connect()
    pattern = str(archive_root / "dt=*" / "*.parquet").replace("'", "''")
    # dt stays a string, as in the Glue table; DuckDB would otherwise infer DATE.
    raw.execute(
        "CREATE VIEW hook_results AS SELECT * FROM read_parquet("  # noqa: S608  # our own temp path, quoted
        f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
    )
    curated_connection = duckdb.connect()
    curated_connection.register("hook_results", curated)
    all_same = True
    for path in sorted(QUERIES.glob("*.sql")):
        athena_sql = path.read_text()
        note = ""
        if PLACEHOLDER_ID in athena_sql and failed_id is not None:
            athena_sql = athena_sql.replace(PLACEHOLDER_ID, failed_id)
            note = f"With the newest failure event's hook_result_id, {failed_id}, for the placeholder.\n\n"
        duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
        columns, rows = answer(curated_connection, duck_sql)
        same = (columns, rows) == answer(raw, duck_sql)
        all_same = all_same and same
        print(f"### {path.stem}\n")
        print(note, end="")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows[:5]:
            print("| " + " | ".join(str(value) for value in row) + " |")
        print(f"\n{len(rows):,} row(s); same rows as hook_results_raw: {'yes' if same else 'NO'}\n")
    return all_same


def answer(connection: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = connection.execute(sql)
    return [column[0] for column in result.description], result.fetchall()
