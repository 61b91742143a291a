"""The handler as Lambda runs it: configuration from the environment at cold start, the real adapters
built from it (pointed at moto through AWS_ENDPOINT_URL), one call into the logic, the report returned."""

from __future__ import annotations

import importlib
import json
import sys
from datetime import date
from types import ModuleType

import pytest

from curator.errors import ConfigError
from emulation.aws_stack import REGION, LocalAws
from tests.curator.conftest import (
    ARCHIVE_PREFIX,
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_equals_raw,
)

pytestmark = pytest.mark.integration

HANDLER = "curator.handlers.curate"
DAY = date(2026, 3, 10)


class Context:
    function_name = "curator"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:curator"
    aws_request_id = "request-1"


def environment(aws: LocalAws) -> dict[str, str]:
    return {
        "ARCHIVE_BUCKET": aws.bucket,
        "ARCHIVE_PREFIX": ARCHIVE_PREFIX,
        "GLUE_DATABASE": DATABASE,
        "CURATED_TABLE": TABLE,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": aws.moto_url,
        "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
        "POWERTOOLS_SERVICE_NAME": "cfn-hook-archive",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def cold_start(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> ModuleType:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop(HANDLER, None)
    return importlib.import_module(HANDLER)


def test_cold_start_with_a_bad_variable_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, aws: LocalAws
) -> None:
    with pytest.raises(ConfigError, match="TARGET_FILE_MB"):
        cold_start(monkeypatch, {**environment(aws), "TARGET_FILE_MB": "0"})


def test_scheduled_tick_then_s3_notification_curate_the_raw_archive(
    monkeypatch: pytest.MonkeyPatch, aws: LocalAws, raw: RawArchiveWriter
) -> None:
    handler = cold_start(monkeypatch, environment(aws))
    raw.write_run({DAY: raw.results(DAY, 8)})
    tick = handler.lambda_handler({"source": "aws.events", "id": "tick-1"}, Context())
    assert tick["objects_added"] == 1
    (key,) = raw.write_run({DAY: raw.results(DAY, 4)})
    notification = {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": key}}}]}
    message = {"Records": [{"eventSource": "aws:sqs", "body": json.dumps(notification)}]}
    report = handler.lambda_handler(message, Context())
    assert report["objects_added"] == 1
    assert_curated_equals_raw(aws)
    location = aws.client("glue").get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]
    assert location["Parameters"]["table_type"].upper() == "ICEBERG"
    assert location["StorageDescriptor"]["Location"] == f"s3://{aws.bucket}/curated/{TABLE}"
