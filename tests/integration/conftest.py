"""Integration tier: the real handler against moto in server mode and the ListHookResults emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import LocalAws, local_aws
from emulation.hook_results_api import EmulatedHookResult
from emulation.synthetic_history import synthetic_history


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws(page_size=25) as stack:
        yield stack


@pytest.fixture
def archiver(aws: LocalAws) -> ArchiverHarness:
    return ArchiverHarness(aws)


def seed_history(
    aws: LocalAws, *, days: int = 10, per_day: int = 30, seed: int = 1, end: datetime | None = None
) -> list[EmulatedHookResult]:
    history = synthetic_history(
        end=end or datetime.now(UTC) - timedelta(hours=2), days=days, per_day=per_day, seed=seed
    )
    aws.emulator.add(*history)
    return history


def terminal_ids(aws: LocalAws) -> set[str]:
    """Ground truth: what the emulator reports as finished right now."""
    now = aws.emulator.clock()
    return {
        result.hook_result_id
        for result in (item.at(now) for item in aws.emulator.results())
        if result.status != "HOOK_IN_PROGRESS"
    }


def failed_ids(aws: LocalAws) -> set[str]:
    now = aws.emulator.clock()
    return {
        result.hook_result_id
        for result in (item.at(now) for item in aws.emulator.results())
        if result.status in {"HOOK_COMPLETE_FAILED", "HOOK_FAILED"}
    }
