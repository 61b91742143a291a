"""7. The curated Iceberg table against the raw archive: files and bytes the named queries read, what
the curator costs a day, and how long a committed row takes to become queryable.

Measured at a scaled-down fleet (CuratedScale) for one simulated day through the real curator against
moto's Glue and S3 (in a child process, behind a counting proxy); the per-day figures are then
extrapolated to the issue's fleet and query spans, each labelled.
"""

from __future__ import annotations

import http.client
import math
import os
import random
import shutil
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.plan import REPO_ROOT, Plan
from bench.report import Section
from bench.sections.cost import API_LATENCY_S, FULL_VCPU_MB, MEMORY_MB, PRICE
from bench.sections.query import duckdb_query
from bench.servers import remote_stack
from emulation.fault_proxy import classify

PREFIX = "hook-results"
DATABASE, TABLE = "cfn_hook_archive", "hook_results"
STATUSES = ("HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_FAILED", "HOOK_FAILED")
HOOKS = tuple(f"MyOrg::Guard::Rule{n}" for n in range(5))
GLUE_REQUEST = 1.00 / 1e6  # Glue Data Catalog requests beyond the free million a month (us-east-1)
CURATOR_TARGET_USD_DAY = 1.00
FILES_PER_DAY_TARGET = 2
BYTES_RATIO_TARGET = 1.5
GET_LIKE = {"GetObject", "HeadObject", "GetObjectAttributes"}
QUERY_SPANS = {"failures_per_hook_last_7_days": 7, "top_failing_targets_last_30_days": 30}


@dataclass(frozen=True)
class CuratedScale:
    accounts: int = 10
    regions: int = 2
    days: int = 30  # the span the figures are extrapolated to
    ticks_per_day: int = 288  # the archiver's 5-minute schedule: one raw object per tick and account-region
    rows_per_tick: int = 2
    curator_every_ticks: int = 3  # the curator's schedule: every 15 minutes
    target_accounts: int = 100
    target_regions: int = 2

    @property
    def account_regions(self) -> int:
        return self.accounts * self.regions

    @property
    def fleet_factor(self) -> float:
        return self.target_accounts * self.target_regions / self.account_regions


# 4 x 2 keeps the section near 5 minutes on 2 cores (the curator runs 97 times); BENCH_CURATED_ACCOUNTS
# and BENCH_CURATED_REGIONS measure a bigger fleet.
DEFAULT_SCALE = CuratedScale(accounts=4)
QUICK_SCALE = CuratedScale(accounts=2, regions=1)


def _imports() -> None:
    for code in (REPO_ROOT / "functions" / "archiver", REPO_ROOT / "functions" / "curator"):
        if str(code) not in sys.path:
            sys.path.insert(0, str(code))


def _results(rng: random.Random, tick_start: datetime, count: int) -> list[Any]:
    from hook_archive.models.hook_result import HookResult, to_epoch_ms  # noqa: PLC0415

    return [
        HookResult(
            hook_result_id=str(uuid.UUID(int=rng.getrandbits(128))),
            invocation_point="PRE_PROVISION",
            failure_mode=rng.choice(("FAIL", "WARN")),
            type_name=rng.choice(HOOKS),
            type_version_id="00000001",
            type_configuration_version_id="00000001",
            status=rng.choice(STATUSES),
            hook_status_reason=rng.choice(("reason", None)),
            invoked_at_ms=to_epoch_ms(tick_start + timedelta(milliseconds=rng.randrange(300_000))),
            target_type="RESOURCE",
            target_id=f"stack/{rng.randrange(200)}",
            type_arn="arn:aws:cloudformation:us-east-1:123456789012:type/hook/MyOrg-Guard",
            hook_execution_target=None,
        )
        for _ in range(count)
    ]


