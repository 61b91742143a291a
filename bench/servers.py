"""Out-of-process servers for the benchmarks: moto (S3, EventBridge, SQS) and the ListHookResults emulator.

Each runs in its own child process (multiprocessing, spawn), so the archiver process we measure shares
neither its GIL nor its memory with them. The parent talks to the emulator through a pipe of small
commands (seed, add, remove, order, call counts); the data is generated inside the emulator's process, so
a million results never cross the pipe.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, cast

from emulation.aws_stack import (
    CREDENTIALS,
    FAILURE_EVENT_DETAIL_TYPE,
    FAILURE_EVENT_SOURCE,
    REGION,
    endpoint_environment,
    loopback_client,
    provision,
)

EVENT_SOURCE = FAILURE_EVENT_SOURCE  # the source the measured handler publishes with, and the rule matches
DETAIL_TYPE = FAILURE_EVENT_DETAIL_TYPE
FAILED_STATUSES = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})  # the statuses that raise an event

_CONTEXT = mp.get_context("spawn")
_START_TIMEOUT_S = 60.0


# -- child processes -------------------------------------------------------------------------------


def _moto_main(conn: Connection) -> None:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415  # only in the child

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    conn.send(f"http://{host}:{port}")
    try:
        while True:
            command = conn.recv()
            if command == "stop":
                break
            if command == "rss":
                conn.send(_rss_bytes())
    except EOFError:
        pass
    finally:
        server.stop()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _emulator_main(conn: Connection, options: dict[str, Any]) -> None:
    from emulation.hook_results_api import HookResultsEmulator  # noqa: PLC0415

    emulator = HookResultsEmulator(**options)
    emulator.start()
    conn.send(emulator.endpoint_url)
    commands = _EmulatorCommands(emulator)
    try:
        while True:
            name, arguments = conn.recv()
            if name == "stop":
                break
            try:
                conn.send(("ok", commands.run(name, arguments)))
            except Exception as error:  # the parent re-raises it
                conn.send(("error", f"{type(error).__name__}: {error}"))
    except EOFError:
        pass
    finally:
        emulator.stop()


class _EmulatorCommands:
    """What the parent may ask of the emulator process; runs in that process."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.tags: dict[str, list[str]] = {}

    def run(self, name: str, arguments: dict[str, Any]) -> Any:
        handler = getattr(self, f"do_{name}", None)
        if handler is None:
            raise ValueError(f"unknown emulator command {name!r}")
        return handler(**arguments)

    def do_seed_history(self, *, keep: int | None = None, **arguments: Any) -> dict[str, Any]:
        from emulation.synthetic_history import synthetic_history  # noqa: PLC0415

        history = synthetic_history(**arguments)
        if keep is not None:
            history = history[-keep:]
        self.emulator.add(*history)
        return _span(history)

    def do_add_results(self, *, tag: str | None = None, **arguments: Any) -> dict[str, Any]:
        from emulation.synthetic_history import synthetic_results  # noqa: PLC0415

        results = synthetic_results(**arguments)
        self.emulator.add(*results)
        if tag is not None:
            self.tags.setdefault(tag, []).extend(r.hook_result_id for r in results)
        return _span(results)

    def do_remove_tag(self, *, tag: str) -> None:
        for hook_result_id in self.tags.pop(tag, []):
            self.emulator.remove(hook_result_id)

    def do_set(self, **settings: Any) -> None:
        for key, value in settings.items():
            setattr(self.emulator, key, value)

    def do_reset_calls(self) -> None:
        self.emulator.reset_calls()

    def do_call_count(self, *, operation: str | None = None) -> int:
        return int(self.emulator.call_count(operation))

    def do_terminal_statuses(self) -> dict[str, str]:
        """Ground truth for the invariant: every finished result the API serves, with its status."""
        now = self.emulator.clock()
        return {
            r.hook_result_id: r.at(now).status
            for r in self.emulator.results()
            if r.at(now).status != "HOOK_IN_PROGRESS"
        }

    def do_count_between(self, *, start: datetime, end: datetime) -> int:
        return sum(1 for r in self.emulator.results() if start <= r.invoked_at < end)

    def do_rss(self) -> int:
        return _rss_bytes()


def _span(results: list[Any]) -> dict[str, Any]:
    return {
        "count": len(results),
        "failures": sum(1 for r in results if r.status in FAILED_STATUSES),
        "oldest": results[0].invoked_at if results else None,
        "newest": results[-1].invoked_at if results else None,
    }


# -- parent-side handles ---------------------------------------------------------------------------


