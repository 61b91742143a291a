"""The preflight checks: pure functions from facts already read to rows of a report.

Nothing here calls AWS or looks at the machine; ``account_reads`` and ``local_tools`` gather the facts.
A row fails only for what would break the deployment or its first run; what preflight cannot verify
(a key of another account, a bucket the caller may not read) is a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

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
    LocalFacts,
    LocalTool,
    one_line,
)
from hook_archive_cli.parameters import DeployParameters

Status = Literal["pass", "warn", "fail"]

# Lambda keeps this many executions unreserved: a reservation that would leave fewer is refused
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
MIN_UNRESERVED_CONCURRENCY = 100
SAM_INSTALL_URL = (
    "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"
)
PYTHON_COMMAND = "python3.13"
_KEY_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):key/(?P<key_id>[A-Za-z0-9-]+)"
)
_SHOWN_HOOKS = 3


@dataclass(frozen=True)
class Row:
    """One line of the report. ``fix`` is one line, empty when there is nothing to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", one_line(self.detail))
        object.__setattr__(self, "fix", one_line(self.fix))

    def as_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class KeyArn:
    partition: str
    region: str
    account: str
    key_id: str


def parse_key_arn(arn: str) -> KeyArn | None:
    match = _KEY_ARN.fullmatch(arn)
    if match is None:
        return None
    return KeyArn(match["partition"], match["region"], match["account"], match["key_id"])


def failed(rows: Sequence[Row]) -> bool:
    return any(row.status == "fail" for row in rows)


# ------------------------------------------------------------------------------------------- the account


def check_credentials(identity: CallerIdentity | ApiError) -> Row:
    if isinstance(identity, ApiError):
        return Row(
            "credentials",
            "fail",
            identity.describe(),
            "configure credentials for the target account (aws configure, AWS_PROFILE or --profile; "
            "aws sso login for IAM Identity Center)",
        )
    return Row("credentials", "pass", f"{identity.arn} (account {identity.account})")


def check_hook_results(page: HookResultsPage | ApiError, region: str) -> Row:
    name = "hook results"
    if isinstance(page, ApiError):
        if page.access_denied:
            return Row(
                name,
                "fail",
                page.describe(),
                "grant the caller cloudformation:ListAllHookResults: AWS authorizes an unfiltered "
                "ListHookResults as that action (cloudformation:ListHookResults covers only calls "
                "filtered by TargetType and TargetId)",
            )
        return Row(name, "fail", page.describe(), f"ListHookResults must answer in {region}; see the error")
    if page.results == 0:
        return Row(
            name,
            "warn",
            f"unfiltered ListHookResults answered with an empty first page: no hook ran in {region} "
            "in the last 90 days",
            "nothing to archive until a hook runs: enable one (see active hooks) or check --region",
        )
    more = ", more pages follow" if page.more_pages else ""
    return Row(
        name, "pass", f"unfiltered ListHookResults answered: {page.results} result(s) on the first page{more}"
    )


def _hook_state(hook: HookType) -> str:
    """ENABLED, or why the hook is not invoked: DISABLED, not configured, unreadable."""
    configuration = hook.configuration
    if isinstance(configuration, ApiError):
        return f"configuration unreadable ({configuration.code})"
    if configuration is None:
        return "not configured"
    try:
        document = json.loads(configuration)
        settings = document["CloudFormationConfiguration"]["HookConfiguration"]
    except (ValueError, KeyError, TypeError):
        return "no HookConfiguration"
    status = settings.get("HookInvocationStatus") if isinstance(settings, dict) else None
    if status is None and isinstance(settings, dict) and settings.get("TargetStacks") == "ALL":
        # The documented predecessor of HookInvocationStatus: ALL means invoked for every stack.
        return "ENABLED"
    return str(status) if status else "no HookInvocationStatus"


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN_HOOKS])
    return shown + (f" and {len(names) - _SHOWN_HOOKS} more" if len(names) > _SHOWN_HOOKS else "")