class CountingProxy:
    """Forwards every request to moto and counts it by operation (S3 by method and path, Glue by its
    X-Amz-Target). The local stack's FaultProxy is not used: it answers HEAD with Content-Length 0, which
    pyarrow's S3 filesystem (pyiceberg's file IO) takes for an empty file."""

    def __init__(self, upstream_url: str) -> None:
        from urllib.parse import urlsplit  # noqa: PLC0415

        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                chunks = []
                while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():
                    pass
                return b"".join(chunks)

            def _handle(self) -> None:
                body = self._body()
                with proxy._lock:
                    proxy.calls.append(classify(self.command, self.path, self.headers.get("X-Amz-Target")))
                connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in {"content-length", "transfer-encoding", "expect"}
                    }
                    headers["Content-Length"] = str(len(body))
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in {"transfer-encoding", "connection", "date", "server"}:
                            self.send_header(name, value)
                    if self.command != "HEAD" and response.getheader("Content-Length") is None:
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def take(self) -> dict[str, int]:
        with self._lock:
            counts = Counter(self.calls)
            self.calls.clear()
        return dict(counts)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()


@dataclass
class CuratorRun:
    seconds: float
    calls: dict[str, int]
    objects: int
    compacted: int


def _write_tick(
    stack: Any, raw_dir: Path, scale: CuratedScale, *, day: date, tick: int, rng: random.Random
) -> None:
    """One 5-minute archiver run in every account-region: one object each, through the real writer."""
    from hook_archive.dal.archive_writer import ParquetSpool, S3ArchiveWriter  # noqa: PLC0415
    from hook_archive.logic.partitioning import archive_key  # noqa: PLC0415
    from hook_archive.models.hook_result import to_epoch_ms  # noqa: PLC0415

    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=5 * tick)
    writer = S3ArchiveWriter(bucket=stack.bucket, client=stack.client("s3"))
    for account in range(scale.accounts):
        for region in range(scale.regions):
            account_id, region_name = f"{100000000000 + account:012d}", f"region-{region}"
            spool = ParquetSpool(
                account_id=account_id,
                region=region_name,
                archived_at_ms=to_epoch_ms(start + timedelta(minutes=5)),
                rows_per_row_group=50_000,
                directory=None,
            )
            try:
                key = archive_key(PREFIX, day, account_id=account_id, region=region_name, sequence=tick + 1)
                for result in _results(rng, start, scale.rows_per_tick):
                    spool.add(key, result)
                for spooled in spool.finish():
                    local = raw_dir / spooled.key.removeprefix(f"{PREFIX}/")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(spooled.path, local)
                    writer.upload(spooled)
            finally:
                spool.discard()


