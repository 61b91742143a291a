"""Measure one archiving run's peak memory and duration, to size the function's MemorySize and Timeout.

    .venv/bin/python tooling/measure_run.py [--days 90] [--per-day 1000] [--page-size 100]

The local AWS (moto and the ListHookResults emulator) runs in this process; each run is the real handler,
cold-started in a child process the way Lambda would start it, so the child's peak RSS is the function's
own: interpreter, imports (pyarrow, boto3, Powertools) and the run. Lambda adds its runtime (~40 MB) on top.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "functions" / "archiver")]

from emulation.archiver_harness import ArchiverHarness  # noqa: E402
from emulation.aws_stack import ACCOUNT_ID, local_aws  # noqa: E402
from emulation.synthetic_history import synthetic_history, synthetic_results  # noqa: E402

_CHILD = """
import json, resource, sys, time
sys.path[:0] = {paths!r}
from emulation.lambda_runtime import function_spec, invoke, load_event
started = time.monotonic()
report = invoke(function_spec(), load_event("scheduled_tick.json"), environment={environment!r},
                account_id={account!r}, timeout_seconds={timeout!r})
print(json.dumps({{"report": report, "wall_s": time.monotonic() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_in_child(harness: ArchiverHarness, *, timeout_seconds: float) -> dict[str, Any]:
    code = _CHILD.format(
        paths=[str(REPO_ROOT), str(REPO_ROOT / "functions" / "archiver")],
        environment={**harness.environment(), "POWERTOOLS_METRICS_DISABLED": "true"},
        account=ACCOUNT_ID,
        timeout=timeout_seconds,
    )
    completed = subprocess.run(  # noqa: S603  # our own interpreter and code
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=300.0, help="the function's Timeout, seconds")
    args = parser.parse_args()
    with local_aws(page_size=args.page_size) as aws:
        harness = ArchiverHarness(aws, settings={"TIME_SAFETY_MARGIN_SECONDS": "60"})
        # moto delivers every event through the emulation's catch-all rule into SQS, in Python, at a pace
        # that would dominate the figures; EventBridge itself accepts ~10 events per PutEvents in ~20 ms.
        events = aws.client("events")
        events.remove_targets(Rule="hook-failures-to-queue", EventBusName=aws.bus_name, Ids=["queue"])
        events.delete_rule(Name="hook-failures-to-queue", EventBusName=aws.bus_name)
        history = synthetic_history(
            end=datetime.now(UTC) - timedelta(minutes=30), days=args.days, per_day=args.per_day, seed=7
        )
        aws.emulator.add(*history)
        print(f"{len(history):,} invocations over {args.days} days, pages of {args.page_size}")
        runs = [("backfill", run_in_child(harness, timeout_seconds=args.timeout))]
        while runs[-1][1]["report"]["status"] != "complete":
            runs.append(("backfill (resumed)", run_in_child(harness, timeout_seconds=args.timeout)))
        now = datetime.now(UTC)
        aws.emulator.add(*synthetic_results(start=now - timedelta(minutes=5), end=now, count=60, seed=8))
        runs.append(("steady tick, 60 new", run_in_child(harness, timeout_seconds=args.timeout)))
        time.sleep(0.1)
    print("| run | status | pages | archived | failure events | wall s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, run in runs:
        report = run["report"]
        print(
            f"| {name} | {report['status']} | {report['pages']} | {report['archived']:,} "
            f"| {report['events_published']:,} | {run['wall_s']:.1f} | {run['peak_rss_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