def check_active_hooks(hook_types: tuple[HookType, ...] | ApiError, region: str) -> Row:
    name = "active hooks"
    if isinstance(hook_types, ApiError):
        return Row(
            name,
            "warn",
            f"cannot list hook types: {hook_types.describe()}",
            "grant the caller cloudformation:ListTypes and cloudformation:BatchDescribeTypeConfigurations "
            "to check (the archiver itself needs neither)",
        )
    if not hook_types:
        return Row(
            name,
            "fail",
            f"no hook type is registered or activated in {region}",
            "activate a hook in this region (a Guard or Lambda hook, or one from the registry) and set "
            "its HookInvocationStatus to ENABLED",
        )
    states = {hook.type_name: _hook_state(hook) for hook in hook_types}
    enabled = [type_name for type_name, state in states.items() if state == "ENABLED"]
    if enabled:
        return Row(name, "pass", f"{len(enabled)} of {len(states)} hook type(s) enabled: {_listed(enabled)}")
    others = [f"{type_name} ({state})" for type_name, state in states.items()]
    if any(isinstance(hook.configuration, ApiError) for hook in hook_types):
        return Row(
            name,
            "warn",
            f"none of {len(states)} hook type(s) is known to be enabled: {_listed(others)}",
            "grant the caller cloudformation:BatchDescribeTypeConfigurations to read their configurations",
        )
    return Row(
        name,
        "fail",
        f"{len(states)} hook type(s), none enabled: {_listed(others)}",
        "set HookInvocationStatus to ENABLED in a hook's configuration "
        "(aws cloudformation set-type-configuration --type-arn <arn> --configuration <json>)",
    )


def check_concurrency(quota: ConcurrencyQuota | ApiError, reserved: int) -> Row:
    name = "lambda concurrency"
    asked = f"ReservedConcurrency={reserved}" + (" (none reserved)" if reserved == 0 else "")
    if isinstance(quota, ApiError):
        return Row(
            name,
            "warn",
            f"quota unknown ({quota.describe()}); {asked}",
            "grant the caller lambda:GetAccountSettings, or read Lambda's 'Concurrent executions' in "
            f"Service Quotas: reserving N needs N + {MIN_UNRESERVED_CONCURRENCY} unreserved",
        )
    total, unreserved = quota.concurrent_executions, quota.unreserved_concurrent_executions
    stated = f"account quota {total} concurrent executions, {unreserved} unreserved; {asked}"
    if reserved == 0:
        return Row(name, "pass", stated)
    left = unreserved - reserved
    if left >= MIN_UNRESERVED_CONCURRENCY:
        return Row(name, "pass", f"{stated}: {left} stay unreserved")
    needed = MIN_UNRESERVED_CONCURRENCY + reserved + (total - unreserved)
    return Row(
        name,
        "fail",
        f"{stated}: Lambda refuses a reservation that leaves {left} unreserved "
        f"(it keeps at least {MIN_UNRESERVED_CONCURRENCY})",
        "deploy with ReservedConcurrency=0 (the checkpoint lease keeps overlapping runs safe), or raise "
        f"Lambda's 'Concurrent executions' quota to at least {needed} in Service Quotas",
    )


def _bucket_unreadable(name: str, bucket: str, error: ApiError, permission: str) -> Row:
    if error.code == "NoSuchBucket":
        return Row(
            name,
            "fail",
            f"bucket {bucket} does not exist",
            "create it, correct ExistingArchiveBucketName, or leave that empty so the stack creates one",
        )
    if error.access_denied:
        return Row(
            name,
            "warn",
            f"cannot read {bucket}: {error.describe()}",
            f"grant the caller {permission} on the bucket to check (its owner may have to)",
        )
    return Row(name, "fail", f"cannot read {bucket}: {error.describe()}", "see the error")


def check_bucket_region(bucket: ArchiveBucket, params: DeployParameters) -> Row:
    name = "archive bucket region"
    if isinstance(bucket.region, ApiError):
        return _bucket_unreadable(name, bucket.name, bucket.region, "s3:GetBucketLocation")
    expected = params.archive_region
    source = (
        f"ArchiveBucketRegion={params.archive_bucket_region}"
        if params.archive_bucket_region
        else f"ArchiveBucketRegion is empty, so the stack's region {params.stack_region}"
    )
    if bucket.region == expected:
        return Row(name, "pass", f"{bucket.name} is in {bucket.region} ({source})")
    return Row(
        name,
        "fail",
        f"{bucket.name} is in {bucket.region}, not {expected} ({source})",
        f"deploy with ArchiveBucketRegion={bucket.region}",
    )


