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

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import LocalAws, local_aws
from emulation.curated_queries import curate, curate_annotations, latest_failure_id, named_queries
from emulation.curator_harness import CuratorHarness
from emulation.reconciliation import reconcile
from emulation.synthetic_history import synthetic_history, synthetic_results

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORT_OUT = Path("demo-output") / "report.html"  # relative to REPO_ROOT, where the CLI runs
HISTORY_DAYS = 90
PER_DAY = 100
TICKS = 4
FINAL_STATUSES = ("HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_FAILED", "HOOK_FAILED")


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
        curator = CuratorHarness(harness, runtime_environment=QUIET_FUNCTION)
        raw_ids = harness.read_archive().column("hook_result_id").to_pylist()
        curated, curated_ok = curate(curator, keys, raw_ids)
        annotations, annotations_ok = curate_annotations(curator, Path(workdir) / ARCHIVE_PREFIX)
        queries_ok = named_queries(
            Path(workdir) / ARCHIVE_PREFIX, curated, annotations, failed_id=latest_failure_id(events)
        )
        curated_ok = curated_ok and annotations_ok
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
