"""Functional tier: the real run_archive against in-memory fakes of its ports (tests/functional/fakes.py).
Pure and fast: any socket use is a bug."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected test of the session: mark only the ones in this folder.
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.disable_socket)
