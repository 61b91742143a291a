"""7. The curated Iceberg tables against the raw archive: files and bytes the named queries read, what
the curator costs a day, and how long a committed row takes to become queryable.

A curator day at the deployed 5-minute schedule is ~290 runs whose cost depends on the snapshots the
tables keep and the data files each run's lineage scan reads: far too long to run whole. So the real
curator, with the template's settings (OPEN_DAY_MAX_FILES included: it compacts a day still open every
N appends), runs for a few simulated hours at two fleet sizes against moto's Glue and S3 (in a child
process, behind a counting proxy). Each tick curates both tables as the handler does, hook_results then
hook_annotations; each table's runs are fitted as fixed + per new raw object + per maintenance run + per
snapshot + per file (bench/curator_model.py), and the two fits are summed over a steady-state day at the
issue's fleet, whose files and compactions follow the curator's threshold rule; the rule is checked run
by run against the simulated runs. The smaller fleet also lands a whole day, which the named queries read
raw, curated and ideally compacted.
"""

from __future__ import annotations

import http.client
import itertools
import math
import os
import random
import re
import shutil
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.curator_model import (
    TERMS,
    Fit,
    RunSample,
    SteadyDay,
    compacts_open_day,
    fit,
    freshness,
    list_pages,
    open_day_files,
)
from bench.plan import REPO_ROOT, Plan
from bench.report import Section
from bench.sections.cost import API_LATENCY_S, FULL_VCPU_MB, PRICE
from bench.sections.query import duckdb_query
from bench.servers import remote_stack
from emulation.fault_proxy import classify

PREFIX = "hook-results"
DATABASE = "cfn_hook_archive"
# The handler's order (functions/curator/curator/handlers/curate.py): results first, then annotations.
KINDS = ("results", "annotations")
TABLES = {"results": "hook_results", "annotations": "hook_annotations"}  # the template's table names
# What an EventBridge schedule rule sends; request_from_event makes it a scheduled CurationRequest.
SCHEDULED_EVENT: Mapping[str, Any] = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
GLUE_REQUEST = 1.00 / 1e6  # Glue Data Catalog requests beyond the free million a month (us-east-1)
CURATOR_TARGET_USD_DAY = 1.00
FILES_PER_DAY_TARGET = 2
BYTES_RATIO_TARGET = 1.5
FRESHNESS_TARGET_S = 15 * 60
SECTION_TARGET_S = 300
SHOWN_USD = 0.0005  # a cost term below this rounds to $0.000: not listed
GET_LIKE = {"GetObject", "HeadObject", "GetObjectAttributes"}
QUERY_SPANS = {
    "results": {"failures_per_hook_last_7_days": 7, "top_failing_targets_last_30_days": 30},
    "annotations": {
        "annotations/top_failing_rules_last_30_days": 30,
        "annotations/failure_severity_per_hook_last_30_days": 30,
    },
}
RATIO_QUERY = {  # the 30-day query whose bytes ratio is a summary row
    "results": "top_failing_targets_last_30_days",
    "annotations": "annotations/top_failing_rules_last_30_days",
}


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
    # scheduled runs from midnight; 0: through the open day's first compaction and two runs after it
    # (the template's OPEN_DAY_MAX_FILES + 3), at least MIN_SAMPLED_RUNS
    sampled_runs: int = 0
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
QUICK_SCALE = CuratedScale(fleets=(Fleet(accounts=1), Fleet(accounts=4)), after_close_runs=4)
MIN_SAMPLED_RUNS = 12


def sampled_runs(scale: CuratedScale, open_day_max_files: int) -> int:
    """The runs from midnight to sample: as asked, or enough for the curator to compact the open day once
    (its (N+1)-th append) and run twice after (the run after a compaction compares the whole window)."""
    return scale.sampled_runs or max(MIN_SAMPLED_RUNS, open_day_max_files + 3)


def _imports() -> None:
    for code in (REPO_ROOT / "functions" / "archiver", REPO_ROOT / "functions" / "curator"):
        if str(code) not in sys.path:
            sys.path.insert(0, str(code))


@dataclass
class ArchiveMix:
    """What the archiver ticks wrote: results, failures, failures GetHookResult annotated (every
    HOOK_COMPLETE_FAILED of the emulator's history: it lists each rule the hook evaluated; a HOOK_FAILED
    has none), their annotation rows, account-region ticks, and annotation objects (one per account-region
    tick with an annotated failure)."""

    results: int = 0
    failures: int = 0
    annotated: int = 0
    annotation_rows: int = 0
    ticks: int = 0
    annotation_objects: int = 0

    def add(self, other: ArchiveMix) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def annotation_objects_per_tick(self) -> float:
        """Annotation objects per account-region tick: hook_annotations' new objects per account-region."""
        return self.annotation_objects / self.ticks if self.ticks else 0.0


def _get_hook_result(emulated: Any) -> dict[str, Any]:
    """The members of the emulator's GetHookResult answer (emulation/hook_results_api.py,
    `_get_hook_result`) that enrichment_from_api reads."""
    return {
        "HookResultId": emulated.hook_result_id,
        "OriginalTypeName": emulated.original_type_name,
        "Target": emulated.target,
        "Annotations": emulated.annotations,
    }


def _results(rng: random.Random, tick_start: datetime, count: int) -> list[tuple[Any, Any]]:
    """`count` results invoked in the 5 minutes from tick_start, from the emulator's synthetic history
    (its hooks, statuses and annotations), as the archiver sees them: HookResult.from_api of the
    ListHookResults summary, and for a failure the Enrichment of its GetHookResult answer (the archiver
    enriches every failure; ENRICH_FAILURES is on in the template and MAX_ENRICHMENTS_PER_RUN, 500, is
    never reached at these rates)."""
    from emulation.hook_results_api import api_summary  # noqa: PLC0415
    from emulation.synthetic_history import synthetic_results  # noqa: PLC0415
    from hook_archive.logic.failure_events import enrichment_from_api  # noqa: PLC0415
    from hook_archive.models.hook_result import HookResult  # noqa: PLC0415

    emulated = synthetic_results(
        start=tick_start, end=tick_start + timedelta(minutes=5), count=count, seed=rng.getrandbits(32)
    )
    out = []
    for item in emulated:
        result = HookResult.from_api(api_summary(item))
        out.append((result, enrichment_from_api(_get_hook_result(item)) if result.is_failure else None))
    return out


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
) -> ArchiveMix:
    """One 5-minute archiver run in every account-region, through the archiver's real writer
    (`S3ArchiveWriter`): the results object (`ParquetSpool`, `archive_key`) and, when GetHookResult annotated
    one of its failures, the annotations object (`annotation_rows`, `AnnotationSpool`, `annotation_key`), in
    the results' day as the archiver writes it. A copy of each object goes to raw_dir (annotations under
    raw_dir/annotations) for the queries."""
    from hook_archive.dal.archive_writer import AnnotationSpool, ParquetSpool  # noqa: PLC0415
    from hook_archive.logic.partitioning import annotation_key, archive_key  # noqa: PLC0415
    from hook_archive.models.annotation_schema import annotation_rows  # noqa: PLC0415
    from hook_archive.models.hook_result import to_epoch_ms  # noqa: PLC0415

    mix = ArchiveMix()
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=5 * tick)
    for account in range(fleet.accounts):
        for region in range(fleet.regions):
            account_id, region_name = f"{100000000000 + account:012d}", f"region-{region}"
            archived_at_ms = to_epoch_ms(start + timedelta(minutes=5))
            spool = ParquetSpool(
                account_id=account_id,
                region=region_name,
                archived_at_ms=archived_at_ms,
                rows_per_row_group=50_000,
                directory=None,
            )
            notes = AnnotationSpool(
                account_id=account_id,
                region=region_name,
                archived_at_ms=archived_at_ms,
                rows_per_row_group=50_000,
                directory=None,
            )
            try:
                key = archive_key(PREFIX, day, account_id=account_id, region=region_name, sequence=tick + 1)
                notes_key = annotation_key(
                    PREFIX, day, account_id=account_id, region=region_name, sequence=tick + 1
                )
                for result, enrichment in _results(rng, start, fleet.rows_per_tick):
                    spool.add(key, result)
                    rows = annotation_rows(result, enrichment) if enrichment is not None else []
                    for row in rows:
                        notes.add(notes_key, row)
                    mix.results += 1
                    mix.failures += int(result.is_failure)
                    mix.annotated += int(bool(rows))
                    mix.annotation_rows += len(rows)
                mix.ticks += 1
                for spooled in [*spool.finish(), *notes.finish()]:
                    local = raw_dir / spooled.key.removeprefix(f"{PREFIX}/")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(spooled.path, local)
                    writer.upload(spooled)
                    mix.annotation_objects += int(spooled.key == notes_key)
            finally:
                spool.discard()
                notes.discard()
    return mix


