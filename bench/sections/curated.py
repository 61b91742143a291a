"""7. The curated Iceberg table against the raw archive: files and bytes the named queries read, what
the curator costs a day, and how long a committed row takes to become queryable.

A curator day at the deployed 5-minute schedule is ~290 runs, each dearer than the last as the table's
snapshots and files accumulate: far too long to run whole. So the real curator runs for a few simulated
hours at two fleet sizes against moto's Glue and S3 (in a child process, behind a counting proxy); each
run's requests and seconds are fitted as fixed + per account-region + per snapshot + per file
(bench/curator_model.py) and summed over a steady-state day at the issue's fleet. The smaller fleet also
lands a whole day, which the named queries read raw, curated and ideally compacted.
"""

from __future__ import annotations

import http.client
import math
import os
import random
import re
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

from bench.curator_model import TERMS, Fit, RunSample, SteadyDay, fit, freshness, list_pages
from bench.plan import REPO_ROOT, Plan
from bench.report import Section
from bench.sections.cost import API_LATENCY_S, FULL_VCPU_MB, PRICE
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
FRESHNESS_TARGET_S = 15 * 60
SECTION_TARGET_S = 300
GET_LIKE = {"GetObject", "HeadObject", "GetObjectAttributes"}
QUERY_SPANS = {"failures_per_hook_last_7_days": 7, "top_failing_targets_last_30_days": 30}


@dataclass(frozen=True)
class Fleet:
    accounts: int
    regions: int = 2
    rows_per_tick: int = 2

    @property
    def account_regions(self) -> int:
        return self.accounts * self.regions


@dataclass(frozen=True)
class CuratedScale:
    """Two fleets, each on its own fresh stack: `sampled_runs` scheduled curator runs at the deployed
    5-minute schedule (one archiver tick before each), then the day's closing run. The smaller fleet then
    lands the rest of its day, so the queries read a whole day."""

    fleets: tuple[Fleet, ...] = (Fleet(accounts=1), Fleet(accounts=8))
    sampled_runs: int = 12  # scheduled runs from midnight
    after_close_runs: int = 6  # scheduled runs after the closing run
    ticks_per_day: int = 288  # the archiver's 5-minute schedule: one raw object per tick and account-region
    interval_min: int = 5  # run() sets the template's CuratorScheduleRate default
    days: int = 30  # the span the query figures are extrapolated to
    target_accounts: int = 100
    target_regions: int = 2

    @property
    def target_account_regions(self) -> int:
        return self.target_accounts * self.target_regions


DEFAULT_SCALE = CuratedScale()
QUICK_SCALE = CuratedScale(fleets=(Fleet(accounts=1), Fleet(accounts=4)), sampled_runs=8, after_close_runs=4)


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


def _write_tick(
    writer: Any, raw_dir: Path, fleet: Fleet, *, day: date, tick: int, rng: random.Random
) -> None:
    """One 5-minute archiver run in every account-region: one object each, through the real writer
    (`S3ArchiveWriter`); a copy of each object goes to raw_dir for the queries."""
    from hook_archive.dal.archive_writer import ParquetSpool  # noqa: PLC0415
    from hook_archive.logic.partitioning import archive_key  # noqa: PLC0415
    from hook_archive.models.hook_result import to_epoch_ms  # noqa: PLC0415

    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=5 * tick)
    for account in range(fleet.accounts):
        for region in range(fleet.regions):
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
                for result in _results(rng, start, fleet.rows_per_tick):
                    spool.add(key, result)
                for spooled in spool.finish():
                    local = raw_dir / spooled.key.removeprefix(f"{PREFIX}/")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(spooled.path, local)
                    writer.upload(spooled)
            finally:
                spool.discard()


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


@dataclass
class CuratorRun:
    snapshots: int  # the table's snapshots before this run
    files: int  # the data files of the days this run compared (its window's less the unchanged days')
    seconds: float  # wall seconds of the curate call, moto's time included
    cpu_seconds: float  # this process's CPU seconds over the call (the curator, and the counting proxy)
    calls: dict[str, int]
    objects: int
    compacted: int
    maintained: bool = False  # snapshot expiry and orphan removal ran
    window_files: int = 0  # the data files in the run's window before it (the closing run compacts them)

    def values(self) -> dict[str, float]:
        _, gets, s3_other, glue = _price(self.calls)
        return {
            "get": gets,
            "s3_other": s3_other,
            "glue": glue,
            "local_s": self.seconds,
            "cpu_s": self.cpu_seconds,
        }

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


@dataclass
class FleetRuns:
    fleet: Fleet
    scheduled: list[CuratorRun]  # before the day closed, then after its compaction
    closing: CuratorRun
    list_seconds_per_page: dict[str, float] | None = None  # wall ("local_s") and CPU ("cpu_s")


