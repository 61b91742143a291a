"""One measured invocation, in a fresh child process: `python -m bench.invoke JOB.json`.

Kinds of job:
- handler: cold-start the real handler named in template.yaml (import time measured apart) and invoke it
  once with a real time budget. Its dependencies are the real adapters, each wrapped by a thin timing proxy
  (one clock read per page, upload, publish and checkpoint call: a few thousand reads per run), so the run
  can be split into phases. With events="null" the EventBridge adapter is replaced by a sink that accepts
  every entry without a call: the archive path alone, for comparison with references that send no events.
- floor: the SDK floor, boto3 paging ListHookResults through every result and doing nothing else. With
  job["events"] = "after" or "concurrent" it also sends one PutEvents entry per failed summary (the summary
  as JSON, 10 entries a call, as many calls in flight as the product's publisher): after the paging, or
  while it pages, from a thread pool. Nothing else: the least any archiver that alerts must spend.
- wrangler: the obvious alternative, pages accumulated into pandas and written with
  awswrangler.s3.to_parquet(dataset=True, partition_cols=["dt"]).

The result (JSON) goes to job["result_path"]; the process's own peak RSS (ru_maxrss) is in it.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast


def _top_allocations(snapshot: Any, limit: int = 10) -> list[tuple[str, int, int, str]]:
    """(file:line, bytes, blocks, source line) of the biggest live allocation sites, the bench's own left
    out."""
    import linecache  # noqa: PLC0415

    stats = snapshot.filter_traces(
        [
            tracemalloc.Filter(False, "*/bench/*"),
            tracemalloc.Filter(False, "<*"),
            tracemalloc.Filter(False, "*/linecache.py"),  # the bench's own reading of source lines
            tracemalloc.Filter(False, "*/tracemalloc.py"),
        ]
    )
    top = []
    for stat in stats.statistics("lineno")[:limit]:
        frame = stat.traceback[0]
        where = "/".join(frame.filename.split(os.sep)[-2:])
        code = linecache.getline(frame.filename, frame.lineno).strip()
        top.append((f"{where}:{frame.lineno}", stat.size, stat.count, code[:90]))
    return top


class _HideModules:
    """Makes packages the deployed artefact does not contain unimportable in the measured process. The dev
    venv has pandas and numpy (for awswrangler); pyarrow imports pandas opportunistically on the first
    RecordBatch.from_arrays (~340 modules, ~1 s and ~60 MB) when it can, which Lambda never pays."""

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".", maxsplit=1)[0] in self._names:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by bench.invoke)", name=name)


NOT_IN_ARTEFACT = frozenset({"pandas", "numpy"})


def _fast_timestamps() -> None:
    """Experiment only (never the product): botocore parses every InvokedAt with dateutil; swap in
    datetime.fromisoformat, which reads the same ISO 8601 text, and keep botocore's parser as fallback."""
    from datetime import datetime  # noqa: PLC0415

    import botocore.parsers  # noqa: PLC0415

    slow = botocore.parsers.DEFAULT_TIMESTAMP_PARSER

    def parse(value: Any) -> Any:
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return slow(value)

    botocore.parsers.DEFAULT_TIMESTAMP_PARSER = parse