def _catalog_properties(url: str) -> dict[str, str]:
    from emulation.aws_stack import CREDENTIALS, REGION  # noqa: PLC0415

    return {
        "glue.endpoint": url,
        "glue.region": REGION,
        "s3.endpoint": url,
        "s3.region": REGION,
        **{f"{s}.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"] for s in ("glue", "s3")},
        **{f"{s}.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"] for s in ("glue", "s3")},
    }


def _curated_files(stack: Any, table_name: str, day: date, target: Path) -> tuple[int, int]:
    """The day's data files of a curated table's current snapshot, copied to `target`."""
    from curator.dal.curated_table import equal_to, glue_catalog  # noqa: PLC0415

    table = glue_catalog(_catalog_properties(stack.moto_url)).load_table((DATABASE, table_name))
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


def _ideal(raw_dir: Path, target: Path, *, annotations: bool) -> None:
    from bench.sections.query import compact  # noqa: PLC0415

    compact(raw_dir, target, annotations=annotations)


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
    """One table's part of one curator tick."""

    snapshots: int  # the table's snapshots before this run
    files: int  # the data files its lineage scans read: the window's, less the unchanged days'
    seconds: float  # wall seconds of the curate call, moto's time included
    cpu_seconds: float  # this process's CPU seconds over the call (the curator, and the counting proxy)
    calls: dict[str, int]
    objects: int  # new raw objects it read (hook_results: one per account-region)
    compacted: tuple[date, ...]  # the days it compacted (CurationReport.days_compacted)
    maintained: bool = False  # snapshot expiry and orphan removal ran
    window_files: int = 0  # the data files in the run's window before it
    files_by_day: dict[date, int] = field(default_factory=dict)  # the window's data files before it, by day
    files_compacted: int = 0  # the data files its compactions rewrote (the days' files after its ingest)

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
    scheduled: dict[str, list[CuratorRun]]  # by table: before the day closed, then after its compaction
    closing: dict[str, CuratorRun]
    mix: ArchiveMix = field(default_factory=ArchiveMix)  # what the archiver wrote, the filled day's included
    list_seconds_per_page: dict[str, float] | None = None  # wall ("local_s") and CPU ("cpu_s")