def simulate_fleet(  # noqa: PLR0915, PLR0917  # the stack, its proxy, what to simulate, where
    stack: Any,
    proxy: Any,
    fleet: Fleet,
    scale: CuratedScale,
    day: date,
    workdir: Path,
    *,
    settings: Any,
    fill_day: bool,
) -> FleetRuns:
    """`sampled_runs` archiver ticks from midnight with the real curator (its clock the simulated one)
    after each; the first run after the day closed (close_after_hours), which compacts it; then
    `after_close_runs` ticks of the next day with a run after each (many snapshots, few files: this
    separates the two in the fit). With fill_day, the rest of the day's ticks then land late and one more
    run ingests them and compacts the day again (not counted: it makes the queries' day whole)."""
    _imports()
    from curator.dal.curated_table import IcebergCuratedTable, glue_catalog  # noqa: PLC0415
    from curator.dal.raw_archive import S3RawArchive  # noqa: PLC0415
    from curator.logic.curation import CurationDependencies, CurationRequest, curate  # noqa: PLC0415
    from curator.models.plan import DayWindow  # noqa: PLC0415
    from emulation.aws_stack import CREDENTIALS, REGION, loopback_client  # noqa: PLC0415
    from hook_archive.dal.archive_writer import S3ArchiveWriter  # noqa: PLC0415

    def properties(url: str) -> dict[str, str]:
        return {
            "glue.endpoint": url,
            "glue.region": REGION,
            "glue.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "glue.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "s3.endpoint": url,
            "s3.region": REGION,
            "s3.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }

    s3 = loopback_client("s3", moto_url=proxy.url, cloudformation_url=stack.emulator.endpoint_url)
    writer = S3ArchiveWriter(bucket=stack.bucket, client=stack.client("s3"))
    observer = glue_catalog(properties(stack.moto_url))  # straight to moto: not counted
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rng = random.Random(29 + fleet.account_regions)
    raw = S3RawArchive(bucket=stack.bucket, archive_prefix=PREFIX, client=s3)
    raw_dir, next_day_dir = workdir / "raw", workdir / "next-day"

    def snapshots() -> int:
        try:
            return len(observer.load_table((DATABASE, TABLE)).metadata.snapshots)
        except Exception:  # no table before the first run
            return 0

    def run_curator(clock: datetime, files: int, *, unchanged_day_files: int, maintain: bool) -> CuratorRun:
        """`files` in the window, of which `unchanged_day_files` in each day the run may skip (the one
        day it can skip holds that many). `maintain` forces expiry and orphan removal: the deployed
        interval maintains one run in several, too few in a sample to fit their terms."""
        deps = CurationDependencies(
            raw=raw,
            table=IcebergCuratedTable(
                catalog=glue_catalog(properties(proxy.url)),
                database=DATABASE,
                table_name=TABLE,
                location=f"s3://{stack.bucket}/curated/{TABLE}",
                s3_client=s3,
            ),
            clock_ms=lambda: int(clock.timestamp() * 1000),
        )
        held = snapshots()
        proxy.take()
        started, cpu_started = time.perf_counter(), time.process_time()
        run_settings = replace(settings, maintenance_interval_minutes=0) if maintain else settings
        report = curate(deps, run_settings, CurationRequest())
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        compared = files - unchanged_day_files * report.days_unchanged
        return CuratorRun(
            held,
            compared,
            seconds,
            cpu_seconds,
            proxy.take(),
            report.objects_added,
            len(report.days_compacted),
            report.maintained,
            files,
        )

    step = timedelta(minutes=scale.interval_min)
    scheduled: list[CuratorRun] = []
    for tick in range(scale.sampled_runs):  # the window: this day's appends so far
        _write_tick(writer, raw_dir, fleet, day=day, tick=tick, rng=rng)
        clock = day_start + step * (tick + 1)
        scheduled.append(run_curator(clock, files=tick, unchanged_day_files=tick, maintain=tick % 3 == 1))
    closed = day_start + timedelta(days=1, hours=settings.close_after_hours) + step
    closing = run_curator(
        closed, files=scale.sampled_runs, unchanged_day_files=scale.sampled_runs, maintain=False
    )
    next_day = day + timedelta(days=1)
    for tick in range(scale.after_close_runs):  # the window: the compacted day and the next day's appends
        _write_tick(writer, next_day_dir, fleet, day=next_day, tick=tick, rng=rng)
        scheduled.append(
            run_curator(
                closed + step * (tick + 1), files=1 + tick, unchanged_day_files=1, maintain=tick % 3 == 1
            )
        )
    result = FleetRuns(fleet, scheduled, closing)
    if fill_day:
        started = time.perf_counter()
        for tick in range(scale.sampled_runs, scale.ticks_per_day):
            _write_tick(writer, raw_dir, fleet, day=day, tick=tick, rng=rng)
        # what a scheduled run lists (its mark less the lookback): the time per page prices the extra
        # pages of a big fleet's listing
        window = DayWindow(start=day - timedelta(days=settings.lookback_days))
        proxy.take()
        started, cpu_started = time.perf_counter(), time.process_time()
        listed = sum(1 for _ in raw.list_objects(window))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        pages = proxy.take().get("GETBucket", 0)
        if listed and pages:
            result.list_seconds_per_page = {"local_s": seconds / pages, "cpu_s": cpu_seconds / pages}
        run_curator(
            closed + step * (scale.after_close_runs + 1), files=0, unchanged_day_files=0, maintain=False
        )
        print(
            f"  [7] the rest of the day landed and curated in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return result


def run(plan: Plan, workdir: Path, shared: dict[str, dict[str, Any]]) -> Section:
    del shared
    scale = QUICK_SCALE if plan.mode == "quick" else DEFAULT_SCALE
    if fleets := os.environ.get("BENCH_CURATED_FLEETS"):  # e.g. "1x2,8x2": accounts x regions, each fleet
        scale = replace(
            scale,
            fleets=tuple(
                Fleet(accounts=int(a), regions=int(r))
                for a, r in (item.split("x") for item in fleets.split(","))
            ),
        )
    if runs := os.environ.get("BENCH_CURATED_RUNS"):
        scale = replace(scale, sampled_runs=int(runs))
    interval_min, _, _ = deployed_curator()  # measured at the deployed default schedule
    return measure(replace(scale, interval_min=interval_min), workdir)


@dataclass(frozen=True)
class DayCost:
    gets: float
    s3_other: float
    glue: float
    lambda_s: float
    usd: float
    durations_s: list[float]
    terms_usd: dict[str, float]


def _usd(gets: float, s3_other: float, glue: float, lambda_s: float, memory_mb: int) -> float:
    return (
        gets * PRICE["s3_get"]
        + s3_other * PRICE["s3_put"]
        + glue * GLUE_REQUEST
        + lambda_s * memory_mb / 1024 * PRICE["lambda_gb_s_arm64"]
    )


@dataclass(frozen=True)
class LambdaModel:
    """Lambda seconds of a run = its local seconds (`seconds_key`: CPU or wall) x cpu_scale + the in-region
    latency per request, at the function's memory."""

    memory_mb: int
    seconds_key: str = "cpu_s"

    @property
    def cpu_scale(self) -> float:
        return max(1.0, FULL_VCPU_MB / self.memory_mb)  # Lambda gives one vCPU at 1,769 MB


def steady_day_cost(
    fits: dict[str, Fit],
    day: SteadyDay,
    account_regions: int,
    *,
    compaction: dict[str, float],
    list_seconds_per_page: dict[str, float],
    lambda_model: LambdaModel,
) -> DayCost:
    """The fitted run summed over a steady-state day at `account_regions`, term by term; plus the
    listing's pages beyond the first (every sampled run listed one page) and the closing run's
    compaction (its measured excess over the fit, already scaled to the day's files)."""
    seconds_key = lambda_model.seconds_key
    keys = ("get", "s3_other", "glue", seconds_key)
    terms = dict.fromkeys(
        (
            "fixed",
            "per account-region",
            "per maintenance run",
            "per snapshot kept",
            "per file compared",
            "extra list pages",
            "compaction",
        ),
        0.0,
    )
    totals = dict.fromkeys(("get", "s3_other", "glue", "lambda_s"), 0.0)
    durations: list[float] = []
    for run_index in range(1, day.runs + 1):
        snapshots, files = day.snapshots_kept, day.files_compared(run_index)
        maintains = 1.0 if day.maintains(run_index) else 0.0
        increments: dict[str, dict[str, float]] = {}
        for term, position, amount in (
            ("fixed", 0, 1.0),
            ("per account-region", 1, account_regions),
            ("per maintenance run", 2, maintains),
            ("per snapshot kept", 3, snapshots * maintains),
            ("per file compared", 4, files),
        ):
            increments[term] = {k: fits[k].coefficients[position] * amount for k in keys}
        extra_pages = list_pages(day.objects_listed(run_index, account_regions)) - 1
        increments["extra list pages"] = {
            "get": 0.0,
            "s3_other": float(extra_pages),
            "glue": 0.0,
            seconds_key: extra_pages * list_seconds_per_page[seconds_key],
        }
        if run_index == day.closing_run:
            increments["compaction"] = compaction
        run_lambda = 0.0
        for term, values in increments.items():
            requests = values["get"] + values["s3_other"] + values["glue"]
            lambda_s = values[seconds_key] * lambda_model.cpu_scale + API_LATENCY_S * requests
            run_lambda += lambda_s
            terms[term] += _usd(
                values["get"], values["s3_other"], values["glue"], lambda_s, lambda_model.memory_mb
            )
            totals["get"] += values["get"]
            totals["s3_other"] += values["s3_other"]
            totals["glue"] += values["glue"]
            totals["lambda_s"] += lambda_s
        durations.append(run_lambda)
    terms["fixed"] += day.runs * (PRICE["lambda_request"] + PRICE["scheduler_invocation"])
    return DayCost(
        gets=totals["get"],
        s3_other=totals["s3_other"],
        glue=totals["glue"],
        lambda_s=totals["lambda_s"],
        usd=sum(terms.values()),
        durations_s=durations,
        terms_usd=terms,
    )


def _lambda_seconds(run: CuratorRun, model: LambdaModel) -> float:
    return run.values()[model.seconds_key] * model.cpu_scale + API_LATENCY_S * run.requests


def deployed_curator() -> tuple[int, int, dict[str, str]]:
    """The template's curator: its schedule's default rate in minutes, its MemorySize, its environment."""
    from emulation.lambda_runtime import function_spec, load_template  # noqa: PLC0415

    template = load_template()
    rate = str(template["Parameters"]["CuratorScheduleRate"]["Default"])
    match = re.fullmatch(r"rate\((\d+) minutes?\)", rate)
    if match is None:
        raise ValueError(f"CuratorScheduleRate default {rate!r} is not rate(N minutes)")
    spec = function_spec("CuratorFunction", template)
    return int(match.group(1)), spec.memory_mb, {k: str(v) for k, v in spec.environment.items()}


def _compaction_at(
    measured: list[FleetRuns], fits: dict[str, Fit], account_regions: int, files: int
) -> dict[str, float]:
    """The closing run's excess over the fit at its state, per file compacted, linear in the fleet
    between the smallest and the largest measured fleet, times `files`; never below zero."""
    per_file = {
        r.fleet.account_regions: {
            key: (
                r.closing.values()[key]
                - fits[key].predict(
                    r.fleet.account_regions,
                    r.closing.snapshots,
                    r.closing.files,
                    maintained=r.closing.maintained,
                )
            )
            / r.closing.window_files
            for key in fits
        }
        for r in measured
    }
    small, large = min(per_file), max(per_file)
    return {
        key: files
        * max(
            0.0,
            per_file[small][key]
            + (per_file[large][key] - per_file[small][key]) * (account_regions - small) / (large - small),
        )
        for key in fits
    }


def measure(scale: CuratedScale, workdir: Path) -> Section:  # noqa: PLR0915  # one report, top to bottom
    _imports()
    from curator.logic.curation import CurationSettings  # noqa: PLC0415

    section_started = time.perf_counter()
    section = Section("7", "The curated Iceberg table against the raw archive")
    day = datetime.now(UTC).date() - timedelta(days=2)  # it and the next day inside every query's window
    _, memory_mb, environment = deployed_curator()
    defaults = CurationSettings()
    settings = replace(  # the template's values, as the handler's config reads them
        defaults,
        lookback_days=int(environment.get("LOOKBACK_DAYS", defaults.lookback_days)),
        close_after_hours=float(environment.get("CLOSE_AFTER_HOURS", defaults.close_after_hours)),
        snapshot_retention_hours=float(
            environment.get("SNAPSHOT_RETENTION_HOURS", defaults.snapshot_retention_hours)
        ),
        orphan_grace_hours=float(environment.get("ORPHAN_GRACE_HOURS", defaults.orphan_grace_hours)),
        maintenance_interval_minutes=int(
            environment.get("MAINTENANCE_INTERVAL_MINUTES", defaults.maintenance_interval_minutes)
        ),
    )
    fill = min(scale.fleets, key=lambda f: f.account_regions)
    measured: list[FleetRuns] = []
    query_dirs: dict[str, Path] = {}
    curated_files = curated_bytes = 0
    for fleet in scale.fleets:
        fleet_dir = workdir / f"fleet-{fleet.account_regions}"
        started = time.perf_counter()
        print(
            f"  [7] {fleet.account_regions} account-regions: {scale.sampled_runs} ticks with a curator run "
            f"after each, the closing run, {scale.after_close_runs} more"
            f"{', then the rest of the day' if fleet is fill else ''}",
            flush=True,
        )
        with remote_stack() as stack:
            stack.client("glue").create_database(DatabaseInput={"Name": DATABASE})
            proxy = CountingProxy(stack.moto_url)
            proxy.start()
            try:
                runs = simulate_fleet(
                    stack, proxy, fleet, scale, day, fleet_dir, settings=settings, fill_day=fleet is fill
                )
            finally:
                proxy.stop()
            if fleet is fill:
                curated_files, curated_bytes = _curated_files(stack, day, fleet_dir / "curated")
                query_dirs = {layout: fleet_dir / layout for layout in ("raw", "curated", "ideal")}
        measured.append(runs)
        print(f"  [7] {fleet.account_regions} account-regions done in {time.perf_counter() - started:.0f} s")

    _ideal(query_dirs["raw"], query_dirs["ideal"])
    raw_files, raw_bytes = _folder_bytes(query_dirs["raw"])
    ideal_files, ideal_bytes = _folder_bytes(query_dirs["ideal"])
    print("  [7] DuckDB queries over the day: raw, curated, ideal", flush=True)
    reads = {
        name: {layout: duckdb_query(root, name, reps=1) for layout, root in query_dirs.items()}
        for name in QUERY_SPANS
    }

    # -- the fit, the steady-state day at the target fleet, freshness
    model, wall_model = LambdaModel(memory_mb), LambdaModel(memory_mb, seconds_key="local_s")
    # the first run creates the table, once in the table's life: not a scheduled run's cost
    samples = [
        RunSample(r.fleet.account_regions, run.snapshots, run.files, run.values(), run.maintained)
        for r in measured
        for run in r.scheduled
        if run.snapshots
    ]
    fits = {key: fit(samples, key) for key in ("get", "s3_other", "glue", "cpu_s", "local_s")}
    steady = SteadyDay(
        interval_min=scale.interval_min,
        retention_hours=settings.snapshot_retention_hours,
        close_after_hours=settings.close_after_hours,
        lookback_days=settings.lookback_days,
        maintenance_interval_min=settings.maintenance_interval_minutes,
        snapshots_per_compaction=max(
            1, measured[0].scheduled[scale.sampled_runs].snapshots - measured[0].closing.snapshots
        ),
    )
    target_ar = scale.target_account_regions
    list_s = next(r.list_seconds_per_page for r in measured if r.list_seconds_per_page is not None)
    compaction = _compaction_at(measured, fits, target_ar, steady.runs)
    cost, cost_wall = (
        steady_day_cost(
            fits, steady, target_ar, compaction=compaction, list_seconds_per_page=list_s, lambda_model=m
        )
        for m in (model, wall_model)
    )
    fresh = freshness(cost.durations_s, interval_s=scale.interval_min * 60)
    measured_fresh = {
        r.fleet.account_regions: freshness(
            [_lambda_seconds(run, model) for run in r.scheduled], interval_s=scale.interval_min * 60
        )
        for r in measured
    }
    section_s = time.perf_counter() - section_started

    # -- the summary rows
    factor = target_ar / fill.account_regions
    curated_bytes_target = curated_bytes * factor
    curated_files_target = max(curated_files, math.ceil(curated_bytes_target / settings.target_file_bytes))
    q30 = reads["top_failing_targets_last_30_days"]
    ratio30 = q30["curated"]["bytes_read"] / q30["ideal"]["bytes_read"]
    section.row(
        f"30-day query at {target_ar} account-regions: curated files per day "
        f"(raw: {raw_files * factor:,.0f})",
        f"{curated_files_target}",
        f"<= {FILES_PER_DAY_TARGET}",
        "met" if curated_files_target <= FILES_PER_DAY_TARGET else "missed",
    )
    section.row(
        "30-day query: bytes read, curated / ideal single file per day (measured day)",
        f"{ratio30:.2f}x (raw {q30['raw']['bytes_read'] / q30['ideal']['bytes_read']:.1f}x)",
        f"<= {BYTES_RATIO_TARGET}x",
        "met" if ratio30 <= BYTES_RATIO_TARGET else "missed",
    )
    dominant = max(cost.terms_usd, key=lambda term: cost.terms_usd[term])
    section.row(
        f"curator cost per day at {target_ar} account-regions, {scale.interval_min}-min schedule (fitted "
        f"at {' and '.join(str(f.account_regions) for f in scale.fleets)})",
        f"${cost.usd:.3f} (largest term {dominant}, ${cost.terms_usd[dominant]:.3f}; with wall "
        f"seconds for CPU ${cost_wall.usd:.3f})",
        f"< ${CURATOR_TARGET_USD_DAY:.2f}",
        "met" if cost.usd < CURATOR_TARGET_USD_DAY else "missed",
    )
    section.row(
        f"commit to queryable at {target_ar} account-regions, {scale.interval_min}-min schedule: "
        "worst (median, p95)",
        f"{fresh.worst_s / 60:.1f} min ({fresh.median_s / 60:.1f}, {fresh.p95_s / 60:.1f}); runs "
        f"longer than {scale.interval_min} min: {fresh.overlapping_runs} of {steady.runs}",
        "<= 15 min",
        "met" if fresh.worst_s <= FRESHNESS_TARGET_S else "missed",
    )
    section.row(
        "section wall time (measured in the section)",
        f"{section_s:.0f} s",
        f"<= {SECTION_TARGET_S} s",
        "met" if section_s <= SECTION_TARGET_S else "missed",
    )

    # -- what was measured
    fleets_text = " and ".join(
        f"{f.accounts} x {f.regions} regions ({f.account_regions} account-regions)" for f in scale.fleets
    )
    section.add(
        f"**What was measured.** Two fleets, {fleets_text}, each on its own moto (its own process). From "
        f"midnight of {day}: {scale.sampled_runs} archiver ticks of {fill.rows_per_tick} rows per "
        "account-region through the archiver's real writer (`ParquetSpool`, `S3ArchiveWriter`), with the "
        "real curator (`curate`, scheduled request, `CurationSettings` from the template) after each at the "
        "template's "
        f"default `CuratorScheduleRate` ({scale.interval_min} min) on the simulated clock, against moto's "
        "Glue and S3 through a counting proxy (`CountingProxy`: every request the curator makes, raw "
        "LIST/GET, pyiceberg's metadata, manifest and data files, Glue); then the first run after the day "
        f"closed ({settings.close_after_hours:g} h), which compacts it; then {scale.after_close_runs} "
        "ticks of the next day with a run after each (many snapshots, few files in the window). Every "
        "third sampled run is made to maintain (snapshot expiry and orphan removal; the deployed "
        f"`MAINTENANCE_INTERVAL_MINUTES`, {settings.maintenance_interval_minutes} min, maintains too few of "
        "them to fit the terms). The "
        f"{fill.account_regions} account-region fleet then lands the rest of its first day "
        f"({scale.ticks_per_day} ticks in all) and one more run ingests it and compacts the day again: that "
        "whole day is what the queries read (that run is not counted). Settings and schedule are the "
        f"template's (`CuratorFunction` environment, `CuratorScheduleRate` default, MemorySize {memory_mb} "
        "MB). CPU seconds are this process's CPU time over the `curate` call (the curator's threads, and "
        "the counting proxy's: a little more than the function's); wall seconds include moto's time."
    )
    fit_rows = []
    for key, label in (
        ("get", "S3 GET/HEAD requests"),
        ("s3_other", "S3 PUT/LIST/DELETE requests"),
        ("glue", "Glue requests"),
        ("cpu_s", "CPU seconds"),
        ("local_s", "wall seconds"),
    ):
        f = fits[key]
        fit_rows.append((label, *(f"{c:.4g}" for c in f.coefficients), f"{f.r2:.3f}"))
    section.add(
        f"**The fit** (`bench/curator_model.py`): each scheduled run's requests and seconds over both "
        f"fleets ({len(samples)} runs; the first, which creates the table, left out), by least squares as "
        "`fixed + per_ar·AR + per_maintenance·M + per_snapshot·S·M + per_file·F`: AR the account-regions "
        "(each run reads one new raw object per account-region), M 1 on a run that maintains and 0 "
        "otherwise, S the table's snapshots before the run (snapshot expiry and orphan removal read every "
        "kept snapshot's manifest list and manifests), F the data files of the days the run compared (the "
        "lineage scan reads each; a day whose listing the current snapshot's summary vouches for is "
        "skipped, so F is the window's files less those of unchanged days). Runs before the closing run "
        "have S and F growing together; those after it have S large and F small, which separates the two."
    )
    section.table(["per run", *TERMS, "R²"], fit_rows, "l" + "r" * (len(TERMS) + 1))
    per_fleet_rows = []
    for r in measured:
        before, after = r.scheduled[: scale.sampled_runs], r.scheduled[scale.sampled_runs :]
        per_fleet_rows.append(
            (
                f"{r.fleet.account_regions} AR",
                f"{len(before)} + 1 + {len(after)}",
                f"{before[1].requests:,} / {before[-1].requests:,} / {after[-1].requests:,}",
                f"{before[1].cpu_seconds:.2f} / {before[-1].cpu_seconds:.2f} / {after[-1].cpu_seconds:.2f}",
                f"{r.closing.requests:,}, {r.closing.cpu_seconds:.2f} s ({r.closing.window_files} files)",
                f"{max(_lambda_seconds(run, model) for run in r.scheduled):.1f} s",
                f"{measured_fresh[r.fleet.account_regions].worst_s / 60:.1f} min",
            )
        )
    section.table(
        [
            "measured fleet",
            "runs: before close + closing + after",
            "requests: 2nd / last before close / last after",
            "CPU s: same runs",
            "closing run: requests, CPU s (files compacted)",
            "longest scheduled run on Lambda",
            "commit to queryable, worst (these runs)",
        ],
        per_fleet_rows,
        "lrrrrrr",
    )

    # -- the steady-state day at the target fleet
    section.add(
        f"**The day at {target_ar} account-regions ({scale.target_accounts} accounts x "
        f"{scale.target_regions} regions), long after the first day.** {steady.runs} scheduled runs; each "
        f"holds S = {steady.snapshots_kept} snapshots ({settings.snapshot_retention_hours:g} h and one "
        f"maintenance interval of {scale.interval_min}-min commits, plus the compaction's), read on the "
        f"runs that maintain (one in {steady.runs_per_maintenance}: M = 1); run j's window (its mark less "
        f"{steady.lookback_days} days) holds the day before yesterday (compacted, 1 file), yesterday "
        f"({steady.runs} files until run {steady.closing_run} compacts it, then 1) and today's j-1 "
        "appends, and it compares F = today's j-1 (a new object every run), yesterday's until it closes "
        "(counted as changed on every run for late objects: an upper bound), and every day of the window "
        f"on run {steady.closing_run + 1} (the compaction's snapshot vouches for no listing). "
        "Per run: the fitted terms at (AR, M, S, F); the listing's pages beyond the first (ListObjectsV2 "
        "returns at most 1,000 keys, "
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html; run j "
        f"lists AR x ({steady.lookback_days} x {steady.runs} + j) keys; every sampled run listed one page; "
        f"{list_s['cpu_s'] * 1000:.0f} ms CPU, {list_s['local_s'] * 1000:.0f} ms wall per page, measured "
        f"on the {fill.account_regions} account-region "
        f"day); run {steady.closing_run} adds the compaction: the closing runs' measured excess over the "
        f"fit per file compacted, linear in AR between the fleets, times {steady.runs} files. Linear "
        "extrapolation in S and F over-counts manifest reads (the table merges manifests, "
        "`commit.manifest-merge.enabled`). Lambda seconds = CPU seconds x "
        f"{model.cpu_scale:.2f} (Lambda gives one vCPU at {FULL_VCPU_MB} MB; the curator has {memory_mb} MB) "
        f"+ {API_LATENCY_S * 1000:.0f} ms per request, every request one after the other (in-region latency, "
        "as section 6 assumes; pyiceberg reads manifests and data files from a thread pool, so this "
        "over-counts); the second column takes wall seconds for CPU seconds (it counts moto's time and the "
        "loopback as the function's own). Prices "
        f"(`bench/sections/cost.py`, section 6, us-east-1): S3 GET ${PRICE['s3_get'] * 1000:.4f} and "
        f"PUT/LIST ${PRICE['s3_put'] * 1000:.3f} per 1,000 (https://aws.amazon.com/s3/pricing/), Lambda "
        f"arm64 ${PRICE['lambda_gb_s_arm64']}/GB-s and ${PRICE['lambda_request'] * 1e6:.2f}/M requests "
        "(https://aws.amazon.com/lambda/pricing/), EventBridge Scheduler "
        f"${PRICE['scheduler_invocation'] * 1e6:.2f}/M invocations, Glue Data Catalog "
        f"${GLUE_REQUEST * 1e6:.2f}/M requests (https://aws.amazon.com/glue/pricing/, the free million a "
        "month ignored). Not measured: snapshot expiry's own commit (nothing is 24 h old in the sample; "
        "one metadata write and Glue update a run) and more than one page of the table location's listing."
    )
    formula = " + ".join(
        f"{name} {fits[key].coefficients[index]:.4g}"
        for index, name in enumerate(("", "AR x", "M x", "S x M x", "F x"))
        for key in ("get",)
    )
    term_rows = [
        (term, f"${usd:.3f}", f"${cost_wall.terms_usd[term]:.3f}") for term, usd in cost.terms_usd.items()
    ]
    term_rows += [
        ("S3 GET/HEAD requests", f"{cost.gets:,.0f}", f"{cost_wall.gets:,.0f}"),
        ("S3 PUT/LIST/DELETE requests", f"{cost.s3_other:,.0f}", f"{cost_wall.s3_other:,.0f}"),
        ("Glue requests", f"{cost.glue:,.0f}", f"{cost_wall.glue:,.0f}"),
        ("Lambda seconds", f"{cost.lambda_s:,.0f}", f"{cost_wall.lambda_s:,.0f}"),
        (
            "run on Lambda: median / max (s)",
            f"{statistics.median(cost.durations_s):.1f} / {max(cost.durations_s):.1f}",
            f"{statistics.median(cost_wall.durations_s):.1f} / {max(cost_wall.durations_s):.1f}",
        ),
        ("**total USD per day**", f"**${cost.usd:.3f}**", f"**${cost_wall.usd:.3f}**"),
    ]
    section.table(
        [f"curator, one day at {target_ar} AR (fitted)", "CPU seconds (the verdict)", "wall seconds"],
        term_rows,
        "lrr",
    )
    section.add(
        f"GET/HEAD per run, for example: {formula.strip()} (S = {steady.snapshots_kept}, F = "
        f"{steady.files_compared(steady.runs)} for the day's last run, M = "
        f"{int(steady.maintains(steady.runs))}). The largest term is **{dominant}** "
        f"(${cost.terms_usd[dominant]:.3f} of ${cost.usd:.3f}). **Freshness** on the simulated clock: the "
        f"curator starts every {scale.interval_min} min and lists at its start; the archiver commits every "
        "5 min at a fixed, unknown phase after a curator start (every phase, in 5 s steps); a commit waits "
        "for the next run's start, then that run's whole duration on Lambda from the day above (its commit "
        f"is near its end): worst {fresh.worst_s / 60:.2f} min, median {fresh.median_s / 60:.2f} min, p95 "
        f"{fresh.p95_s / 60:.2f} min; runs longer than the interval: {fresh.overlapping_runs}."
    )
    terms = cost.terms_usd
    latency_s = API_LATENCY_S * (cost.gets + cost.s3_other + cost.glue)
    maintenance = terms["per maintenance run"] + terms["per snapshot kept"]
    section.add(
        f"**Against the ${CURATOR_TARGET_USD_DAY:.2f} target** (arithmetic on the terms above): "
        f"${cost.usd:.3f} "
        + (
            f"misses it by ${cost.usd - CURATOR_TARGET_USD_DAY:.3f} "
            f"({cost.usd / CURATOR_TARGET_USD_DAY - 1:.0%})"
            if cost.usd >= CURATOR_TARGET_USD_DAY
            else f"meets it with ${CURATOR_TARGET_USD_DAY - cost.usd:.3f} to spare"
        )
        + f". {latency_s:,.0f} of the {cost.lambda_s:,.0f} Lambda seconds "
        f"({latency_s / cost.lambda_s:.0%}) are "
        f"the {API_LATENCY_S * 1000:.0f} ms per request, so the cost follows the request count (its fit is "
        "exact) more than the noisier CPU fit. What changed for issue 13 (the same measurement gave $1.475 "
        "before): a run compares only the days whose listing changed since the current snapshot's commit "
        "(that commit's summary records a fingerprint of each day's listing), where it re-read every data "
        "file of the window, and did so twice (the pass after its commit compared again to find nothing "
        "left); snapshot expiry and orphan removal run once every "
        f"{settings.maintenance_interval_minutes} min instead of every run. What is left: the lineage of "
        f"the days that did change, today's appends and yesterday's until it closes "
        f"(${terms['per file compared']:.3f}; compacting the open day, or a lineage index per day, would "
        f"cut it); maintenance (${maintenance:.3f}); the listing re-lists {steady.lookback_days} full days "
        f"every run (${terms['extra list pages']:.3f}; listing from the last key seen, or S3 event "
        "notifications, which the handler accepts, removes it)."
    )

    # -- files and bytes per day and per query
    layout_rows = [
        (
            "raw (one object per tick and account-region)",
            f"{raw_files:,}",
            f"{raw_bytes / 1e6:.2f}",
            f"{raw_files * factor:,.0f}",
            f"{raw_bytes * factor / 1e6:,.1f}",
        ),
        (
            "curated (Iceberg, after compaction)",
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
            f"files ({fill.account_regions} AR, measured)",
            "MB (measured)",
            f"files ({target_ar} AR, extrapolated)",
            "MB (extrapolated)",
        ],
        layout_rows,
        "lrrrr",
    )
    query_rows = []
    # files a day at the target fleet: raw grows with the fleet; curated is its bytes over the target size
    files_per_day = {"raw": raw_files * factor, "curated": curated_files_target, "ideal": 1}
    for name, span in QUERY_SPANS.items():
        for layout in ("raw", "curated", "ideal"):
            read = reads[name][layout]
            query_rows.append(
                (
                    f"`{name}` {layout}",
                    f"{read['files_read']:,}",
                    f"{read['bytes_read'] / 1e6:.3f}",
                    f"{files_per_day[layout] * span:,.0f}",
                    f"{read['bytes_read'] * span * factor / 1e6:,.1f}",
                )
            )
    section.table(
        [
            "query, layout",
            "files read (1 day, measured)",
            "MB read (1 day, measured)",
            f"files (7 or 30 days, {target_ar} AR, extrapolated)",
            "MB (extrapolated)",
        ],
        query_rows,
        "lrrrr",
    )
    section.add(
        "Bytes and files read are DuckDB's own counters (`io.total_bytes_read`, the scan's `Total Files "
        f"Read`) for each query over the whole day of the {fill.account_regions} account-region fleet, laid "
        "out three ways: the raw objects, the curated table's data files of that day (copied out of moto as "
        "the current snapshot lists them), and the same rows rewritten as one file per day with the "
        "archiver's writer settings (`query.compact`). The 7- and 30-day figures are a day's times 7 or "
        "30 (the queries' partition filters read whole days); bytes are the measured day's times "
        f"{factor:g} for the fleet (raw bytes grow exactly so, curated about so); files per day are the "
        f"raw objects times {factor:g}, and for the curated table the day's bytes over "
        f"`target_file_bytes` ({settings.target_file_bytes // 2**20} MiB), at least the measured count."
    )
    print(f"  [7] section wall time {time.perf_counter() - section_started:.0f} s", flush=True)
    section.data.update(
        day_usd_target=cost.usd,
        curated_files=curated_files,
        ratio30=ratio30,
        fresh_worst_target_s=fresh.worst_s,
        section_s=section_s,
    )
    return section
