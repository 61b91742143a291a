"""6. Cost per month at 1k, 50k and 1M hook invocations a day on a 5-minute schedule, from measured runs."""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import runner
from bench.plan import PAGE_SIZE, REPO_ROOT, Plan, publisher_workers
from bench.report import Section, median
from bench.sections import query
from bench.servers import remote_stack
from emulation.cfn_stack import Stack
from emulation.lambda_runtime import function_spec, load_template

VOLUMES = (1_000, 50_000, 1_000_000)  # hook invocations a day
RUNS_PER_MONTH = 30 * 24 * 12  # 5-minute schedule, 30-day month
TICKS_PER_DAY = 24 * 12
TICK = timedelta(minutes=5)

# us-east-1 list prices (USD), as published by AWS; free tiers ignored.
PRICE = {
    "lambda_gb_s_arm64": 0.0000133334,  # template.yaml deploys arm64
    "lambda_request": 0.20 / 1e6,
    "s3_put": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,  # S3 Standard, first 50 TB
    "put_events": 1.00 / 1e6,  # custom events, per 64 KB chunk
    "athena_tb": 5.00,
    "athena_min_bytes": 10e6,  # 10 MB minimum per query
    "cw_metric_month": 0.30,  # custom metric (name + dimensions), first 10,000
    "cw_alarm_month": 0.10,  # standard resolution
    "cw_dashboard_month": 3.00,  # beyond an account's first three
    "logs_ingested_gb": 0.50,
    "logs_stored_gb_month": 0.03,
    "xray_trace": 5.00 / 1e6,  # traces recorded
    "scheduler_invocation": 1.00 / 1e6,
    "kms_request": 0.03 / 10_000,
}
MEMORY_MB = 1024  # the template's MemorySize
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; CPU share scales with memory below that
API_LATENCY_S = 0.025  # assumed in-region round trip per AWS call, on top of what loopback measured
WORKERS = publisher_workers()  # PutEvents calls the publisher keeps in flight
DAILY_QUERIES = ("daily_failure_trend", "failures_per_hook_last_7_days", "top_failing_targets_last_30_days")
METRICS_LEVELS = ("all", "essential")
FLEET = 1_200  # member account-regions of the Organization in issue 12
MEMBER_TARGET = 2.00  # USD per member account-region and month
LOG_EVENT_OVERHEAD = 26  # bytes PutLogEvents counts per event on top of its message (counted: an upper bound)
KMS_REQUESTS_PER_RUN = 2  # SSE-KMS with S3 Bucket Keys: at most a data key and a decrypt per cold run
# The daily self-audit (AUDIT_INTERVAL_HOURS=24, logic/audit.py), modelled rather than measured: the
# measured ticks are 5-minute runs, and an audit is one run a day. Phase 1 pages the whole 90-day listing
# (PAGE_SIZE results a page, one call after the other) and compares per-day digests with the checkpoint's:
# no read. Only when a day differs (a late arrival: rare, and alarmed) does phase 2 page the listing again
# and read that day's objects (dal/archive_ids.py: 8 threads, one GET of the whole object).
AUDIT_DAYS = 90
AUDIT_GETS_PER_OBJECT = 1
AUDIT_READ_THREADS = 8


@dataclass(frozen=True)
class Deployment:
    """What one account-region deploys besides the function's own work."""

    name: str
    metrics_level: str
    alarms: int
    dashboards: int
    kms: (
        bool  # the archive bucket is SSE-KMS (the central bucket is; a single account's is SSE-S3 by default)
    )
    own_athena: (
        bool  # its own daily queries, each billed at least 10 MB; a member's rows are scanned centrally
    )


def _run_metrics() -> Any:
    """logic/run_metrics.py of the product, so the count of metrics follows the code."""
    code = str(REPO_ROOT / "functions" / "archiver")
    if code not in sys.path:
        sys.path.insert(0, code)
    from hook_archive.logic import run_metrics  # noqa: PLC0415

    return run_metrics


def archiver_alarms() -> int:
    """Alarms template.yaml creates at its defaults besides fleet health's (central only)."""
    stack = Stack(load_template())
    return sum(
        1
        for resource in stack.template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and ("Condition" not in resource or stack.condition(resource["Condition"]))
    )


def member_alarms() -> int:
    """Alarms the member template (generated from template.yaml) creates: fleet health watches members
    centrally, so none today."""
    from emulation.organization import transformed_template  # noqa: PLC0415  # the SAM transform, in-process
    from tooling.member_template import member_template  # noqa: PLC0415

    template = member_template(transformed_template(), function_key="f.zip", layer_key="l.zip")
    return sum(
        1 for resource in template["Resources"].values() if resource["Type"] == "AWS::CloudWatch::Alarm"
    )