def _vm_rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """This process's own peak RSS: VmHWM, the high-water mark of its address space since exec. (ru_maxrss
    is not used: Linux carries it across fork+exec, so a large parent would show up in the child's figure.)"""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Phases:
    """Clock readings taken by the timing proxies (perf_counter seconds)."""

    started: float = 0.0
    paging_s: float = 0.0
    pages: int = 0
    first_page_at: float | None = None
    last_page_at: float | None = None
    enrich_s: float = 0.0
    enrich_calls: int = 0
    upload_s: float = 0.0
    uploads: int = 0
    upload_bytes: int = 0
    first_upload_at: float | None = None
    last_upload_at: float | None = None
    publish_s: float = 0.0
    put_events_calls: int = 0
    publish_started_at: float | None = None
    publish_ended_at: float | None = None
    checkpoint_load_s: float = 0.0
    checkpoint_saves: list[tuple[float, float, int]] = field(default_factory=list)  # start, s, bytes
    spool_finish_s: float = 0.0
    rss_milestones: dict[str, int] = field(default_factory=dict)
    rss_by_page: list[tuple[int, int]] = field(default_factory=list)  # (page, VmRSS) every 100 pages
    snapshots: dict[str, list[tuple[str, int, int, str]]] = field(default_factory=dict)  # tracemalloc

    def milestone(self, name: str) -> None:
        self.rss_milestones[name] = _vm_rss_bytes()
        if tracemalloc.is_tracing():
            self.snapshots[name] = _top_allocations(tracemalloc.take_snapshot())
            self.rss_milestones[f"{name}.traced"] = tracemalloc.get_traced_memory()[0]

    def summary(self, ended: float) -> dict[str, float]:
        """Seconds per phase of the run (scan, write, events, commit); see the module doc of bench."""
        scan_end = self.last_page_at or self.started
        write_end = self.last_upload_at or scan_end
        publish_end = self.publish_ended_at or write_end
        return {
            "paging_s": self.paging_s,
            "scan_processing_s": max(0.0, scan_end - self.started - self.paging_s - self.checkpoint_load_s),
            "checkpoint_load_s": self.checkpoint_load_s,
            "spool_finish_s": self.spool_finish_s,
            "upload_s": self.upload_s,
            "write_phase_s": max(0.0, write_end - scan_end),
            "enrich_s": self.enrich_s,
            "publish_calls_s": self.publish_s,
            "events_phase_s": max(0.0, publish_end - write_end),
            "event_build_s": max(0.0, publish_end - write_end - self.publish_s - self.enrich_s),
            "checkpoint_saves_s": sum(seconds for _, seconds, _ in self.checkpoint_saves),
            "tail_s": max(0.0, ended - publish_end),
        }


class _TimedHookResults:
    def __init__(self, inner: Any, phases: Phases) -> None:
        self._inner = inner
        self._phases = phases

    def __getattr__(self, name: str) -> Any:
        # Anything the proxy does not time goes straight to the real adapter (the product may grow methods).
        return getattr(self._inner, name)

    def pages(
        self, start_token: str | None = None
    ) -> Generator[tuple[list[Mapping[str, Any]], str | None], None, None]:
        inner = self._inner.pages(start_token)
        phases = self._phases
        try:
            while True:
                started = time.perf_counter()
                try:
                    page = next(inner)
                except StopIteration:
                    return
                now = time.perf_counter()
                phases.paging_s += now - started
                phases.pages += 1
                if phases.first_page_at is None:
                    phases.first_page_at = now
                phases.last_page_at = now
                if phases.pages % 100 == 0:
                    phases.rss_by_page.append((phases.pages, _vm_rss_bytes()))
                yield page
        finally:
            inner.close()

    def get_hook_result(self, hook_result_id: str) -> Mapping[str, Any]:
        started = time.perf_counter()
        try:
            return dict(self._inner.get_hook_result(hook_result_id))
        finally:
            self._phases.enrich_s += time.perf_counter() - started
            self._phases.enrich_calls += 1


class _TimedCheckpoints:
    def __init__(self, inner: Any, phases: Phases) -> None:
        self._inner = inner
        self._phases = phases

    def __getattr__(self, name: str) -> Any:
        # Anything the proxy does not time goes straight to the real adapter (the product may grow methods).
        return getattr(self._inner, name)

    @property
    def location(self) -> str:
        return str(self._inner.location)

    def load(self) -> Any:
        started = time.perf_counter()
        try:
            return self._inner.load()
        finally:
            self._phases.checkpoint_load_s += time.perf_counter() - started

    def save(self, checkpoint: Any, *, etag: str | None) -> str:
        started = time.perf_counter()
        try:
            return str(self._inner.save(checkpoint, etag=etag))
        finally:
            self._phases.checkpoint_saves.append((started, time.perf_counter() - started, 0))


