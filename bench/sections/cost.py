"""6. Cost per month at 1k, 50k and 1M hook invocations a day on a 5-minute schedule, from measured runs."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import runner
from bench.plan import PAGE_SIZE, Plan, publisher_workers
from bench.report import Section, median
from bench.sections import query
from bench.servers import remote_stack
from emulation.lambda_runtime import load_template

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
}
MEMORY_MB = 1024  # the template's MemorySize
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; CPU share scales with memory below that
API_LATENCY_S = 0.025  # assumed in-region round trip per AWS call, on top of what loopback measured
WORKERS = publisher_workers()  # PutEvents calls the publisher keeps in flight
DAILY_QUERIES = ("daily_failure_trend", "failures_per_hook_last_7_days", "top_failing_targets_last_30_days")


def _tick_counts(per_day: int, ticks: int) -> list[int]:
    """New results per tick at a steady rate, rounded so the average holds (1k/day = 3.47 a tick)."""
    rate = per_day / TICKS_PER_DAY
    return [round(rate * (i + 1)) - round(rate * i) for i in range(ticks)]


def measure_ticks(plan: Plan) -> dict[int, dict[str, float]]:
    """Steady-state 5-minute runs at each volume, after warm-up ticks fill the late-arrival window."""
    measured: dict[int, dict[str, float]] = {}
    history_end = datetime.now(UTC) - timedelta(hours=8)
    with remote_stack(page_size=PAGE_SIZE) as stack:
        seeded = stack.emulator.seed_history(end=history_end, days=90, per_day=100, seed=61)
        runner.run_handler_chain(stack)  # the backfill proves newest-first order
        cursor = seeded["newest"]
        for volume in VOLUMES:
            print(f"  [6] ticks at {volume:,}/day", flush=True)
            counts = _tick_counts(volume, plan.cost_warm_ticks + plan.cost_ticks)
            samples = []
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
                outcome = runner.run_handler(stack, timeout_seconds=300)
                if index >= plan.cost_warm_ticks:
                    samples.append(_sample(outcome, stack.emulator.call_count("ListHookResults"), count))
            measured[volume] = {key: median(s[key] for s in samples) for key in samples[0]}
    return measured


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
    ticks = measure_ticks(plan)
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
        gets = RUNS_PER_MONTH * 1
        s3_requests = puts * PRICE["s3_put"] + gets * PRICE["s3_get"]
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
        total = lambda_cost + s3_requests + storage + events + athena_scan + athena_gets
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
                "athena_7d_bytes": 8 * athena[volume]["small:failures_per_hook_last_7_days"]["bytes"],
                "total": total,
            }
        )
        section.row(f"cost per month at {volume:,} invocations/day", f"${total:,.2f}")
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
        "Lambda's per-run floor (init plus a page and a checkpoint read) dominate. Not counted: CloudWatch "
        "Logs (one summary line per run, ~17 MB a month), X-Ray (8,640 traces a month, inside the free "
        "100k), the Glue catalog, data transfer (none: same region)."
    )
    return section
