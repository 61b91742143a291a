"""Every statement of the archiver role is needed: taken away, the run fails with the product's clear error
and loses nothing; put back, the next runs archive everything exactly once and announce every failure.

The role is template.yaml's, resolved for the deployment's parameters, and the local stack authorizes each
call against it (emulation/authorization). Logs, Tracing and FailedInvocations are used by the Lambda
service on the function's behalf (log delivery, X-Ray, the on-failure destination), not by the handler:
tests/integration/test_lambda_service_permissions.py takes those away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulation.aws_stack import ACCOUNT_ID, REGION
from emulation.function_role import RoleDocuments
from tests.faults.conftest import Rig

# What the first run says when the statement is missing: the product's error names the failed step and
# AWS's error code (and, where the service sends it, the IAM action).
SERVICE_SIDE = {"Logs", "Tracing", "FailedInvocations"}
FIRST_FAILURE = {
    "ReadHookResults": [
        "ListHookResults failed on page 1",
        "AccessDenied",
        "cloudformation:ListAllHookResults",
    ],
    "Checkpoint": ["reading checkpoint", "AccessDenied"],
    "MissingCheckpointIsNotFound": ["reading checkpoint", "AccessDenied"],
    "CheckpointKnownIds": ["known ids", "AccessDenied"],
    "ArchiveObjects": [".parquet", "AccessDenied"],
    "AnnotationObjects": ["/annotations/dt=", ".parquet", "AccessDenied"],
    "FailureEvents": ["not delivered", "AccessDeniedException"],
}


def _kms_key(rig: Rig) -> str:
    key: str = rig.aws.client("kms").create_key(Description="archive")["KeyMetadata"]["Arn"]
    return key


def _encrypt_bucket_with(s3: Any, bucket: str, key_arn: str) -> None:
    """What a central bucket's owner sets up: SSE-KMS with their key (a bucket the stack does not create)."""
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})


def _clean_afterwards(rig: Rig) -> None:
    """Statement back: the following runs leave the archive exact and every failure announced."""
    rig.harness.restore_role()
    outcomes = rig.settle()
    assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
    report = rig.reconcile()
    assert report.ok, report.summary()


def test_every_statement_of_the_role_has_a_test_that_takes_it_away(rig: Rig) -> None:
    rig.harness.parameters.update({"KmsKeyArn": _kms_key(rig), "HookResultsKmsKeyArn": _kms_key(rig)})
    sids = set(rig.harness.role_documents().sids())
    assert sids == set(FIRST_FAILURE) | SERVICE_SIDE | {"ArchiveKey", "HookResultsKey"}


@pytest.mark.parametrize("sid", sorted(FIRST_FAILURE))
def test_a_run_without_a_statement_fails_clearly_and_the_next_with_it_loses_nothing(
    rig: Rig, sid: str
) -> None:
    # Given history with failures, and the role without one statement
    rig.seed(days=2, per_day=40)
    rig.harness.put_role_policy(rig.harness.role_documents().without(sid))
    # When the archiver runs
    outcome = rig.run()
    # Then it fails, saying what was refused
    assert isinstance(outcome, Exception), outcome
    for words in FIRST_FAILURE[sid]:
        assert words in str(outcome), (sid, str(outcome))
    # And with the statement back, nothing is lost or duplicated
    _clean_afterwards(rig)


def _as_first_released(statement: dict[str, Any]) -> dict[str, Any]:
    # The review's finding: an unfiltered ListHookResults is authorized as ListAllHookResults.
    return {**statement, "Action": ["cloudformation:ListHookResults", "cloudformation:GetHookResult"]}


def _other_region(statement: dict[str, Any]) -> dict[str, Any]:
    return {**statement, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}


def _other_account(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        **statement,
        "Resource": statement["Resource"].replace(f"{ACCOUNT_ID}-{REGION}", "999999999999-*"),
    }


def _other_source(statement: dict[str, Any]) -> dict[str, Any]:
    equals = statement["Condition"]["StringEquals"]
    assert "events:source" in equals, "the role may put events with any source"
    return {**statement, "Condition": {"StringEquals": {**equals, "events:source": "someone-else"}}}


def _other_detail_type(statement: dict[str, Any]) -> dict[str, Any]:
    equals = statement["Condition"]["StringEquals"]
    assert "events:detail-type" in equals, "the role may put events with any detail-type"
    return {**statement, "Condition": {"StringEquals": {**equals, "events:detail-type": "Something Else"}}}


# A statement narrowed the wrong way: the run fails with what AWS says, and nothing is lost.
NARROWED = {
    "as-first-released": (
        "ReadHookResults",
        _as_first_released,
        "perform: cloudformation:ListAllHookResults",
    ),
    "another-region": ("ReadHookResults", _other_region, "cloudformation:ListAllHookResults"),
    "another-accounts-objects": ("ArchiveObjects", _other_account, "AccessDenied"),
    # EventBridge authorizes PutEvents per entry: an entry whose source the role may not put fails with
    # NotAuthorizedForSourceException (PutEventsResultEntry); the call itself succeeds.
    "another-event-source": ("FailureEvents", _other_source, "NotAuthorizedForSourceException"),
    "another-detail-type": ("FailureEvents", _other_detail_type, "NotAuthorizedForDetailTypeException"),
}