def deployments() -> tuple[Deployment, Deployment]:
    today = Deployment(
        "single account (today)", "all", archiver_alarms(), dashboards=1, kms=False, own_athena=True
    )
    member = Deployment(
        "Organization member", "essential", member_alarms(), dashboards=0, kms=True, own_athena=False
    )
    return today, member


def log_retention_days() -> float:
    return float(load_template()["Parameters"]["LogRetentionDays"]["Default"])


def log_bytes_per_run(output: dict[str, float]) -> float:
    """The function's measured output plus Lambda's own lines, with the per-event overhead."""
    platform = platform_log_lines()
    events = output["log_events"] + len(platform)
    return (
        output["log_bytes"] + sum(len(line.encode()) + 1 for line in platform) + LOG_EVENT_OVERHEAD * events
    )


def account_region_cost(
    deployment: Deployment, variable: dict[str, Any], logged: dict[str, dict[str, float]]
) -> dict[str, float]:
    """Every monthly item of one account-region: the measured variable part (Lambda, S3, PutEvents, Athena,
    as in the table above) and the per-deployment items (CloudWatch, X-Ray, Scheduler, KMS)."""
    metrics = len(_run_metrics().metric_names(deployment.metrics_level))
    ingested_gb = RUNS_PER_MONTH * log_bytes_per_run(logged[deployment.metrics_level]) / 1e9
    items = {
        "lambda": variable["lambda"],
        "s3_requests": variable["s3_requests"],
        "storage": variable["storage"],
        "events": variable["events"],
        "athena": variable["athena"] if deployment.own_athena else variable["athena_share"],
        "athena_gets": variable["athena_gets"],
        "audit": variable["audit"],
        "scheduler": RUNS_PER_MONTH * PRICE["scheduler_invocation"],
        "xray": RUNS_PER_MONTH * PRICE["xray_trace"],
        "metrics": metrics * PRICE["cw_metric_month"],
        "alarms": deployment.alarms * PRICE["cw_alarm_month"],
        "dashboards": deployment.dashboards * PRICE["cw_dashboard_month"],
        "logs_ingested": ingested_gb * PRICE["logs_ingested_gb"],
        # Uncompressed (CloudWatch bills compressed bytes): an upper bound, at steady state.
        "logs_stored": ingested_gb * log_retention_days() / 30 * PRICE["logs_stored_gb_month"],
        "kms": RUNS_PER_MONTH * KMS_REQUESTS_PER_RUN * PRICE["kms_request"] if deployment.kms else 0.0,
    }
    return {**items, "metric_count": float(metrics), "logs_gb": ingested_gb, "total": sum(items.values())}


def audit_cost(
    volume: int, *, objects_per_tick: float, gb: float, differing_days: float = 0.0
) -> dict[str, float]:
    """One audit a day for a month: its ListHookResults pages and object reads as Lambda seconds at
    API_LATENCY_S per call (the pages in sequence, the reads AUDIT_READ_THREADS at a time), and its GETs.
    In steady state (differing_days 0) it is the listing alone; each audit that finds days differing pays a
    second listing and those days' objects. ``repair_total`` is what one such audit of one day adds."""
    listing = math.ceil(AUDIT_DAYS * volume / PAGE_SIZE)
    day_objects = TICKS_PER_DAY * objects_per_tick

    def cost(pages: float, objects: float) -> tuple[float, float]:
        seconds = pages * API_LATENCY_S + objects * API_LATENCY_S / AUDIT_READ_THREADS
        gets = objects * AUDIT_GETS_PER_OBJECT * PRICE["s3_get"]
        return seconds, seconds * gb * PRICE["lambda_gb_s_arm64"] + gets

    pages = listing * (1 + min(differing_days, 1.0))
    objects = differing_days * day_objects
    seconds, daily = cost(pages, objects)
    _repair_seconds, repair = cost(listing, day_objects)
    return {
        "pages": pages,
        "objects": objects,
        "seconds": seconds,
        "total": 30 * daily,
        "repair_objects": day_objects,
        "repair_total": repair,
    }


