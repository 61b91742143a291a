"""Unit tests are pure: any socket use is a bug."""

from __future__ import annotations

from pathlib import Path

import pytest

_UNIT_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected test of the session: mark only the ones in this folder.
    for item in items:
        if _UNIT_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.disable_socket)
