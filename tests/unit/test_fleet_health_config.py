"""Fleet-health config: validated at cold start, a bad or missing variable named."""

from __future__ import annotations

import pytest

from fleet_health.errors import ConfigError
from fleet_health.models.config import FleetHealthConfig
from hook_archive.errors import ConfigError as ArchiverConfigError
from hook_archive.models.config import ArchiverConfig

VALID = {
    "ARCHIVE_BUCKET": "central-archive",
    "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
    "POWERTOOLS_SERVICE_NAME": "cfn-hook-archive-central",
}


def test_defaults_are_the_archivers_prefix_and_three_hours() -> None:
    config = FleetHealthConfig.from_environ(VALID)
    assert (config.archive_prefix, config.stale_after_hours, config.stale_after_ms) == (
        "hook-results",
        3.0,
        3 * 3_600_000,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ARCHIVE_BUCKET", None),
        ("ARCHIVE_BUCKET", "Not_A_Bucket"),
        ("ARCHIVE_PREFIX", "/hook-results/"),
        ("STALE_AFTER_HOURS", "0"),
        ("STALE_AFTER_HOURS", "three"),
        ("POWERTOOLS_METRICS_NAMESPACE", None),
        ("POWERTOOLS_METRICS_NAMESPACE", "AWS/Lambda"),
        ("POWERTOOLS_SERVICE_NAME", None),
    ],
)
def test_a_bad_or_missing_variable_fails_the_cold_start_naming_it(variable: str, value: str | None) -> None:
    environ = {name: setting for name, setting in VALID.items() if name != variable}
    if value is not None:
        environ[variable] = value
    with pytest.raises(ConfigError, match=variable):
        FleetHealthConfig.from_environ(environ)


@pytest.mark.parametrize(
    ("bucket", "prefix"),
    [
        ("central-archive", "hook-results"),
        ("a.b-c", "org/hook-results"),
        ("x", "hook-results"),
        ("central..archive", "hook-results"),
        ("central-archive", "hook-results/"),
        ("central-archive", "a//b"),
        ("central-archive", "with space"),
    ],
)
def test_bucket_and_prefix_are_accepted_exactly_where_the_archiver_accepts_them(
    bucket: str, prefix: str
) -> None:
    fleet = archiver = True
    try:
        FleetHealthConfig.from_environ({**VALID, "ARCHIVE_BUCKET": bucket, "ARCHIVE_PREFIX": prefix})
    except ConfigError:
        fleet = False
    try:
        ArchiverConfig.from_environ(
            {"AWS_REGION": "us-east-1", "ARCHIVE_BUCKET": bucket, "ARCHIVE_PREFIX": prefix}
        )
    except ArchiverConfigError:
        archiver = False
    assert fleet == archiver
