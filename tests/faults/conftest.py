"""Fault tier: the real handler under injected failures, judged by reconciliation against ground truth.

One local AWS per module, reset between tests. The archiver's clock and the emulator's clock are the same
`SharedClock`, so leases, in-progress timeouts and InvokedAt all agree as tests move time forward.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import LocalAws, local_aws
from emulation.hook_results_api import EmulatedHookResult
from emulation.invariants import Reconciliation
from emulation.reconciliation import reconcile
from emulation.synthetic_history import synthetic_history
from tests.simulated_crash import SimulatedCrash as SimulatedCrash  # noqa: PLC0414  # the fault tests import it here


class SharedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + int(self.offset.total_seconds() * 1000)

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclasses.dataclass
class Rig:
    aws: LocalAws
    harness: ArchiverHarness
    clock: SharedClock
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def dependencies(self, wrap: Any = None) -> Any:
        deps = dataclasses.replace(self.harness.real_dependencies(), clock_ms=self.clock.now_ms)
        return wrap(deps) if wrap else deps

    def run(
        self, *, wrap: Any = None, timeout_seconds: float | None = None
    ) -> dict[str, Any] | BaseException:
        """One invocation; an error (or simulated crash) is returned, not raised."""
        try:
            return self.harness.run(dependencies=self.dependencies(wrap), timeout_seconds=timeout_seconds)
        except (Exception, SimulatedCrash) as error:  # the outcome is what the test inspects
            return error
        finally:
            self.events.extend(self.aws.receive_events())

    def seed(self, *, days: int = 3, per_day: int = 40, seed: int = 1) -> list[EmulatedHookResult]:
        history = synthetic_history(
            end=self.clock.now() - timedelta(hours=1), days=days, per_day=per_day, seed=seed
        )
        self.aws.emulator.add(*history)
        return history

    def settle(self, *, runs: int = 4) -> list[dict[str, Any] | BaseException]:
        """Faults off, every invocation finished, time moved past any lease, then clean runs."""
        self.aws.emulator.clear_faults()
        self.aws.proxy.clear_faults()
        now = self.clock.now()
        for result in self.aws.emulator.results():
            if result.at(now).status == "HOOK_IN_PROGRESS":
                self.aws.emulator.set_status(result.hook_result_id, "HOOK_COMPLETE_SUCCEEDED", "finished")
        outcomes = []
        for _ in range(runs):
            self.clock.advance(timedelta(minutes=20))
            outcomes.append(self.run())
        return outcomes

    def reconcile(self, **options: Any) -> Reconciliation:
        return reconcile(self.aws, self.harness, self.events, **options)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalAws]:
    with local_aws(page_size=25) as aws:
        yield aws


@pytest.fixture
def rig(stack: LocalAws) -> Rig:
    stack.reset()
    clock = SharedClock()
    stack.emulator.clock = clock.now
    harness = ArchiverHarness(stack, settings={"POWERTOOLS_LOG_LEVEL": "CRITICAL"})
    harness.runtime_environment.update(
        {
            "POWERTOOLS_METRICS_DISABLED": "true",
            # Fewer, faster retries keep the suite quick; they still exercise botocore's retry path.
            "API_RETRY_MODE": "standard",
            "API_MAX_ATTEMPTS": "3",
            "API_READ_TIMEOUT_SECONDS": "2",
        }
    )
    return Rig(stack, harness, clock)
