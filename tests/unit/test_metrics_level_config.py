"""METRICS_LEVEL: all by default (a single account keeps every metric), essential when a member sets it, and
anything else fails the cold start with a message naming the variable and the value."""

from __future__ import annotations

import re

import pytest

from hook_archive.errors import ConfigError
from hook_archive.models.config import ArchiverConfig

VALID_ENV = {"AWS_REGION": "eu-west-1", "ARCHIVE_BUCKET": "my-hook-archive"}


def test_without_metrics_level_every_metric_is_published() -> None:
    assert ArchiverConfig.from_environ(VALID_ENV).metrics_level == "all"


@pytest.mark.parametrize("level", ["all", "essential"])
def test_each_level_parses_from_its_name(level: str) -> None:
    assert ArchiverConfig.from_environ({**VALID_ENV, "METRICS_LEVEL": level}).metrics_level == level


@pytest.mark.parametrize("value", ["", "none", "ALL", "Essential", "essential ", "alarms", "1"])
def test_an_unknown_level_fails_the_cold_start_naming_the_variable_and_the_value(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ArchiverConfig.from_environ({**VALID_ENV, "METRICS_LEVEL": value})
    message = str(raised.value)
    assert "METRICS_LEVEL" in message
    assert f"(got {value!r})" in message
    assert re.search(r"'all'.*'essential'", message), message  # says what it accepts
