"""A seeded random schedule of ticks: arrivals (some late, some in progress), finishing invocations,
random faults, crashes and short budgets, then clean runs; the invariant must hold at the end.

SOAK_SEED and SOAK_TICKS change the schedule; a failure prints the seed so the case can be replayed."""

from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from emulation.synthetic_history import synthetic_results
from tests.faults.conftest import Rig, SimulatedCrash
from tests.faults.test_crash_points import StepCounter

SEED = int(os.environ.get("SOAK_SEED", "20261127"))
TICKS = int(os.environ.get("SOAK_TICKS", "200"))
LATE_WINDOW = timedelta(minutes=15)


def _data_put(call: Any) -> bool:
    return "/hook-results/dt" in call.path


def _checkpoint_put(call: Any) -> bool:
    return "/hook-results/_state/" in call.path


def inject_random_fault(rig: Rig, rng: random.Random) -> str:
    emulator, proxy = rig.aws.emulator, rig.aws.proxy
    choices: dict[str, Callable[[], object]] = {
        "throttle": lambda: emulator.inject(kind="throttle", times=rng.randint(1, 4)),
        "internal_error": lambda: emulator.inject(kind="internal_error", times=rng.randint(1, 3)),
        "unavailable": lambda: emulator.inject(kind="unavailable", times=1, after_calls=rng.randint(0, 2)),
        "reset": lambda: emulator.inject(kind="reset", times=1),
        "invalid_token": lambda: emulator.inject(kind="invalid_token", after_calls=rng.randint(0, 2)),
        "empty_page": lambda: emulator.inject(kind="empty_page_with_token", times=2),
        "repeat_token": lambda: emulator.inject(kind="repeat_token", after_calls=rng.randint(0, 2)),
        "duplicates": lambda: emulator.inject(kind="duplicate_items", times=None),
        "overlapping_pages": lambda: emulator.inject(kind="overlapping_pages", after_calls=rng.randint(0, 2)),
        "get_denied": lambda: emulator.inject(operation="GetHookResult", kind="access_denied", times=None),
        "s3_data_put": lambda: proxy.inject(
            "PutObject", "internal_error", match=_data_put, after_calls=rng.randint(0, 2), times=None
        ),
        "s3_slow_down": lambda: proxy.inject("PutObject", "slow_down", times=2),
        "checkpoint_put": lambda: proxy.inject(
            "PutObject", "internal_error", match=_checkpoint_put, after_calls=rng.randint(0, 1), times=None
        ),
        "conflict": lambda: proxy.inject("PutObject", "precondition_failed", match=_checkpoint_put),
        "events_down": lambda: proxy.inject("PutEvents", "internal_error", times=None),
        "events_partial": lambda: proxy.inject(
            "PutEvents", "partial_events", failed_entries={0: "ThrottlingException", 2: "InternalException"}
        ),
    }
    name = rng.choice(sorted(choices))
    choices[name]()
    return name


def test_soak_of_random_ticks_with_faults_ends_in_an_exact_archive(rig: Rig) -> None:
    rng = random.Random(SEED)
    rig.seed(days=5, per_day=24, seed=SEED % 1000)
    waiting: list[str] = []
    faults: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    number = 0
    for _ in range(TICKS):
        rig.clock.advance(timedelta(minutes=5))
        now = rig.clock.now()
        # Arrivals: most new, some late (older InvokedAt, still inside the late-arrival window).
        arrivals = []
        for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
            number += 1
            item = synthetic_results(start=now - timedelta(minutes=1), end=now, count=1, seed=SEED + number)[
                0
            ]
            if rng.random() < 0.2:
                item = dataclasses.replace(item, invoked_at=now - LATE_WINDOW * rng.uniform(0.1, 0.6))
            if rng.random() < 0.25:
                item = dataclasses.replace(item, status="HOOK_IN_PROGRESS", hook_status_reason=None)
                waiting.append(item.hook_result_id)
            arrivals.append(item)
        rig.aws.emulator.add(*arrivals)
        for hook_result_id in [item for item in waiting if rng.random() < 0.4]:
            rig.aws.emulator.set_status(
                hook_result_id, rng.choice(["HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_FAILED"]), "done"
            )
            waiting.remove(hook_result_id)
        rig.aws.emulator.clear_faults()
        rig.aws.proxy.clear_faults()
        if rng.random() < 0.3:
            faults[inject_random_fault(rig, rng)] += 1
        wrap = StepCounter(rng.randint(1, 12)).wrap if rng.random() < 0.05 else None
        outcome = rig.run(wrap=wrap, timeout_seconds=rng.choice([None, None, None, 1.5]))
        if isinstance(outcome, dict):
            outcomes[outcome["status"]] += 1
        else:
            outcomes["crash" if isinstance(outcome, SimulatedCrash) else type(outcome).__name__] += 1
    rig.settle(runs=4)
    reconciliation = rig.reconcile()
    assert reconciliation.ok, (
        f"SOAK_SEED={SEED} SOAK_TICKS={TICKS}: {reconciliation.summary()}\n"
        f"faults={dict(faults)} outcomes={dict(outcomes)}"
    )
    # The suite must really have been hostile, or it proves little.
    assert sum(faults.values()) >= TICKS // 5
    assert reconciliation.rows > 100
    print(  # the counts go into the closing report
        f"soak seed={SEED} ticks={TICKS} faults={sum(faults.values())} {dict(faults)} "
        f"outcomes={dict(outcomes)} "
        f"rows={reconciliation.rows} events={reconciliation.events}"
    )