class _TimedArchive:
    def __init__(self, inner: Any, phases: Phases) -> None:
        self._inner = inner
        self._phases = phases

    def __getattr__(self, name: str) -> Any:
        # Anything the proxy does not time goes straight to the real adapter (the product may grow methods).
        return getattr(self._inner, name)

    def upload(self, spooled: Any, **conditions: Any) -> int:
        started = time.perf_counter()
        if self._phases.first_upload_at is None:
            self._phases.first_upload_at = started
        size = int(self._inner.upload(spooled, **conditions))
        ended = time.perf_counter()
        self._phases.upload_s += ended - started
        self._phases.uploads += 1
        self._phases.upload_bytes += size
        self._phases.last_upload_at = ended
        return size

    def delete(self, keys: list[str]) -> None:
        self._inner.delete(keys)


class _TimedSpool:
    def __init__(self, inner: Any, phases: Phases) -> None:
        self._inner = inner
        self._phases = phases
        self.add = inner.add  # the hot path stays unwrapped

    def __getattr__(self, name: str) -> Any:
        # Anything the proxy does not time goes straight to the real adapter (the product may grow methods).
        return getattr(self._inner, name)

    @property
    def keys(self) -> list[str]:
        return list(self._inner.keys)

    def finish(self) -> Sequence[Any]:
        self._phases.milestone("scan_end")  # spool buffers, sweep and failures all still held
        started = time.perf_counter()
        try:
            return list(self._inner.finish())
        finally:
            self._phases.spool_finish_s += time.perf_counter() - started

    def discard(self) -> None:
        self._inner.discard()


class _TimedEvents:
    def __init__(self, inner: Any, phases: Phases) -> None:
        self._inner = inner
        self._phases = phases

    def __getattr__(self, name: str) -> Any:
        # Anything the proxy does not time goes straight to the real adapter (the product may grow methods).
        return getattr(self._inner, name)

    def publish(self, envelopes: Sequence[Any]) -> Any:
        self._phases.milestone("publish_start")  # every envelope built, failures still held
        started = time.perf_counter()
        self._phases.publish_started_at = started
        try:
            outcome = self._inner.publish(envelopes)
            self._phases.put_events_calls += int(getattr(outcome, "calls", 0))
            return outcome
        finally:
            ended = time.perf_counter()
            self._phases.publish_s += ended - started
            self._phases.publish_ended_at = ended


class _NullEvents:
    """Accepts every entry without calling EventBridge (the archive path alone)."""

    def __init__(self, phases: Phases) -> None:
        self._phases = phases

    def publish(self, envelopes: Sequence[Any]) -> Any:
        self._phases.milestone("publish_start")
        from hook_archive.dal.event_publisher import PublishOutcome  # noqa: PLC0415

        return PublishOutcome(published=len(envelopes), calls=0)


@dataclass
class _Function:
    """The cold-started handler module and what every invocation needs."""

    module: Any
    handler: Any
    spec: Any
    environment: dict[str, str]
    import_s: float
    rss_before_import: int
    rss_after_import: int


def _cold_start(job: Mapping[str, Any]) -> _Function:
    sys.meta_path.insert(0, _HideModules(NOT_IN_ARTEFACT))
    from emulation.lambda_runtime import add_code_to_path, function_spec  # noqa: PLC0415

    if job.get("fast_timestamps"):
        _fast_timestamps()
    spec = function_spec()
    environment = dict(job["env"])
    os.environ.update(environment)
    add_code_to_path(spec)
    rss_before_import = _vm_rss_bytes()
    started = time.perf_counter()
    module = importlib.import_module(spec.module_name)
    import_s = time.perf_counter() - started
    return _Function(
        module,
        getattr(module, spec.function_name),
        spec,
        environment,
        import_s,
        rss_before_import,
        _vm_rss_bytes(),
    )