@pytest.mark.parametrize("case", sorted(NARROWED))
def test_a_statement_narrowed_the_wrong_way_fails_the_run_clearly_and_loses_nothing(
    rig: Rig, case: str
) -> None:
    sid, narrow, words = NARROWED[case]
    rig.seed(days=2, per_day=40)
    documents = rig.harness.role_documents()
    rig.harness.put_role_policy(documents.replacing(sid, narrow(documents.statement(sid))))
    outcome = rig.run()
    assert isinstance(outcome, Exception), outcome
    assert words in str(outcome), str(outcome)
    if sid == "FailureEvents":
        assert rig.harness.checkpoint()["outbox"], "undelivered events must wait in the outbox"
    _clean_afterwards(rig)


def test_sse_kms_archive_needs_the_archive_key_statement(rig: Rig) -> None:
    key = _kms_key(rig)
    rig.harness.parameters["KmsKeyArn"] = key  # the template's ArchiveBucket then encrypts with it
    rig.seed(days=2, per_day=40)
    rig.harness.put_role_policy(rig.harness.role_documents().without("ArchiveKey"))
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "AccessDenied" in str(outcome)
    _clean_afterwards(rig)
    # The archive really is SSE-KMS with that key.
    head = rig.aws.client("s3").head_object(Bucket=rig.aws.bucket, Key=rig.harness.object_keys()[0])
    assert head["SSEKMSKeyId"] == key


def test_the_archive_key_is_usable_only_through_s3_in_the_buckets_region(rig: Rig) -> None:
    key = _kms_key(rig)
    rig.harness.parameters["KmsKeyArn"] = key
    rig.seed(days=1, per_day=10)
    documents = rig.harness.role_documents()
    statement = documents.statement("ArchiveKey")
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == f"s3.{REGION}.amazonaws.com"
    wrong_region = {
        **statement,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
    }
    rig.harness.put_role_policy(documents.replacing("ArchiveKey", wrong_region))
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "AccessDenied" in str(outcome)
    _clean_afterwards(rig)


def _hooks_key_via_another_region(documents: RoleDocuments) -> RoleDocuments:
    statement = documents.statement("HookResultsKey")
    assert (
        statement["Condition"]["StringEquals"]["kms:ViaService"] == f"cloudformation.{REGION}.amazonaws.com"
    )
    via = {"StringEquals": {"kms:ViaService": "cloudformation.eu-west-1.amazonaws.com"}}
    return documents.replacing("HookResultsKey", {**statement, "Condition": via})


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda documents: documents.without("HookResultsKey"), id="taken-away"),
        pytest.param(_hooks_key_via_another_region, id="through-cloudformation-of-another-region"),
    ],
)
def test_without_the_hook_results_key_statement_failures_are_announced_unenriched(
    rig: Rig, change: Callable[[RoleDocuments], RoleDocuments]
) -> None:
    # GetHookResult of a result encrypted with a customer managed key needs kms:Decrypt through
    # CloudFormation of this region; without it the event still goes out, enrichment "unavailable".
    key = _kms_key(rig)
    rig.aws.emulator.results_kms_key_arn = key
    rig.harness.parameters["HookResultsKmsKeyArn"] = key
    rig.seed(days=1, per_day=40)
    rig.harness.put_role_policy(change(rig.harness.role_documents()))
    outcome = rig.run()
    assert isinstance(outcome, dict), outcome
    statuses = {event["detail"]["enrichment"]["status"] for event in rig.events}
    assert statuses == {"unavailable"}
    assert {event["detail"]["enrichment"]["error_code"] for event in rig.events} == {"AccessDenied"}
    report = rig.reconcile()
    assert report.ok, report.summary()
    # With the statement back, the next failures are enriched.
    rig.harness.restore_role()
    rig.events.clear()
    rig.seed(days=1, per_day=40, seed=2)
    assert isinstance(rig.run(), dict)
    assert "enriched" in {event["detail"]["enrichment"]["status"] for event in rig.events}


def test_a_central_archive_in_another_region_is_written_through_s3_of_that_region(rig: Rig) -> None:
    # SSE-KMS through S3 calls KMS in the bucket's region: kms:ViaService names that region
    # (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    central_region = "eu-west-1"
    s3 = rig.aws.client("s3")
    s3.create_bucket(
        Bucket="central-hook-archive", CreateBucketConfiguration={"LocationConstraint": central_region}
    )
    s3.put_bucket_versioning(Bucket="central-hook-archive", VersioningConfiguration={"Status": "Enabled"})
    key: str = rig.aws.client("kms", region=central_region).create_key()["KeyMetadata"]["Arn"]
    _encrypt_bucket_with(s3, "central-hook-archive", key)
    rig.harness.parameters.update({"ExistingArchiveBucketName": "central-hook-archive", "KmsKeyArn": key})
    rig.seed(days=2, per_day=30)
    # Given the bucket's region left out, the role may use the key through S3 of the stack's region only
    outcome = rig.run()
    assert isinstance(outcome, Exception)
    assert "AccessDenied" in str(outcome)
    # With ArchiveBucketRegion, everything is archived once, encrypted with the central key
    rig.harness.parameters["ArchiveBucketRegion"] = central_region
    _clean_afterwards(rig)
    first = rig.harness.object_keys()[0]
    assert s3.head_object(Bucket="central-hook-archive", Key=first)["SSEKMSKeyId"] == key