class RemoteEmulator:
    """The parent's handle on the emulator process (the same knobs as HookResultsEmulator)."""

    def __init__(self, process: Any, conn: Connection, endpoint_url: str) -> None:
        self._process = process
        self._conn = conn
        self.endpoint_url = endpoint_url

    def _call(self, name: str, **arguments: Any) -> Any:
        self._conn.send((name, arguments))
        status, reply = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"emulator {name}: {reply}")
        return reply

    def seed_history(
        self, *, end: datetime, days: int, per_day: int, seed: int, keep: int | None = None
    ) -> dict[str, Any]:
        """synthetic_history(...) in the emulator's process; keep only the newest `keep` if given."""
        return cast(
            dict[str, Any],
            self._call("seed_history", end=end, days=days, per_day=per_day, seed=seed, keep=keep),
        )

    def add_results(
        self, *, start: datetime, end: datetime, count: int, seed: int, tag: str | None = None
    ) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._call("add_results", start=start, end=end, count=count, seed=seed, tag=tag)
        )

    def remove_tag(self, tag: str) -> None:
        self._call("remove_tag", tag=tag)

    def configure(self, **settings: Any) -> None:
        """Set attributes, e.g. order="shuffled" or page_size=100."""
        self._call("set", **settings)

    def reset_calls(self) -> None:
        self._call("reset_calls")

    def call_count(self, operation: str | None = None) -> int:
        return int(self._call("call_count", operation=operation))

    def terminal_statuses(self) -> dict[str, str]:
        return cast(dict[str, str], self._call("terminal_statuses"))

    def count_between(self, start: datetime, end: datetime) -> int:
        """How many stored results were invoked in [start, end)."""
        return int(self._call("count_between", start=start, end=end))

    def rss_bytes(self) -> int:
        return int(self._call("rss"))

    def stop(self) -> None:
        with suppress(BrokenPipeError, OSError):
            self._conn.send(("stop", {}))
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)


@dataclass
class Stack:
    """moto + emulator, each in its own process, with the archiver's bucket, bus and queue provisioned."""

    moto_url: str
    emulator: RemoteEmulator
    bucket: str
    bus_name: str
    queue_url: str = ""
    dead_letter_queue_arn: str = ""  # provisioned as in emulation/aws_stack.py, never used here
    server_pids: dict[str, int] = field(default_factory=dict)  # "moto", "emulator"

    def server_cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system, all threads) each server process has used so far."""
        psutil = importlib.import_module("psutil")  # untyped
        return {name: sum(psutil.Process(pid).cpu_times()[:2]) for name, pid in self.server_pids.items()}

    def client(self, service: str) -> Any:
        return loopback_client(service, moto_url=self.moto_url, cloudformation_url=self.emulator.endpoint_url)

    def process_environment(self) -> dict[str, str]:
        """Standard boto3 variables that point every client at the servers (no fault proxy here)."""
        return endpoint_environment(aws_url=self.moto_url, cloudformation_url=self.emulator.endpoint_url)

    def provision(self, *, route_to_queue: bool) -> None:
        """What emulation/aws_stack.py provisions for the demo and tests, by the same function: a versioned
        bucket, a bus and a rule for the failure events; with route_to_queue, the rule delivers them into an
        SQS queue. Without it the rule has no target: EventBridge delivers asynchronously, so delivery is no
        part of the handler's cost, and moto's synchronous SQS delivery (its cost per event grows with the
        queue) would otherwise dominate every run.

        Only provisioning is shared: these servers are plain HTTP with no authorizer and no fault proxy
        (not emulation's local_aws), so what the bench measures is the handler against moto and the
        emulator, as before."""
        provision(self, route_to_queue=route_to_queue)


def _wait_ready(conn: Connection, process: Any, name: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not conn.poll(0.2):
        if not process.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start (exit code {process.exitcode})")


@contextmanager
def remote_stack(
    *,
    page_size: int = 100,
    order: str = "newest_first",
    seed: int = 0,
    bucket: str = "hook-archive-bench",
    bus_name: str = "hook-archive-bus",
    route_to_queue: bool = False,
) -> Iterator[Stack]:
    """Start moto and the emulator in child processes, provision the archiver's resources, stop both."""
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    moto_parent, moto_child = _CONTEXT.Pipe()
    moto_process = _CONTEXT.Process(target=_moto_main, args=(moto_child,), name="bench-moto", daemon=True)
    moto_process.start()
    emu_parent, emu_child = _CONTEXT.Pipe()
    options: dict[str, Any] = {"page_size": page_size, "order": order, "seed": seed}
    emu_process = _CONTEXT.Process(
        target=_emulator_main, args=(emu_child, options), name="bench-emulator", daemon=True
    )
    emu_process.start()
    emulator: RemoteEmulator | None = None
    try:
        _wait_ready(moto_parent, moto_process, "moto")
        _wait_ready(emu_parent, emu_process, "the emulator")
        moto_url = str(moto_parent.recv())
        emulator = RemoteEmulator(emu_process, emu_parent, str(emu_parent.recv()))
        reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310  # loopback
        urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310  # our own loopback URL
        pids = {"moto": moto_process.pid, "emulator": emu_process.pid}
        stack = Stack(moto_url, emulator, bucket, bus_name, server_pids={k: v for k, v in pids.items() if v})
        stack.provision(route_to_queue=route_to_queue)
        yield stack
    finally:
        if emulator is not None:
            emulator.stop()
        else:
            emu_process.terminate()
        with suppress(BrokenPipeError, OSError):
            moto_parent.send("stop")
        moto_process.join(timeout=10)
        if moto_process.is_alive():
            moto_process.terminate()
            moto_process.join(timeout=5)
