"""The failure events' client is made in the bus's region: EventBridge takes another account's bus by ARN
at that bus's regional endpoint only ("Cross-region api call is not allowed", ValidationException)."""

from __future__ import annotations

import pytest

from hook_archive.dal.aws_dependencies import AwsClients
from hook_archive.models.config import ArchiverConfig

CENTRAL_BUS = "arn:aws:events:us-east-1:111111111111:event-bus/hook-archive"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Clients are only made, never called: credentials keep botocore from looking for a role.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


def _config(bus: str, region: str = "eu-west-1") -> ArchiverConfig:
    return ArchiverConfig.from_environ(
        {"ARCHIVE_BUCKET": "central", "AWS_REGION": region, "EVENT_BUS_NAME": bus}
    )


def test_a_bus_named_by_arn_is_reached_in_the_arns_region() -> None:
    config = _config(CENTRAL_BUS)
    assert config.event_bus_region == "us-east-1"
    clients = AwsClients.create(config)
    assert clients.events.meta.region_name == "us-east-1"
    # Everything else stays in the function's region: its own hook results, its S3 client.
    assert clients.cloudformation.meta.region_name == "eu-west-1"
    assert clients.s3.meta.region_name == "eu-west-1"


def test_a_bus_named_by_name_is_the_functions_own_regions() -> None:
    config = _config("hook-archive")
    assert config.event_bus_region == "eu-west-1"
    assert AwsClients.create(config).events.meta.region_name == "eu-west-1"
