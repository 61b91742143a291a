"""Parent side of a measured invocation: write the job, start `python -m bench.invoke` in a fresh process
(optionally under py-spy), sample its RSS while it runs, and read its result back."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import DETAIL_TYPE, EVENT_SOURCE, Stack
from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.lambda_runtime import function_spec, resolved_environment

REPO_ROOT = Path(__file__).resolve().parent.parent
PY_SPY = Path(sys.executable).parent / "py-spy"

# What every measured handler run gets, on top of the template's variables (quiet, no EMF on stdout).
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING"}
RUNTIME = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}


@dataclass
class Outcome:
    """What the child reported, plus the RSS samples taken from outside."""

    result: dict[str, Any]
    wall_s: float
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    stdout: str = ""  # what the function printed (its log lines and EMF), when captured

    @property
    def invoke_s(self) -> float:
        return float(self.result["invoke_s"])

    @property
    def peak_rss(self) -> int:
        return int(self.result["peak_rss"])

    @property
    def report(self) -> dict[str, Any]:
        return dict(self.result.get("report", {}))


def handler_environment(stack: Stack, settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """template.yaml's variables (intrinsics resolved, as ArchiverHarness does), the endpoints, and
    `settings` on top (any variable the function reads, declared in the template or not)."""
    spec = function_spec()
    values = {
        "ARCHIVE_BUCKET": stack.bucket,
        "ARCHIVE_PREFIX": ARCHIVE_PREFIX,
        "EVENT_BUS_NAME": stack.bus_name,
        "EVENT_SOURCE": EVENT_SOURCE,
        "TIME_SAFETY_MARGIN_SECONDS": "1",
    }
    declared = {name: values[name] for name in spec.environment if name in values}
    return {
        **resolved_environment(spec, declared),
        **stack.process_environment(),
        **RUNTIME,
        **QUIET,
        **(settings or {}),
    }


def run_child(
    job: dict[str, Any],
    *,
    sample_rss: bool = False,
    py_spy_raw: Path | None = None,
    timeout_s: float = 3600.0,
    capture_stdout: bool = False,
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bench-job-") as workdir:
        job_path = Path(workdir) / "job.json"
        result_path = Path(workdir) / "result.json"
        job_path.write_text(json.dumps({**job, "result_path": str(result_path)}))
        command = [sys.executable, "-m", "bench.invoke", str(job_path)]
        if py_spy_raw is not None:
            command = [
                str(PY_SPY),
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(py_spy_raw),
                "--",
                *command,
            ]
        environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            command,
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        samples: list[tuple[float, int]] = []
        sampler = None
        if sample_rss:
            sampler = threading.Thread(target=_sample, args=(process.pid, started, samples), daemon=True)
            sampler.start()
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        wall = time.perf_counter() - started
        if sampler is not None:
            sampler.join(timeout=2)
        if process.returncode != 0 or not result_path.exists():
            raise RuntimeError(
                f"bench.invoke {job['kind']} failed ({process.returncode}): {stderr.decode()[-3000:]}"
            )
        result = json.loads(result_path.read_text())
    return Outcome(result, wall, samples, stdout=stdout.decode() if stdout else "")


def _sample(pid: int, started: float, samples: list[tuple[float, int]]) -> None:
    psutil = importlib.import_module("psutil")  # untyped
    try:
        process = psutil.Process(pid)
        while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
            samples.append((time.perf_counter() - started, process.memory_info().rss))
            time.sleep(0.1)
    except psutil.Error:
        return


def run_handler(
    stack: Stack,
    *,
    settings: Mapping[str, str] | None = None,
    events: str = "real",
    timeout_seconds: float = 900.0,
    sample_rss: bool = False,
    py_spy_raw: Path | None = None,
    pyinstrument: Path | None = None,
    fast_timestamps: bool = False,
    trace_allocations: bool = False,
    capture_stdout: bool = False,
) -> Outcome:
    job: dict[str, Any] = {
        "kind": "handler",
        "env": handler_environment(stack, settings),
        "events": events,
        "timeout_seconds": timeout_seconds,
        "fast_timestamps": fast_timestamps,
        "tracemalloc": trace_allocations,
    }
    if pyinstrument is not None:
        job["pyinstrument"] = str(pyinstrument)
    outcome = run_child(job, sample_rss=sample_rss, py_spy_raw=py_spy_raw, capture_stdout=capture_stdout)
    if outcome.result.get("error") and "not delivered" not in str(outcome.result["error"]):
        raise RuntimeError(f"handler failed: {outcome.result['error']}")
    return outcome


def run_handler_chain(
    stack: Stack,
    *,
    settings: Mapping[str, str] | None = None,
    events: str = "real",
    timeout_seconds: float = 300.0,
    max_invocations: int = 1000,
    trace_after_archived: int | None = None,
    stop_after_trace: bool = False,
    py_spy_raw: Path | None = None,
    fast_timestamps: bool = False,
    record_events_to: Path | None = None,
) -> Outcome:
    """Back-to-back invocations in one warm process until a run completes (a backfill, tick after tick);
    with stop_after_trace, until the traced invocation (the first after trace_after_archived results).
    With record_events_to, the id of every event EventBridge accepted is appended to that file."""
    job: dict[str, Any] = {
        "kind": "handler_chain",
        "env": handler_environment(stack, settings),
        "events": events,
        "timeout_seconds": timeout_seconds,
        "max_invocations": max_invocations,
        "trace_after_archived": trace_after_archived,
        "stop_after_trace": stop_after_trace,
        "fast_timestamps": fast_timestamps,
        "record_events_to": str(record_events_to) if record_events_to else None,
    }
    outcome = run_child(job, py_spy_raw=py_spy_raw, timeout_s=7200.0)
    last = outcome.result["invocations"][-1]
    if last["report"].get("status") != "complete" and not (stop_after_trace and last.get("traced")):
        raise RuntimeError(
            f"backfill chain ended with {last['report'].get('status')} after "
            f"{len(outcome.result['invocations'])} invocations: {last.get('error')}"
        )
    return outcome


def run_floor(
    stack: Stack, *, fast_timestamps: bool = False, events: str | None = None, workers: int = 1
) -> Outcome:
    """The SDK floor; with events="after" or "concurrent", plus bare PutEvents of every failed summary."""
    job = {
        "kind": "floor",
        "env": stack.process_environment(),
        "fast_timestamps": fast_timestamps,
        "events": events,
        "bus_name": stack.bus_name,
        "detail_type": DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "workers": workers,
    }
    return run_child(job)


def run_wrangler(stack: Stack, *, prefix: str) -> Outcome:
    job = {"kind": "wrangler", "env": stack.process_environment(), "bucket": stack.bucket, "prefix": prefix}
    return run_child(job)


def state_snapshot(stack: Stack) -> dict[str, bytes | None]:
    """What a run starts from: the checkpoint and its known-ids object (with their bytes) and the keys of
    the archive objects (None: kept as they are)."""
    s3 = stack.client("s3")
    snapshot: dict[str, bytes | None] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=f"{ARCHIVE_PREFIX}/"
    ):
        for item in page.get("Contents", []):
            key = item["Key"]
            state = key.startswith(f"{ARCHIVE_PREFIX}/_state/")
            snapshot[key] = s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() if state else None
    return snapshot


def restore_state(stack: Stack, snapshot: dict[str, bytes | None]) -> None:
    """Back to the snapshot: its state objects rewritten, every object written since deleted (a run writes
    its keys only if they do not exist, so a rerun from an old checkpoint needs the archive as it was)."""
    s3 = stack.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=f"{ARCHIVE_PREFIX}/"
    ):
        for item in page.get("Contents", []):
            if item["Key"] not in snapshot:
                s3.delete_object(Bucket=stack.bucket, Key=item["Key"])
    for key, body in snapshot.items():
        if body is not None:
            s3.put_object(Bucket=stack.bucket, Key=key, Body=body)


def delete_prefix(stack: Stack, prefix: str) -> int:
    """Remove every object version under a prefix (so repeated runs start from the same bucket)."""
    s3 = stack.client("s3")
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket, Prefix=prefix):
        items = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(items), 1000):
            s3.delete_objects(
                Bucket=stack.bucket, Delete={"Objects": items[start : start + 1000], "Quiet": True}
            )
            deleted += len(items[start : start + 1000])
    return deleted


def purge_queue(stack: Stack) -> None:
    stack.client("sqs").purge_queue(QueueUrl=stack.queue_url)
