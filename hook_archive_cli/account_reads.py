"""The only boto3 code of preflight: read-only calls (Get, List, Describe), each turned into a fact.

A ``ClientError`` (or the client's own failure, such as missing credentials) becomes an :class:`ApiError`
naming the operation and AWS's error code, so the checks judge codes, never messages. Clients are built the
standard boto3 way, so ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` redirect them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive_cli.facts import (
    AccountFacts,
    ApiError,
    ArchiveBucket,
    CallerIdentity,
    ConcurrencyQuota,
    DefaultEncryption,
    EventBus,
    HookResultsPage,
    HookType,
    KmsKey,
)
from hook_archive_cli.parameters import DeployParameters
from hook_archive_cli.preflight import parse_key_arn

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

# Preflight waits for answers, not for throttling to clear: a few quick retries, short timeouts.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
# GetBucketLocation's LocationConstraint for the two regions that predate it.
_LEGACY_LOCATIONS = {"": "us-east-1", "EU": "eu-west-1"}


def _read(operation: str, call: Callable[[], T]) -> T | ApiError:
    try:
        return call()
    except ClientError as error:
        details = error.response.get("Error", {})
        return ApiError(operation, str(details.get("Code") or "Unknown"), str(details.get("Message") or ""))
    except BotoCoreError as error:
        return ApiError(operation, type(error).__name__, str(error))


def read_identity(session: boto3.Session) -> CallerIdentity | ApiError:
    def call() -> CallerIdentity:
        answer = session.client("sts", config=CLIENT_CONFIG).get_caller_identity()
        return CallerIdentity(arn=answer["Arn"], account=answer["Account"])

    return _read("GetCallerIdentity", call)


def read_hook_results(cloudformation: CloudFormationClient) -> HookResultsPage | ApiError:
    def call() -> HookResultsPage:
        # No parameters at all: the call the archiver makes, authorized as cloudformation:ListAllHookResults.
        answer = cloudformation.list_hook_results()
        return HookResultsPage(results=len(answer.get("HookResults", [])), more_pages="NextToken" in answer)

    return _read("ListHookResults", call)


def _hook_configuration(cloudformation: CloudFormationClient, type_arn: str) -> str | None:
    try:
        answer = cloudformation.batch_describe_type_configurations(
            TypeConfigurationIdentifiers=[{"TypeArn": type_arn}]
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "TypeConfigurationNotFoundException":
            return None
        raise
    configurations = answer.get("TypeConfigurations", [])
    chosen = next((item for item in configurations if item.get("IsDefaultConfiguration")), None)
    chosen = chosen or next(iter(configurations), None)
    return None if chosen is None else chosen.get("Configuration")


def _hook_type(cloudformation: CloudFormationClient, type_name: str, type_arn: str) -> HookType:
    # One call per hook: a type never configured fails only its own call.
    configuration = _read(
        "BatchDescribeTypeConfigurations", lambda: _hook_configuration(cloudformation, type_arn)
    )
    return HookType(type_name=type_name, type_arn=type_arn, configuration=configuration)


def read_hook_types(cloudformation: CloudFormationClient) -> tuple[HookType, ...] | ApiError:
    """Hook types usable in the region (PRIVATE visibility: registered here, or public ones activated here),
    each with its configuration, which says whether CloudFormation invokes it (HookInvocationStatus)."""

    def listing() -> list[tuple[str, str]]:
        pages = cloudformation.get_paginator("list_types").paginate(
            Type="HOOK", Visibility="PRIVATE", DeprecatedStatus="LIVE"
        )
        return [
            (summary["TypeName"], summary["TypeArn"])
            for page in pages
            for summary in page.get("TypeSummaries", [])
            if "TypeName" in summary and "TypeArn" in summary
        ]

    listed = _read("ListTypes", listing)
    if isinstance(listed, ApiError):
        return listed
    return tuple(_hook_type(cloudformation, type_name, type_arn) for type_name, type_arn in listed)


def read_concurrency(session: boto3.Session) -> ConcurrencyQuota | ApiError:
    def call() -> ConcurrencyQuota:
        limit = session.client("lambda", config=CLIENT_CONFIG).get_account_settings()["AccountLimit"]
        return ConcurrencyQuota(
            concurrent_executions=limit["ConcurrentExecutions"],
            unreserved_concurrent_executions=limit["UnreservedConcurrentExecutions"],
        )

    return _read("GetAccountSettings", call)


def _bucket_region(s3: S3Client, bucket: str) -> str:
    constraint = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or ""
    return _LEGACY_LOCATIONS.get(constraint, constraint)


def _bucket_ownership(s3: S3Client, bucket: str) -> str | None:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "OwnershipControlsNotFoundError":
            return None
        raise
    return rules[0]["ObjectOwnership"] if rules else None


def _bucket_encryption(
    session: boto3.Session, s3: S3Client, bucket: str, region: str
) -> DefaultEncryption | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    default = rules[0].get("ApplyServerSideEncryptionByDefault") if rules else None
    if default is None:
        return None
    algorithm, key = default["SSEAlgorithm"], default.get("KMSMasterKeyID")
    resolved: str | None = key if key and parse_key_arn(key) else None
    if key and resolved is None:
        # A key id or an alias: the key's ARN is what KmsKeyArn can be compared with.
        described = _read(
            "DescribeKey",
            lambda: session.client("kms", region_name=region, config=CLIENT_CONFIG).describe_key(KeyId=key),
        )
        if not isinstance(described, ApiError):
            resolved = described["KeyMetadata"]["Arn"]
    return DefaultEncryption(algorithm=algorithm, kms_key=key, kms_key_arn=resolved)


def read_archive_bucket(session: boto3.Session, params: DeployParameters) -> ArchiveBucket | None:
    name = params.existing_archive_bucket
    if not name:
        return None
    # GetBucketLocation answers from any region; the other reads go to the bucket's own region.
    s3 = session.client("s3", config=CLIENT_CONFIG)
    region = _read("GetBucketLocation", lambda: _bucket_region(s3, name))
    if not isinstance(region, ApiError):
        s3 = session.client("s3", region_name=region, config=CLIENT_CONFIG)
    read_region = region if isinstance(region, str) else params.archive_region
    return ArchiveBucket(
        name=name,
        region=region,
        versioning=_read("GetBucketVersioning", lambda: s3.get_bucket_versioning(Bucket=name).get("Status")),
        ownership=_read("GetBucketOwnershipControls", lambda: _bucket_ownership(s3, name)),
        encryption=_read("GetBucketEncryption", lambda: _bucket_encryption(session, s3, name, read_region)),
    )


def read_kms_key(session: boto3.Session, arn: str) -> KmsKey | ApiError:
    key = parse_key_arn(arn)
    if key is None:
        return ApiError("DescribeKey", "InvalidArn", f"{arn} is not a KMS key ARN")

    def call() -> KmsKey:
        # KMS is regional: ask the key's own region.
        kms = session.client("kms", region_name=key.region, config=CLIENT_CONFIG)
        metadata = kms.describe_key(KeyId=arn)["KeyMetadata"]
        return KmsKey(
            arn=metadata.get("Arn", arn),
            enabled=bool(metadata.get("Enabled")),
            key_state=str(metadata.get("KeyState", "Unknown")),
            key_spec=metadata.get("KeySpec"),
            key_usage=metadata.get("KeyUsage"),
        )

    return _read("DescribeKey", call)


def read_event_bus(session: boto3.Session, bus_name: str) -> EventBus | ApiError:
    def call() -> EventBus:
        answer = session.client("events", config=CLIENT_CONFIG).describe_event_bus(Name=bus_name)
        return EventBus(name=answer.get("Name", bus_name), arn=answer.get("Arn", ""))

    return _read("DescribeEventBus", call)


def read_account(session: boto3.Session, params: DeployParameters) -> AccountFacts:
    """Everything preflight needs from the account, read (never written) with the caller's credentials."""
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
    keys = {arn for arn in params.kms_key_parameters.values() if arn and parse_key_arn(arn)}
    return AccountFacts(
        region=params.stack_region,
        identity=read_identity(session),
        hook_results=read_hook_results(cloudformation),
        hook_types=read_hook_types(cloudformation),
        concurrency=read_concurrency(session),
        archive_bucket=read_archive_bucket(session, params),
        kms_keys={arn: read_kms_key(session, arn) for arn in sorted(keys)},
        event_bus=read_event_bus(session, params.event_bus_name),
    )