def _reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0: write 5 to clear_refs), so each invocation of a chain has its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _invoke_once(function: _Function, job: Mapping[str, Any], *, trace: bool = False) -> dict[str, Any]:
    """One invocation with fresh timing proxies around fresh real adapters, as the handler builds them."""
    from emulation.lambda_runtime import LambdaContext, load_event  # noqa: PLC0415
    from hook_archive.dal.aws_dependencies import build_dependencies  # noqa: PLC0415

    module, spec = function.module, function.spec
    account_id = str(job.get("account_id", "123456789012"))
    phases = Phases()
    real = build_dependencies(module.CONFIG, module.CLIENTS, account_id=account_id)
    events: Any = _NullEvents(phases) if job.get("events") == "null" else _TimedEvents(real.events, phases)

    def new_spool(archived_at_ms: int) -> Any:
        return _TimedSpool(real.new_spool(archived_at_ms), phases)

    deps = replace(
        cast(Any, real),
        hook_results=_TimedHookResults(real.hook_results, phases),
        checkpoints=_TimedCheckpoints(real.checkpoints, phases),
        archive=_TimedArchive(real.archive, phases),
        events=events,
        new_spool=new_spool,
    )
    context = LambdaContext(
        function_name=spec.logical_id,
        memory_mb=spec.memory_mb,
        timeout_seconds=float(job.get("timeout_seconds") or spec.timeout_seconds),
        region=function.environment.get("AWS_REGION", "us-east-1"),
        account_id=account_id,
    )
    error: str | None = None
    report: dict[str, Any] = {}
    peak_reset = _reset_peak_rss()
    if trace:
        tracemalloc.start()
    phases.milestone("start")
    phases.started = time.perf_counter()
    try:
        report = function.handler(dict(load_event("scheduled_tick.json")), context, dependencies=deps)
    except Exception as exc:  # an archiver error is a result too (e.g. failed events)
        error = f"{type(exc).__name__}: {exc}"
    ended = time.perf_counter()
    phases.milestone("end")
    traced_peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
    tracemalloc.stop()
    report.pop("partitions", None)
    return {
        "invoke_s": ended - phases.started,
        "report": report,
        "error": error,
        "phases": phases.summary(ended),
        "pages_timed": phases.pages,
        "enrich_calls": phases.enrich_calls,
        "put_events_calls": phases.put_events_calls,
        "uploads": phases.uploads,
        "upload_bytes": phases.upload_bytes,
        "checkpoint_bytes": _checkpoint_size(module, real),
        "checkpoint_load_s": phases.checkpoint_load_s,
        "checkpoint_save_s": sum(seconds for _, seconds, _ in phases.checkpoint_saves),
        "peak_rss": _peak_rss_bytes(),
        "peak_is_own": peak_reset,
        "rss_milestones": phases.rss_milestones,
        "rss_by_page": phases.rss_by_page,
        "snapshots": phases.snapshots,
        "traced_peak": traced_peak,
        "checkpoint_saves": len(phases.checkpoint_saves),
    }


def _checkpoint_size(module: Any, real: Any) -> int:
    """The committed checkpoint's size with its known-ids object, asked of S3 after the run (outside the
    timed call)."""
    store = real.checkpoints
    try:
        body = module.CLIENTS.s3.get_object(Bucket=store.bucket, Key=store.key)["Body"].read()
    except Exception:  # no checkpoint yet (nothing committed) or a store without bucket/key
        return 0
    known = json.loads(body).get("known_ids_object")
    if not known:
        return len(body)
    head = module.CLIENTS.s3.head_object(Bucket=store.bucket, Key=known["key"])
    return len(body) + int(head["ContentLength"])


def _cold_facts(function: _Function) -> dict[str, Any]:
    return {
        "import_s": function.import_s,
        "rss_before_import": function.rss_before_import,
        "rss_after_import": function.rss_after_import,
    }