def simulate_fleet(  # noqa: C901, PLR0915, PLR0917  # the stack, its proxy, what to simulate, where
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
    """`sampled_runs` archiver ticks from midnight with a curator tick (its clock the simulated one) after
    each; the first tick after the day closed (close_after_hours), which compacts it; then
    `after_close_runs` ticks of the next day with a curator tick after each (many snapshots, few files: this
    separates the two in the fit). A curator tick curates both tables as the handler does: results, then
    annotations, each its own `curate` call with the same settings. With fill_day, the rest of the day's
    ticks then land late and one more curator tick ingests them and compacts the day again (not counted: it
    makes the queries' day whole)."""
    _imports()
    from curator.dal.curated_table import (  # noqa: PLC0415
        IcebergCuratedTable,
        equal_to,
        glue_catalog,
        window_filter,
    )
    from curator.dal.raw_archive import S3RawArchive  # noqa: PLC0415
    from curator.logic.curation import CurationDependencies, curate  # noqa: PLC0415
    from curator.logic.requests import request_from_event  # noqa: PLC0415
    from curator.models.curated_table import ANNOTATIONS_TABLE, RESULTS_TABLE  # noqa: PLC0415
    from curator.models.plan import DayWindow, RecordedDay, TableState  # noqa: PLC0415
    from emulation.aws_stack import loopback_client  # noqa: PLC0415
    from hook_archive.dal.archive_writer import S3ArchiveWriter  # noqa: PLC0415

    specs = {"results": RESULTS_TABLE, "annotations": ANNOTATIONS_TABLE}
    s3 = loopback_client("s3", moto_url=proxy.url, cloudformation_url=stack.emulator.endpoint_url)
    writer = S3ArchiveWriter(bucket=stack.bucket, client=stack.client("s3"))
    observer = glue_catalog(_catalog_properties(stack.moto_url))  # straight to moto: not counted
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rng = random.Random(29 + fleet.account_regions)
    raws = {
        kind: S3RawArchive(
            bucket=stack.bucket, archive_prefix=spec.raw_prefix(PREFIX), client=s3, schema=spec.raw_schema
        )
        for kind, spec in specs.items()
    }
    raw_dir, next_day_dir = workdir / "raw", workdir / "next-day"

    def snapshots(kind: str) -> int:
        try:
            return len(observer.load_table((DATABASE, TABLES[kind])).metadata.snapshots)
        except Exception:  # no table before the first run
            return 0

    class LineageCountingTable(IcebergCuratedTable):
        """The real adapter. Before each lineage scan (`recorded`), the data files it will read are
        counted through the observer (straight to moto, so not counted as requests), and the time that
        takes is kept apart, to be taken off the run's."""

        compared = compacted = 0
        files_by_day: Counter[date] | None = None
        observer_s = observer_cpu_s = 0.0

        def recorded(
            self, state: TableState, window: DayWindow, *, skip: frozenset[date] = frozenset()
        ) -> dict[date, RecordedDay]:
            started, cpu_started = time.perf_counter(), time.process_time()
            days: Counter[date] = Counter()
            if state.snapshot_id is not None:
                table = observer.load_table(self.identifier)
                days.update(
                    date.fromisoformat(str(task.file.partition[0]))
                    for task in table.scan(
                        row_filter=window_filter(window), snapshot_id=state.snapshot_id
                    ).plan_files()
                )
                self.compared += sum(n for d, n in days.items() if d not in skip)
            if self.files_by_day is None:  # the run's first pass: the window before the run
                self.files_by_day = days
            self.observer_s += time.perf_counter() - started
            self.observer_cpu_s += time.process_time() - cpu_started
            return super().recorded(state, window, skip=skip)

        def compact_day(self, state: TableState, day: date, summary: dict[str, str]) -> None:
            """The real compaction; the day's files it rewrites are counted first, as above."""
            started, cpu_started = time.perf_counter(), time.process_time()
            table = observer.load_table(self.identifier)
            self.compacted += sum(
                1
                for _ in table.scan(
                    row_filter=equal_to("dt", day.isoformat()), snapshot_id=state.snapshot_id
                ).plan_files()
            )
            self.observer_s += time.perf_counter() - started
            self.observer_cpu_s += time.process_time() - cpu_started
            super().compact_day(state, day, summary)

    def run_curator(clock: datetime, *, maintain: bool) -> dict[str, CuratorRun]:
        """One curator tick: each table in the handler's order. `maintain` forces expiry and orphan
        removal on both (the handler's settings are one for both tables): the deployed interval maintains
        one run in several, too few in a sample to fit their terms."""
        run_settings = replace(settings, maintenance_interval_minutes=0) if maintain else settings
        runs = {}
        for kind in KINDS:
            spec = specs[kind]
            table = LineageCountingTable(
                catalog=glue_catalog(_catalog_properties(proxy.url)),
                database=DATABASE,
                table_name=TABLES[kind],
                location=f"s3://{stack.bucket}/curated/{TABLES[kind]}",
                s3_client=s3,
                spec=spec,
            )
            deps = CurationDependencies(
                raw=raws[kind], table=table, spec=spec, clock_ms=lambda: int(clock.timestamp() * 1000)
            )
            request = request_from_event(SCHEDULED_EVENT, archive_prefix=spec.raw_prefix(PREFIX))
            held = snapshots(kind)
            proxy.take()
            started, cpu_started = time.perf_counter(), time.process_time()
            report = curate(deps, run_settings, request)
            seconds = time.perf_counter() - started - table.observer_s
            cpu_seconds = time.process_time() - cpu_started - table.observer_cpu_s
            by_day = dict(table.files_by_day or {})
            runs[kind] = CuratorRun(
                held,
                table.compared,
                seconds,
                cpu_seconds,
                proxy.take(),
                report.objects_added,
                tuple(date.fromisoformat(d) for d in report.days_compacted),
                report.maintained,
                sum(by_day.values()),
                by_day,
                table.compacted,
            )
        return runs

    step = timedelta(minutes=scale.interval_min)
    scheduled: dict[str, list[CuratorRun]] = {kind: [] for kind in KINDS}
    mix = ArchiveMix()
    for tick in range(scale.sampled_runs):  # the window: this day's appends so far
        mix.add(_write_tick(writer, raw_dir, fleet, day=day, tick=tick, rng=rng))
        for kind, run in run_curator(day_start + step * (tick + 1), maintain=tick % 3 == 1).items():
            scheduled[kind].append(run)
    closed = day_start + timedelta(days=1, hours=settings.close_after_hours) + step
    closing = run_curator(closed, maintain=False)
    next_day = day + timedelta(days=1)
    for tick in range(scale.after_close_runs):  # the window: the compacted day and the next day's appends
        mix.add(_write_tick(writer, next_day_dir, fleet, day=next_day, tick=tick, rng=rng))
        for kind, run in run_curator(closed + step * (tick + 1), maintain=tick % 3 == 1).items():
            scheduled[kind].append(run)
    result = FleetRuns(fleet, scheduled, closing)
    if fill_day:
        fill_started = time.perf_counter()
        for tick in range(scale.sampled_runs, scale.ticks_per_day):
            mix.add(_write_tick(writer, raw_dir, fleet, day=day, tick=tick, rng=rng))
        # what a scheduled run lists (its mark less the lookback): the time per page prices the extra
        # pages of a big fleet's listing
        window = DayWindow(start=day - timedelta(days=settings.lookback_days))
        proxy.take()
        started, cpu_started = time.perf_counter(), time.process_time()
        listed = sum(1 for _ in raws["results"].list_objects(window))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        pages = proxy.take().get("GETBucket", 0)
        if listed and pages:
            result.list_seconds_per_page = {"local_s": seconds / pages, "cpu_s": cpu_seconds / pages}
        run_curator(closed + step * (scale.after_close_runs + 1), maintain=False)
        print(
            f"  [7] the rest of the day landed and curated in {time.perf_counter() - fill_started:.0f} s",
            flush=True,
        )
    result.mix = mix
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


COST_TERMS = (
    "fixed",
    "per new raw object",
    "per maintenance run",
    "per snapshot kept",
    "per file compared",
    "extra list pages",
    "compaction",
)


def steady_day_cost(
    fits: dict[str, Fit],
    day: SteadyDay,
    objects_per_tick: float,
    *,
    compaction_per_file: dict[str, float],
    list_seconds_per_page: dict[str, float],
    lambda_model: LambdaModel,
) -> DayCost:
    """One table's fitted run summed over a steady-state day with `objects_per_tick` new raw objects a
    run, term by term; plus the listing's pages beyond the first (every sampled run listed one page) and
    each compaction (the closing run's measured excess over the fit per file compacted, times the files
    the run compacts). The invocation's own charges (Lambda request, Scheduler) are the tick's, not a
    table's: not here."""
    seconds_key = lambda_model.seconds_key
    keys = ("get", "s3_other", "glue", seconds_key)
    terms = dict.fromkeys(COST_TERMS, 0.0)
    totals = dict.fromkeys(("get", "s3_other", "glue", "lambda_s"), 0.0)
    durations: list[float] = []
    for run_index in range(1, day.runs + 1):
        snapshots, files = day.snapshots_kept, day.files_compared(run_index)
        maintains = 1.0 if day.maintains(run_index) else 0.0
        increments: dict[str, dict[str, float]] = {}
        for term, position, amount in (
            ("fixed", 0, 1.0),
            ("per new raw object", 1, objects_per_tick),
            ("per maintenance run", 2, maintains),
            ("per snapshot kept", 3, snapshots * maintains),
            ("per file compared", 4, files),
        ):
            increments[term] = {k: fits[k].coefficients[position] * amount for k in keys}
        extra_pages = list_pages(day.objects_listed(run_index, objects_per_tick)) - 1
        increments["extra list pages"] = {
            "get": 0.0,
            "s3_other": float(extra_pages),
            "glue": 0.0,
            seconds_key: extra_pages * list_seconds_per_page[seconds_key],
        }
        if compacted := day.files_compacted(run_index):
            increments["compaction"] = {k: compaction_per_file[k] * compacted for k in keys}
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
    return DayCost(
        gets=totals["get"],
        s3_other=totals["s3_other"],
        glue=totals["glue"],
        lambda_s=totals["lambda_s"],
        usd=sum(terms.values()),
        durations_s=durations,
        terms_usd=terms,
    )


def invocation_usd(day: SteadyDay) -> float:
    """A tick's own charges, one invocation for both tables: the Lambda request and the schedule's."""
    return day.runs * (PRICE["lambda_request"] + PRICE["scheduler_invocation"])


def _lambda_seconds(run: CuratorRun, model: LambdaModel) -> float:
    return run.values()[model.seconds_key] * model.cpu_scale + API_LATENCY_S * run.requests


def deployed_curator() -> tuple[int, int, dict[str, str]]:
    """The template's curator: its schedule's default rate in minutes, its MemorySize, its environment's
    literal values (those the deployment resolves, such as the bucket, are left out)."""
    from emulation.lambda_runtime import function_spec, load_template  # noqa: PLC0415

    template = load_template()
    rate = str(template["Parameters"]["CuratorScheduleRate"]["Default"])
    match = re.fullmatch(r"rate\((\d+) minutes?\)", rate)
    if match is None:
        raise ValueError(f"CuratorScheduleRate default {rate!r} is not rate(N minutes)")
    spec = function_spec("CuratorFunction", template)
    environment = {k: str(v) for k, v in spec.environment.items() if isinstance(v, str | int | float)}
    return int(match.group(1)), spec.memory_mb, environment


def _compaction_runs(r: FleetRuns, kind: str) -> list[tuple[str, CuratorRun]]:
    """A fleet's runs that price a compaction, with their table: the scheduled runs whose append took the
    open day past the threshold (they ingest and compare as any run does, so their excess over their
    table's fit is the compaction's). A table that made none at this fleet (hook_annotations at a small
    one: too few ticks bring an annotation object) takes the other table's: the compaction is the same
    code and the same number of files. Failing both, the closing run (it ingests nothing: its excess is the
    compaction's less an ingest commit)."""
    for kinds in ((kind,), tuple(k for k in KINDS if k != kind)):
        runs = [(k, run) for k in kinds for run in r.scheduled[k] if run.compacted]
        if runs:
            return runs
    closing = r.closing[kind]
    return [(kind, closing)] if closing.compacted else []


def _compaction_at(
    measured: list[FleetRuns], fits: dict[str, dict[str, Fit]], kind: str, account_regions: int
) -> dict[str, float]:
    """One table's compaction per data file compacted: its compacting runs' excess over their table's fit
    (`fits` by table), linear in the fleet between the smallest and the largest measured fleet; never
    below zero."""
    per_file = {}
    for r in measured:
        runs = _compaction_runs(r, kind)
        if not runs:
            continue
        files = max(1, sum(run.files_compacted for _, run in runs))
        per_file[r.fleet.account_regions] = {
            key: sum(
                run.values()[key]
                - fits[k][key].predict(run.objects, run.snapshots, run.files, maintained=run.maintained)
                for k, run in runs
            )
            / files
            for key in fits[kind]
        }
    if not per_file:
        return dict.fromkeys(fits[kind], 0.0)
    small, large = min(per_file), max(per_file)
    slope = 1.0 / (large - small) if large > small else 0.0
    return {
        key: max(
            0.0,
            per_file[small][key]
            + (per_file[large][key] - per_file[small][key]) * (account_regions - small) * slope,
        )
        for key in fits[kind]
    }


def _snapshots_per_compaction(measured: list[FleetRuns], sampled: int) -> int:
    """Snapshots a compaction adds (pyiceberg's overwrite: a delete and an append; the same for both
    tables), from the first day's runs in order, the closing run last, of every fleet and table: a
    compacting run that does not maintain adds its ingest's snapshot and its compactions'. At least 1."""
    added = []
    for r in measured:
        for kind in KINDS:
            ordered = [
                *r.scheduled[kind][:sampled],
                r.closing[kind],
                *r.scheduled[kind][sampled : sampled + 1],
            ]
            added += [
                (following.snapshots - run.snapshots - int(run.objects > 0)) / len(run.compacted)
                for run, following in itertools.pairwise(ordered)
                if run.compacted and run.snapshots and not run.maintained
            ]
    return max(1, round(statistics.median(added))) if added else 1


@dataclass(frozen=True)
class TableDay:
    """One table's fit over the sampled runs and its steady-state day at the target fleet."""

    kind: str
    samples: int  # scheduled runs fitted
    left_out: int  # scheduled runs left out: the table's first, runs that read nothing new, compacting runs
    fits: dict[str, Fit]
    steady: SteadyDay
    objects_per_tick: float  # new raw objects a run at the target fleet
    compaction_per_file: dict[str, float]  # a compaction's requests and seconds per file it compacts
    cost: DayCost
    cost_wall: DayCost


@dataclass(frozen=True)
class TableLayout:
    """One table's measured day, three ways, and what the named queries read of each."""

    raw: tuple[int, int]  # files, bytes
    curated: tuple[int, int]
    ideal: tuple[int, int]
    reads: dict[str, dict[str, dict[str, Any]]]  # query -> layout -> DuckDB's counters


def _settings(environment: Mapping[str, str]) -> Any:
    """The template's settings as the handler reads them at cold start: its environment through the
    curator's own parser (`CuratorConfig.from_environ`), then `CurationSettings.from_config`. What the
    deployment resolves (bucket, database, region, service) gets a placeholder: the section names its own
    bucket and database."""
    from curator.logic.curation import CurationSettings  # noqa: PLC0415
    from curator.models.config import CuratorConfig  # noqa: PLC0415

    config = CuratorConfig.from_environ(
        {
            "ARCHIVE_BUCKET": "bench-archive",
            "ARCHIVE_PREFIX": PREFIX,
            "GLUE_DATABASE": DATABASE,
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "bench",
            **environment,
        }
    )
    return CurationSettings.from_config(config)


def _fitted(run: CuratorRun) -> bool:
    """The first run creates the table, once in the table's life: not a scheduled run's cost. A run that
    read no new object commits nothing; at the target fleet every run has new objects of both tables. A
    run that compacted the open day prices the compaction (`_compaction_at`), not the fit."""
    return bool(run.snapshots and run.objects and not run.compacted)


def _fits(kind: str, measured: list[FleetRuns]) -> tuple[dict[str, Fit], int, int]:
    """One table's fits over its scheduled runs of every fleet; the runs fitted and left out."""
    runs = [run for r in measured for run in r.scheduled[kind]]
    samples = [
        RunSample(run.objects, run.snapshots, run.files, run.values(), run.maintained)
        for run in runs
        if _fitted(run)
    ]
    fits = {key: fit(samples, key) for key in ("get", "s3_other", "glue", "cpu_s", "local_s")}
    return fits, len(samples), len(runs) - len(samples)


def _table_day(  # noqa: PLR0917  # one table's inputs, all needed
    kind: str,
    measured: list[FleetRuns],
    scale: CuratedScale,
    settings: Any,
    objects_per_tick: float,
    list_seconds_per_page: dict[str, float],
    memory_mb: int,
) -> TableDay:
    every = {k: _fits(k, measured) for k in KINDS}
    fits, fitted, left_out = every[kind]
    steady = SteadyDay(
        interval_min=scale.interval_min,
        retention_hours=settings.snapshot_retention_hours,
        close_after_hours=settings.close_after_hours,
        lookback_days=settings.lookback_days,
        maintenance_interval_min=settings.maintenance_interval_minutes,
        snapshots_per_compaction=_snapshots_per_compaction(measured, scale.sampled_runs),
        open_day_max_files=settings.open_day_max_files,
    )
    compaction = _compaction_at(
        measured, {k: f for k, (f, _, _) in every.items()}, kind, scale.target_account_regions
    )
    cost, cost_wall = (
        steady_day_cost(
            fits,
            steady,
            objects_per_tick,
            compaction_per_file=compaction,
            list_seconds_per_page=list_seconds_per_page,
            lambda_model=model,
        )
        for model in (LambdaModel(memory_mb), LambdaModel(memory_mb, seconds_key="local_s"))
    )
    return TableDay(
        kind,
        fitted,
        left_out,
        fits,
        steady,
        objects_per_tick,
        compaction,
        cost,
        cost_wall,
    )


def _modelled(
    table: TableDay, steady: SteadyDay, objects_per_tick: float, list_s: dict[str, float], memory_mb: int
) -> DayCost:
    return steady_day_cost(
        table.fits,
        steady,
        objects_per_tick,
        compaction_per_file=table.compaction_per_file,
        list_seconds_per_page=list_s,
        lambda_model=LambdaModel(memory_mb),
    )


@dataclass(frozen=True)
class SettingDay:
    """The day at one OPEN_DAY_MAX_FILES, with the same fits: each table's cost, the tick's charges, the
    worst commit to queryable, the compactions and the longest lineage scan."""

    max_files: int
    usd_by_table: dict[str, float]
    invocations_usd: float
    worst_s: float
    compactions: int  # a table's compactions a day
    most_compared: int  # the most data files one run's lineage scan reads

    @property
    def usd(self) -> float:
        return sum(self.usd_by_table.values()) + self.invocations_usd


def _at_max_files(
    days: dict[str, TableDay], max_files: int, list_s: dict[str, float], memory_mb: int
) -> SettingDay:
    """The steady-state day of both tables with OPEN_DAY_MAX_FILES = max_files, everything else measured."""
    steadies = {kind: replace(d.steady, open_day_max_files=max_files) for kind, d in days.items()}
    costs = {
        kind: _modelled(d, steadies[kind], d.objects_per_tick, list_s, memory_mb) for kind, d in days.items()
    }
    interval_s = days["results"].steady.interval_min * 60
    ticks = [sum(runs) for runs in zip(*(c.durations_s for c in costs.values()), strict=True)]
    steady = steadies["results"]
    return SettingDay(
        max_files,
        {kind: c.usd for kind, c in costs.items()},
        invocation_usd(steady),
        max(
            freshness(costs["results"].durations_s, interval_s=interval_s).worst_s,
            freshness(ticks, interval_s=interval_s).worst_s,
        ),
        steady.compactions_per_day,
        max(steady.files_compared(run) for run in range(1, steady.runs + 1)),
    )


@dataclass
class ModelCheck:
    """The steady-day model's threshold rule replayed over the simulated runs, run by run."""

    runs: int = 0
    agreed: int = 0
    compactions: int = 0  # days the runs compacted: the open day's and the closing run's
    open_day_compactions: int = 0
    mismatches: list[str] = field(default_factory=list)


def _check_model(
    measured: list[FleetRuns], days: dict[str, TableDay], sampled: int, settings: Any, day0: date
) -> ModelCheck:
    """Every sampled run of both tables and fleets (first day, closing run, next day) against what the
    steady-day model's rule expects of it: the window's data files by day before the run (the open day's
    is what its appends left, `open_day_files`; the closed day's 1 once compacted), the days it compacts (a
    run whose append takes the open day past OPEN_DAY_MAX_FILES, `compacts_open_day`; the closing run the
    closed day if it holds more than one file), the data files those compactions rewrite, the files its
    lineage scans read (every day of the window while the current snapshot is a compaction's, which
    vouches for no listing; else the open day if a new object changed its listing: SteadyDay.
    files_compared) and, up to the closing run, the snapshots held (one per ingest commit and
    `snapshots_per_compaction` per compaction; later runs may expire some). A run that read no new object
    appends nothing (hook_annotations at a small fleet). While every run so far appended, a first-day run
    is also the steady day's run j: its today's files, compaction and files compacted are SteadyDay's."""
    check = ModelCheck()
    limit = settings.open_day_max_files
    day1 = day0 + timedelta(days=1)
    for r in measured:
        for kind in KINDS:
            steady = days[kind].steady
            per_compaction = steady.snapshots_per_compaction
            appends = {day0: 0, day1: 0}
            closed: int | None = None  # the first day's files once closed and compacted
            snapshots = 0
            after_compaction = False
            plan = [
                *((run, day0) for run in r.scheduled[kind][:sampled]),
                (r.closing[kind], None),
                *((run, day1) for run in r.scheduled[kind][sampled:]),
            ]
            for index, (run, open_day) in enumerate(plan):
                window = {day0: closed if closed is not None else open_day_files(appends[day0], limit)}
                if open_day == day1:
                    window[day1] = open_day_files(appends[day1], limit)
                appended = open_day is not None and run.objects > 0
                if open_day is None:  # the closing run: nothing new, the first day closed
                    compacted = [day0] if window[day0] > 1 else []
                else:
                    compacted = (
                        [open_day] if appended and compacts_open_day(appends[open_day] + 1, limit) else []
                    )
                expected = {
                    "window files": {d: n for d, n in window.items() if n},
                    "compacted": compacted,
                    "files compacted": sum(window[d] + int(appended) for d in compacted),
                    "files compared": sum(window.values())
                    if after_compaction
                    else (window[open_day] if appended and open_day is not None else 0),
                }
                got: dict[str, Any] = {
                    "window files": dict(run.files_by_day),
                    "compacted": list(run.compacted),
                    "files compacted": run.files_compacted,
                    "files compared": run.files,
                }
                if open_day != day1:
                    expected["snapshots"], got["snapshots"] = snapshots, run.snapshots
                if open_day == day0 and appended and appends[day0] == index < steady.closing_run - 1:
                    # every run so far appended: the steady day's own run j (its today; no yesterday yet)
                    j = index + 1
                    expected["steady day"] = (
                        steady.today_files(j),
                        steady.compacts_open_day(j),
                        steady.files_compacted(j),
                    )
                    got["steady day"] = (
                        run.files_by_day.get(day0, 0),
                        bool(run.compacted),
                        run.files_compacted,
                    )
                check.runs += 1
                check.compactions += len(run.compacted)
                check.open_day_compactions += len(run.compacted) if open_day is not None else 0
                if expected == got:
                    check.agreed += 1
                else:
                    check.mismatches.append(
                        f"{r.fleet.account_regions} AR {TABLES[kind]} run {index + 1}: model {expected}, "
                        f"curator {got}"
                    )
                if open_day is not None:
                    appends[open_day] += int(appended)
                else:
                    closed = 1 if compacted else window[day0]
                snapshots += int(appended) + per_compaction * len(compacted)
                after_compaction = bool(compacted) or (after_compaction and not appended)
    return check


def _layout(kind: str, raw_root: Path, fleet_dir: Path, curated: tuple[int, int]) -> TableLayout:
    """The measured day of one table: raw, curated (already copied out), ideal; each named query over each."""
    suffix = "" if kind == "results" else f"-{kind}"
    roots = {
        "raw": raw_root,
        "curated": fleet_dir / f"curated{suffix}",
        "ideal": fleet_dir / f"ideal{suffix}",
    }
    _ideal(roots["raw"], roots["ideal"], annotations=kind == "annotations")
    reads = {
        name: {layout: duckdb_query(root, name, reps=1, view=TABLES[kind]) for layout, root in roots.items()}
        for name in QUERY_SPANS[kind]
    }
    return TableLayout(_folder_bytes(roots["raw"]), curated, _folder_bytes(roots["ideal"]), reads)


def measure(scale: CuratedScale, workdir: Path) -> Section:  # noqa: PLR0915  # one report, top to bottom
    _imports()
    section_started = time.perf_counter()
    section = Section("7", "The curated Iceberg tables against the raw archive")
    day = datetime.now(UTC).date() - timedelta(days=2)  # it and the next day inside every query's window
    _, memory_mb, environment = deployed_curator()
    settings = _settings(environment)
    scale = replace(scale, sampled_runs=sampled_runs(scale, settings.open_day_max_files))
    fill = min(scale.fleets, key=lambda f: f.account_regions)
    measured: list[FleetRuns] = []
    curated: dict[str, tuple[int, int]] = {}
    fill_dir = workdir / f"fleet-{fill.account_regions}"
    for fleet in scale.fleets:
        fleet_dir = workdir / f"fleet-{fleet.account_regions}"
        started = time.perf_counter()
        print(
            f"  [7] {fleet.account_regions} account-regions: {scale.sampled_runs} ticks with a curator tick "
            f"(both tables) after each, the closing tick, {scale.after_close_runs} more"
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
                for kind in KINDS:
                    suffix = "" if kind == "results" else f"-{kind}"
                    curated[kind] = _curated_files(stack, TABLES[kind], day, fleet_dir / f"curated{suffix}")
        measured.append(runs)
        print(f"  [7] {fleet.account_regions} account-regions done in {time.perf_counter() - started:.0f} s")

    mix = ArchiveMix()
    for r in measured:
        mix.add(r.mix)
    if not mix.annotation_objects:
        raise RuntimeError(
            f"the fleet wrote no annotation object ({mix.failures} failures, {mix.annotated} annotated): "
            "hook_annotations' runs would measure an empty table"
        )
    print("  [7] DuckDB queries over the day: raw, curated, ideal; both tables", flush=True)
    layouts = {
        "results": _layout("results", fill_dir / "raw", fill_dir, curated["results"]),
        "annotations": _layout(
            "annotations", fill_dir / "raw" / "annotations", fill_dir, curated["annotations"]
        ),
    }

    # -- the fits, the steady-state day at the target fleet, freshness
    target_ar = scale.target_account_regions
    list_s = next(r.list_seconds_per_page for r in measured if r.list_seconds_per_page is not None)
    per_tick = {"results": float(target_ar), "annotations": target_ar * mix.annotation_objects_per_tick}
    days = {
        kind: _table_day(kind, measured, scale, settings, per_tick[kind], list_s, memory_mb) for kind in KINDS
    }
    results_day, notes_day = days["results"], days["annotations"]
    steady = results_day.steady
    invocations = invocation_usd(steady)
    total = sum(d.cost.usd for d in days.values()) + invocations
    total_wall = sum(d.cost_wall.usd for d in days.values()) + invocations
    ticks = [sum(runs) for runs in zip(*(d.cost.durations_s for d in days.values()), strict=True)]
    interval_s = scale.interval_min * 60
    fresh = {"results": freshness(results_day.cost.durations_s, interval_s=interval_s)}
    fresh["annotations"] = freshness(ticks, interval_s=interval_s)  # after the tick's results run
    model = LambdaModel(memory_mb)
    measured_fresh = {
        r.fleet.account_regions: freshness(
            [
                sum(_lambda_seconds(r.scheduled[kind][index], model) for kind in KINDS)
                for index in range(len(r.scheduled["results"]))
            ],
            interval_s=interval_s,
        )
        for r in measured
    }
    check = _check_model(measured, days, scale.sampled_runs, settings, day)
    for mismatch in check.mismatches:
        print(f"  [7] model and curator disagree: {mismatch}", flush=True)
    section_s = time.perf_counter() - section_started

    # -- the summary rows
    factor = target_ar / fill.account_regions
    files_target: dict[str, int] = {}
    ratio30: dict[str, float] = {}
    for kind in KINDS:
        layout = layouts[kind]
        files_target[kind] = max(
            layout.curated[0], math.ceil(layout.curated[1] * factor / settings.target_file_bytes)
        )
        q30 = layout.reads[RATIO_QUERY[kind]]
        ratio30[kind] = q30["curated"]["bytes_read"] / q30["ideal"]["bytes_read"]
        section.row(
            f"{TABLES[kind]}: 30-day query at {target_ar} account-regions: curated files per day "
            f"(raw: {layout.raw[0] * factor:,.0f})",
            f"{files_target[kind]}",
            f"<= {FILES_PER_DAY_TARGET}",
            "met" if files_target[kind] <= FILES_PER_DAY_TARGET else "missed",
        )
        section.row(
            f"{TABLES[kind]}: 30-day query (`{RATIO_QUERY[kind]}`): bytes read, curated / ideal single file "
            "per day (measured day)",
            f"{ratio30[kind]:.2f}x (raw {q30['raw']['bytes_read'] / q30['ideal']['bytes_read']:.1f}x)",
            f"<= {BYTES_RATIO_TARGET}x",
            "met" if ratio30[kind] <= BYTES_RATIO_TARGET else "missed",
        )
    largest = max(
        ((kind, term) for kind in KINDS for term in COST_TERMS),
        key=lambda item: days[item[0]].cost.terms_usd[item[1]],
    )
    section.row(
        f"curator cost per day at {target_ar} account-regions, {scale.interval_min}-min schedule, both "
        f"tables (fitted at {' and '.join(str(f.account_regions) for f in scale.fleets)})",
        f"${total:.3f}: hook_results ${results_day.cost.usd:.3f}, hook_annotations "
        f"${notes_day.cost.usd:.3f}, invocations ${invocations:.3f} (largest term "
        f"{TABLES[largest[0]]} {largest[1]}, ${days[largest[0]].cost.terms_usd[largest[1]]:.3f}; with wall "
        f"seconds for CPU ${total_wall:.3f})",
        f"< ${CURATOR_TARGET_USD_DAY:.2f}",
        "met" if total < CURATOR_TARGET_USD_DAY else "missed",
    )
    worst = max(f.worst_s for f in fresh.values())
    section.row(
        f"commit to queryable at {target_ar} account-regions, {scale.interval_min}-min schedule: worst "
        "(median, p95)",
        "; ".join(
            f"{TABLES[kind]} {fresh[kind].worst_s / 60:.1f} min ({fresh[kind].median_s / 60:.1f}, "
            f"{fresh[kind].p95_s / 60:.1f})"
            for kind in KINDS
        )
        + f"; ticks longer than {scale.interval_min} min: {fresh['annotations'].overlapping_runs} of "
        f"{steady.runs}",
        "<= 15 min",
        "met" if worst <= FRESHNESS_TARGET_S else "missed",
    )
    section.row(
        f"steady-day model (OPEN_DAY_MAX_FILES {settings.open_day_max_files}) against the simulated runs, "
        "run by run: the window's files by day, the days compacted and their files, the files compared, "
        "the snapshots held",
        f"{check.agreed} of {check.runs} runs agree ({check.compactions} compactions, "
        f"{check.open_day_compactions} of an open day)",
        "all",
        "met" if check.agreed == check.runs and check.open_day_compactions else "missed",
    )
    section.row(
        "section wall time (measured in the section)",
        f"{section_s:.0f} s",
        f"<= {SECTION_TARGET_S} s",
        "met" if section_s <= SECTION_TARGET_S else "missed",
    )

    _report_measured(section, scale, settings, memory_mb, fill, mix)
    _report_fits(section, scale, measured, days, model, measured_fresh, check)
    _report_day(section, scale, settings, memory_mb, days, list_s, invocations, total, total_wall)
    _report_verdict(section, scale, settings, days, fresh, total, list_s, memory_mb)
    _report_layouts(section, scale, settings, fill, layouts, factor, files_target)
    print(f"  [7] section wall time {time.perf_counter() - section_started:.0f} s", flush=True)
    section.data.update(
        day_usd_target=total,
        day_usd_by_table={kind: days[kind].cost.usd for kind in KINDS},
        curated_files=curated["results"][0],
        ratio30=ratio30["results"],
        ratio30_annotations=ratio30["annotations"],
        fresh_worst_target_s=worst,
        model_runs_agreeing=(check.agreed, check.runs),
        section_s=section_s,
    )
    return section


def _report_measured(  # noqa: PLR0917  # what the paragraph states
    section: Section, scale: CuratedScale, settings: Any, memory_mb: int, fill: Fleet, mix: ArchiveMix
) -> None:
    fleets_text = " and ".join(
        f"{f.accounts} x {f.regions} regions ({f.account_regions} account-regions)" for f in scale.fleets
    )
    section.add(
        f"**What was measured.** Two fleets, {fleets_text}, each on its own moto (its own process). From "
        f"midnight: {scale.sampled_runs} archiver ticks of {fill.rows_per_tick} results per account-region, "
        "drawn from the emulator's synthetic history (`synthetic_results`: its hooks, statuses and "
        "annotations), through the archiver's real writer: the results object (`ParquetSpool`, "
        "`archive_key`, `S3ArchiveWriter`) and, for an account-region whose tick had a failure "
        "GetHookResult annotated, the annotations object (`enrichment_from_api` of the emulator's "
        "GetHookResult answer, `annotation_rows`, `AnnotationSpool`, `annotation_key`). What the fleet "
        f"wrote, both fleets and the filled day: {mix.results:,} results, {mix.failures / mix.results:.1%} "
        f"failures, {mix.annotated / mix.results:.1%} failures with annotations (every HOOK_COMPLETE_FAILED: "
        "the emulator's hooks list each rule they evaluated; a HOOK_FAILED has none), "
        f"{mix.annotation_rows / max(1, mix.annotated):.2f} annotation rows each; "
        f"{mix.annotation_objects_per_tick:.1%} of account-region ticks wrote an annotation object. After "
        "each tick, one curator tick as the handler runs it (`handlers/curate.py`): `curate` for "
        "hook_results, then for hook_annotations, each with its own `S3RawArchive` (the table's "
        "`raw_prefix` and raw schema), `IcebergCuratedTable` (its `CuratedTableSpec`) and "
        "`CurationDependencies`, the scheduled request (`request_from_event` of a schedule event) and the "
        "same `CurationSettings` (the template's), at the template's default `CuratorScheduleRate` "
        f"({scale.interval_min} min) on the simulated clock, against moto's Glue and S3 through a counting "
        "proxy (`CountingProxy`: every request the curator makes, raw LIST/GET, pyiceberg's metadata, "
        "manifest and data files, Glue), counted per table. The curator compacts a day still open once "
        f"its append leaves it with more than `OPEN_DAY_MAX_FILES` data files ({settings.open_day_max_files} "
        f"in the template): the sampled day's run {settings.open_day_max_files + 1} compacts it, and the "
        f"{scale.sampled_runs} runs from midnight take in that compaction and the runs after it. Then the "
        f"first tick after the day closed ({settings.close_after_hours:g} h), which compacts what is left of "
        f"it; then {scale.after_close_runs} ticks of the "
        "next day with a curator tick after each (many snapshots, few files in the window). Every third "
        "sampled tick is made to maintain both tables (snapshot expiry and orphan removal; the deployed "
        f"`MAINTENANCE_INTERVAL_MINUTES`, {settings.maintenance_interval_minutes} min, maintains too few of "
        f"them to fit the terms). The {fill.account_regions} account-region fleet then lands the rest of its "
        f"first day ({scale.ticks_per_day} ticks in all) and one more curator tick ingests it and compacts "
        "the day again: that whole day is what the queries read (that tick is not counted). Settings and "
        "schedule are the template's (`CuratorFunction` environment, `CuratorScheduleRate` default, "
        f"MemorySize {memory_mb} MB). CPU seconds are this process's CPU time over each `curate` call (the "
        "curator's threads, and the counting proxy's: a little more than the function's); wall seconds "
        "include moto's time. F, the data files a run's lineage scans read, is counted at each scan "
        "(`IcebergCuratedTable.recorded`) from the scan's snapshot, window and skipped days, through a "
        "catalog straight to moto whose requests and time are not the run's."
    )


def _report_fits(  # noqa: PLR0917  # the fit tables
    section: Section,
    scale: CuratedScale,
    measured: list[FleetRuns],
    days: dict[str, TableDay],
    model: LambdaModel,
    measured_fresh: dict[int, Any],
    check: ModelCheck,
) -> None:
    smallest = min(measured, key=lambda r: r.fleet.account_regions)
    idle = sum(1 for run in smallest.scheduled["annotations"] if not run.objects)
    section.add(
        "**The fits** (`bench/curator_model.py`), one per table, summed afterwards: each table's scheduled "
        "runs over both fleets, by least squares as `fixed + per_object·O + per_maintenance·M + "
        "per_snapshot·S·M + per_file·F`: O the new raw objects the run read (hook_results: one per "
        "account-region; hook_annotations: one per account-region whose tick annotated a failure), M 1 on a "
        "run that maintains and 0 otherwise, S the table's snapshots before the run (snapshot expiry and "
        "orphan removal read every kept snapshot's manifest list and manifests), F the data files its "
        "lineage scans read (a day whose listing the current snapshot's summary vouches for is skipped). "
        "Runs up to the open day's compaction have S and F growing together; those after it, and after "
        "the closing tick, have S large and F small, which separates the two. Per table, not one fit of "
        "the sum: the tables read different "
        "numbers of objects a run and hold different snapshots and files at the sampled fleets (at "
        f"{smallest.fleet.account_regions} account-regions {idle} of "
        f"{len(smallest.scheduled['annotations'])} ticks brought no annotation object), so the sum's terms "
        "would mix two histories and not separate; the split per table is what the report needs anyway. "
        "Left out: each table's first run (it creates the table, once in its life), runs that read no "
        "new object (they commit nothing; at the target fleet no tick is without annotation objects) and "
        "runs that compacted the open day (they price the compaction, below): "
        + ", ".join(f"{TABLES[d.kind]} {d.samples} runs fitted, {d.left_out} left out" for d in days.values())
        + "."
    )
    fit_rows = []
    for d in days.values():
        for key, label in (
            ("get", "S3 GET/HEAD requests"),
            ("s3_other", "S3 PUT/LIST/DELETE requests"),
            ("glue", "Glue requests"),
            ("cpu_s", "CPU seconds"),
            ("local_s", "wall seconds"),
        ):
            f = d.fits[key]
            fit_rows.append(
                (f"{TABLES[d.kind]}: {label}", *(f"{c:.4g}" for c in f.coefficients), f"{f.r2:.3f}")
            )
    section.table(["per run", *TERMS, "R²"], fit_rows, "l" + "r" * (len(TERMS) + 1))
    per_fleet_rows = []
    for r in measured:
        for kind in KINDS:
            scheduled = r.scheduled[kind]
            before, after = scheduled[: scale.sampled_runs], scheduled[scale.sampled_runs :]
            closing = r.closing[kind]
            compacting = [run for run in before if run.compacted]
            per_fleet_rows.append(
                (
                    f"{r.fleet.account_regions} AR, {TABLES[kind]}",
                    f"{len(before)} + 1 + {len(after)}",
                    f"{sum(run.objects for run in scheduled):,} "
                    f"({sum(1 for run in scheduled if run.objects)})",
                    f"{before[1].requests:,} / {before[-1].requests:,} / {after[-1].requests:,}",
                    f"{before[1].cpu_seconds:.2f} / {before[-1].cpu_seconds:.2f} / "
                    f"{after[-1].cpu_seconds:.2f}",
                    ", ".join(
                        f"run {before.index(run) + 1}: {run.requests:,}, {run.cpu_seconds:.2f} s "
                        f"({run.files_compacted} files)"
                        for run in compacting
                    )
                    or "none",
                    f"{closing.requests:,}, {closing.cpu_seconds:.2f} s ({closing.files_compacted} files)",
                    f"{max(_lambda_seconds(run, model) for run in scheduled):.1f} s",
                    f"{measured_fresh[r.fleet.account_regions].worst_s / 60:.1f} min"
                    if kind == "annotations"
                    else "",
                )
            )
    section.table(
        [
            "measured fleet, table",
            "runs: before close + closing + after",
            "new objects read (runs that read any)",
            "requests: 2nd / last before close / last after",
            "CPU s: same runs",
            "open-day compaction: requests, CPU s (files compacted)",
            "closing run: requests, CPU s (files compacted)",
            "longest scheduled run on Lambda",
            "commit to queryable, worst (these ticks, both tables)",
        ],
        per_fleet_rows,
        "lrrrrrrrr",
    )
    runs_text = f"{check.agreed} of {check.runs} runs agree"
    section.add(
        "**The model against the runs.** The steady-state day below follows the curator's rule "
        "(`days_to_compact`: an open day is compacted once it holds more than max(`OPEN_DAY_MAX_FILES`, "
        "the files its bytes need) data files; a closed day once it holds more than its bytes need), "
        "written once in `curator_model.open_day_files`: with one append a run, N appends "
        "leave N files, the (N+1)-th compacts the day to one, and every N-th append after that compacts it "
        "again. Replayed over every sampled run of both tables and fleets, the first day's, the closing "
        "run's and the next day's (`_check_model`: the window's data files by day before the run, the days "
        "it compacts and the files they rewrite, the files its lineage scans read, and up to the closing "
        "run the snapshots the table holds, one per ingest commit and "
        f"{days['results'].steady.snapshots_per_compaction} per compaction), against what the curator did: "
        f"{runs_text}; {check.compactions} compactions, {check.open_day_compactions} of them of an open day."
        + (" Disagreements: " + "; ".join(check.mismatches[:4]) + "." if check.mismatches else "")
    )


def _report_day(  # noqa: PLR0917  # the day's table
    section: Section,
    scale: CuratedScale,
    settings: Any,
    memory_mb: int,
    days: dict[str, TableDay],
    list_s: dict[str, float],
    invocations: float,
    total: float,
    total_wall: float,
) -> None:
    target_ar = scale.target_account_regions
    steady = days["results"].steady
    notes = days["annotations"]
    model = LambdaModel(memory_mb)
    n = steady.open_day_max_files
    open_runs = [run for run in range(1, steady.runs + 1) if steady.compacts_open_day(run)]
    open_text = (
        f"today holds what its appends left (`open_day_files`: at most {n} files before a run) and is "
        f"compacted by runs {open_runs[0]}, {open_runs[1]}, ..., {open_runs[-1]} ({len(open_runs)} a day, "
        f"{n + 1} files each); yesterday keeps the {steady.yesterday_files(1)} files its last runs left "
        if len(open_runs) > 1
        else f"today holds its j-1 appends; yesterday its {steady.yesterday_files(1)} files "
    )
    compacted = sum(steady.files_compacted(run) for run in range(1, steady.runs + 1))
    most = max(steady.files_compared(run) for run in range(1, steady.runs + 1))
    section.add(
        f"**The day at {target_ar} account-regions ({scale.target_accounts} accounts x "
        f"{scale.target_regions} regions), long after the first day.** {steady.runs} scheduled ticks, each "
        f"curating both tables: O = {target_ar} new hook_results objects a run and "
        f"O = {notes.objects_per_tick:.1f} hook_annotations objects ({target_ar} x the measured "
        "annotation objects per account-region tick; the chance that a tick brings none is nil, so each "
        "table commits once a run). Each table holds "
        f"S = {steady.snapshots_kept} snapshots ({settings.snapshot_retention_hours:g} h and one "
        f"maintenance interval of {scale.interval_min}-min commits, plus "
        f"{steady.snapshots_per_compaction} for each of the day's {steady.compactions_per_day} "
        f"compactions), read on the runs that maintain (one in {steady.runs_per_maintenance}: M = 1). With "
        f"`OPEN_DAY_MAX_FILES` {n}, {open_text}"
        f"until run {steady.closing_run} compacts it, closed. Run j's window (its mark less "
        f"{steady.lookback_days} days) holds the day before yesterday (compacted, 1 file), yesterday and "
        "today, and it compares F = today's files (a new object every run), yesterday's until it closes "
        "(counted as changed on every run for late objects: an upper bound), and every day of the window "
        "on the run after a compaction (the compaction's snapshot vouches for no listing): at most "
        f"{most} files a run. "
        "Per run: the fitted terms at (O, M, S, F); the listing's pages beyond the first (ListObjectsV2 "
        "returns at most 1,000 keys, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html; "
        f"run j lists O x ({steady.lookback_days} x {steady.runs} + j) keys; every sampled run listed one "
        f"page; {list_s['cpu_s'] * 1000:.0f} ms CPU, {list_s['local_s'] * 1000:.0f} ms wall per page, "
        "measured on the filled day's hook_results listing); a compacting run adds the compaction: the "
        "measured open-day compactions' excess over their table's fit per data file compacted (a table "
        "that made none at a fleet takes the other table's there: the same code, the same files), linear "
        "in AR between the fleets, times the files it "
        f"compacts ({compacted} a day). Linear "
        "extrapolation in S and F over-counts manifest reads (the tables merge manifests, "
        "`commit.manifest-merge.enabled`). Lambda seconds = CPU seconds x "
        f"{model.cpu_scale:.2f} (Lambda gives one vCPU at {FULL_VCPU_MB} MB; the curator has {memory_mb} MB) "
        f"+ {API_LATENCY_S * 1000:.0f} ms per request, every request one after the other (in-region latency, "
        "as section 6 assumes; pyiceberg reads manifests and data files from a thread pool, so this "
        "over-counts); the wall column takes wall seconds for CPU seconds (it counts moto's time and the "
        "loopback as the function's own). A tick is one invocation: its Lambda request and Scheduler "
        "invocation are counted once, not per table. Prices "
        f"(`bench/sections/cost.py`, section 6, us-east-1): S3 GET ${PRICE['s3_get'] * 1000:.4f} and "
        f"PUT/LIST ${PRICE['s3_put'] * 1000:.3f} per 1,000 (https://aws.amazon.com/s3/pricing/), Lambda "
        f"arm64 ${PRICE['lambda_gb_s_arm64']}/GB-s and ${PRICE['lambda_request'] * 1e6:.2f}/M requests "
        "(https://aws.amazon.com/lambda/pricing/), EventBridge Scheduler "
        f"${PRICE['scheduler_invocation'] * 1e6:.2f}/M invocations, Glue Data Catalog "
        f"${GLUE_REQUEST * 1e6:.2f}/M requests (https://aws.amazon.com/glue/pricing/, the free million a "
        "month ignored). Not measured: snapshot expiry's own commit (nothing is 24 h old in the sample; "
        "one metadata write and Glue update a run) and more than one page of a table location's listing."
    )
    rows: list[tuple[str, ...]] = []
    for term in COST_TERMS:
        rows.append(
            (
                term,
                *(f"${days[kind].cost.terms_usd[term]:.3f}" for kind in KINDS),
                f"${sum(days[kind].cost.terms_usd[term] for kind in KINDS):.3f}",
                f"${sum(days[kind].cost_wall.terms_usd[term] for kind in KINDS):.3f}",
            )
        )
    rows.append(
        ("invocations (one a tick, both tables)", "", "", f"${invocations:.3f}", f"${invocations:.3f}")
    )
    for label, attribute in (
        ("S3 GET/HEAD requests", "gets"),
        ("S3 PUT/LIST/DELETE requests", "s3_other"),
        ("Glue requests", "glue"),
        ("Lambda seconds", "lambda_s"),
    ):
        rows.append(
            (
                label,
                *(f"{getattr(days[kind].cost, attribute):,.0f}" for kind in KINDS),
                f"{sum(getattr(days[kind].cost, attribute) for kind in KINDS):,.0f}",
                f"{sum(getattr(days[kind].cost_wall, attribute) for kind in KINDS):,.0f}",
            )
        )
    ticks = [sum(runs) for runs in zip(*(days[kind].cost.durations_s for kind in KINDS), strict=True)]
    ticks_wall = [
        sum(runs) for runs in zip(*(days[kind].cost_wall.durations_s for kind in KINDS), strict=True)
    ]
    rows.append(
        (
            "run on Lambda: median / max (s)",
            *(
                f"{statistics.median(durations):.1f} / {max(durations):.1f}"
                for durations in (days[kind].cost.durations_s for kind in KINDS)
            ),
            f"{statistics.median(ticks):.1f} / {max(ticks):.1f}",
            f"{statistics.median(ticks_wall):.1f} / {max(ticks_wall):.1f}",
        )
    )
    rows.append(
        (
            "**total USD per day**",
            *(f"**${days[kind].cost.usd:.3f}**" for kind in KINDS),
            f"**${total:.3f}**",
            f"**${total_wall:.3f}**",
        )
    )
    section.table(
        [
            f"curator, one day at {target_ar} AR (fitted)",
            "hook_results",
            "hook_annotations",
            "both: CPU seconds (the verdict)",
            "both: wall seconds",
        ],
        rows,
        "lrrrr",
    )


def _report_verdict(  # noqa: PLR0917  # the arithmetic on the day's terms
    section: Section,
    scale: CuratedScale,
    settings: Any,
    days: dict[str, TableDay],
    fresh: dict[str, Any],
    total: float,
    list_s: dict[str, float],
    memory_mb: int,
) -> None:
    results, notes = days["results"], days["annotations"]
    steady = results.steady
    target_ar = scale.target_account_regions
    formula = " + ".join(
        f"{name} {results.fits['get'].coefficients[index]:.4g}"
        for index, name in enumerate(("", "O x", "M x", "S x M x", "F x"))
    )
    section.add(
        f"hook_results GET/HEAD per run, for example: {formula.strip()} (O = {target_ar}, S = "
        f"{steady.snapshots_kept}, F = {steady.files_compared(steady.runs)} for the day's last run, M = "
        f"{int(steady.maintains(steady.runs))}). **Freshness** on the simulated clock: the curator starts "
        f"every {scale.interval_min} min and lists at its start; the archiver commits every 5 min at a "
        "fixed, unknown phase after a curator start (every phase, in 5 s steps); a commit waits for the next "
        "tick's start, then that tick's hook_results run on Lambda from the day above (its commit is near "
        "its end), and an annotation also the hook_annotations run after it: hook_results worst "
        f"{fresh['results'].worst_s / 60:.2f} min, median {fresh['results'].median_s / 60:.2f}, p95 "
        f"{fresh['results'].p95_s / 60:.2f}; hook_annotations worst {fresh['annotations'].worst_s / 60:.2f} "
        f"min, median {fresh['annotations'].median_s / 60:.2f}, p95 {fresh['annotations'].p95_s / 60:.2f}; "
        f"ticks longer than the interval: {fresh['annotations'].overlapping_runs}."
    )
    latency_s = API_LATENCY_S * sum(d.cost.gets + d.cost.s3_other + d.cost.glue for d in days.values())
    lambda_s = sum(d.cost.lambda_s for d in days.values())
    both = {term: sum(d.cost.terms_usd[term] for d in days.values()) for term in COST_TERMS}
    ordered = sorted(both.items(), key=lambda item: -item[1])
    verdict = (
        f"misses it by ${total - CURATOR_TARGET_USD_DAY:.3f} ({total / CURATOR_TARGET_USD_DAY - 1:.0%})"
        if total >= CURATOR_TARGET_USD_DAY
        else f"meets it with ${CURATOR_TARGET_USD_DAY - total:.3f} to spare"
    )
    deployed = settings.open_day_max_files
    sweep = [_at_max_files(days, n, list_s, memory_mb) for n in sorted({0, 6, 24, 48, 96, deployed})]
    off = next(day for day in sweep if day.max_files == 0)
    section.add(
        f"**Against the ${CURATOR_TARGET_USD_DAY:.2f} target** (arithmetic on the terms above): both tables "
        f"${total:.3f} {verdict}; hook_results ${results.cost.usd:.3f}, hook_annotations "
        f"${notes.cost.usd:.3f}. {latency_s:,.0f} of the {lambda_s:,.0f} Lambda seconds "
        f"({latency_s / lambda_s:.0%}) are the {API_LATENCY_S * 1000:.0f} ms per request, so the cost "
        "follows the request count (its fit is exact) more than the noisier CPU fit. **Where it goes**, both "
        "tables: "
        + ", ".join(f"{term} ${usd:.3f}" for term, usd in ordered if usd >= SHOWN_USD)
        + f". The open-day compaction (`OPEN_DAY_MAX_FILES` {deployed}) keeps every run's lineage scan to a "
        "few small files; with it off (0: a day compacted only once closed, its appends read again on every "
        f"run until then) the same fits give ${off.usd:.3f} a day. What the setting buys, with the same "
        "fits (a compaction priced per file as measured; the snapshots each adds counted in S):"
    )
    section.table(
        [
            "OPEN_DAY_MAX_FILES",
            "compactions a day, each table",
            "most files one run compares",
            "hook_results",
            "hook_annotations",
            "both, with invocations",
            "commit to queryable, worst",
        ],
        [
            (
                f"{day.max_files}"
                + (" (template)" if day.max_files == deployed else "")
                + (" (off)" if day.max_files == 0 else ""),
                f"{day.compactions}",
                f"{day.most_compared}",
                f"${day.usd_by_table['results']:.3f}",
                f"${day.usd_by_table['annotations']:.3f}",
                f"${day.usd:.3f}",
                f"{day.worst_s / 60:.1f} min",
            )
            for day in sweep
        ],
        "lrrrrrr",
    )
    section.add(
        "What is left is mostly per run whatever it reads: the catalog load and the listing of the lookback "
        f"days (fixed ${both['fixed']:.3f}, extra list pages ${both['extra list pages']:.3f}: listing from "
        "the last key seen would save most of those pages), then the lineage scan of the few files that "
        f"changed (${both['per file compared']:.3f}; a per-day lineage index, one object per day with the "
        "keys and ETags the table holds written in the commit, would make it about one GET per changed day "
        "and run)."
    )


def _report_layouts(  # noqa: PLR0917  # the layouts' tables
    section: Section,
    scale: CuratedScale,
    settings: Any,
    fill: Fleet,
    layouts: dict[str, TableLayout],
    factor: float,
    files_target: dict[str, int],
) -> None:
    target_ar = scale.target_account_regions
    layout_rows = []
    for kind in KINDS:
        layout = layouts[kind]
        raw_files, raw_bytes = layout.raw
        layout_rows += [
            (
                f"{TABLES[kind]} raw (one object per tick and account-region"
                + (" with an annotated failure)" if kind == "annotations" else ")"),
                f"{raw_files:,}",
                f"{raw_bytes / 1e6:.2f}",
                f"{raw_files * factor:,.0f}",
                f"{raw_bytes * factor / 1e6:,.1f}",
            ),
            (
                f"{TABLES[kind]} curated (Iceberg, after compaction)",
                f"{layout.curated[0]:,}",
                f"{layout.curated[1] / 1e6:.2f}",
                f"{files_target[kind]:,}",
                f"{layout.curated[1] * factor / 1e6:,.1f}",
            ),
            (
                f"{TABLES[kind]} ideal (one file per day, archiver writer settings)",
                f"{layout.ideal[0]:,}",
                f"{layout.ideal[1] / 1e6:.2f}",
                "1",
                f"{layout.ideal[1] * factor / 1e6:,.1f}",
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
    for kind in KINDS:
        layout = layouts[kind]
        # files a day at the target fleet: raw grows with the fleet; curated is its bytes over the target size
        files_per_day = {"raw": layout.raw[0] * factor, "curated": files_target[kind], "ideal": 1}
        for name, span in QUERY_SPANS[kind].items():
            for where in ("raw", "curated", "ideal"):
                read = layout.reads[name][where]
                query_rows.append(
                    (
                        f"`{name}` {where}",
                        f"{read['files_read']:,}",
                        f"{read['bytes_read'] / 1e6:.3f}",
                        f"{files_per_day[where] * span:,.0f}",
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
        "archiver's writer settings (`query.compact`). The hook_annotations queries are "
        "`queries/annotations/*.sql` over a `hook_annotations` view. The 7- and 30-day figures are a day's "
        "times 7 or 30 (the queries' partition filters read whole days); bytes are the measured day's times "
        f"{factor:g} for the fleet (raw bytes grow exactly so, curated about so); files per day are the "
        f"raw objects times {factor:g}, and for the curated tables the day's bytes over "
        f"`target_file_bytes` ({settings.target_file_bytes // 2**20} MiB), at least the measured count."
    )
