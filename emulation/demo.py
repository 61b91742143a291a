"""`make demo`: the real handler on the local emulation, from backfill to steady state, then a report.

It seeds 90 days of hook invocations, runs a backfill, then several scheduled ticks while new results
arrive (some in progress, finishing by the next tick), and checks the archive against the emulator's
ground truth. The curator then runs with its template role and fills the Iceberg table hook_results from
the raw archive; the named queries run over that table and each answer is compared with the raw archive's.
It ends as an operator would: `cfn-hook-archive status`, `verify` and `report` against the local archive,
with the account's (local administrator) credentials; the HTML report stays in demo-output/. Everything runs
on loopback and stops when the demo ends; it exits non-zero when the archive, the curated table, status,
verify or report finds something wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from pyiceberg.catalog.glue import GlueCatalog

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import LocalAws, local_aws
from emulation.curator_harness import CuratorHarness
from emulation.reconciliation import reconcile
from emulation.synthetic_history import synthetic_history, synthetic_results

REPO_ROOT = Path(__file__).resolve().parent.parent
QUERIES = REPO_ROOT / "queries"
REPORT_OUT = Path("demo-output") / "report.html"  # relative to REPO_ROOT, where the CLI runs
# The curated table's lineage of each row (its raw object); the named queries' SELECT * shows the raw columns.
LINEAGE_COLUMNS = ("raw_object_key", "raw_object_etag")
HISTORY_DAYS = 90
PER_DAY = 100
TICKS = 4
FINAL_STATUSES = ("HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_FAILED", "HOOK_FAILED")
# queries/invocation_by_id.sql's stand-in id, replaced by a real failure's as its comment asks a user to.
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"


QUIET_FUNCTION = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


def main() -> int:
    started = time.monotonic()
    rng = random.Random(2026)
    runs: list[tuple[str, dict[str, Any]]] = []
    with local_aws(page_size=100) as aws, tempfile.TemporaryDirectory() as workdir:
        harness = ArchiverHarness(
            aws,
            settings={"TIME_SAFETY_MARGIN_SECONDS": "10", "POWERTOOLS_LOG_LEVEL": "WARNING"},
            runtime_environment={"POWERTOOLS_METRICS_DISABLED": "true"},
        )
        now = datetime.now(UTC)
        history = synthetic_history(
            end=now - timedelta(minutes=20), days=HISTORY_DAYS, per_day=PER_DAY, seed=42
        )
        aws.emulator.add(*history)
        print(
            f"Seeded {len(history):,} hook invocations over {HISTORY_DAYS} days; "
            "ListHookResults pages of 100."
        )
        runs.append(("backfill", _run(harness, aws)))
        waiting: list[str] = []
        for tick in range(1, TICKS + 2):
            for hook_result_id in waiting:
                aws.emulator.set_status(
                    hook_result_id, rng.choice(FINAL_STATUSES), "Finished after the last tick"
                )
            waiting = []
            if tick <= TICKS:
                moment = datetime.now(UTC)
                arrivals = synthetic_results(
                    start=moment - timedelta(minutes=5),
                    end=moment,
                    count=rng.randint(20, 60),
                    seed=tick,
                    in_progress_share=0.2,
                )
                aws.emulator.add(*arrivals)
                waiting = [item.hook_result_id for item in arrivals if item.status == "HOOK_IN_PROGRESS"]
            runs.append((f"tick {tick}", _run(harness, aws)))
        events = aws.receive_events()
        keys = harness.object_keys()
        harness.download_archive(workdir)
        ok = _report(aws, harness, runs, keys, events)
        curated, curated_ok = _curate(CuratorHarness(harness, runtime_environment=QUIET_FUNCTION), keys)
        queries_ok = _queries(Path(workdir) / ARCHIVE_PREFIX, curated, failed_id=_latest_failure_id(events))
        cli_ok = _operator_cli(aws, Path(workdir))
    print(f"\nDemo finished in {time.monotonic() - started:.1f} s; moto and the emulator are stopped.")
    return 0 if ok and curated_ok and queries_ok and cli_ok else 1


def _run(harness: ArchiverHarness, aws: Any) -> dict[str, Any]:
    aws.emulator.reset_calls()
    # The function's stdout is its CloudWatch log stream in AWS, not this report. Powertools' cold-start
    # metric is printed as EMF even under POWERTOOLS_METRICS_DISABLED (3.37.0's single_metric, which it uses,
    # never checks it), so EMF lines are counted here; anything else the function prints is passed on.
    function_stdout = io.StringIO()
    with contextlib.redirect_stdout(function_stdout):
        report = harness.run()
    metric_documents = 0
    for line in function_stdout.getvalue().splitlines():
        if _is_emf(line):
            metric_documents += 1
        elif line.strip():
            print(line)
    report["api_calls"] = aws.emulator.call_count("ListHookResults")
    report["metric_documents"] = metric_documents
    return report


def _is_emf(line: str) -> bool:
    """A CloudWatch Embedded Metric Format document: a JSON object with the `_aws` metadata key."""
    if not line.startswith("{"):
        return False
    try:
        document = json.loads(line)
    except ValueError:
        return False
    return isinstance(document, dict) and "_aws" in document


def _report(
    aws: Any,
    harness: ArchiverHarness,
    runs: list[tuple[str, dict[str, Any]]],
    keys: list[str],
    events: list[Any],
) -> bool:
    print("\n## Runs (the handler named in template.yaml, events/scheduled_tick.json)\n")
    print(
        "| run | status | pages | seen | archived | waiting (in progress) | failures | events sent "
        "| objects | ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, report in runs:
        print(
            f"| {name} | {report['status']} | {report['pages']} | {report['results_seen']:,} | "
            f"{report['archived']:,} | {report['deferred_in_progress']} | {report['failures']} | "
            f"{report['events_published']} | {report['objects_written']} | {report['duration_ms']:,} |"
        )
    metric_documents = sum(report["metric_documents"] for _, report in runs)
    print(
        f"\nThe function's stdout (its log stream in AWS) held {metric_documents} EMF metric document(s), "
        "kept out of this report."
    )
    reconciliation = reconcile(aws, harness, events)
    ids = harness.read_archive().column("hook_result_id").to_pylist()
    event_ids = Counter(event["detail"]["hook_result_id"] for event in events)
    per_partition = Counter(key.split("/dt=", 1)[1][:10] for key in keys)
    print("\n## Archive\n")
    print(
        f"- rows: {reconciliation.rows:,}; distinct hook_result_id: {len(set(ids)):,}; "
        f"terminal results in the API: {reconciliation.expected:,}"
    )
    print(
        f"- objects: {len(keys)} in {len(per_partition)} dt partitions; objects per partition: "
        f"min {min(per_partition.values())}, median {statistics.median(per_partition.values())}, "
        f"max {max(per_partition.values())}"
    )
    print(
        f"- failure events received through the EventBridge rule into SQS: {sum(event_ids.values()):,} "
        f"({len(event_ids):,} distinct invocations)"
    )
    verdict = "yes" if reconciliation.ok else f"NO: {reconciliation.summary()}"
    print(f"- archive equals ground truth, every failure notified, checkpoint bounded: {verdict}")
    verdicts = [v for v in aws.authorizer.verdicts if v.principal_arn != "admin"] if aws.authorizer else []
    principals = sorted({v.principal_arn for v in verdicts})
    refused = sum(1 for v in verdicts if not v.allowed or v.denied_items)
    print(
        f"- calls authorized against template.yaml's role: {len(verdicts):,} as {', '.join(principals)}; "
        f"refused: {refused}"
    )
    return reconciliation.ok and bool(verdicts) and refused == 0


def _curate(curator: CuratorHarness, keys: list[str]) -> tuple[pa.Table, bool]:
    """One scheduled run of CuratorFunction with template.yaml's CuratorRole; then hook_results as an
    analyst reads it (pyiceberg, the Glue catalog) and its data files per day beside the raw objects."""
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
    raw_ids = curator.archiver.read_archive().column("hook_result_id").to_pylist()
    ok = len(ids) == len(set(ids)) and set(ids) == set(raw_ids)
    print(f"\n- every raw row in hook_results, and once: {'yes' if ok else 'NO'}")
    return rows.drop_columns(list(LINEAGE_COLUMNS)), ok


def _latest_failure_id(events: list[Any]) -> str | None:
    """The hook_result_id of the newest failure event received: what a user looks up with invocation_by_id."""
    if not events:
        return None
    latest = max(events, key=lambda event: str(event["detail"].get("invoked_at") or ""))
    return str(latest["detail"]["hook_result_id"])


def _queries(archive_root: Path, curated: pa.Table, *, failed_id: str | None) -> bool:
    """Each named query over hook_results (the curated table) and over hook_results_raw (the archive's
    objects): the curated answer is printed, and must be the raw one, row for row."""
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
        columns, rows = _answer(curated_connection, duck_sql)
        same = (columns, rows) == _answer(raw, duck_sql)
        all_same = all_same and same
        print(f"### {path.stem}\n")
        print(note, end="")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows[:5]:
            print("| " + " | ".join(str(value) for value in row) + " |")
        print(f"\n{len(rows):,} row(s); same rows as hook_results_raw: {'yes' if same else 'NO'}\n")
    return all_same


def _answer(connection: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = connection.execute(sql)
    return [column[0] for column in result.description], result.fetchall()


def _operator_cli(aws: LocalAws, workdir: Path) -> bool:
    """`cfn-hook-archive status`, `verify` and `report` as an operator runs them: a separate process, the
    standard AWS variables pointing at the emulation, the account's administrator credentials (never the
    function's role), no profile or config file of this machine's. True when all three exit 0."""
    print("\n## The operators' CLI on this archive, with the account's administrator credentials\n")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(
        {
            **aws.process_environment(),
            "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    location = ["--bucket", aws.bucket, "--prefix", ARCHIVE_PREFIX]
    exit_statuses = [_cli(["status", *location], environment), _cli(["verify", *location], environment)]
    (REPO_ROOT / REPORT_OUT.parent).mkdir(exist_ok=True)
    report = ["report", "--days", "30", "--out", str(REPORT_OUT), *location]
    exit_statuses.append(_cli(report, environment))
    if exit_statuses[-1] == 0:
        print(f"The HTML report: {(REPO_ROOT / REPORT_OUT).as_uri()}")
    return all(status == 0 for status in exit_statuses)


def _cli(argv: list[str], environment: dict[str, str]) -> int:
    script = Path(sys.executable).with_name("cfn-hook-archive")  # the console script uv sync installs
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hook_archive_cli"]
    print(f"$ cfn-hook-archive {' '.join(argv)}\n", flush=True)
    completed = subprocess.run(  # noqa: S603  # our own entry point, arguments from this file
        [*command, *argv], env=environment, cwd=REPO_ROOT, check=False
    )
    print(f"\n(exit status {completed.returncode})\n", flush=True)
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