def run_handler(job: Mapping[str, Any]) -> dict[str, Any]:
    """One cold start, one invocation."""
    function = _cold_start(job)
    profiler = _start_profiler(job)
    result = _invoke_once(function, job, trace=bool(job.get("tracemalloc")))
    _stop_profiler(profiler, job)
    return {"kind": "handler", **_cold_facts(function), **result}


def run_handler_chain(job: Mapping[str, Any]) -> dict[str, Any]:
    """One cold start, then back-to-back invocations (a warm execution environment) until a run reports
    status complete: how a backfill larger than one run's budget proceeds, tick after tick."""
    function = _cold_start(job)
    if job.get("record_events_to"):
        _record_accepted_events(function.module.CLIENTS.events, Path(job["record_events_to"]))
    limit = int(job.get("max_invocations", 1000))
    trace_after = job.get("trace_after_archived")
    stop_after_trace = bool(job.get("stop_after_trace"))
    invocations: list[dict[str, Any]] = []
    archived = 0
    traced = False
    for _ in range(limit):
        trace = trace_after is not None and not traced and archived >= int(trace_after)
        result = _invoke_once(function, job, trace=trace)
        traced = traced or trace
        result["traced"] = trace
        if not trace:
            result.pop("snapshots", None)
        result.pop("rss_by_page", None)
        invocations.append(result)
        archived += int(result["report"].get("archived", 0))
        if result["report"].get("status") == "complete" or result["report"].get("status") is None:
            break
        if trace and stop_after_trace:
            break
    return {
        "kind": "handler_chain",
        **_cold_facts(function),
        "invocations": invocations,
        "invoke_s": sum(i["invoke_s"] for i in invocations),
        "archived": archived,
        "peak_rss": max(i["peak_rss"] for i in invocations),
    }