def check_bucket_versioning(bucket: ArchiveBucket) -> Row:
    name = "archive bucket versioning"
    if isinstance(bucket.versioning, ApiError):
        return _bucket_unreadable(name, bucket.name, bucket.versioning, "s3:GetBucketVersioning")
    if bucket.versioning == "Enabled":
        return Row(name, "pass", f"{bucket.name}: versioning Enabled")
    state = bucket.versioning or "never enabled"
    return Row(
        name,
        "fail",
        f"{bucket.name}: versioning {state}; the archive relies on it to undo mistakes",
        f"aws s3api put-bucket-versioning --bucket {bucket.name} --versioning-configuration Status=Enabled",
    )


def check_bucket_ownership(bucket: ArchiveBucket) -> Row:
    name = "archive bucket ownership"
    if isinstance(bucket.ownership, ApiError):
        return _bucket_unreadable(name, bucket.name, bucket.ownership, "s3:GetBucketOwnershipControls")
    if bucket.ownership == "BucketOwnerEnforced":
        return Row(name, "pass", f"{bucket.name}: object ownership BucketOwnerEnforced (ACLs disabled)")
    state = bucket.ownership or "not set (ACLs enabled)"
    return Row(
        name,
        "fail",
        f"{bucket.name}: object ownership {state}; what other accounts write must belong to the bucket owner",
        f"aws s3api put-bucket-ownership-controls --bucket {bucket.name} "
        "--ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]'",
    )


def _describe_encryption(encryption: DefaultEncryption) -> str:
    if encryption.algorithm == "AES256":
        return "SSE-S3 (AES256)"
    key = encryption.kms_key_arn or encryption.kms_key or "the AWS managed key aws/s3"
    return f"SSE-KMS ({encryption.algorithm}) with {key}"


def check_bucket_encryption(bucket: ArchiveBucket, kms_key_arn: str) -> Row:
    name = "archive bucket encryption"
    if isinstance(bucket.encryption, ApiError):
        return _bucket_unreadable(name, bucket.name, bucket.encryption, "s3:GetEncryptionConfiguration")
    # A bucket without a configuration is encrypted with SSE-S3 all the same (S3's default since 2023).
    encryption = bucket.encryption or DefaultEncryption("AES256", None, None)
    described = f"{bucket.name}: default encryption {_describe_encryption(encryption)}"
    if not kms_key_arn:
        return Row(name, "pass", f"{described}; KmsKeyArn is empty, so any default encryption will do")
    wanted = parse_key_arn(kms_key_arn)
    uses_kms = encryption.algorithm.startswith("aws:kms")
    configured = encryption.kms_key
    same_key = uses_kms and (
        configured == kms_key_arn
        or (wanted is not None and configured == wanted.key_id)
        or encryption.kms_key_arn == kms_key_arn
    )
    if same_key:
        return Row(name, "pass", f"{described}, the key KmsKeyArn names")
    if uses_kms and configured and encryption.kms_key_arn is None:
        return Row(
            name,
            "warn",
            f"{described}, which preflight could not resolve to compare with KmsKeyArn {kms_key_arn}",
            "make sure the bucket's default key is the key KmsKeyArn names",
        )
    return Row(
        name,
        "fail",
        f"{described}, but KmsKeyArn is {kms_key_arn}",
        "set KmsKeyArn to the bucket's key (empty for SSE-S3), or make the bucket's default encryption "
        "SSE-KMS with that key (aws s3api put-bucket-encryption)",
    )


def _key_home(parameter: str, params: DeployParameters) -> tuple[str, str]:
    """The region a key parameter must name, and why."""
    if parameter == "KmsKeyArn":
        return params.archive_region, "the archive bucket is (or will be) there"
    if parameter == "HookResultsKmsKeyArn":
        return params.stack_region, "the hook results it decrypts are in the stack's region"
    return params.stack_region, "the Athena results bucket is in the stack's region"


def _described_key_row(name: str, parameter: str, region: str, described: KmsKey | ApiError | None) -> Row:
    if described is None or isinstance(described, ApiError):
        if isinstance(described, ApiError) and described.code == "NotFoundException":
            return Row(name, "fail", f"{parameter}: no such key in {region}", "correct the key's ARN")
        reason = described.describe() if described is not None else "not described"
        return Row(
            name,
            "warn",
            f"{parameter} is in {region} (from its ARN); the caller cannot describe it: {reason}",
            "normal for another account's key: make sure its key policy lets this stack use it",
        )
    if not described.enabled or described.key_state != "Enabled":
        return Row(
            name,
            "fail",
            f"{parameter} is in {region} but its state is {described.key_state}",
            "enable the key (aws kms enable-key) or cancel its scheduled deletion",
        )
    symmetric = described.key_spec in {None, "SYMMETRIC_DEFAULT"}
    if not symmetric or described.key_usage not in {None, "ENCRYPT_DECRYPT"}:
        return Row(
            name,
            "fail",
            f"{parameter} is a {described.key_spec} {described.key_usage} key",
            "S3, Athena and CloudFormation encrypt only with symmetric encryption keys (SYMMETRIC_DEFAULT)",
        )
    return Row(name, "pass", f"{parameter} is in {region}, enabled, symmetric")