def platform_log_lines() -> list[str]:
    """What Lambda itself writes to the log group for one cold, traced invocation (Text log format)."""
    request = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    return [
        "INIT_START Runtime Version: python:3.13.v31\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:"
        + "0" * 64,
        f"START RequestId: {request} Version: $LATEST",
        f"END RequestId: {request}",
        f"REPORT RequestId: {request}\tDuration: 1234.56 ms\tBilled Duration: 1706 ms\tMemory Size: 1024 MB"
        "\tMax Memory Used: 146 MB\tInit Duration: 471.20 ms\t\nXRAY TraceId: 1-6745a1b2-0123456789abcdef"
        "01234567\tSegmentId: 0123456789abcdef\tSampled: true\t",
    ]


def function_output(stdout: str) -> dict[str, float]:
    """Log events the function printed in one run: bytes, events, the EMF share and the metric names in it."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    emf = [line for line in lines if line.startswith("{") and '"_aws"' in line]
    names = {
        metric["Name"]
        for line in emf
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    return {
        "log_bytes": float(sum(len(line.encode()) + 1 for line in lines)),
        "log_events": float(len(lines)),
        "emf_bytes": float(sum(len(line.encode()) + 1 for line in emf)),
        "metrics_published": float(len(names)),
    }


def _tick_counts(per_day: int, ticks: int) -> list[int]:
    """New results per tick at a steady rate, rounded so the average holds (1k/day = 3.47 a tick)."""
    rate = per_day / TICKS_PER_DAY
    return [round(rate * (i + 1)) - round(rate * i) for i in range(ticks)]


def measure_ticks(plan: Plan) -> tuple[dict[int, dict[str, float]], dict[int, dict[str, dict[str, float]]]]:
    """Steady-state 5-minute runs at each volume, after warm-up ticks fill the late-arrival window; then as
    many more at each METRICS_LEVEL with the template's log level and metrics on, their output captured."""
    measured: dict[int, dict[str, float]] = {}
    logged: dict[int, dict[str, dict[str, float]]] = {}
    log_level = str(function_spec().environment.get("POWERTOOLS_LOG_LEVEL", "INFO"))
    history_end = datetime.now(UTC) - timedelta(hours=8)
    with remote_stack(page_size=PAGE_SIZE) as stack:
        seeded = stack.emulator.seed_history(end=history_end, days=90, per_day=100, seed=61)
        runner.run_handler_chain(stack)  # the backfill proves newest-first order
        cursor = seeded["newest"]
        for volume in VOLUMES:
            print(f"  [6] ticks at {volume:,}/day", flush=True)
            measured_end = plan.cost_warm_ticks + plan.cost_ticks
            counts = _tick_counts(volume, measured_end + len(METRICS_LEVELS) * plan.cost_ticks)
            samples = []
            log_samples: dict[str, list[dict[str, float]]] = {level: [] for level in METRICS_LEVELS}
            for index, count in enumerate(counts):
                if count:
                    stack.emulator.add_results(
                        start=cursor + timedelta(milliseconds=1),
                        end=cursor + TICK,
                        count=count,
                        seed=7000 + index + volume,
                    )
                cursor += TICK
                stack.emulator.reset_calls()
                if index >= measured_end:
                    level = METRICS_LEVELS[(index - measured_end) // plan.cost_ticks]
                    settings = {
                        "POWERTOOLS_LOG_LEVEL": log_level,
                        "POWERTOOLS_METRICS_DISABLED": "false",
                        "METRICS_LEVEL": level,
                    }
                    outcome = runner.run_handler(
                        stack, settings=settings, timeout_seconds=300, capture_stdout=True
                    )
                    log_samples[level].append(function_output(outcome.stdout))
                    continue
                outcome = runner.run_handler(stack, timeout_seconds=300)
                if index >= plan.cost_warm_ticks:
                    samples.append(_sample(outcome, stack.emulator.call_count("ListHookResults"), count))
            measured[volume] = {key: median(s[key] for s in samples) for key in samples[0]}
            logged[volume] = {
                level: {key: median(s[key] for s in runs) for key in runs[0]}
                for level, runs in log_samples.items()
            }
    return measured, logged


def _sample(outcome: runner.Outcome, pages: int, new: int) -> dict[str, float]:
    report = outcome.report
    result = outcome.result
    return {
        "new": new,
        "invoke_s": outcome.invoke_s,
        "import_s": result["import_s"],
        "pages": pages,
        "archived": report["archived"],
        "objects": result["uploads"],
        "upload_bytes": result["upload_bytes"],
        "checkpoint_puts": result["checkpoint_saves"],
        "checkpoint_bytes": result["checkpoint_bytes"],
        "put_events_calls": result["put_events_calls"],
        "events": report["events_published"],
        "enrich_calls": result["enrich_calls"],
        "peak_rss": outcome.peak_rss,
    }


QUERY_DAYS = {  # dt partitions each daily query reads (its date filter, today included)
    "daily_failure_trend": 15,
    "failures_per_hook_last_7_days": 8,
    "top_failing_targets_last_30_days": 31,
}


def athena_per_day(volume: int, workdir: Path) -> dict[str, dict[str, float]]:
    """One simulated day at `volume` through the real writer path (as section 5), as written and compacted:
    DuckDB's bytes read and files opened per daily query, for one day of data."""
    root = workdir / f"day-{volume}"
    query.simulate_archive(1, volume, root, seed=62)
    compacted = workdir / f"day-{volume}-compacted"
    query.compact(root, compacted)
    measured: dict[str, dict[str, float]] = {}
    for layout, folder in (("small", root), ("compacted", compacted)):
        for name in DAILY_QUERIES:
            result = query.duckdb_query(folder, name, reps=1)
            measured[f"{layout}:{name}"] = {
                "bytes": float(result["bytes_read"]),
                "files": float(result["files_read"]),
            }
        shutil.rmtree(folder, ignore_errors=True)
    return measured


def noncurrent_retention() -> tuple[float, str]:
    """Days a noncurrent object version is kept: template.yaml's NoncurrentVersionExpirationDays default."""
    try:
        parameters = load_template().get("Parameters", {})
        days = parameters["NoncurrentVersionExpirationDays"]["Default"]
        return float(days), f"template.yaml keeps noncurrent versions {days} days"
    except (KeyError, TypeError, ValueError, OSError):
        return float("inf"), "template.yaml sets no NoncurrentVersionExpiration: they accumulate"


def run(plan: Plan, workdir: Path, shared: dict[str, dict[str, Any]]) -> Section:
    section = Section("6", "Cost per month")
    ticks, logged = measure_ticks(plan)
    athena: dict[int, dict[str, dict[str, float]]] = {}
    for volume in VOLUMES:
        print(f"  [6] one simulated day at {volume:,}/day for the Athena estimate", flush=True)
        athena[volume] = athena_per_day(volume, workdir)
    coldstart = shared.get("coldstart", {})
    init_s = (
        float(coldstart["import_as_built_ms"]) / 1000
        if "import_as_built_ms" in coldstart
        else median(t["import_s"] for t in ticks.values())
    )
    init_origin = (
        "section 4, the build as it is"
        if coldstart
        else "measured in the dev venv, which imports more than the artefact: section 4 was not run"
    )
    cpu_scale = max(1.0, FULL_VCPU_MB / MEMORY_MB)
    kept_days, kept_origin = noncurrent_retention()
    gb = MEMORY_MB / 1024

    table: list[dict[str, Any]] = []
    totals: dict[int, float] = {}
    for volume in VOLUMES:
        t = ticks[volume]
        calls = (
            t["pages"] + 1 + t["objects"] + t["checkpoint_puts"] + t["put_events_calls"] + t["enrich_calls"]
        )
        duration = t["invoke_s"] * cpu_scale + calls * API_LATENCY_S
        init = init_s * cpu_scale
        lambda_cost = RUNS_PER_MONTH * (
            (duration + init) * gb * PRICE["lambda_gb_s_arm64"] + PRICE["lambda_request"]
        )
        puts = RUNS_PER_MONTH * (t["objects"] + t["checkpoint_puts"])
        s3_requests = puts * PRICE["s3_put"] + RUNS_PER_MONTH * 1 * PRICE["s3_get"]  # 1 checkpoint GET a run
        rows_month = volume * 30
        bytes_per_row = t["upload_bytes"] / t["archived"] if t["archived"] else float("nan")
        archive_gb = rows_month * bytes_per_row / 1e9
        # Every checkpoint PUT leaves the previous version behind (versioned bucket); a lifecycle rule keeps
        # them `kept_days` days, so the steady state holds that many days of versions (else: one more month
        # of them every month).
        checkpoint_gb = (
            RUNS_PER_MONTH * t["checkpoint_puts"] * t["checkpoint_bytes"] / 1e9 * min(kept_days, 30) / 30
        )
        storage = (archive_gb + checkpoint_gb) * PRICE["s3_gb_month"]
        failure_share = t["events"] / t["archived"] if t["archived"] else 0.0
        events = rows_month * failure_share * PRICE["put_events"]
        athena_cost: dict[str, tuple[float, float]] = {}
        for layout in ("small", "compacted"):
            scan_cost = get_cost = 0.0
            for name in DAILY_QUERIES:
                day = athena[volume][f"{layout}:{name}"]
                scanned = QUERY_DAYS[name] * day["bytes"]
                scan_cost += 30 * max(PRICE["athena_min_bytes"], scanned) / 1e12 * PRICE["athena_tb"]
                get_cost += 30 * QUERY_DAYS[name] * day["files"] * PRICE["s3_get"]
            athena_cost[layout] = (scan_cost, get_cost)
        athena_scan, athena_gets = athena_cost["small"]
        # A member's rows are scanned by the central account's daily queries over every member: its share
        # is its bytes, the 10 MB minimum paid once per query for the whole Organization.
        athena_share = sum(
            30 * QUERY_DAYS[name] * athena[volume][f"small:{name}"]["bytes"] / 1e12 * PRICE["athena_tb"]
            for name in DAILY_QUERIES
        )
        audit = audit_cost(volume, objects_per_tick=t["objects"], gb=gb)
        total = sum((lambda_cost, s3_requests, storage, events, athena_scan, athena_gets, audit["total"]))
        totals[volume] = total
        table.append(
            {
                "volume": volume,
                "tick": t,
                "duration": duration,
                "init": init,
                "lambda": lambda_cost,
                "s3_requests": s3_requests,
                "storage": storage,
                "archive_gb": archive_gb,
                "checkpoint_gb": checkpoint_gb,
                "bytes_per_row": bytes_per_row,
                "events": events,
                "failure_share": failure_share,
                "athena": athena_scan,
                "athena_gets": athena_gets,
                "athena_compacted": sum(athena_cost["compacted"]),
                "athena_share": athena_share,
                "athena_7d_bytes": 8 * athena[volume]["small:failures_per_hook_last_7_days"]["bytes"],
                "audit": audit["total"],
                "audit_pages": audit["pages"],
                "audit_objects": audit["objects"],
                "audit_seconds": audit["seconds"],
                "total": total,
            }
        )
    section.data["totals"] = totals
    section.add(
        "**Measured inputs.** For each volume, steady-state 5-minute runs of the real handler (fresh process "
        f"each) after a backfill: {plan.cost_warm_ticks} warm-up ticks fill the 15-minute late-arrival "
        "window at "
        f"that rate, then {plan.cost_ticks} measured ticks (medians below). New results per tick = volume / "
        f"{TICKS_PER_DAY}."
    )
    section.table(
        ["per run", *[f"{v:,}/day" for v in VOLUMES]],
        [
            ("new results (one tick)", *[f"{r['tick']['new']:,.0f}" for r in table]),
            ("ListHookResults pages", *[f"{r['tick']['pages']:,.0f}" for r in table]),
            (
                "pages if O(new): ceil(new/100)+1",
                *[f"{math.ceil(r['tick']['new'] / PAGE_SIZE) + 1}" for r in table],
            ),
            ("handler time, local (s)", *[f"{r['tick']['invoke_s']:.3f}" for r in table]),
            ("objects written (S3 PUT)", *[f"{r['tick']['objects']:.0f}" for r in table]),
            ("checkpoint PUTs (intent + commit)", *[f"{r['tick']['checkpoint_puts']:.0f}" for r in table]),
            ("checkpoint size", *[f"{r['tick']['checkpoint_bytes'] / 1e3:,.1f} kB" for r in table]),
            ("bytes per archived row (object bytes / rows)", *[f"{r['bytes_per_row']:,.0f}" for r in table]),
            (
                "PutEvents calls / events",
                *[f"{r['tick']['put_events_calls']:.0f} / {r['tick']['events']:.0f}" for r in table],
            ),
            ("peak RSS", *[f"{r['tick']['peak_rss'] / 1e6:,.0f} MB" for r in table]),
        ],
    )
    section.add(
        "**Model** (per 30-day month, 8,640 runs; us-east-1 list prices, free tiers ignored):\n\n"
        f"- Lambda (arm64, as the template deploys; {MEMORY_MB} MB): runs x (duration + init) x "
        f"{gb:g} GB x ${PRICE['lambda_gb_s_arm64']}/GB-s + runs x $0.20/M requests. duration = local handler "
        f"time x {cpu_scale:.2f} (Lambda gives {MEMORY_MB}/{FULL_VCPU_MB} of a vCPU at {MEMORY_MB} MB "
        "and the "
        f"work is CPU-bound locally) + AWS calls x {API_LATENCY_S * 1000:.0f} ms (assumed in-region latency, "
        f"which loopback does not have; calls = pages + checkpoint GET + PUTs + PutEvents / {WORKERS} (in "
        "flight at once) + GetHookResult). "
        f"init = {init_s * 1000:.0f} ms import ({init_origin}) x {cpu_scale:.2f}, billed (INIT is billed "
        "for managed runtimes since Aug 2025), assumed on every run (a 5-minute gap often outlives the idle "
        "environment: an upper bound).\n"
        "- S3 requests: runs x (objects + checkpoint PUTs) x $0.005/1k + runs x 1 checkpoint GET x "
        "$0.0004/1k.\n"
        "- S3 storage (Standard, $0.023/GB-month): one month of rows x measured bytes per row (the archive "
        "accumulates: month n stores n months of it), plus the old checkpoint versions every PUT leaves in "
        f"the versioned bucket ({kept_origin}; at steady state min(that, 30) days of them are stored).\n"
        "- PutEvents: failed invocations x $1.00/M (each entry < 64 KB); failure share measured "
        f"({table[-1]['failure_share']:.1%}).\n"
        f"- Athena: the daily query set = {', '.join(f'`{q}`' for q in DAILY_QUERIES)} once a day each. "
        "Bytes "
        "scanned = days in the query's range x the bytes DuckDB read running that query over one simulated "
        "day at that volume (written through the real writer path as in section 5: 288 runs, one object per "
        "run), billed at $5/TB with the 10 MB minimum per query; plus one S3 GET per object opened. The "
        "same with one object per dt is shown for comparison (what compaction would save)."
    )
    section.table(
        ["USD per month", *[f"{v:,}/day" for v in VOLUMES]],
        [
            (
                "Lambda: duration + init (s per run)",
                *[f"{r['duration']:.2f} + {r['init']:.2f}" for r in table],
            ),
            ("Lambda", *[f"${r['lambda']:.4f}" for r in table]),
            ("S3 requests", *[f"${r['s3_requests']:.4f}" for r in table]),
            (
                "S3 storage added (archive GB + checkpoint versions GB)",
                *[f"${r['storage']:.4f} ({r['archive_gb']:.3f} + {r['checkpoint_gb']:.3f})" for r in table],
            ),
            ("PutEvents", *[f"${r['events']:.4f}" for r in table]),
            (
                "Athena: bytes scanned by the 7-day query",
                *[f"{r['athena_7d_bytes'] / 1e6:,.1f} MB" for r in table],
            ),
            ("Athena scans (daily query set)", *[f"${r['athena']:.4f}" for r in table]),
            ("S3 GETs by Athena", *[f"${r['athena_gets']:.4f}" for r in table]),
            ("**total**", *[f"**${r['total']:.2f}**" for r in table]),
            (
                "Athena scans + GETs if partitions were compacted",
                *[f"${r['athena_compacted']:.4f}" for r in table],
            ),
        ],
    )
    biggest = max(table, key=lambda r: r["total"])
    parts = {
        "Lambda": biggest["lambda"],
        "PutEvents": biggest["events"],
        "S3 storage": biggest["storage"],
        "S3 requests": biggest["s3_requests"],
        "Athena": biggest["athena"] + biggest["athena_gets"],
    }
    top = sorted(parts.items(), key=lambda item: item[1], reverse=True)
    section.add(
        f"At {biggest['volume']:,}/day the bill is led by {top[0][0]} (${top[0][1]:.2f}) and {top[1][0]} "
        f"(${top[1][1]:.2f}). Below ~50k/day everything rounds to cents: the 10 MB Athena minimum, and "
        "Lambda's per-run floor (init plus a page and a checkpoint read) dominate. This table is the part "
        "that grows with volume; what each deployment adds (CloudWatch metrics, alarms, dashboard and logs, "
        "X-Ray, Scheduler, KMS) is priced below. Not counted: the Glue catalog, data transfer (none: same "
        "region)."
    )
    _member_details(section, Comparison(table, logged, *deployments()))
    return section


@dataclass(frozen=True)
class Comparison:
    """The measured variable part and log output per volume, priced for both deployments."""

    table: list[dict[str, Any]]
    logged: dict[int, dict[str, dict[str, float]]]
    today: Deployment
    member: Deployment

    def costs(self, deployment: Deployment) -> list[dict[str, float]]:
        return [account_region_cost(deployment, r, self.logged[r["volume"]]) for r in self.table]


ITEM_LABELS = {
    "lambda": "Lambda",
    "s3_requests": "S3 requests",
    "storage": "S3 storage added",
    "events": "PutEvents",
    "athena": "Athena scans (own queries / share of the central ones)",
    "athena_gets": "S3 GETs by Athena",
    "audit": "daily self-audit (modelled: 90-day listing, digests, no read in steady state)",
    "scheduler": "EventBridge Scheduler",
    "xray": "X-Ray traces",
    "metrics": "CloudWatch custom metrics",
    "alarms": "CloudWatch alarms",
    "dashboards": "CloudWatch dashboard",
    "logs_ingested": "CloudWatch Logs ingested",
    "logs_stored": "CloudWatch Logs stored",
    "kms": "KMS requests",
}


def _summary_rows(section: Section, comparison: Comparison) -> None:
    pairs = zip(comparison.costs(comparison.today), comparison.costs(comparison.member), strict=True)
    for r, (before, after) in zip(comparison.table, pairs, strict=True):
        volume = r["volume"]
        section.row(f"single account today, all items, at {volume:,}/day", f"${before['total']:,.2f}")
        section.row(
            f"member account-region (METRICS_LEVEL=essential) at {volume:,}/day",
            f"${after['total']:,.2f}",
            f"<= ${MEMBER_TARGET:.2f}",
            "met" if after["total"] <= MEMBER_TARGET else "missed",
        )
        section.row(
            f"fleet of {FLEET:,} member account-regions at {volume:,}/day each",
            f"${FLEET * after['total']:,.0f} (today ${FLEET * before['total']:,.0f})",
        )


def _log_table(section: Section, comparison: Comparison) -> None:
    platform = platform_log_lines()
    section.add(
        "### Per account-region, every item: a single account today and an Organization member\n\n"
        "**Log output per run, measured.** After the measured ticks, the same volume runs as many more "
        "ticks at each `METRICS_LEVEL`, with the template's `POWERTOOLS_LOG_LEVEL` and metrics on (the "
        "ticks above run quiet), and what the function prints is captured: its summary log line and the "
        "EMF blobs CloudWatch turns into metrics. Lambda's own lines for a cold, traced invocation "
        "(INIT_START, START, END, REPORT with its XRAY line: "
        f"{sum(len(line.encode()) + 1 for line in platform)} bytes, written out in `platform_log_lines`) "
        f"and {LOG_EVENT_OVERHEAD} bytes per event are added."
    )
    rows = []
    for level in METRICS_LEVELS:
        outputs = [comparison.logged[r["volume"]][level] for r in comparison.table]
        rows.append(
            (
                f"`{level}`: bytes the function printed (of which EMF)",
                *[f"{o['log_bytes']:,.0f} ({o['emf_bytes']:,.0f})" for o in outputs],
            )
        )
        rows.append(
            (
                f"`{level}`: metric names in the EMF (a successful cold run)",
                *[f"{o['metrics_published']:.0f}" for o in outputs],
            )
        )
        rows.append(
            (f"`{level}`: log bytes a run, all counted", *[f"{log_bytes_per_run(o):,.0f}" for o in outputs])
        )
    section.table(["per run", *[f"{r['volume']:,}/day" for r in comparison.table]], rows)


def _model_text(section: Section, comparison: Comparison) -> None:
    run_metrics = _run_metrics()
    today, member = comparison.today, comparison.member
    essential = sorted(run_metrics.metric_names("essential"))
    everything = sorted(run_metrics.metric_names("all"))
    section.add(
        f"**Metrics.** `METRICS_LEVEL=all` (the default) may publish {len(everything)}: "
        f"{', '.join(f'`{n}`' for n in everything)} (`{run_metrics.COLD_START}` is Powertools' own, with a "
        "`function_name` dimension, so a metric of its own). `essential` publishes "
        f"{', '.join(f'`{n}`' for n in essential)}, the one the NoSuccessfulRunAlarm reads; every counter "
        "stays a field of the run's summary log line (`run.pages`, `run.archived`, ...), for Logs Insights. "
        "Each name is billed $0.30 a month, as docs/deploy-and-operate.md counts them (CloudWatch prorates "
        "by the hour, so `RunsFailed` and `RunsSkipped`, published only when they happen, cost less: "
        "an upper bound).\n\n"
        f"**Deployments.** {today.name}: {today.alarms} alarms (template.yaml at its defaults), "
        f"{today.dashboards} dashboard (free tiers ignored, as above: an account's first three are free; "
        "in an Organization, consolidated billing gives all its accounts one free tier together), "
        "SSE-S3, and its own daily Athena queries. "
        f"{member.name}: `METRICS_LEVEL=essential`, {member.alarms} alarms (as the member template, "
        "generated from template.yaml, creates them: fleet health watches members centrally), no dashboard, "
        f"the central bucket's SSE-KMS with S3 Bucket Keys (<= {KMS_REQUESTS_PER_RUN} KMS requests a run, "
        "$0.03/10k), and its rows scanned by the central daily queries (its share: its bytes at $5/TB, the "
        "10 MB minimum paid once per query for the whole Organization; its objects' GETs as above). "
        "Both: EventBridge Scheduler ($1.00/M), X-Ray (Tracing Active, every run traced, $5.00/M), "
        f"CloudWatch Logs $0.50/GB ingested and $0.03/GB-month stored for {log_retention_days():.0f} days "
        "(LogRetentionDays; uncompressed, an upper bound), alarms $0.10, dashboard $3.00.\n\n"
        "**Daily self-audit** (`AUDIT_INTERVAL_HOURS=24`), modelled, not measured: each day it pages the "
        f"whole {AUDIT_DAYS}-day listing ({PAGE_SIZE} results a page, in sequence) and compares each day's "
        "digest of the listed ids with the one the checkpoint keeps of the archive: in steady state it reads "
        "no object. Each call is "
        f"{API_LATENCY_S * 1000:.0f} ms of billed Lambda time. "
        + "; ".join(
            f"{r['volume']:,}/day: {r['audit_pages']:,.0f} pages, {r['audit_objects']:,.0f} objects, "
            f"{r['audit_seconds']:,.0f} s a day, ${r['audit']:.2f} a month"
            for r in comparison.table
        )
        + ". Only an audit that finds a day differing (a late arrival, which `AuditRepaired` alarms on) "
        "pages the listing a second time and reads that day's objects (at most one a run; "
        f"{AUDIT_GETS_PER_OBJECT} GET each, {AUDIT_READ_THREADS} at a time). At a "
        "high volume the listing dominates and one audit spans many runs (it resumes from its token); a "
        "longer `AUDIT_INTERVAL_HOURS` divides its cost."
    )


def _cost_table(section: Section, comparison: Comparison) -> None:
    pairs = (comparison.today, comparison.member)
    costs = {d.name: comparison.costs(d) for d in pairs}
    columns = [(i, r["volume"], d) for i, r in enumerate(comparison.table) for d in pairs]
    header = [
        "USD per month",
        *[f"{volume:,}/day {'today' if d is comparison.today else 'member'}" for _, volume, d in columns],
    ]
    body = []
    for key, label in ITEM_LABELS.items():
        values = []
        for index, _, deployment in columns:
            item = costs[deployment.name][index]
            extra = ""
            if key == "metrics":
                extra = f" ({item['metric_count']:.0f})"
            elif key == "logs_ingested":
                extra = f" ({item['logs_gb'] * 1000:,.0f} MB)"
            values.append(f"${item[key]:.4f}{extra}")
        body.append((label, *values))
    body.append(("**total**", *[f"**${costs[d.name][i]['total']:.2f}**" for i, _, d in columns]))
    body.append(
        (f"fleet of {FLEET:,}", *[f"${FLEET * costs[d.name][i]['total']:,.0f}" for i, _, d in columns])
    )
    section.table(header, body)
    for index, r in enumerate(comparison.table):
        after = costs[comparison.member.name][index]
        before = costs[comparison.today.name][index]
        top = sorted(((k, after[k]) for k in ITEM_LABELS), key=lambda item: item[1], reverse=True)[:3]
        verdict = "meets" if after["total"] <= MEMBER_TARGET else "misses"
        section.add(
            f"At {r['volume']:,}/day a member costs ${after['total']:.2f} (today ${before['total']:.2f}) and "
            f"{verdict} the ${MEMBER_TARGET:.2f} target; its largest items: "
            + ", ".join(f"{ITEM_LABELS[k]} ${v:.2f}" for k, v in top)
            + "."
        )


def _member_details(section: Section, comparison: Comparison) -> None:
    _summary_rows(section, comparison)
    section.data["member_totals"] = {
        r["volume"]: cost["total"]
        for r, cost in zip(comparison.table, comparison.costs(comparison.member), strict=True)
    }
    _log_table(section, comparison)
    _model_text(section, comparison)
    _cost_table(section, comparison)