def _record_accepted_events(client: Any, path: Path) -> None:
    """A tap on the wire, outside the product: the id of every event EventBridge accepted (a PutEvents
    response entry without ErrorCode), appended to a file so the measured process holds none of them."""

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_ids"] = [json.loads(entry["Detail"])["hook_result_id"] for entry in params["Entries"]]

    def accepted(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        results = parsed.get("Entries", [])
        ids = [
            i
            for i, result in zip(context.get("bench_ids", []), results, strict=False)
            if not result.get("ErrorCode")
        ]
        with path.open("a") as handle:
            handle.writelines(f"{hook_result_id}\n" for hook_result_id in ids)

    client.meta.events.register("provide-client-params.events.PutEvents", remember)
    client.meta.events.register("after-call.events.PutEvents", accepted)


def _cloudformation_client() -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("cloudformation")


def _pages(client: Any) -> Generator[list[dict[str, Any]], None, None]:
    token: str | None = None
    while True:
        response = client.list_hook_results(NextToken=token) if token else client.list_hook_results()
        yield response.get("HookResults", [])
        token = response.get("NextToken")
        if not token:
            return


class _BarePublisher:
    """boto3 put_events, 10 entries a call, `workers` calls in flight; no retries of failed entries, no
    event model, no size fitting: what the SDK itself costs for the same events."""

    def __init__(self, bus_name: str, detail_type: str, source: str, workers: int) -> None:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        import boto3  # noqa: PLC0415

        self._client = boto3.client("events")
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._futures: list[Any] = []
        self._pending: list[Any] = []  # PutEventsRequestEntryTypeDef, built from plain dicts
        self._base = {"EventBusName": bus_name, "DetailType": detail_type, "Source": source}
        self.calls = self.entries = 0

    def add(self, summary: Mapping[str, Any]) -> None:
        self._pending.append({**self._base, "Detail": json.dumps(summary, default=str)})
        if len(self._pending) == 10:  # noqa: PLR2004  # PutEvents' limit
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._futures.append(self._pool.submit(self._client.put_events, Entries=self._pending))
            self.calls += 1
            self.entries += len(self._pending)
            self._pending = []

    def close(self) -> int:
        """Wait for every call; the number of entries EventBridge refused."""
        self.flush()
        try:
            refused = sum(future.result().get("FailedEntryCount", 0) for future in self._futures)
        finally:
            self._pool.shutdown(cancel_futures=True)
        return int(refused)


def run_floor(job: Mapping[str, Any]) -> dict[str, Any]:
    from bench.servers import FAILED_STATUSES  # noqa: PLC0415  # the measured handler's process imports none of bench

    if job.get("fast_timestamps"):
        _fast_timestamps()
    client = _cloudformation_client()
    events = job.get("events")  # None, "after" or "concurrent"
    publisher = (
        _BarePublisher(job["bus_name"], job["detail_type"], job["source"], job["workers"]) if events else None
    )
    started, started_cpu = time.perf_counter(), time.process_time()
    pages = results = 0
    failed: list[dict[str, Any]] = []
    for page in _pages(client):
        pages += 1
        results += len(page)
        if publisher is not None:
            for summary in page:
                if summary.get("Status") in FAILED_STATUSES:
                    if events == "concurrent":
                        publisher.add(summary)
                    else:
                        failed.append(summary)
    paged, paged_cpu = time.perf_counter(), time.process_time()
    refused = 0
    if publisher is not None:
        for summary in failed:
            publisher.add(summary)
        refused = publisher.close()
    elapsed = time.perf_counter() - started
    return {
        "kind": "floor",
        "invoke_s": elapsed,
        "paging_s": paged - started,
        "cpu_s": time.process_time() - started_cpu,
        "paging_cpu_s": paged_cpu - started_cpu,
        "pages": pages,
        "results": results,
        "put_events_calls": publisher.calls if publisher else 0,
        "events_sent": publisher.entries if publisher else 0,
        "events_refused": refused,
        "peak_rss": _peak_rss_bytes(),
    }


def run_wrangler(job: Mapping[str, Any]) -> dict[str, Any]:
    wr = importlib.import_module("awswrangler")  # untyped, like pandas: Any
    pd = importlib.import_module("pandas")

    wr.config.s3_endpoint_url = os.environ["AWS_ENDPOINT_URL"]
    client = _cloudformation_client()
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    pages = 0
    for page in _pages(client):
        pages += 1
        rows.extend(page)
    paged = time.perf_counter()
    frame = pd.DataFrame(rows)
    frame["dt"] = frame["InvokedAt"].dt.strftime("%Y-%m-%d")
    written = wr.s3.to_parquet(
        df=frame, path=f"s3://{job['bucket']}/{job['prefix']}/", dataset=True, partition_cols=["dt"]
    )
    elapsed = time.perf_counter() - started
    return {
        "kind": "wrangler",
        "invoke_s": elapsed,
        "paging_s": paged - started,
        "write_s": elapsed - (paged - started),
        "pages": pages,
        "results": len(rows),
        "objects": len(written["paths"]),
        "peak_rss": _peak_rss_bytes(),
    }


def _start_profiler(job: Mapping[str, Any]) -> Any:
    if not job.get("pyinstrument"):
        return None
    from pyinstrument import Profiler  # noqa: PLC0415

    profiler = Profiler(interval=0.002)
    profiler.start()
    return profiler


def _stop_profiler(profiler: Any, job: Mapping[str, Any]) -> None:
    if profiler is None:
        return
    profiler.stop()
    with open(job["pyinstrument"], "w") as handle:
        handle.write(profiler.output_text(unicode=False, color=False, show_all=False))


RUNNERS = {
    "handler": run_handler,
    "handler_chain": run_handler_chain,
    "floor": run_floor,
    "wrangler": run_wrangler,
}


def main(argv: list[str]) -> int:
    with open(argv[1]) as handle:
        job = json.load(handle)
    os.environ.update(job.get("env", {}))
    result = RUNNERS[job["kind"]](job)
    with open(job["result_path"], "w") as handle:
        json.dump(result, handle, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