def simulate_day(stack: Any, proxy: Any, scale: CuratedScale, day: date, raw_dir: Path) -> list[CuratorRun]:
    """A day of archiver ticks with the curator's scheduled run every curator_every_ticks ticks (its clock
    the simulated one), then the first run after the day closes (close_after_hours), which compacts it."""
    _imports()
    from curator.dal.curated_table import IcebergCuratedTable, glue_catalog  # noqa: PLC0415
    from curator.dal.raw_archive import S3RawArchive  # noqa: PLC0415
    from curator.logic.curation import (  # noqa: PLC0415
        CurationDependencies,
        CurationRequest,
        CurationSettings,
        curate,
    )
    from emulation.aws_stack import CREDENTIALS, REGION, loopback_client  # noqa: PLC0415

    settings = CurationSettings()
    properties = {
        "glue.endpoint": proxy.url,
        "glue.region": REGION,
        "glue.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "glue.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "s3.endpoint": proxy.url,
        "s3.region": REGION,
        "s3.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "s3.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
    s3 = loopback_client("s3", moto_url=proxy.url, cloudformation_url=stack.emulator.endpoint_url)
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rng = random.Random(29)
    runs: list[CuratorRun] = []

    def run_curator(clock: datetime) -> None:
        deps = CurationDependencies(
            raw=S3RawArchive(bucket=stack.bucket, archive_prefix=PREFIX, client=s3),
            table=IcebergCuratedTable(
                catalog=glue_catalog(properties),
                database=DATABASE,
                table_name=TABLE,
                location=f"s3://{stack.bucket}/curated/{TABLE}",
                s3_client=s3,
            ),
            clock_ms=lambda: int(clock.timestamp() * 1000),
        )
        proxy.take()
        started = time.perf_counter()
        report = curate(deps, settings, CurationRequest())
        seconds = time.perf_counter() - started
        calls = proxy.take()
        runs.append(CuratorRun(seconds, calls, report.objects_added, len(report.days_compacted)))

    for tick in range(scale.ticks_per_day):
        _write_tick(stack, raw_dir, scale, day=day, tick=tick, rng=rng)
        if (tick + 1) % scale.curator_every_ticks == 0:
            run_curator(day_start + timedelta(minutes=5 * (tick + 1)))
        if (tick + 1) % 48 == 0:
            print(f"  [7] tick {tick + 1}/{scale.ticks_per_day}, {len(runs)} curator runs", flush=True)
    run_curator(day_start + timedelta(days=1, hours=settings.close_after_hours, minutes=5))
    return runs


def _curated_files(stack: Any, day: date, target: Path) -> tuple[int, int]:
    """The day's data files of the curated table's current snapshot, copied to `target`."""
    from curator.dal.curated_table import equal_to, glue_catalog  # noqa: PLC0415
    from emulation.aws_stack import CREDENTIALS, REGION  # noqa: PLC0415

    catalog = glue_catalog(
        {
            "glue.endpoint": stack.moto_url,
            "glue.region": REGION,
            "s3.endpoint": stack.moto_url,
            "s3.region": REGION,
            **{f"{s}.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"] for s in ("glue", "s3")},
            **{f"{s}.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"] for s in ("glue", "s3")},
        }
    )
    table = catalog.load_table((DATABASE, TABLE))
    s3 = stack.client("s3")
    files = 0
    size = 0
    folder = target / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    for task in table.scan(row_filter=equal_to("dt", day.isoformat())).plan_files():
        key = task.file.file_path.removeprefix(f"s3://{stack.bucket}/")
        (folder / f"part-{files:05d}.parquet").write_bytes(
            s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        )
        files += 1
        size += task.file.file_size_in_bytes
    return files, size


def _ideal(raw_dir: Path, target: Path) -> None:
    from bench.sections.query import compact  # noqa: PLC0415

    compact(raw_dir, target)


def _folder_bytes(root: Path) -> tuple[int, int]:
    files = list(root.glob("dt=*/*.parquet"))
    return len(files), sum(path.stat().st_size for path in files)


def _is_s3(operation: str) -> bool:
    """The proxy names S3 calls by method and path (GetObject, PutObject, GETBucket, ...) and the others
    by their X-Amz-Target: here Glue's."""
    return "Object" in operation or operation.endswith("Bucket") or operation in {"POST", "PUT", "GET"}


def _price(calls: dict[str, int]) -> tuple[float, int, int, int]:
    gets = sum(n for op, n in calls.items() if op in GET_LIKE)
    s3_other = sum(n for op, n in calls.items() if _is_s3(op) and op not in GET_LIKE)
    glue = sum(n for op, n in calls.items() if not _is_s3(op))
    return gets * PRICE["s3_get"] + s3_other * PRICE["s3_put"] + glue * GLUE_REQUEST, gets, s3_other, glue


def run(plan: Plan, workdir: Path, shared: dict[str, dict[str, Any]]) -> Section:
    del shared
    scale = QUICK_SCALE if plan.mode == "quick" else DEFAULT_SCALE
    scale = replace(
        scale,
        accounts=int(os.environ.get("BENCH_CURATED_ACCOUNTS", scale.accounts)),
        regions=int(os.environ.get("BENCH_CURATED_REGIONS", scale.regions)),
    )
    return measure(scale, workdir)


