"""Tests of the local AWS itself (emulation/), not of the product.

Most are pure, so any socket use is a bug. Files marked `integration` (the ListHookResults emulator's own
tests) serve real HTTP on loopback, so they may connect to 127.0.0.1 and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_LOOPBACK = ["127.0.0.1"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE not in item.path.resolve().parents:
            continue
        if item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.disable_socket)
        else:
            item.add_marker(pytest.mark.allow_hosts(_LOOPBACK))
