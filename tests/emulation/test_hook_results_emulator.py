"""The ListHookResults/GetHookResult emulator, exercised through real boto3 over loopback."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ListShape, Shape, StructureShape
from mypy_boto3_cloudformation import CloudFormationClient

from emulation.hook_results_api import EmulatedHookResult, HookResultsEmulator, api_summary
from emulation.query_protocol import (
    SerializationError,
    escape_text,
    format_timestamp,
    serialize_error,
    serialize_response,
)
from emulation.synthetic_history import HOOK_TYPES, synthetic_history, synthetic_results

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
GUARD_ARN = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:type/hook/MyOrg-Guard-S3Encryption"
LAMBDA_ARN = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:type/hook/MyOrg-Lambda-CostGuard"
STACK_ARN = (
    f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/payments-api-prod/0a1b2c3d-0000-4000-8000-000000000001"
)
CHANGE_SET_ARN = (
    f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/payments-api-prod-cs/"
    "0a1b2c3d-0000-4000-8000-0000000000cc"
)
CLOUD_CONTROL_REQUEST = "5c2a9e0d-7f3b-4c1e-9a8d-2b6f4e1c0d9a"
MODEL = botocore.session.get_session().get_service_model("cloudformation")


class Clock:
    """The emulator's clock, moved by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def hook_id(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def make_result(n: int, **changes: Any) -> EmulatedHookResult:
    fields: dict[str, Any] = {
        "hook_result_id": hook_id(n),
        "type_name": "MyOrg::Guard::S3Encryption",
        "type_arn": GUARD_ARN,
        "status": "HOOK_COMPLETE_SUCCEEDED",
        "invoked_at": NOW - timedelta(minutes=n),
        "target_type": "RESOURCE",
        "target_id": "ArtifactsBucket",
        "hook_execution_target": STACK_ARN,
        "hook_status_reason": "Template passed all Guard rules",
    }
    fields.update(changes)
    return EmulatedHookResult(**fields)


def client_for(emulator: HookResultsEmulator, **config: Any) -> CloudFormationClient:
    return boto3.client(
        "cloudformation",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - dummy credentials for loopback
        config=Config(**({"retries": {"mode": "standard", "total_max_attempts": 4}} | config)),
    )