def measure(scale: CuratedScale, workdir: Path) -> Section:  # noqa: PLR0915  # one report, top to bottom
    _imports()
    section = Section("7", "The curated Iceberg table against the raw archive")
    day = datetime.now(UTC).date() - timedelta(days=1)  # inside every named query's dt window
    raw_dir, curated_dir, ideal_dir = workdir / "raw", workdir / "curated", workdir / "ideal"
    print(
        f"  [7] {scale.account_regions} account-regions x {scale.ticks_per_day} ticks, day {day}", flush=True
    )
    started = time.perf_counter()
    with remote_stack() as stack:
        stack.client("glue").create_database(DatabaseInput={"Name": DATABASE})
        proxy = CountingProxy(stack.moto_url)
        proxy.start()
        try:
            runs = simulate_day(stack, proxy, scale, day, raw_dir)
        finally:
            proxy.stop()
        curated_files, curated_bytes = _curated_files(stack, day, curated_dir)
    simulated_s = time.perf_counter() - started
    _ideal(raw_dir, ideal_dir)
    raw_files, raw_bytes = _folder_bytes(raw_dir)
    ideal_files, ideal_bytes = _folder_bytes(ideal_dir)

    # -- the named queries over the one measured day
    print("  [7] DuckDB queries over the day: raw, curated, ideal", flush=True)
    reads = {
        name: {
            layout: duckdb_query(root, name, reps=1)
            for layout, root in (("raw", raw_dir), ("curated", curated_dir), ("ideal", ideal_dir))
        }
        for name in QUERY_SPANS
    }

    # -- the curator's day
    scheduled, closing = runs[:-1], runs[-1]
    calls: dict[str, int] = {}
    for r in runs:
        for op, n in r.calls.items():
            calls[op] = calls.get(op, 0) + n
    cpu_scale = max(1.0, FULL_VCPU_MB / MEMORY_MB)
    local_s = sum(r.seconds for r in runs)
    lambda_s = local_s * cpu_scale + API_LATENCY_S * sum(calls.values())
    requests_usd, gets, s3_other, glue = _price(calls)
    lambda_usd = lambda_s * MEMORY_MB / 1024 * PRICE["lambda_gb_s_arm64"] + len(runs) * (
        PRICE["lambda_request"] + PRICE["scheduler_invocation"]
    )
    day_usd = requests_usd + lambda_usd
    factor = scale.fleet_factor
    # Upper bound: every second and request is taken to grow with the fleet (the per-run floor does not).
    day_usd_target = day_usd * factor
    interval_min = 5 * scale.curator_every_ticks
    run_lambda = [r.seconds * cpu_scale + API_LATENCY_S * sum(r.calls.values()) for r in scheduled]
    fresh_worst = interval_min * 60 + max(run_lambda)
    fresh_worst_target = interval_min * 60 + max(run_lambda) * factor
    fresh_mean_target = interval_min * 30 + statistics.mean(run_lambda) * factor

    target_ar = scale.target_accounts * scale.target_regions
    rows = [
        (
            "scaled fleet (measured)",
            f"{scale.accounts} accounts x {scale.regions} regions = {scale.account_regions}",
        ),
        (
            "extrapolated to",
            f"{scale.target_accounts} x {scale.target_regions} = {target_ar} account-regions, "
            f"{scale.days} days",
        ),
    ]
    section.add(
        f"**What was measured.** One day ({day}) of a {scale.accounts} "
        f"accounts x {scale.regions} regions fleet: "
        f"{scale.ticks_per_day} archiver ticks, each writing one object of {scale.rows_per_tick} rows per "
        "account-region through the archiver's real writer (`ParquetSpool`, `S3ArchiveWriter`) into moto "
        "(its own process); the real curator (`curate`, scheduled "
        "request, default `CurationSettings`) every "
        f"{scale.curator_every_ticks} ticks ({interval_min} min) "
        "on the simulated clock, against moto's Glue and "
        "S3 through a counting proxy (`CountingProxy`, which counts every request the curator "
        "makes: raw LIST/GET, pyiceberg's metadata, manifest and data files, Glue), then the first run after "
        "the day closed, which compacts it. "
        f"{len(runs)} curator runs; simulation {simulated_s:.0f} s in all. **What is extrapolated**: the "
        f"{scale.days}-day query figures are the measured day's "
        f"times {scale.days} (7 for the 7-day query; the "
        "queries' partition filters read whole days), and the fleet's are the measured ones times "
        f"{factor:g} (raw objects and bytes grow exactly so; curated "
        "bytes about so; the curator's seconds and "
        "requests are multiplied whole, an upper bound since each run's floor does not grow)."
    )
    section.table(["", ""], rows, "ll")

    # -- files and bytes per day and per query
    curated_bytes_target = curated_bytes * factor
    curated_files_target = max(curated_files, math.ceil(curated_bytes_target / (512 * 1024 * 1024)))
    files_ok = curated_files_target <= FILES_PER_DAY_TARGET
    q30 = reads["top_failing_targets_last_30_days"]
    ratio30 = q30["curated"]["bytes_read"] / q30["ideal"]["bytes_read"]
    bytes_ok = ratio30 <= BYTES_RATIO_TARGET
    section.row(
        f"30-day query at {target_ar} account-regions: curated files per day (raw: "
        f"{raw_files * factor:,.0f})",
        f"{curated_files_target}",
        f"<= {FILES_PER_DAY_TARGET}",
        "met" if files_ok else "missed",
    )
    section.row(
        "30-day query: bytes read, curated / ideal single file per day (measured day)",
        f"{ratio30:.2f}x (raw {q30['raw']['bytes_read'] / q30['ideal']['bytes_read']:.1f}x)",
        f"<= {BYTES_RATIO_TARGET}x",
        "met" if bytes_ok else "missed",
    )
    section.row(
        f"curator cost per day at {target_ar} account-regions (extrapolated upper bound)",
        f"${day_usd_target:.3f} (measured ${day_usd:.4f} at {scale.account_regions})",
        f"< ${CURATOR_TARGET_USD_DAY:.2f}",
        "met" if day_usd_target < CURATOR_TARGET_USD_DAY else "missed",
    )
    section.row(
        f"commit to queryable, worst case, {interval_min}-min schedule at {target_ar} account-regions",
        f"{fresh_worst_target / 60:.1f} min, mean {fresh_mean_target / 60:.1f} min (measured worst "
        f"{fresh_worst / 60:.1f} min at {scale.account_regions})",
        "<= 15 min",
        "met" if fresh_worst_target <= 15 * 60 else "missed",
    )

    layout_rows = [
        (
            "raw (one object per tick and account-region)",
            f"{raw_files:,}",
            f"{raw_bytes / 1e6:.2f}",
            f"{raw_files * factor:,.0f}",
            f"{raw_bytes * factor / 1e6:,.1f}",
        ),
        (
            "curated (Iceberg, after the closing run)",
            f"{curated_files:,}",
            f"{curated_bytes / 1e6:.2f}",
            f"{curated_files_target:,}",
            f"{curated_bytes_target / 1e6:,.1f}",
        ),
        (
            "ideal (one file per day, archiver writer settings)",
            f"{ideal_files:,}",
            f"{ideal_bytes / 1e6:.2f}",
            "1",
            f"{ideal_bytes * factor / 1e6:,.1f}",
        ),
    ]
    section.table(
        [
            "per day",
            f"files ({scale.account_regions} AR, measured)",
            "MB (measured)",
            f"files ({target_ar} AR, extrapolated)",
            "MB (extrapolated)",
        ],
        layout_rows,
        "lrrrr",
    )
    query_rows = []
    for name, span in QUERY_SPANS.items():
        for layout in ("raw", "curated", "ideal"):
            read = reads[name][layout]
            query_rows.append(
                (
                    f"`{name}` {layout}",
                    f"{read['files_read']:,}",
                    f"{read['bytes_read'] / 1e6:.3f}",
                    f"{read['files_read'] * span * factor:,.0f}",
                    f"{read['bytes_read'] * span * factor / 1e6:,.1f}",
                )
            )
    section.table(
        [
            "query, layout",
            "files read (1 day, measured)",
            "MB read (1 day, measured)",
            f"files ({span_text()}, {target_ar} AR, extrapolated)",
            "MB (extrapolated)",
        ],
        query_rows,
        "lrrrr",
    )
    section.add(
        "Bytes and files read are DuckDB's own counters (`io.total_bytes_read`, the scan's `Total Files "
        "Read`) for each query over the measured day, laid out three ways: the raw objects, the curated "
        "table's data files of that day (copied out of moto as the current snapshot lists them), and the "
        "same rows rewritten as one file per day with the archiver's writer settings (`query.compact`)."
    )

    # -- the curator's day
    per_run = [r.seconds for r in scheduled]
    ops = ", ".join(f"{op} {n:,}" for op, n in sorted(calls.items(), key=lambda item: -item[1]))
    section.table(
        ["curator, one day", f"{scale.account_regions} AR (measured)", f"{target_ar} AR (extrapolated)"],
        [
            ("runs (scheduled + closing)", f"{len(scheduled)} + 1", f"{len(scheduled)} + 1"),
            (
                "run time, local: median / max (s)",
                f"{statistics.median(per_run):.2f} / {max(per_run):.2f}",
                "-",
            ),
            ("closing run (compaction), local s", f"{closing.seconds:.2f}", "-"),
            ("S3 GET/HEAD requests", f"{gets:,}", f"{gets * factor:,.0f}"),
            ("S3 PUT/LIST/DELETE requests", f"{s3_other:,}", f"{s3_other * factor:,.0f}"),
            ("Glue requests", f"{glue:,}", f"{glue * factor:,.0f}"),
            ("Lambda seconds", f"{lambda_s:,.0f}", f"{lambda_s * factor:,.0f}"),
            ("requests USD", f"${requests_usd:.4f}", f"${requests_usd * factor:.3f}"),
            ("Lambda USD", f"${lambda_usd:.4f}", f"${lambda_usd * factor:.3f}"),
            ("**total USD per day**", f"**${day_usd:.4f}**", f"**${day_usd_target:.3f}**"),
        ],
        "lrr",
    )
    section.add(
        f"Requests by operation over the day: {ops}. Lambda seconds = local run time x {cpu_scale:.2f} "
        f"(Lambda gives {MEMORY_MB}/{FULL_VCPU_MB} of a vCPU at "
        f"{MEMORY_MB} MB) + {API_LATENCY_S * 1000:.0f} ms "
        "per request (in-region latency, as section 6 assumes), priced with section 6's prices "
        f"(`bench/sections/cost.py`) at {MEMORY_MB} MB arm64, "
        "plus a Lambda request and a Scheduler invocation "
        "per run; Glue at $1.00 per million requests (ignoring the free million a month). The table starts "
        "the day empty, so snapshot expiry's manifest reads are about half their steady state (24 h of "
        "snapshots kept). Freshness: a row committed just after a run waits one schedule interval "
        f"({interval_min} min) plus the next run ({max(run_lambda):.1f} s on Lambda, measured worst; "
        f"x{factor:g} at {target_ar} account-regions, an upper "
        "bound). `CurationSettings` and the schedule set "
        "it; S3 notifications (the handler accepts them) would cut the wait to the notification batching."
    )
    section.data.update(
        day_usd=day_usd,
        day_usd_target=day_usd_target,
        curated_files=curated_files,
        ratio30=ratio30,
        fresh_worst_target_s=fresh_worst_target,
    )
    return section


def span_text() -> str:
    return "7 or 30 days"
