"""Deterministic, realistic CloudFormation Hook invocation history for the emulator.

Invocations come in bursts the way deployments produce them: a stack update evaluates a few
resources against every hook that targets their type (plus a stack-level check), a change set
is evaluated as a whole, and Cloud Control requests hit single resources. Everything derives
from one seeded ``random.Random``, so a seed always yields the same list.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate

from emulation.hook_results_api import EmulatedHookResult

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

SUCCEEDED = "HOOK_COMPLETE_SUCCEEDED"
COMPLETE_FAILED = "HOOK_COMPLETE_FAILED"
HOOK_FAILED = "HOOK_FAILED"
IN_PROGRESS = "HOOK_IN_PROGRESS"

# Relative deployment activity per UTC hour: quiet nights, busy working hours.
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 9, 10, 11, 11, 10, 8, 6, 4, 3, 2, 1, 1)
_HOUR_CUMULATIVE = tuple(accumulate(_HOUR_WEIGHTS))
# What one "operation" is: a change set, a Cloud Control request, otherwise a stack deployment.
_CHANGE_SET_SHARE = 0.15
_CLOUD_CONTROL_SHARE = 0.10
_STACK_LEVEL_CHECK_SHARE = 0.35  # deployments that also run a whole-stack check
_CREATE_SHARE, _DELETE_SHARE = 0.3, 0.08
_SUCCESS_WITH_ANNOTATIONS_SHARE = 0.3


@dataclass(frozen=True)
class Rule:
    """A check a hook evaluates; failing ones become FAILED annotations."""

    name: str
    severity: str
    failure: str  # {resource} is replaced by the logical id
    remediation: str
    link: str


@dataclass(frozen=True)
class HookType:
    """An activated hook in the synthetic account."""

    type_name: str
    type_arn: str
    failure_mode: str
    resource_types: tuple[str, ...]
    rules: tuple[Rule, ...]
    fail_share: float  # of completed invocations, HOOK_COMPLETE_FAILED
    error_share: float  # HOOK_FAILED: the hook itself broke
    success_reason: str
    errors: tuple[str, ...]
    stack_level: bool  # also evaluates whole stacks and change sets
    cloud_control: bool  # also invoked for Cloud Control API requests
    type_version_id: str = "00000001"
    type_configuration_version_id: str = "00000001"
    original_type_name: str | None = None


def _own_arn(type_name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:type/hook/{type_name.replace('::', '-')}"


_S3 = "AWS::S3::Bucket"
_EC2 = "AWS::EC2::Instance"
_RDS = "AWS::RDS::DBInstance"
_LAMBDA = "AWS::Lambda::Function"
_ROLE = "AWS::IAM::Role"
_TABLE = "AWS::DynamoDB::Table"
_QUEUE = "AWS::SQS::Queue"

_GUARD_ERRORS = (
    "Failed to read Guard rules from s3://myorg-guard-rules/rules.guard: Access Denied",
    "Hook handler timed out after 30 seconds",
    "Internal failure. Please retry the operation.",
)
_LAMBDA_ERRORS = (
    "Lambda function arn:aws:lambda:us-east-1:123456789012:function:cost-guard returned an error: "
    "Runtime.ExitError",
    "Lambda function arn:aws:lambda:us-east-1:123456789012:function:cost-guard timed out after 30 seconds",
    "Lambda function returned a response that is not valid JSON",
)

HOOK_TYPES: tuple[HookType, ...] = (
    HookType(
        type_name="MyOrg::Guard::S3Encryption",
        type_arn=_own_arn("MyOrg::Guard::S3Encryption"),
        failure_mode="FAIL",
        resource_types=(_S3,),
        rules=(
            Rule(
                "S3_BUCKET_SSE_ENABLED",
                "HIGH",
                "Bucket {resource} does not enable default server-side encryption",
                "Set BucketEncryption.ServerSideEncryptionConfiguration with SSEAlgorithm aws:kms.",
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-bucket-encryption.html",
            ),
            Rule(
                "S3_BUCKET_PUBLIC_ACCESS_BLOCKED",
                "CRITICAL",
                "Bucket {resource} does not block public access",
                "Set all four PublicAccessBlockConfiguration properties to true.",
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
            ),
            Rule(
                "S3_BUCKET_VERSIONING_ENABLED",
                "MEDIUM",
                "Bucket {resource} does not enable versioning",
                "Set VersioningConfiguration.Status to Enabled.",
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html",
            ),
        ),
        fail_share=0.16,
        error_share=0.02,
        success_reason="Template passed all Guard rules",
        errors=_GUARD_ERRORS,
        stack_level=True,
        cloud_control=False,
        type_version_id="00000003",
        type_configuration_version_id="00000002",
    ),
    HookType(
        type_name="MyOrg::Guard::TaggingPolicy",
        type_arn=_own_arn("MyOrg::Guard::TaggingPolicy"),
        failure_mode="WARN",
        resource_types=(_S3, _EC2, _RDS, _LAMBDA, _TABLE, _QUEUE),
        rules=(
            Rule(
                "REQUIRED_TAGS_PRESENT",
                "MEDIUM",
                "Resource {resource} is missing required tags: CostCenter, Owner",
                "Add the CostCenter and Owner tags to the resource or to the stack.",
                "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html",
            ),
            Rule(
                "TAG_VALUE_ALLOWED",
                "LOW",
                "Resource {resource} has Environment tag value 'temp', expected dev, staging or prod",
                "Use one of the allowed values for the Environment tag.",
                "https://docs.aws.amazon.com/whitepapers/latest/tagging-best-practices/tagging-best-practices.html",
            ),
        ),
        fail_share=0.2,
        error_share=0.01,
        success_reason="Template passed all Guard rules",
        errors=_GUARD_ERRORS,
        stack_level=True,
        cloud_control=True,
    ),
    HookType(
        type_name="MyOrg::Lambda::CostGuard",
        type_arn=_own_arn("MyOrg::Lambda::CostGuard"),
        failure_mode="FAIL",
        resource_types=(_EC2, _RDS),
        rules=(
            Rule(
                "EC2_INSTANCE_TYPE_ALLOWED",
                "HIGH",
                "Instance {resource} uses instance type m5.24xlarge, outside the approved cost envelope",
                "Choose an instance type from the approved list or request a cost exception.",
                "https://wiki.example.com/platform/cost-guard#instance-types",
            ),
            Rule(
                "RDS_INSTANCE_CLASS_ALLOWED",
                "HIGH",
                "Database {resource} uses db.r6g.16xlarge, outside the approved cost envelope",
                "Choose a smaller instance class or request a cost exception.",
                "https://wiki.example.com/platform/cost-guard#database-classes",
            ),
        ),
        fail_share=0.12,
        error_share=0.04,
        success_reason="Lambda function returned SUCCESS: estimated monthly cost within budget",
        errors=_LAMBDA_ERRORS,
        stack_level=False,
        cloud_control=True,
        type_version_id="00000002",
    ),
    HookType(
        type_name="AWS::ControlTower::Hook",
        # AWS-owned public type: no account in the ARN.
        type_arn=f"arn:aws:cloudformation:{REGION}::type/hook/AWS-ControlTower-Hook",
        failure_mode="FAIL",
        resource_types=(_S3, _RDS, _LAMBDA, _ROLE, _TABLE),
        rules=(
            Rule(
                "CT.S3.PR.1",
                "HIGH",
                "Bucket {resource} must configure an S3 Block Public Access setting",
                "Configure PublicAccessBlockConfiguration on the bucket.",
                "https://docs.aws.amazon.com/controltower/latest/controlreference/s3-rules.html",
            ),
            Rule(
                "CT.RDS.PR.16",
                "HIGH",
                "Database {resource} must be encrypted at rest",
                "Set StorageEncrypted to true.",
                "https://docs.aws.amazon.com/controltower/latest/controlreference/rds-rules.html",
            ),
            Rule(
                "CT.IAM.PR.5",
                "CRITICAL",
                "Role {resource} must not attach AWS managed policy AdministratorAccess",
                "Replace AdministratorAccess with a least-privilege customer managed policy.",
                "https://docs.aws.amazon.com/controltower/latest/controlreference/iam-rules.html",
            ),
        ),
        fail_share=0.1,
        error_share=0.01,
        success_reason="Resource is compliant with all enabled proactive controls",
        errors=("Internal failure. Please retry the operation.",),
        stack_level=False,
        cloud_control=True,
        type_version_id="00000008",
    ),
    HookType(
        type_name="MyOrg::Sample::S3BucketEncrypt",
        type_arn=_own_arn("MyOrg::Sample::S3BucketEncrypt"),
        failure_mode="WARN",
        resource_types=(_S3,),
        rules=(
            Rule(
                "BucketEncryptionAlgorithm",
                "MEDIUM",
                "Bucket {resource} does not use SSE-KMS",
                "Use aws:kms as the SSEAlgorithm.",
                "https://github.com/aws-cloudformation/aws-cloudformation-samples/tree/main/hooks",
            ),
        ),
        fail_share=0.14,
        error_share=0.03,
        success_reason="Successfully invoked HookHandlerRequest",
        errors=("Hook handler timed out after 30 seconds",),
        stack_level=False,
        cloud_control=False,
        # Third-party public hook activated under an alias.
        original_type_name="AWSSamples::S3BucketEncrypt::Hook",
    ),
)

_LOGICAL_IDS: dict[str, tuple[str, ...]] = {
    _S3: ("ArtifactsBucket", "AccessLogsBucket", "DataLakeRawBucket", "StaticSiteBucket"),
    _EC2: ("BastionHost", "WorkerInstance", "BuildAgent"),
    _RDS: ("OrdersDatabase", "ReportingReplica"),
    _LAMBDA: ("ProcessorFunction", "ApiHandler", "NightlyExport"),
    _ROLE: ("ExecutionRole", "DeployRole"),
    _TABLE: ("SessionsTable", "IdempotencyTable"),
    _QUEUE: ("IngestQueue", "DeadLetterQueue"),
}
_TEAMS = ("payments", "identity", "search", "data", "platform", "mobile")
_APPS = ("api", "worker", "pipeline", "frontend", "network")
_ENVS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class _Stack:
    arn: str
    name: str
    resources: tuple[tuple[str, str], ...]  # (resource type, logical id)


class _Generator:
    def __init__(self, seed: int, in_progress_share: float) -> None:
        if not 0.0 <= in_progress_share <= 1.0:
            raise ValueError("in_progress_share must be within [0, 1]")
        self.rng = random.Random(seed)
        self.in_progress_share = in_progress_share
        self.stacks = self._stacks()
        self.by_resource_type = {
            rt: tuple(h for h in HOOK_TYPES if rt in h.resource_types) for rt in _LOGICAL_IDS
        }
        self.stack_hooks = tuple(h for h in HOOK_TYPES if h.stack_level)
        self.cloud_control_types = tuple(
            rt for rt in _LOGICAL_IDS if any(h.cloud_control for h in self.by_resource_type[rt])
        )

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _stacks(self) -> tuple[_Stack, ...]:
        rng = self.rng
        stacks = []
        for team in _TEAMS:
            for app in rng.sample(_APPS, 3):
                for env in _ENVS:
                    name = f"{team}-{app}-{env}"
                    arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{name}/{self._uuid()}"
                    types = rng.sample(sorted(_LOGICAL_IDS), rng.randint(2, 5))
                    resources = tuple((rt, rng.choice(_LOGICAL_IDS[rt])) for rt in sorted(types))
                    stacks.append(_Stack(arn, name, resources))
        return tuple(stacks)

    def operation(self, at: datetime, completes_after: timedelta | None) -> list[EmulatedHookResult]:
        """The invocations one deployment (or Cloud Control request) produces, starting at ``at``."""
        rng = self.rng
        roll = rng.random()
        stack = rng.choice(self.stacks)
        out: list[EmulatedHookResult] = []
        if roll < _CHANGE_SET_SHARE:
            # Change set: evaluated as a whole by the template-level hooks.
            change_set = (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:changeSet/{stack.name}-cs/{self._uuid()}"
            )
            for hook in self.stack_hooks:
                out.append(
                    self._result(hook, at, "CHANGE_SET", change_set, execution_target=stack.arn, target=None)
                )
        elif roll < _CHANGE_SET_SHARE + _CLOUD_CONTROL_SHARE:
            resource_type = rng.choice(self.cloud_control_types)
            logical_id = rng.choice(_LOGICAL_IDS[resource_type])
            token = self._uuid()
            target = self._target(resource_type, logical_id)
            for hook in self.by_resource_type[resource_type]:
                if hook.cloud_control:
                    out.append(
                        self._result(hook, at, "CLOUD_CONTROL", token, execution_target=token, target=target)
                    )
        else:
            if rng.random() < _STACK_LEVEL_CHECK_SHARE:
                hook = rng.choice(self.stack_hooks)
                out.append(
                    self._result(hook, at, "STACK", stack.arn, execution_target=stack.arn, target=None)
                )
            for resource_type, logical_id in rng.sample(
                stack.resources, rng.randint(1, len(stack.resources))
            ):
                target = self._target(resource_type, logical_id)
                for hook in self.by_resource_type[resource_type]:
                    out.append(
                        self._result(
                            hook, at, "RESOURCE", logical_id, execution_target=stack.arn, target=target
                        )
                    )
        # Hooks run one after another: spread the burst over a few hundred milliseconds each.
        step = timedelta(milliseconds=rng.randint(80, 900))
        for i, r in enumerate(out):
            r.invoked_at = at + step * i
            if r.final_status is not None and completes_after is not None:
                r.completes_at = r.invoked_at + completes_after
        return out

    def _target(self, resource_type: str, logical_id: str) -> dict[str, str]:
        roll = self.rng.random()
        action = "CREATE" if roll < _CREATE_SHARE else "DELETE" if roll > 1 - _DELETE_SHARE else "UPDATE"
        return {
            "TargetType": "RESOURCE",
            "TargetTypeName": resource_type,
            "TargetId": logical_id,
            "Action": action,
        }

    def _result(
        self,
        hook: HookType,
        at: datetime,
        target_type: str,
        target_id: str,
        *,
        execution_target: str,
        target: dict[str, str] | None,
    ) -> EmulatedHookResult:
        status, reason, annotations = self._outcome(hook, target_id if target else "the template")
        result = EmulatedHookResult(
            hook_result_id=self._uuid(),
            type_name=hook.type_name,
            type_arn=hook.type_arn,
            status=status,
            invoked_at=at,
            target_type=target_type,
            target_id=target_id,
            hook_execution_target=execution_target,
            failure_mode=hook.failure_mode,
            type_version_id=hook.type_version_id,
            type_configuration_version_id=hook.type_configuration_version_id,
            hook_status_reason=reason,
            original_type_name=hook.original_type_name,
            target=target,
            annotations=annotations,
        )
        if self.in_progress_share and self.rng.random() < self.in_progress_share:
            # Annotations only exist once the hook has finished.
            result.final_status, result.final_reason = status, reason
            result.status, result.hook_status_reason, result.annotations = IN_PROGRESS, None, []
        return result

    def _outcome(self, hook: HookType, resource: str) -> tuple[str, str, list[dict[str, str]]]:
        rng = self.rng
        roll = rng.random()
        if roll < hook.error_share:
            return HOOK_FAILED, rng.choice(hook.errors), []
        if roll < hook.error_share + hook.fail_share:
            failing = rng.sample(hook.rules, rng.randint(1, min(2, len(hook.rules))))
            annotations = [_annotation(rule, resource, passed=rule not in failing) for rule in hook.rules]
            names = ", ".join(rule.name for rule in failing)
            verb = "flagged" if hook.failure_mode == "WARN" else "failed"
            return COMPLETE_FAILED, f"{len(failing)} rule(s) {verb} for {resource}: {names}", annotations
        # Guard hooks often report the rules they evaluated even when everything passed.
        annotations = (
            [_annotation(rule, resource, passed=True) for rule in hook.rules]
            if roll > 1 - _SUCCESS_WITH_ANNOTATIONS_SHARE
            else []
        )
        return SUCCEEDED, hook.success_reason, annotations


def _annotation(rule: Rule, resource: str, *, passed: bool) -> dict[str, str]:
    if passed:
        return {"AnnotationName": rule.name, "Status": "PASSED", "StatusMessage": "Rule passed"}
    return {
        "AnnotationName": rule.name,
        "Status": "FAILED",
        "StatusMessage": rule.failure.format(resource=resource),
        "RemediationMessage": rule.remediation,
        "RemediationLink": rule.link,
        "SeverityLevel": rule.severity,
    }


def _fill(
    generator: _Generator,
    count: int,
    pick_time: Callable[[], datetime],
    limit: datetime,
    completes_after: timedelta | None,
) -> list[EmulatedHookResult]:
    out: list[EmulatedHookResult] = []
    while len(out) < count:
        out.extend(r for r in generator.operation(pick_time(), completes_after) if r.invoked_at < limit)
    del out[count:]
    return out


def synthetic_history(
    *, end: datetime, days: int = 90, per_day: int = 200, seed: int = 0, in_progress_share: float = 0.0
) -> list[EmulatedHookResult]:
    """``days * per_day`` invocations over the ``days`` before ``end``, oldest first.

    Results still in progress at ``end`` (``in_progress_share`` of them) complete 1 to 30
    minutes after ``end`` with their ``final_status``.
    """
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    generator = _Generator(seed, in_progress_share)
    rng = generator.rng
    out: list[EmulatedHookResult] = []
    for day in range(days):
        day_start = end - timedelta(days=days - day)
        day_end = day_start + timedelta(days=1)

        def pick(day_start: datetime = day_start) -> datetime:
            hour = bisect(_HOUR_CUMULATIVE, rng.random() * _HOUR_CUMULATIVE[-1])
            return day_start + timedelta(hours=hour, milliseconds=rng.randrange(3_600_000))

        out.extend(_fill(generator, per_day, pick, day_end, None))
    for r in out:
        if r.status == IN_PROGRESS:
            r.completes_at = end + timedelta(seconds=rng.randint(60, 1800))
    out.sort(key=lambda r: r.invoked_at)
    return out


def synthetic_results(
    *,
    start: datetime,
    end: datetime,
    count: int,
    seed: int,
    in_progress_share: float = 0.0,
    completes_after: timedelta | None = None,
) -> list[EmulatedHookResult]:
    """``count`` new invocations in ``[start, end)``, oldest first.

    In-progress ones complete ``completes_after`` their invocation (``None``: they never do).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    generator = _Generator(seed, in_progress_share)
    rng = generator.rng
    span_ms = max(1, int((end - start) / timedelta(milliseconds=1)))

    def pick() -> datetime:
        return start + timedelta(milliseconds=rng.randrange(span_ms))

    out = _fill(generator, count, pick, end, completes_after)
    out.sort(key=lambda r: r.invoked_at)
    return out
