"""A local AWS Organization on the local stack: a management account (the local stack's own, which also
holds the central archive), member accounts created through moto's Organizations, and any account's
administrator or role sessions, as STS `AssumeRole` gives them.

moto keeps every account in one process; an access key names its account (moto's STS issues a session's
key in the account of the role it assumed), so a member's session reaches the central account's bucket,
key and bus through the authorizing proxy exactly as a cross-account call does on AWS. Nothing here is
deployed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import boto3
from moto.events.models import EventsBackend, events_backends

from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.cfn_stack import Stack
from emulation.function_role import RoleDocuments, put_role, session_credentials
from emulation.hook_results_api import HookResultsEmulator
from emulation.lambda_runtime import (
    REPO_ROOT,
    FunctionSpec,
    LambdaContext,
    cold_start,
    environment_variables,
    function_spec,
    load_event,
    load_template,
    resolved_environment,
)
from emulation.lambda_service import Delivery, LambdaService
from emulation.tls import ca_bundle
from tooling.member_template import member_template
from tooling.sam_transform import transform_template

# The role Organizations creates in an account it creates, for the management account's administrators
# (moto's CreateAccount creates none, and its STS does not need one: the name is what AWS uses).
ADMIN_ROLE = "OrganizationAccountAccessRole"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass
class LocalOrganization:
    """An Organization whose management account is the local stack's account (`ACCOUNT_ID`)."""

    aws: LocalAws
    organization_id: str
    members: dict[str, str]  # account name -> account id
    management_account: str = ACCOUNT_ID
    _admin_sessions: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def create(
        cls, aws: LocalAws, member_names: tuple[str, ...] = ("member-a", "member-b")
    ) -> LocalOrganization:
        """CreateOrganization in the local account, then CreateAccount for each member."""
        deliver_events_to_the_bus_they_name()
        organizations = aws.client("organizations")
        organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        members = {}
        for name in member_names:
            status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
            members[name] = status["CreateAccountStatus"]["AccountId"]
        return cls(aws, organization_id, members)

    def admin_client(self, account: str, service: str, *, region: str = REGION) -> Any:
        """A client of `account`'s administrator, straight to moto (setup and inspection, never judged)."""
        if account == self.management_account:
            return self.aws.client(service, region=region)
        if account not in self._admin_sessions:
            role_arn = f"arn:aws:iam::{account}:role/{ADMIN_ROLE}"
            self._admin_sessions[account] = _credentials(
                self.aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="admin")
            )
        return _client(service, self.aws.moto_url, region, self._admin_sessions[account])

    def role_session(
        self,
        account: str,
        role_name: str,
        policy: Mapping[str, Any],
        *,
        trust_policy: Mapping[str, Any] = LAMBDA_TRUST,
    ) -> dict[str, str]:
        """Create `role_name` in `account`'s IAM with `policy` inline; return a session of it (as Lambda
        hands the function its role's credentials)."""
        iam = self.admin_client(account, "iam")
        role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust_policy))[
            "Role"
        ]["Arn"]
        iam.put_role_policy(RoleName=role_name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        sts = self.admin_client(account, "sts")
        return _credentials(sts.assume_role(RoleArn=role_arn, RoleSessionName=role_name))

    def client(self, credentials: Mapping[str, str], service: str, *, region: str = REGION) -> Any:
        """A client holding `credentials` that goes through the authorizing proxy, as a deployed function's
        does (over HTTPS unless the local stack was started with tls=False)."""
        return _client(service, self.aws.proxy.url, region, credentials)


def _credentials(response: Mapping[str, Any]) -> dict[str, str]:
    credentials = response["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def _client(service: str, endpoint: str, region: str, credentials: Mapping[str, str]) -> Any:
    return boto3.client(  # type: ignore[call-overload]  # service name chosen at run time
        service,
        endpoint_url=endpoint,
        verify=ca_bundle() if endpoint.startswith("https:") else None,
        region_name=region,
        **credentials,
    )


def deliver_events_to_the_bus_they_name() -> None:
    """Make moto deliver a PutEvents entry whose `EventBusName` is another account's (or region's) bus ARN to
    that bus, as EventBridge does. moto strips the ARN to the bus name and looks it up in the caller's own
    account and region, so such an entry fails the whole call with ResourceNotFoundException ("Event bus
    <name> does not exist.") or lands on a same-named bus of the caller. Delivered by the bus owner's
    backend, the event's `account` field is the bus owner's, as moto's own cross-account rule targets do.
    Idempotent; process-wide, like `authorizer.take_over_bucket_policy_checks`."""
    original = EventsBackend.put_events
    if getattr(original, "delivers_by_arn", False):
        return

    def put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        owners = [_bus_owner(self, entry) for entry in events]
        if len(events) > 10 or all(owner is self for owner in owners):  # noqa: PLR2004  # moto validates
            return original(self, events)
        return [
            result for owner, entry in zip(owners, events, strict=True) for result in original(owner, [entry])
        ]

    put_events.delivers_by_arn = True  # type: ignore[attr-defined]
    EventsBackend.put_events = put_events  # type: ignore[method-assign]


def _bus_owner(backend: EventsBackend, entry: Mapping[str, Any]) -> EventsBackend:
    bus = str(entry.get("EventBusName") or "")
    if not bus.startswith("arn:"):
        return backend
    _, _, _, region, account, _ = bus.split(":", 5)
    if (account, region) == (backend.account_id, backend.region_name):
        return backend
    return events_backends[account][region]


# -- the central archive: template.yaml deployed with OrganizationId -------------------------------------
# Its bucket, key and bus policies are the template's, resolved for the deployment (emulation/cfn_stack.py)
# and put on moto's resources; the authorizing proxy then judges every member's call by them.

CENTRAL_STACK = "hook-archive-central"
FLEET_LOG_GROUP = f"/aws/lambda/{CENTRAL_STACK}-fleet-health"
ARCHIVE_PREFIX = "hook-results"


@dataclass
class CentralArchive:
    """The central stack's bucket (SSE-KMS with its own key) and bus, in the management account."""

    organization: LocalOrganization
    bucket: str
    key_arn: str
    bus_arn: str
    prefix: str = ARCHIVE_PREFIX
    region: str = REGION

    @classmethod
    def create(cls, organization: LocalOrganization, *, bucket: str = "org-hook-archive") -> CentralArchive:
        aws = organization.aws
        aws.client("s3").create_bucket(Bucket=bucket)
        key_arn = aws.client("kms").create_key(Description="central archive")["KeyMetadata"]["Arn"]
        bus_arn = aws.client("events").describe_event_bus(Name=aws.bus_name)["Arn"]
        central = cls(organization, bucket, key_arn, bus_arn)
        central.deploy()
        return central

    @property
    def account(self) -> str:
        return self.organization.management_account

    def deployment(self, *, region: str | None = None, **parameters: str) -> Stack:
        """template.yaml as the central stack: OrganizationId and the local bucket, key and bus."""
        return Stack(
            load_template(),
            parameters={
                "OrganizationId": self.organization.organization_id,
                "ArchivePrefix": self.prefix,
                "EventBusName": self.organization.aws.bus_name,
                **parameters,
            },
            physical_ids={
                "ArchiveBucket": self.bucket,
                "ArchiveKey": self.key_arn.rsplit("/", 1)[1],
                "FleetHealthLogGroup": FLEET_LOG_GROUP,
            },
            attributes={
                "ArchiveBucket.Arn": f"arn:aws:s3:::{self.bucket}",
                "ArchiveKey.Arn": self.key_arn,
                "FleetHealthLogGroup.Arn": (
                    f"arn:aws:logs:{region or self.region}:{self.account}:log-group:{FLEET_LOG_GROUP}:*"
                ),
            },
            account_id=self.account,
            region=region or self.region,
            stack_name=CENTRAL_STACK,
        )

    def deploy(self, *, key_region: str | None = None, **parameters: str) -> Stack:
        """Put the bucket's encryption and policy, the key policy and the bus policy as the central stack
        creates them for `parameters`. `key_region` resolves the key policy as a stack of that region would
        (its kms:ViaService names S3 there)."""
        stack = self.deployment(**parameters)
        aws = self.organization.aws
        s3 = aws.client("s3")
        bucket = stack.properties("ArchiveBucket")
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
            }
            for rule in bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=self.bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        s3.put_bucket_versioning(
            Bucket=self.bucket, VersioningConfiguration=bucket["VersioningConfiguration"]
        )
        policy = stack.properties("ArchiveBucketPolicy")["PolicyDocument"]
        s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(policy))
        key_stack = self.deployment(region=key_region, **parameters) if key_region else stack
        aws.client("kms").put_key_policy(
            KeyId=self.key_arn,
            PolicyName="default",
            Policy=json.dumps(key_stack.properties("ArchiveKey")["KeyPolicy"]),
        )
        bus_policy = stack.properties("OrganizationEventBusPolicy")
        statement = {"Sid": bus_policy["StatementId"], **bus_policy["Statement"]}
        aws.client("events").put_permission(
            EventBusName=bus_policy["EventBusName"],
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        return stack

    def object_keys(self, account: str | None = None, *, table: str = "") -> list[str]:
        """Archive object keys (all, or those naming `account`), listed by the central administrator: the
        results' (dt=...), or those of the raw table under `table` (annotations/dt=...)."""
        s3 = self.organization.aws.client("s3")
        prefix = f"{self.prefix}/{table}/dt=" if table else f"{self.prefix}/dt="
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        return sorted(
            key for key in keys if account is None or key.rsplit("/", 1)[1].startswith(f"{account}-")
        )


@dataclass
class MemberArchiver:
    """One stack instance of the member StackSet: the member template (generated from template.yaml) in
    `account` and `region`, its role created as the template names and defines it, and the real handler
    run with a session of it against that account-region's own ListHookResults."""

    central: CentralArchive
    account: str
    region: str
    emulator: HookResultsEmulator
    settings: dict[str, str] = field(default_factory=dict)  # values of variables the template declares
    runtime_environment: dict[str, str] = field(default_factory=dict)  # others, e.g. Powertools switches
    _credentials: dict[str, str] | None = field(default=None, repr=False)

    @property
    def stack_name(self) -> str:
        return f"StackSet-cfn-hook-archive-members-{self.account}"

    def deployment(self) -> Stack:
        template = member_template(
            transformed_template(), function_key="cfn-hook-archive/archiver.zip", layer_key="l.zip"
        )
        function_name = f"{self.stack_name}-ArchiverFunction"
        return Stack(
            template,
            parameters={
                "ExistingArchiveBucketName": self.central.bucket,
                "KmsKeyArn": self.central.key_arn,
                "EventBusName": self.central.bus_arn,
                "ArchiveBucketRegion": self.central.region,
                "ArchivePrefix": self.central.prefix,
                "ArtifactBucketPrefix": "local-artefacts",
            },
            physical_ids={"ArchiverFunction": function_name},
            attributes={
                "DeadLetterQueue.Arn": f"arn:aws:sqs:{self.region}:{self.account}:{self.stack_name}-dlq",
                "ArchiverLogGroup.Arn": (
                    f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/lambda/{function_name}:*"
                ),
            },
            account_id=self.account,
            region=self.region,
            stack_name=self.stack_name,
        )

    @property
    def role_name(self) -> str:
        return str(self.deployment().properties("ArchiverRole")["RoleName"])

    def deploy(self) -> dict[str, str]:
        """Create the role in the member account as the member template defines it; return a session."""
        iam = self.central.organization.admin_client(self.account, "iam")
        role_arn = put_role(iam, self.role_name, RoleDocuments.of(self.deployment()))
        sts = self.central.organization.admin_client(self.account, "sts")
        self._credentials = session_credentials(sts, role_arn, "ArchiverFunction")
        return self._credentials

    def environment(self) -> dict[str, str]:
        stack = self.deployment()
        variables = stack.properties("ArchiverFunction")["Environment"]["Variables"]
        spec = replace(function_spec(), environment=dict(variables))
        aws = self.central.organization.aws
        return {
            **resolved_environment(spec, {"TIME_SAFETY_MARGIN_SECONDS": "1", **self.settings}, stack=stack),
            **aws.process_environment(),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": self.emulator.endpoint_url,
            **(self._credentials or self.deploy()),
            **self.runtime_environment,
        }

    def client(self, service: str) -> Any:
        """A client holding this archiver's role session, as the function's (for trying what it may not)."""
        credentials = self._credentials or self.deploy()
        return self.central.organization.client(
            {name.lower(): value for name, value in credentials.items()}, service, region=self.region
        )

    def run(self, *, later_ms: int = 0) -> dict[str, Any]:
        """One scheduled invocation of the archiver in this account-region (a cold start). `later_ms`: run
        as if the clock were that much ahead (an archiver still committing hours after another stopped)."""
        environment = self.environment()
        spec = function_spec()

        def dependencies(module: Any) -> dict[str, Any]:
            if not later_ms:
                return {}
            from hook_archive.dal.aws_dependencies import AwsClients, build_dependencies  # noqa: PLC0415
            from hook_archive.models.config import ArchiverConfig  # noqa: PLC0415

            config = ArchiverConfig.from_environ(os.environ)
            real = build_dependencies(config, AwsClients.create(config), account_id=self.account)
            return {"dependencies": replace(real, clock_ms=lambda: real.clock_ms() + later_ms)}

        return _invoke(spec, environment, account_id=self.account, region=self.region, kwargs=dependencies)


@dataclass
class FleetHealthCheck:
    """The central stack's FleetHealthFunction, run with a session of its own (read-only) FleetHealthRole."""

    central: CentralArchive
    documents: RoleDocuments | None = None  # the role's policies, when a test narrows them
    runtime_environment: dict[str, str] = field(default_factory=dict)  # e.g. Powertools switches
    deliveries: list[Delivery] = field(default_factory=list)  # by the Lambda service, with the role

    def run(self, *, later_ms: int = 0) -> dict[str, Any]:
        """A cold start and one scheduled check; then the Lambda service's log delivery and trace segment
        with the same role (Logs and Tracing are used by the service, never by the handler)."""
        stack = self.central.deployment()
        aws = self.central.organization.aws
        logs = aws.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=FLEET_LOG_GROUP)
        role_arn = put_role(
            aws.client("iam"),
            "hook-archive-central-FleetHealthRole",
            self.documents or RoleDocuments.of(stack, "FleetHealthRole"),
        )
        spec = function_spec("FleetHealthFunction")
        environment = {
            **resolved_environment(spec, {}, stack=stack),
            **aws.process_environment(),
            **session_credentials(aws.client("sts"), role_arn, "FleetHealthFunction"),
            **self.runtime_environment,
        }

        def dependencies(module: Any) -> dict[str, Any]:
            deps = module.default_dependencies()
            return {"dependencies": replace(deps, clock_ms=lambda: deps.clock_ms() + later_ms)}

        tracing = stack.properties("FleetHealthFunction").get(
            "Tracing", load_template().get("Globals", {}).get("Function", {}).get("Tracing")
        )
        service = LambdaService(
            environment,
            function_name=f"{CENTRAL_STACK}-FleetHealthFunction",
            log_group=FLEET_LOG_GROUP,
            on_failure_destination=None,  # a scheduled check: the next one sees what this one missed
            tracing=tracing == "Active",
            deliveries=self.deliveries,
        )
        with service.invocation(load_event("scheduled_tick.json")):
            return _invoke(
                spec,
                environment,
                account_id=self.central.account,
                region=self.central.region,
                kwargs=dependencies,
            )


def _invoke(
    spec: FunctionSpec,
    environment: Mapping[str, str],
    *,
    account_id: str,
    region: str,
    kwargs: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """A cold start and one scheduled invocation; `kwargs` builds the handler's extra arguments from its
    module, under the function's environment."""
    handler = cold_start(spec, environment)
    context = LambdaContext(
        function_name=spec.logical_id,
        memory_mb=spec.memory_mb,
        timeout_seconds=spec.timeout_seconds,
        region=region,
        account_id=account_id,
    )
    module = sys.modules[spec.module_name]
    # On Lambda each function has its own process; here they share Powertools' class-level metric buffer.
    if hasattr(module, "metrics"):
        module.metrics.clear_metrics()
    with environment_variables(environment):
        extra = kwargs(module)
        result = handler(load_event("scheduled_tick.json"), context, **extra)
    if not isinstance(result, dict):
        raise TypeError(f"handler returned {type(result).__name__}")
    return result


@cache
def transformed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform (aws-sam-translator, in-process), once per process."""
    return transform_template(REPO_ROOT / "template.yaml")