def scan(cfn: CloudFormationClient, **filters: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every summary of a full NextToken scan, plus the raw pages."""
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {**filters, "NextToken": token} if token else filters
        page: dict[str, Any] = dict(cfn.list_hook_results(**kwargs))
        pages.append(page)
        token = page.get("NextToken")
        if token is None:
            return [s for p in pages for s in p["HookResults"]], pages
        assert len(pages) < 1000, "scan does not terminate"


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def error_type(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    """Sender or Receiver; botocore passes it through but its stubs do not declare it."""
    error: dict[str, Any] = dict(excinfo.value.response["Error"])
    return str(error["Type"])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[HookResultsEmulator]:
    with HookResultsEmulator(page_size=10, clock=clock) as em:
        yield em


@pytest.fixture
def cfn(emulator: HookResultsEmulator) -> CloudFormationClient:
    return client_for(emulator)


@pytest.fixture
def raw_cfn(emulator: HookResultsEmulator) -> CloudFormationClient:
    """A client that skips botocore's own parameter checks, so the server's checks are reached."""
    return client_for(emulator, parameter_validation=False)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retry decisions stay botocore's; only the sleeping between attempts is skipped.
    monkeypatch.setattr(
        "botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0.0
    )


@pytest.fixture
def mixed(emulator: HookResultsEmulator) -> list[EmulatedHookResult]:
    """Two hooks, several targets and statuses, with timestamp ties."""
    results = []
    for n in range(1, 61):
        lambda_hook = n % 3 == 0
        target_type, target_id, execution = [
            ("RESOURCE", "ArtifactsBucket", STACK_ARN),
            ("STACK", STACK_ARN, STACK_ARN),
            ("CHANGE_SET", CHANGE_SET_ARN, STACK_ARN),
            ("CLOUD_CONTROL", CLOUD_CONTROL_REQUEST, CLOUD_CONTROL_REQUEST),
        ][n % 4]
        results.append(
            make_result(
                n,
                type_name="MyOrg::Lambda::CostGuard" if lambda_hook else "MyOrg::Guard::S3Encryption",
                type_arn=LAMBDA_ARN if lambda_hook else GUARD_ARN,
                status="HOOK_COMPLETE_FAILED" if n % 5 == 0 else "HOOK_COMPLETE_SUCCEEDED",
                invoked_at=NOW - timedelta(minutes=n // 2),  # pairs share a timestamp
                target_type=target_type,
                target_id=target_id,
                hook_execution_target=execution,
            )
        )
    emulator.add(*results)
    return results


# -- paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["newest_first", "oldest_first", "shuffled", "grouped_by_hook"])
def test_paging_returns_every_visible_result_exactly_once_in_configured_order(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult], order: str
) -> None:
    emulator.order = order
    emulator.page_size = 7

    summaries, pages = scan(cfn)

    ids = [s["HookResultId"] for s in summaries]
    assert sorted(ids) == sorted(r.hook_result_id for r in mixed)
    assert len(ids) == len(set(ids))
    assert [len(p["HookResults"]) for p in pages] == [7] * 8 + [4]
    assert all("NextToken" in p for p in pages[:-1])
    assert "NextToken" not in pages[-1]
    keys = [(s["InvokedAt"], s["HookResultId"]) for s in summaries]
    if order == "newest_first":
        assert keys == sorted(keys, key=lambda k: (-k[0].timestamp(), k[1]))
    elif order == "oldest_first":
        assert keys == sorted(keys)
    elif order == "grouped_by_hook":
        grouped = [(s["TypeName"], -s["InvokedAt"].timestamp(), s["HookResultId"]) for s in summaries]
        assert grouped == sorted(grouped)
    else:
        assert keys != sorted(keys)
        assert keys != sorted(keys, reverse=True)


def test_shuffled_order_is_reproducible_for_a_seed(clock: Clock, mixed: list[EmulatedHookResult]) -> None:
    orders = []
    for _ in range(2):
        with HookResultsEmulator(order="shuffled", seed=42, clock=clock) as em:
            em.add(*mixed)
            orders.append([s["HookResultId"] for s in scan(client_for(em))[0]])
    assert orders[0] == orders[1]


def test_later_pages_come_from_the_first_call_snapshot_but_show_current_state(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    first = cfn.list_hook_results()
    seen = {s["HookResultId"] for s in first["HookResults"]}
    later = next(r for r in mixed if r.hook_result_id not in seen)
    emulator.set_status(later.hook_result_id, "HOOK_COMPLETE_FAILED", "changed mid-scan")
    emulator.add(make_result(500, invoked_at=NOW))  # newer than everything, arrives mid-scan

    rest: list[Any] = []
    token: str | None = first["NextToken"]
    while token:
        page = cfn.list_hook_results(NextToken=token)
        rest.extend(page["HookResults"])
        token = page.get("NextToken")

    by_id = {s["HookResultId"]: s for s in rest}
    assert hook_id(500) not in by_id
    assert by_id[later.hook_result_id]["Status"] == "HOOK_COMPLETE_FAILED"
    assert by_id[later.hook_result_id]["HookStatusReason"] == "changed mid-scan"
    assert len(seen) + len(rest) == len(mixed)
    assert hook_id(500) in {s["HookResultId"] for s in scan(cfn)[0]}


def test_a_token_can_be_presented_again_after_a_lost_response(
    cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    token = cfn.list_hook_results()["NextToken"]
    again = [cfn.list_hook_results(NextToken=token)["HookResults"] for _ in range(2)]
    assert again[0] == again[1]


def test_thousand_item_pages_under_concurrent_scans(emulator: HookResultsEmulator, clock: Clock) -> None:
    emulator.add(*synthetic_results(start=NOW - timedelta(days=1), end=NOW, count=2500, seed=3))
    emulator.page_size = 1000
    outcomes: list[list[str]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            outcomes.append([s["HookResultId"] for s in scan(client_for(emulator))[0]])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(outcomes) == 6
    for ids in outcomes:
        assert len(ids) == len(set(ids)) == 2500


# -- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"Status": "HOOK_FAILED"}, id="status-without-type-arn"),
        pytest.param({"TargetType": "CHANGE_SET"}, id="target-type-alone"),
        pytest.param({"TargetId": CHANGE_SET_ARN}, id="target-id-alone"),
        pytest.param(
            {"TargetType": "CHANGE_SET", "TargetId": CHANGE_SET_ARN, "TypeArn": GUARD_ARN},
            id="target-with-type-arn",
        ),
        pytest.param(
            {
                "TargetType": "CHANGE_SET",
                "TargetId": CHANGE_SET_ARN,
                "TypeArn": GUARD_ARN,
                "Status": "HOOK_FAILED",
            },
            id="target-with-type-arn-and-status",
        ),
        pytest.param(
            {"TargetType": "CHANGE_SET", "TargetId": CHANGE_SET_ARN, "Status": "HOOK_FAILED"},
            id="target-with-status",
        ),
        pytest.param({"TargetType": "STACK", "TargetId": STACK_ARN}, id="stack-target-filter"),
        pytest.param({"TargetType": "RESOURCE", "TargetId": "ArtifactsBucket"}, id="resource-target-filter"),
        pytest.param({"TargetType": "STACKSET", "TargetId": STACK_ARN}, id="target-type-enum"),
        pytest.param({"TypeArn": GUARD_ARN, "Status": "HOOK_DONE"}, id="status-enum"),
        pytest.param({"TypeArn": GUARD_ARN + "a" * 1000}, id="type-arn-too-long"),
        pytest.param({"TypeArn": "MyOrg::Guard::S3Encryption"}, id="type-arn-pattern"),
        pytest.param({"TargetType": "CHANGE_SET", "TargetId": "arn:" + "a" * 1600}, id="target-id-too-long"),
        pytest.param({"TargetType": "CHANGE_SET", "TargetId": ""}, id="target-id-empty"),
        pytest.param({"NextToken": "t" * 1025}, id="next-token-too-long"),
        pytest.param({"NextToken": ""}, id="next-token-empty"),
    ],
)
def test_every_documented_invalid_parameter_combination_is_rejected(
    raw_cfn: CloudFormationClient, emulator: HookResultsEmulator, params: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as excinfo:
        raw_cfn.list_hook_results(**params)
    assert error_code(excinfo) == "ValidationError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert excinfo.value.response["Error"]["Message"]
    assert emulator.calls[-1].error_code == "ValidationError"


def test_valid_parameter_combinations_really_filter(
    cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    def ids(summaries: list[dict[str, Any]]) -> set[str]:
        return {s["HookResultId"] for s in summaries}

    assert ids(scan(cfn)[0]) == {r.hook_result_id for r in mixed}
    assert ids(scan(cfn, TypeArn=LAMBDA_ARN)[0]) == {
        r.hook_result_id for r in mixed if r.type_arn == LAMBDA_ARN
    }
    failed_lambda = {
        r.hook_result_id for r in mixed if r.type_arn == LAMBDA_ARN and r.status == "HOOK_COMPLETE_FAILED"
    }
    assert failed_lambda
    assert ids(scan(cfn, TypeArn=LAMBDA_ARN, Status="HOOK_COMPLETE_FAILED")[0]) == failed_lambda
    for target_type, target_id in [("CHANGE_SET", CHANGE_SET_ARN), ("CLOUD_CONTROL", CLOUD_CONTROL_REQUEST)]:
        expected = {r.hook_result_id for r in mixed if r.target_type == target_type}
        assert expected
        assert ids(scan(cfn, TargetType=target_type, TargetId=target_id)[0]) == expected


def test_target_filter_omits_invoked_at_and_execution_target_and_echoes_the_target(
    cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    page = cfn.list_hook_results(TargetType="CHANGE_SET", TargetId=CHANGE_SET_ARN)

    assert page["TargetType"] == "CHANGE_SET"
    assert page["TargetId"] == CHANGE_SET_ARN
    assert page["HookResults"]
    for summary in page["HookResults"]:
        assert "InvokedAt" not in summary
        assert "HookExecutionTarget" not in summary
        assert summary["TargetId"] == CHANGE_SET_ARN
    unfiltered = cfn.list_hook_results()
    assert "TargetType" not in unfiltered
    assert all("InvokedAt" in s and "HookExecutionTarget" in s for s in unfiltered["HookResults"])


# -- tokens -----------------------------------------------------------------------------------


def test_unknown_token_is_rejected(cfn: CloudFormationClient, mixed: list[EmulatedHookResult]) -> None:
    with pytest.raises(ClientError) as excinfo:
        cfn.list_hook_results(NextToken="bm90LWEtdG9rZW4")
    assert error_code(excinfo) == "ValidationError"
    assert "NextToken" in excinfo.value.response["Error"]["Message"]


def test_token_reused_with_different_filters_is_rejected(
    cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    token = cfn.list_hook_results()["NextToken"]
    with pytest.raises(ClientError) as excinfo:
        cfn.list_hook_results(TypeArn=GUARD_ARN, NextToken=token)
    assert error_code(excinfo) == "ValidationError"
    assert "NextToken" in excinfo.value.response["Error"]["Message"]


def test_expired_token_is_rejected(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, clock: Clock, mixed: list[EmulatedHookResult]
) -> None:
    emulator.token_ttl = timedelta(minutes=15)
    token = cfn.list_hook_results()["NextToken"]
    clock.advance(timedelta(minutes=14))
    cfn.list_hook_results(NextToken=token)
    clock.advance(timedelta(minutes=2))
    with pytest.raises(ClientError) as excinfo:
        cfn.list_hook_results(NextToken=token)
    assert error_code(excinfo) == "ValidationError"
    assert "expired" in excinfo.value.response["Error"]["Message"]


# -- GetHookResult --------------------------------------------------------------------------------


def test_get_hook_result_returns_annotations_and_target(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    annotations = [
        {
            "AnnotationName": "S3_BUCKET_SSE_ENABLED",
            "Status": "FAILED",
            "StatusMessage": "Bucket ArtifactsBucket does not enable default server-side encryption",
            "RemediationMessage": "Set BucketEncryption.ServerSideEncryptionConfiguration.",
            "RemediationLink": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-bucket-encryption.html",
            "SeverityLevel": "HIGH",
        },
        {"AnnotationName": "S3_BUCKET_VERSIONING_ENABLED", "Status": "PASSED"},
    ]
    target = {
        "TargetType": "RESOURCE",
        "TargetTypeName": "AWS::S3::Bucket",
        "TargetId": "ArtifactsBucket",
        "Action": "CREATE",
    }
    emulator.add(
        make_result(
            1,
            status="HOOK_COMPLETE_FAILED",
            hook_status_reason="1 rule(s) failed",
            original_type_name="AWSSamples::S3BucketEncrypt::Hook",
            annotations=annotations,
            target=target,
            invoked_at=NOW - timedelta(microseconds=1),
        )
    )

    got = cfn.get_hook_result(HookResultId=hook_id(1))

    assert got["Annotations"] == annotations
    assert got["Target"] == target
    assert got["HookResultId"] == hook_id(1)
    assert got["OriginalTypeName"] == "AWSSamples::S3BucketEncrypt::Hook"
    assert got["InvokedAt"] == NOW - timedelta(microseconds=1)
    assert got["InvocationPoint"] == "PRE_PROVISION"
    assert got["FailureMode"] == "FAIL"
    assert got["TypeArn"] == GUARD_ARN


def test_unknown_hook_result_id_is_hook_result_not_found(cfn: CloudFormationClient) -> None:
    with pytest.raises(cfn.exceptions.HookResultNotFoundException) as excinfo:
        cfn.get_hook_result(HookResultId=hook_id(999))
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error_type(excinfo) == "Sender"


@pytest.mark.parametrize("params", [{"HookResultId": "abc"}, {"HookResultId": hook_id(0xABCDEF).upper()}, {}])
def test_malformed_or_missing_hook_result_id_is_a_validation_error(
    raw_cfn: CloudFormationClient, emulator: HookResultsEmulator, params: dict[str, Any]
) -> None:
    emulator.add(make_result(1))
    with pytest.raises(ClientError) as excinfo:
        raw_cfn.get_hook_result(**params)
    assert error_code(excinfo) == "ValidationError"


# -- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["throttle", "internal_error", "unavailable", "reset"])
@pytest.mark.usefixtures("no_backoff")
def test_transient_faults_are_retried_by_botocore_and_succeed(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult], kind: Any
) -> None:
    fault = emulator.inject(operation="ListHookResults", kind=kind, times=2)

    page = cfn.list_hook_results()

    assert len(page["HookResults"]) == 10
    assert page["ResponseMetadata"]["RetryAttempts"] == 2
    assert fault.fired == 2
    assert emulator.call_count("ListHookResults") == 3
    assert [c.fault for c in emulator.calls] == [kind, kind, None]


def test_fault_error_codes_and_statuses_match_aws(
    emulator: HookResultsEmulator, mixed: list[EmulatedHookResult]
) -> None:
    no_retry = client_for(emulator, retries={"mode": "standard", "total_max_attempts": 1})
    expected = {
        "throttle": (400, "Throttling", "Sender"),
        "internal_error": (500, "InternalFailure", "Receiver"),
        "unavailable": (503, "ServiceUnavailable", "Receiver"),
    }
    for kind, (status, code, fault_type) in expected.items():
        emulator.inject(kind=kind)  # type: ignore[arg-type]
        with pytest.raises(ClientError) as excinfo:
            no_retry.list_hook_results()
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert excinfo.value.response["Error"]["Code"] == code
        assert error_type(excinfo) == fault_type


def test_access_denied_surfaces_as_client_error(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    emulator.add(make_result(1))
    emulator.inject(operation="GetHookResult", kind="access_denied")

    with pytest.raises(ClientError) as excinfo:
        cfn.get_hook_result(HookResultId=hook_id(1))

    assert error_code(excinfo) == "AccessDenied"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "kms:Decrypt" in excinfo.value.response["Error"]["Message"]
    assert emulator.call_count("GetHookResult") == 1  # not retried
    assert cfn.get_hook_result(HookResultId=hook_id(1))["HookResultId"] == hook_id(1)


def test_not_found_fault_hides_an_existing_result_once(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    emulator.add(make_result(1))
    emulator.inject(operation="GetHookResult", kind="not_found")
    with pytest.raises(cfn.exceptions.HookResultNotFoundException):
        cfn.get_hook_result(HookResultId=hook_id(1))
    assert cfn.get_hook_result(HookResultId=hook_id(1))["HookResultId"] == hook_id(1)


def test_invalid_token_fault_kills_the_presented_token(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    emulator.inject(kind="invalid_token")
    first = cfn.list_hook_results()  # no token presented: the fault waits
    with pytest.raises(ClientError) as excinfo:
        cfn.list_hook_results(NextToken=first["NextToken"])
    assert error_code(excinfo) == "ValidationError"
    with pytest.raises(ClientError):
        cfn.list_hook_results(NextToken=first["NextToken"])
    assert len(scan(cfn)[0]) == len(mixed)


def test_repeat_token_fault_returns_the_presented_token(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    first = cfn.list_hook_results()
    emulator.inject(kind="repeat_token")

    second = cfn.list_hook_results(NextToken=first["NextToken"])
    again = cfn.list_hook_results(NextToken=second["NextToken"])

    assert second["NextToken"] == first["NextToken"]
    assert again["HookResults"] == second["HookResults"]
    assert again["NextToken"] != first["NextToken"]


def test_empty_page_with_token_continues_the_scan(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    emulator.inject(kind="empty_page_with_token", after_calls=2, times=2)

    summaries, pages = scan(cfn)

    assert [len(p["HookResults"]) for p in pages].count(0) == 2
    assert all("NextToken" in p for p in pages if not p["HookResults"])
    assert sorted(s["HookResultId"] for s in summaries) == sorted(r.hook_result_id for r in mixed)


def test_duplicate_items_fault_repeats_items_within_a_page(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    emulator.inject(kind="duplicate_items")
    ids = [s["HookResultId"] for s in cfn.list_hook_results()["HookResults"]]
    assert len(ids) > len(set(ids)) == 10


def test_slow_fault_delays_the_answer(emulator: HookResultsEmulator, cfn: CloudFormationClient) -> None:
    emulator.add(make_result(1))
    emulator.inject(operation="GetHookResult", kind="slow", delay=0.3)
    started = time.monotonic()
    cfn.get_hook_result(HookResultId=hook_id(1))
    assert time.monotonic() - started >= 0.3


@pytest.mark.usefixtures("no_backoff")
def test_faults_honour_after_calls_times_and_forever(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, mixed: list[EmulatedHookResult]
) -> None:
    emulator.inject(kind="throttle", after_calls=2, times=1)
    for _ in range(3):
        cfn.list_hook_results()
    assert [c.status for c in emulator.calls] == [200, 200, 400, 200]

    emulator.reset_calls()
    emulator.inject(operation=None, kind="internal_error", times=None)
    with pytest.raises(ClientError):
        cfn.get_hook_result(HookResultId=hook_id(1))
    assert emulator.call_count("GetHookResult") == 4  # total_max_attempts
    emulator.clear_faults()
    assert cfn.get_hook_result(HookResultId=hook_id(1))["HookResultId"] == hook_id(1)


def test_fault_probability_is_seeded(mixed: list[EmulatedHookResult], clock: Clock) -> None:
    patterns = []
    for _ in range(2):
        with HookResultsEmulator(seed=9, clock=clock) as em:
            em.add(*mixed)
            em.inject(kind="throttle", times=None, probability=0.5)
            no_retry = client_for(em, retries={"mode": "standard", "total_max_attempts": 1})
            for _ in range(20):
                with contextlib.suppress(ClientError):
                    no_retry.list_hook_results()
            patterns.append([c.status for c in em.calls])
    assert patterns[0] == patterns[1]
    assert 200 in patterns[0]
    assert 400 in patterns[0]


def test_fault_schedule_rejects_what_it_cannot_do(emulator: HookResultsEmulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        emulator.inject(kind="teapot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ListHookResults pages"):
        emulator.inject(operation="GetHookResult", kind="repeat_token")
    with pytest.raises(ValueError, match="unknown operation"):
        emulator.inject(operation="DescribeStacks", kind="throttle")


# -- time -----------------------------------------------------------------------------------------


def test_in_progress_result_reports_its_final_status_after_completes_at(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, clock: Clock
) -> None:
    emulator.add(
        make_result(
            1,
            status="HOOK_IN_PROGRESS",
            hook_status_reason=None,
            completes_at=NOW + timedelta(minutes=5),
            final_status="HOOK_COMPLETE_FAILED",
            final_reason="1 rule(s) failed",
        )
    )
    in_progress = cfn.list_hook_results(TypeArn=GUARD_ARN, Status="HOOK_IN_PROGRESS")["HookResults"]
    assert [s["HookResultId"] for s in in_progress] == [hook_id(1)]
    assert cfn.get_hook_result(HookResultId=hook_id(1))["Status"] == "HOOK_IN_PROGRESS"

    clock.advance(timedelta(minutes=5))

    listed = cfn.list_hook_results()["HookResults"][0]
    got = cfn.get_hook_result(HookResultId=hook_id(1))
    assert (listed["Status"], listed["HookStatusReason"]) == ("HOOK_COMPLETE_FAILED", "1 rule(s) failed")
    assert (got["Status"], got["HookStatusReason"]) == ("HOOK_COMPLETE_FAILED", "1 rule(s) failed")
    assert cfn.list_hook_results(TypeArn=GUARD_ARN, Status="HOOK_IN_PROGRESS")["HookResults"] == []
    stored = emulator.get(hook_id(1))
    assert stored is not None
    assert stored.status == "HOOK_COMPLETE_FAILED"


def test_visible_from_hides_a_result_until_then(
    emulator: HookResultsEmulator, cfn: CloudFormationClient, clock: Clock
) -> None:
    emulator.add(make_result(1, visible_from=NOW + timedelta(minutes=3)), make_result(2))
    assert [s["HookResultId"] for s in scan(cfn)[0]] == [hook_id(2)]
    with pytest.raises(cfn.exceptions.HookResultNotFoundException):
        cfn.get_hook_result(HookResultId=hook_id(1))

    clock.advance(timedelta(minutes=3))

    assert [s["HookResultId"] for s in scan(cfn)[0]] == [hook_id(1), hook_id(2)]
    assert cfn.get_hook_result(HookResultId=hook_id(1))["HookResultId"] == hook_id(1)


def test_retention_hides_results_older_than_90_days(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    emulator.add(
        make_result(1, invoked_at=NOW - timedelta(days=89, hours=23)),
        make_result(2, invoked_at=NOW - timedelta(days=90, seconds=1)),
    )
    assert [s["HookResultId"] for s in scan(cfn)[0]] == [hook_id(1)]
    with pytest.raises(cfn.exceptions.HookResultNotFoundException):
        cfn.get_hook_result(HookResultId=hook_id(2))


# -- fidelity of values -----------------------------------------------------------------------------


def test_unknown_enum_values_and_omitted_optional_fields_pass_through_boto3(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    omitted = frozenset({"HookStatusReason", "TypeConfigurationVersionId", "Target", "Annotations"})
    emulator.add(
        make_result(1, status="HOOK_SOMETHING_NEW", failure_mode="BLOCK_LATER", omitted_fields=omitted),
    )

    summary = cfn.list_hook_results()["HookResults"][0]
    got = cfn.get_hook_result(HookResultId=hook_id(1))

    # The stubs type these as known enums; the wire carries whatever the service sends.
    assert str(summary["Status"]) == str(got["Status"]) == "HOOK_SOMETHING_NEW"
    assert str(summary["FailureMode"]) == str(got["FailureMode"]) == "BLOCK_LATER"
    for name in omitted:
        assert name not in summary
        assert name not in got
    assert got["TypeVersionId"] == "00000001"


def test_xml_special_and_unicode_strings_round_trip_through_boto3(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    reason = "<Guard> & \"quotes\" 'apos' ]]> ünïcødé 漢字 😀\r\n\ttabbed"
    annotation = {"AnnotationName": "R&D <rule>", "Status": "FAILED", "StatusMessage": reason}
    emulator.add(make_result(1, hook_status_reason=reason, annotations=[annotation]))

    assert cfn.list_hook_results()["HookResults"][0]["HookStatusReason"] == reason
    got = cfn.get_hook_result(HookResultId=hook_id(1))
    assert got["HookStatusReason"] == reason
    assert got["Annotations"] == [annotation]


def test_sub_millisecond_timestamps_round_trip(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    invoked = datetime(2026, 11, 27, 0, 0, 0, 123456, tzinfo=UTC)
    emulator.add(make_result(1, invoked_at=invoked))
    assert cfn.list_hook_results()["HookResults"][0]["InvokedAt"] == invoked


# -- serializer ----------------------------------------------------------------------------------


def _list_output() -> StructureShape:
    shape = MODEL.operation_model("ListHookResults").output_shape
    assert isinstance(shape, StructureShape)
    return shape


def test_serializer_rejects_a_member_the_model_does_not_define() -> None:
    shape = _list_output()
    with pytest.raises(SerializationError, match="HookResultSummary does not define"):
        serialize_response(
            "ListHookResults", shape, {"HookResults": [{"HookId": hook_id(1)}]}, request_id="r"
        )
    with pytest.raises(SerializationError, match="ListHookResultsOutput does not define"):
        serialize_response("ListHookResults", shape, {"Results": []}, request_id="r")


def test_emulator_refuses_data_the_model_cannot_carry(emulator: HookResultsEmulator) -> None:
    with pytest.raises(ValueError, match="Annotation members"):
        emulator.add(make_result(1, annotations=[{"Rule": "S3_BUCKET_SSE_ENABLED"}]))
    with pytest.raises(ValueError, match="HookTarget members"):
        emulator.add(make_result(1, target={"ResourceType": "AWS::S3::Bucket"}))
    with pytest.raises(ValueError, match="omitted_fields"):
        emulator.add(make_result(1, omitted_fields=frozenset({"Reason"})))
    with pytest.raises(ValueError, match="timezone-aware"):
        emulator.add(make_result(1, invoked_at=datetime(2026, 1, 1)))  # noqa: DTZ001 - naive on purpose
    assert emulator.results() == []


def test_serializer_follows_model_order_and_omits_none() -> None:
    document = serialize_response(
        "ListHookResults",
        _list_output(),
        {
            "NextToken": "tok",
            "HookResults": [{"TypeArn": GUARD_ARN, "HookResultId": hook_id(1), "Status": None}],
        },
        request_id="req-1",
    )
    assert document == (
        '<ListHookResultsResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
        "<ListHookResultsResult><HookResults><member>"
        f"<HookResultId>{hook_id(1)}</HookResultId><TypeArn>{GUARD_ARN}</TypeArn>"
        "</member></HookResults><NextToken>tok</NextToken></ListHookResultsResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></ListHookResultsResponse>"
    )


def test_serializer_refuses_values_xml_or_the_shape_cannot_carry() -> None:
    shape = _list_output()
    with pytest.raises(SerializationError, match="naive"):
        serialize_response(
            "ListHookResults",
            shape,
            {"HookResults": [{"InvokedAt": datetime(2026, 1, 1)}]},  # noqa: DTZ001 - naive on purpose
            request_id="r",
        )
    with pytest.raises(SerializationError, match=r"XML 1\.0"):
        escape_text("bell \x07")
    with pytest.raises(SerializationError, match="cannot hold"):
        serialize_response("ListHookResults", shape, {"NextToken": 5}, request_id="r")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 27, tzinfo=UTC), "2026-11-27T00:00:00Z"),
        (datetime(2026, 11, 27, 0, 0, 0, 123000, tzinfo=UTC), "2026-11-27T00:00:00.123Z"),
        (datetime(2026, 11, 27, 0, 0, 0, 123456, tzinfo=UTC), "2026-11-27T00:00:00.123456Z"),
        (datetime(2026, 11, 27, 1, 0, tzinfo=UTC) + timedelta(hours=0), "2026-11-27T01:00:00Z"),
    ],
)
def test_timestamps_are_iso8601_utc(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
    assert format_timestamp(value.astimezone(datetime.now().astimezone().tzinfo)) == text


def test_error_document_shape() -> None:
    assert serialize_error(
        code="Throttling", message="Rate <exceeded>", sender_fault=True, request_id="r"
    ) == (
        '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
        "<Code>Throttling</Code><Message>Rate &lt;exceeded&gt;</Message></Error>"
        "<RequestId>r</RequestId></ErrorResponse>"
    )


def test_a_thousand_item_page_serialises_well_under_50_ms() -> None:
    results = synthetic_results(start=NOW - timedelta(hours=1), end=NOW, count=1000, seed=1)
    page = {
        "HookResults": [api_summary(r) for r in results],
        "NextToken": "t",
    }
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        serialize_response("ListHookResults", _list_output(), page, request_id="r")
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.05


# -- protocol envelope ----------------------------------------------------------------------------


def _post(url: str, body: str, headers: Mapping[str, str]) -> tuple[int, str, Mapping[str, str]]:
    request = urllib.request.Request(url, data=body.encode(), headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_protocol_envelope_requires_auth_and_a_known_action(emulator: HookResultsEmulator) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body, _ = _post(emulator.endpoint_url, "Action=ListHookResults&Version=2010-05-15", form)
    assert (status, "MissingAuthenticationToken" in body) == (403, True)

    signed = {
        **form,
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261127/us-east-1/cloudformation/aws4_request",
    }
    status, body, _ = _post(emulator.endpoint_url, "Action=DescribeStacks&Version=2010-05-15", signed)
    assert (status, "<Code>InvalidAction</Code>" in body) == (400, True)

    status, body, headers = _post(emulator.endpoint_url, "Action=ListHookResults&Version=2010-05-15", signed)
    assert status == 200
    assert headers["Content-Type"] == "text/xml"
    request_id = re.search(r"<RequestId>([^<]+)</RequestId>", body)
    assert request_id is not None
    assert headers["x-amzn-RequestId"] == request_id.group(1)


def test_endpoint_can_come_from_the_environment(
    emulator: HookResultsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", emulator.endpoint_url)
    emulator.add(make_result(1))
    cfn = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - dummy credentials for loopback
    )
    assert cfn.get_hook_result(HookResultId=hook_id(1))["HookResultId"] == hook_id(1)


# -- synthetic history --------------------------------------------------------------------------------


def test_synthetic_history_is_deterministic_for_a_seed() -> None:
    first = synthetic_history(end=NOW, days=3, per_day=40, seed=7, in_progress_share=0.1)
    assert first == synthetic_history(end=NOW, days=3, per_day=40, seed=7, in_progress_share=0.1)
    assert first != synthetic_history(end=NOW, days=3, per_day=40, seed=8, in_progress_share=0.1)


def test_synthetic_history_has_the_promised_mix() -> None:
    history = synthetic_history(end=NOW, days=10, per_day=200, seed=1)

    assert len(history) == 2000
    assert all(NOW - timedelta(days=10) <= r.invoked_at < NOW for r in history)
    assert [r.invoked_at for r in history] == sorted(r.invoked_at for r in history)
    ids = [r.hook_result_id for r in history]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 and len(i) == 36 for i in ids)
    statuses = Counter(r.status for r in history)
    assert 0.10 <= statuses["HOOK_COMPLETE_FAILED"] / len(history) <= 0.20
    assert statuses["HOOK_FAILED"] > 0
    assert statuses["HOOK_COMPLETE_SUCCEEDED"] > len(history) / 2
    assert {r.target_type for r in history} == {"STACK", "RESOURCE", "CHANGE_SET", "CLOUD_CONTROL"}
    assert {r.failure_mode for r in history} == {"FAIL", "WARN"}
    names = {r.type_name for r in history}
    assert {"MyOrg::Guard::S3Encryption", "MyOrg::Lambda::CostGuard", "AWS::ControlTower::Hook"} <= names
    control_tower = next(r for r in history if r.type_name == "AWS::ControlTower::Hook")
    assert ":cloudformation:us-east-1::type/hook/" in control_tower.type_arn
    for r in history:
        if r.status == "HOOK_COMPLETE_FAILED":
            failed = [a for a in r.annotations if a["Status"] == "FAILED"]
            assert failed
            assert all(a["RemediationLink"].startswith("https://") and a["SeverityLevel"] for a in failed)
        if r.target_type == "RESOURCE":
            assert r.target is not None
            assert r.target["Action"] in {"CREATE", "UPDATE", "DELETE"}
            assert r.hook_execution_target.startswith(f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/")
    assert {h.type_name for h in HOOK_TYPES} == names


def _conformance_errors(shape: Shape, value: Any, path: str) -> list[str]:
    """Every way ``value`` breaks the model's enum, length and pattern constraints."""
    if isinstance(shape, StructureShape):
        errors = [f"{path}: missing {m}" for m in shape.required_members if m not in value]
        for key, member_value in value.items():
            errors += _conformance_errors(shape.members[key], member_value, f"{path}.{key}")
        return errors
    if isinstance(shape, ListShape):
        return [
            e for i, item in enumerate(value) for e in _conformance_errors(shape.member, item, f"{path}[{i}]")
        ]
    if shape.type_name != "string":
        return []
    meta = shape.metadata
    checks = [
        ("enum" not in meta or value in meta["enum"], "enum"),
        (len(value) >= meta.get("min", 0), "min"),
        (len(value) <= meta.get("max", len(value)), "max"),
        ("pattern" not in meta or re.fullmatch(meta["pattern"], value) is not None, "pattern"),
    ]
    return [f"{path}={value!r}: {name}" for ok, name in checks if not ok]


def test_synthetic_results_conform_to_the_model_and_flow_through_boto3(
    emulator: HookResultsEmulator, cfn: CloudFormationClient
) -> None:
    start = NOW - timedelta(hours=2)
    results = synthetic_results(
        start=start, end=NOW, count=300, seed=5, in_progress_share=0.2, completes_after=timedelta(minutes=10)
    )
    assert len(results) == 300
    assert all(start <= r.invoked_at < NOW for r in results)
    in_progress = [r for r in results if r.status == "HOOK_IN_PROGRESS"]
    assert in_progress
    assert all(r.completes_at == r.invoked_at + timedelta(minutes=10) and r.final_status for r in in_progress)
    emulator.add(*results)
    emulator.page_size = 100

    summaries, _ = scan(cfn)
    details = [cfn.get_hook_result(HookResultId=r.hook_result_id) for r in results[:40]]

    assert len(summaries) == 300
    list_shape = _list_output().members["HookResults"]
    get_shape = MODEL.operation_model("GetHookResult").output_shape
    assert get_shape is not None
    errors = _conformance_errors(list_shape, summaries, "HookResults")
    for detail in details:
        body = {k: v for k, v in detail.items() if k != "ResponseMetadata"}
        errors += _conformance_errors(get_shape, body, detail["HookResultId"])
    assert errors == []


def test_synthetic_generation_is_fast() -> None:
    started = time.perf_counter()
    synthetic_history(end=NOW, days=10, per_day=2000, seed=2)
    assert time.perf_counter() - started < 1.0  # 200,000 take about 1.7 s; this is 20,000