def check_kms_key(parameter: str, params: DeployParameters, described: KmsKey | ApiError | None) -> Row:
    name = f"kms key {parameter}"
    arn = params.kms_key_parameters[parameter]
    if not arn:
        return Row(name, "pass", f"{parameter} is empty: no customer managed key to check")
    key = parse_key_arn(arn)
    if key is None:
        return Row(
            name,
            "fail",
            f"{parameter}={arn} is not a KMS key ARN",
            "arn:aws:kms:<region>:<account>:key/<key id>",
        )
    home, why = _key_home(parameter, params)
    if key.region != home:
        return Row(
            name,
            "fail",
            f"{parameter} is in {key.region}, but must be in {home}: {why}",
            f"use a key in {home} (a multi-Region replica of this one works)",
        )
    return _described_key_row(name, parameter, key.region, described)


def check_event_bus(bus: EventBus | ApiError, bus_name: str, region: str) -> Row:
    name = "event bus"
    if isinstance(bus, EventBus):
        return Row(name, "pass", f"{bus.name} exists ({bus.arn})")
    if bus.code == "ResourceNotFoundException":
        return Row(
            name,
            "fail",
            f"no event bus {bus_name} in {region}",
            f"create it (aws events create-event-bus --name {bus_name}), or set EventBusName to another bus",
        )
    if bus.access_denied:
        return Row(name, "warn", bus.describe(), "grant the caller events:DescribeEventBus to check")
    return Row(name, "fail", bus.describe(), "see the error")


# ----------------------------------------------------------------------------------------- the machine


def check_sam(tool: LocalTool) -> Row:
    name = "sam cli"
    if tool.path is None:
        return Row(
            name,
            "fail",
            "sam is not on PATH",
            f"install the AWS SAM CLI ({SAM_INSTALL_URL}), or run `make tools` for the pinned one",
        )
    if tool.problem is not None or not tool.version:
        return Row(name, "fail", f"{tool.path} --version failed: {tool.problem}", "reinstall the AWS SAM CLI")
    return Row(name, "pass", f"{tool.version} ({tool.path})")


def check_python(tool: LocalTool) -> Row:
    name = PYTHON_COMMAND
    if tool.path is None:
        return Row(
            name,
            "fail",
            f"{PYTHON_COMMAND} is not on PATH; sam build runs it for the function's python3.13 runtime",
            f"install Python 3.13 (e.g. pyenv install 3.13) and put {PYTHON_COMMAND} on PATH",
        )
    if tool.problem is not None or not tool.version:
        return Row(
            name, "fail", f"{tool.path} --version failed: {tool.problem}", "install Python 3.13 properly"
        )
    if not tool.version.startswith("Python 3.13"):
        return Row(name, "fail", f"{tool.path} is {tool.version}", "put a real Python 3.13 first on PATH")
    return Row(name, "pass", f"{tool.version} ({tool.path})")


def evaluate(account: AccountFacts, local: LocalFacts, params: DeployParameters) -> list[Row]:
    """Every row, in the order of the report."""
    region = params.stack_region
    rows = [
        check_credentials(account.identity),
        check_hook_results(account.hook_results, region),
        check_active_hooks(account.hook_types, region),
        check_concurrency(account.concurrency, params.reserved_concurrency),
    ]
    bucket = account.archive_bucket
    if bucket is None:
        rows.append(
            Row("archive bucket", "pass", "skipped: ExistingArchiveBucketName is empty, the stack creates it")
        )
    else:
        rows += [
            check_bucket_region(bucket, params),
            check_bucket_versioning(bucket),
            check_bucket_ownership(bucket),
            check_bucket_encryption(bucket, params.kms_key_arn),
        ]
    rows += [
        check_kms_key(parameter, params, account.kms_keys.get(arn))
        for parameter, arn in params.kms_key_parameters.items()
    ]
    rows += [
        check_event_bus(account.event_bus, params.event_bus_name, region),
        check_sam(local.sam),
        check_python(local.python),
    ]
    return rows
