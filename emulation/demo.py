"""`make demo`: the real handler on the local emulation, from backfill to steady state, then a report.

It seeds 90 days of hook invocations, runs a backfill, then several scheduled ticks while new results
arrive (some in progress, finishing by the next tick), and checks the archive against the emulator's
ground truth. Everything runs on loopback and stops when the demo ends.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import local_aws
from emulation.reconciliation import reconcile
from emulation.synthetic_history import synthetic_history, synthetic_results

REPO_ROOT = Path(__file__).resolve().parent.parent
QUERIES = REPO_ROOT / "queries"
HISTORY_DAYS = 90
PER_DAY = 100
TICKS = 4
FINAL_STATUSES = ("HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_FAILED", "HOOK_FAILED")


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
        _queries(Path(workdir) / ARCHIVE_PREFIX)
    print(f"\nDemo finished in {time.monotonic() - started:.1f} s; moto and the emulator are stopped.")
    return 0 if ok else 1


def _run(harness: ArchiverHarness, aws: Any) -> dict[str, Any]:
    aws.emulator.reset_calls()
    report = harness.run()
    report["api_calls"] = aws.emulator.call_count("ListHookResults")
    return report


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


def _queries(archive_root: Path) -> None:
    print("\n## Athena named queries, transpiled with sqlglot and run by DuckDB over the archive\n")
    connection = duckdb.connect()
    pattern = str(archive_root / "dt=*" / "*.parquet").replace("'", "''")
    # dt stays a string, as in the Glue table; DuckDB would otherwise infer DATE.
    connection.execute(
        "CREATE VIEW hook_results AS SELECT * FROM read_parquet("  # noqa: S608  # our own temp path, quoted
        f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}})"
    )
    for path in sorted(QUERIES.glob("*.sql")):
        athena_sql = path.read_text()
        duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
        result = connection.execute(duck_sql)
        columns = [column[0] for column in result.description]
        rows = result.fetchmany(5)
        print(f"### {path.stem}\n")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(str(value) for value in row) + " |")
        print()


if __name__ == "__main__":
    sys.exit(main())
