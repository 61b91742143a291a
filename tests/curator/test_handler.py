"""The handler as Lambda runs it: configuration from the environment at cold start, the real adapters
built from it (pointed at moto through AWS_ENDPOINT_URL), one call into the logic, the report returned."""

from __future__ import annotations

import importlib
import json
import sys
from datetime import date
from types import ModuleType

import pytest

from curator.errors import ConfigError, CurationFailedError, RawArchiveError
from emulation.aws_stack import REGION, LocalAws
from tests.curator.conftest import (
    ANNOTATIONS,
    ARCHIVE_PREFIX,
    DATABASE,
    TABLE,
    RawArchiveWriter,
    assert_curated_annotations_equal_raw,
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


def test_one_tick_curates_both_tables_each_from_its_own_objects(
    monkeypatch: pytest.MonkeyPatch, aws: LocalAws, raw: RawArchiveWriter
) -> None:
    handler = cold_start(monkeypatch, environment(aws))
    failures = raw.results(DAY, 3)
    raw.write_run({DAY: failures})
    raw.write_annotations({DAY: raw.annotations(failures, per_result=2)})
    report = handler.lambda_handler({"source": "aws.events", "id": "tick-1"}, Context())
    # The results table's report at the top, the annotations table's beside it
    assert (report["objects_added"], report["rows_written"]) == (1, 3)
    assert (report["annotations"]["objects_added"], report["annotations"]["rows_written"]) == (1, 6)
    assert_curated_equals_raw(aws)
    assert_curated_annotations_equal_raw(aws)
    table = aws.client("glue").get_table(DatabaseName=DATABASE, Name=ANNOTATIONS)["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{aws.bucket}/curated/{ANNOTATIONS}"
    # A notification of a new annotation object brings its day into the annotations table only
    more = raw.results(DAY, 1)
    (key,) = raw.write_annotations({DAY: raw.annotations(more, per_result=4)})
    notification = {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": key}}}]}
    report = handler.lambda_handler(notification, Context())
    assert (report["objects_added"], report["annotations"]["objects_added"]) == (0, 1)
    assert_curated_annotations_equal_raw(aws)


def test_an_unreadable_raw_object_fails_the_run_naming_it_and_the_other_table_is_still_curated(
    monkeypatch: pytest.MonkeyPatch, aws: LocalAws, raw: RawArchiveWriter
) -> None:
    handler = cold_start(monkeypatch, environment(aws))
    failures = raw.results(DAY, 5)
    raw.write_run({DAY: failures})
    raw.write_annotations({DAY: raw.annotations(failures, per_result=2)})
    s3 = aws.client("s3")
    # An unreadable annotation object: the results are curated all the same
    bad = f"{ARCHIVE_PREFIX}/annotations/dt={DAY.isoformat()}/not-parquet.parquet"
    s3.put_object(Bucket=aws.bucket, Key=bad, Body=b"not parquet")
    with pytest.raises(RawArchiveError, match=r"annotations/dt=2026-03-10/not-parquet\.parquet"):
        handler.lambda_handler({"source": "aws.events", "id": "tick-1"}, Context())
    assert_curated_equals_raw(aws)
    s3.delete_object(Bucket=aws.bucket, Key=bad)
    # An unreadable results object: the annotations are curated all the same
    bad = f"{ARCHIVE_PREFIX}/dt={DAY.isoformat()}/not-parquet.parquet"
    s3.put_object(Bucket=aws.bucket, Key=bad, Body=b"not parquet")
    with pytest.raises(RawArchiveError, match=r"hook-results/dt=2026-03-10/not-parquet\.parquet"):
        handler.lambda_handler({"source": "aws.events", "id": "tick-2"}, Context())
    assert_curated_annotations_equal_raw(aws)
    # Both unreadable: one error names both
    s3.put_object(
        Bucket=aws.bucket, Key=f"{ARCHIVE_PREFIX}/annotations/dt={DAY.isoformat()}/x.parquet", Body=b"x"
    )
    with pytest.raises(
        CurationFailedError,
        match=r"the results table: RawArchiveError: .*; the annotations table: RawArchiveError",
    ):
        handler.lambda_handler({"source": "aws.events", "id": "tick-3"}, Context())
