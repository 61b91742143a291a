"""How big each section runs: the full plan (`python -m bench`) and a smaller one (`--quick`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PAGE_SIZE = 100  # the emulator's default page of ListHookResults


@dataclass(frozen=True)
class Plan:
    mode: str
    backfill_results: int
    backfill_reps: int
    steady_history: int
    steady_new: tuple[int, ...]
    steady_reps: int
    shuffled_reps: int
    memory_sizes: tuple[int, ...]
    coldstart_reps: int
    query_days: int
    query_per_day: int
    cost_warm_ticks: int
    cost_ticks: int
    profile_results: int
    profile: bool = True


FULL = Plan(
    mode="full",
    backfill_results=200_000,
    backfill_reps=3,
    profile_results=50_000,
    steady_history=200_000,
    steady_new=(0, 10, 1_000, 10_000),
    steady_reps=3,
    shuffled_reps=1,
    memory_sizes=(250_000, 500_000, 1_000_000),
    coldstart_reps=7,
    query_days=30,
    query_per_day=5_000,
    cost_warm_ticks=3,
    cost_ticks=3,
)

QUICK = Plan(
    mode="quick",
    backfill_results=20_000,
    backfill_reps=2,
    profile_results=20_000,
    steady_history=20_000,
    steady_new=(0, 10, 1_000, 10_000),
    steady_reps=2,
    shuffled_reps=1,
    memory_sizes=(25_000, 50_000, 100_000),
    coldstart_reps=3,
    query_days=10,
    query_per_day=5_000,
    cost_warm_ticks=2,
    cost_ticks=2,
)


def product_default(field: str, default: object = None) -> object:
    """A setting's default as the product declares it (models/config.py), so the report never goes stale."""
    import sys  # noqa: PLC0415

    code = str(REPO_ROOT / "functions" / "archiver")
    if code not in sys.path:
        sys.path.insert(0, code)
    try:
        from hook_archive.models.config import ArchiverConfig  # noqa: PLC0415
    except ImportError:
        return default
    info = ArchiverConfig.model_fields.get(field)
    return default if info is None else info.default


def publisher_workers() -> int:
    """How many PutEvents calls the product's publisher keeps in flight (1 if it has no such knob)."""
    import inspect  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = str(REPO_ROOT / "functions" / "archiver")
    if code not in sys.path:
        sys.path.insert(0, code)
    try:
        from hook_archive.dal.event_publisher import EventBridgePublisher  # noqa: PLC0415
    except ImportError:
        return 1
    parameter = inspect.signature(EventBridgePublisher.__init__).parameters.get("workers")
    return int(parameter.default) if parameter is not None and isinstance(parameter.default, int) else 1


def budget_text() -> str:
    """MAX_EVENTS_PER_RUN's default, formatted (or 'unbounded' before the product had one)."""
    value = product_default("max_events_per_run")
    return f"{value:,}" if isinstance(value, int) else "unbounded"
