"""Runs the real archiver handler against the local AWS and reads back what it produced."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.cfn_stack import Stack
from emulation.function_role import RoleDocuments, put_role, session_credentials
from emulation.lambda_runtime import (
    FunctionSpec,
    environment_variables,
    forget_process_state,
    function_spec,
    invoke,
    load_event,
    resolved_environment,
)
from emulation.lambda_service import Delivery, LambdaService

ARCHIVE_PREFIX = "hook-results"
STACK_NAME = "cfn-hook-archive"
ROLE_NAME = f"{STACK_NAME}-ArchiverRole"


@dataclass
class ArchiverHarness:
    """One deployment of template.yaml on the local stack: its parameters decide the function's environment
    and its role's policy alike, and the handler runs with a session of that role, as in Lambda."""

    aws: LocalAws
    settings: dict[str, str] = field(default_factory=dict)  # values of variables template.yaml declares
    runtime_environment: dict[str, str] = field(
        default_factory=dict
    )  # others, e.g. set by the Lambda runtime
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters of this deployment
    event_name: str = "scheduled_tick.json"
    spec: FunctionSpec = field(default_factory=function_spec)
    # The role documents last put and the session of that role; whether a test put them on purpose.
    _deployed: tuple[RoleDocuments, dict[str, str]] | None = field(default=None, repr=False)
    _custom_role: bool = field(default=False, repr=False)
    _bucket_deployed: dict[str, Any] | None = field(default=None, repr=False)
    deliveries: list[Delivery] = field(default_factory=list)  # by the Lambda service, with the role

    def deployment(self) -> Stack:
        """template.yaml as deployed here: the local bucket and bus, and `parameters` on top."""
        stack = Stack(
            self.spec.template,
            parameters={
                "ArchivePrefix": ARCHIVE_PREFIX,
                "EventBusName": self.aws.bus_name,
                **self.parameters,
            },
            physical_ids={
                "ArchiveBucket": self.aws.bucket,
                "ArchiverFunction": f"{STACK_NAME}-ArchiverFunction",
            },
            attributes={
                "ArchiveBucket.Arn": f"arn:aws:s3:::{self.aws.bucket}",
                "DeadLetterQueue.Arn": self.aws.dead_letter_queue_arn,
                "ArchiverRole.Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}",
            },
            account_id=ACCOUNT_ID,
            region=REGION,
            stack_name=STACK_NAME,
        )
        log_group = self.log_group_name(stack)
        stack.physical_ids["ArchiverLogGroup"] = log_group
        stack.attributes["ArchiverLogGroup.Arn"] = (
            f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{log_group}:*"
        )
        return stack

    def log_group_name(self, stack: Stack) -> str:
        """The function's log group (LoggingConfig), as the stack names it."""
        config = self.spec.template["Resources"][self.spec.logical_id]["Properties"]["LoggingConfig"]
        return str(stack.properties(config["LogGroup"]["Ref"])["LogGroupName"])

    @property
    def archive_bucket(self) -> str:
        """The bucket this deployment archives into: its own, or the existing one it was given."""
        return self.parameters.get("ExistingArchiveBucketName") or self.aws.bucket

    def role_documents(self) -> RoleDocuments:
        return RoleDocuments.of(self.deployment())

    def deploy_role(self, documents: RoleDocuments | None = None) -> dict[str, str]:
        """Put the role as this deployment defines it (or as `documents` say); return a new session."""
        wanted = documents or self.role_documents()
        role_arn = put_role(self.aws.client("iam"), ROLE_NAME, wanted)
        # With the role, the function's log group, where the Lambda service writes (the stack creates both).
        logs = self.aws.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=self.log_group_name(self.deployment()))
        credentials = session_credentials(self.aws.client("sts"), role_arn, self.spec.logical_id)
        self._deployed = (wanted, credentials)
        return credentials

    def _role_session(self, stack: Stack) -> dict[str, str]:
        """The function's credentials; the role and the bucket are (re)deployed when the parameters changed
        or the account was reset, never over a policy a test put on purpose."""
        deployed = self._deployed
        reset = deployed is None or not self._role_exists()  # a fresh account: deploy everything again
        bucket = self.archive_bucket_configuration(stack)
        if reset or bucket != self._bucket_deployed:
            self._bucket_deployed = _configure_bucket(self.aws.client("s3"), self.aws.bucket, bucket)
        documents = RoleDocuments.of(stack)
        if deployed is None or reset:
            self._custom_role = False
            return self.deploy_role(documents)
        if not self._custom_role and deployed[0] != documents:
            return self.deploy_role(documents)
        return deployed[1]

    def archive_bucket_configuration(self, stack: Stack | None = None) -> dict[str, Any] | None:
        """ArchiveBucket and its policy as this deployment creates them (None: an existing bucket is used)."""
        stack = stack or self.deployment()
        if "ArchiveBucket" not in stack.resources("AWS::S3::Bucket"):
            return None
        return {
            **stack.properties("ArchiveBucket"),
            "Policy": stack.properties("ArchiveBucketPolicy")["PolicyDocument"],
        }

    def put_role_policy(self, documents: RoleDocuments) -> None:
        """Replace the role's policies, as someone editing the deployed role would; runs use it until
        `restore_role()`."""
        self.deploy_role(documents)
        self._custom_role = True

    def restore_role(self) -> None:
        self._custom_role = False
        self.deploy_role()

    def _role_exists(self) -> bool:
        iam = self.aws.client("iam")
        try:
            iam.get_role(RoleName=ROLE_NAME)
        except iam.exceptions.NoSuchEntityException:
            return False
        return True

    def environment(self, stack: Stack | None = None) -> dict[str, str]:
        values = {"TIME_SAFETY_MARGIN_SECONDS": "1", **self.settings}
        stack = stack or self.deployment()
        return {
            **resolved_environment(self.spec, values, stack=stack),
            **self.aws.process_environment(),
            **self._role_session(stack),
            **self.runtime_environment,
        }

    def lambda_service(self, environment: Mapping[str, str], stack: Stack) -> LambdaService:
        """The Lambda service's side of this deployment's invocations (log group, tracing, destination)."""
        function = stack.properties(self.spec.logical_id)
        on_failure = function.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
        tracing = function.get(
            "Tracing", self.spec.template.get("Globals", {}).get("Function", {}).get("Tracing")
        )
        return LambdaService(
            environment,
            function_name=stack.physical_ids["ArchiverFunction"],
            log_group=self.log_group_name(stack),
            on_failure_destination=on_failure.get("Destination"),
            tracing=tracing == "Active",
            deliveries=self.deliveries,
        )

    def run(self, *, timeout_seconds: float | None = None, **handler_kwargs: Any) -> dict[str, Any]:
        """One scheduled invocation of the handler named in template.yaml, with a cold start; then what the
        Lambda service does with the role (logs, trace, the on-failure destination's record)."""
        stack = self.deployment()
        environment = self.environment(stack)
        event = load_event(self.event_name)
        with self.lambda_service(environment, stack).invocation(event):
            result = invoke(
                self.spec,
                event,
                environment=environment,
                account_id=ACCOUNT_ID,
                timeout_seconds=timeout_seconds,
                **handler_kwargs,
            )
        if not isinstance(result, dict):
            raise TypeError(f"handler returned {type(result).__name__}")
        return result

    def real_dependencies(self) -> Any:
        """The adapters the handler would build, made under this harness's environment (to wrap in tests)."""
        environment = self.environment()
        forget_process_state(environment)
        with environment_variables(environment):
            from hook_archive.dal.aws_dependencies import AwsClients, build_dependencies  # noqa: PLC0415
            from hook_archive.models.config import ArchiverConfig  # noqa: PLC0415

            config = ArchiverConfig.from_environ(os.environ)
            return build_dependencies(config, AwsClients.create(config), account_id=ACCOUNT_ID)

    def object_keys(self) -> list[str]:
        s3 = self.aws.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.archive_bucket, Prefix=f"{ARCHIVE_PREFIX}/dt="
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read_archive(self) -> pa.Table:
        """Every archive object, with the Hive partition column dt taken from its key."""
        s3 = self.aws.client("s3")
        tables = []
        for key in self.object_keys():
            body = s3.get_object(Bucket=self.archive_bucket, Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            day = key.split("/dt=", 1)[1].split("/", 1)[0]
            table = table.append_column("dt", pa.array([day] * table.num_rows, pa.string()))
            table = table.append_column("object_key", pa.array([key] * table.num_rows, pa.string()))
            tables.append(table)
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables)

    def annotation_keys(self) -> list[str]:
        s3 = self.aws.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.archive_bucket, Prefix=f"{ARCHIVE_PREFIX}/annotations/dt="
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read_annotations(self) -> pa.Table:
        """Every annotation object (hook_annotations), with dt taken from its key."""
        s3 = self.aws.client("s3")
        tables = []
        for key in self.annotation_keys():
            body = s3.get_object(Bucket=self.archive_bucket, Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            day = key.split("/dt=", 1)[1].split("/", 1)[0]
            table = table.append_column("dt", pa.array([day] * table.num_rows, pa.string()))
            tables.append(table)
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables)

    def download_archive(self, directory: str) -> int:
        """Copy the archive to a local folder with the same keys (for DuckDB); return the object count."""
        s3 = self.aws.client("s3")
        keys = self.object_keys() + self.annotation_keys()
        for key in keys:
            target = Path(directory) / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=self.archive_bucket, Key=key)["Body"].read())
        return len(keys)

    def checkpoint(self) -> Mapping[str, Any]:
        s3 = self.aws.client("s3")
        key = f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
        return dict(json.loads(s3.get_object(Bucket=self.archive_bucket, Key=key)["Body"].read()))


def _configure_bucket(s3: Any, bucket: str, configuration: dict[str, Any] | None) -> dict[str, Any] | None:
    """Give the local bucket what CloudFormation gives ArchiveBucket: encryption, versioning, ownership,
    public access block, Object Lock and the bucket policy (lifecycle rules do not touch a run)."""
    if configuration is None:
        return None
    rules = [
        {
            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
            "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
        }
        for rule in configuration["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=configuration["VersioningConfiguration"])
    _configure_object_lock(s3, bucket, configuration)
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=configuration["OwnershipControls"])
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=configuration["PublicAccessBlockConfiguration"]
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(configuration["Policy"]))
    return configuration


class BucketConfigurationError(RuntimeError):
    """The local bucket cannot take the configuration this deployment asks for."""


def _configure_object_lock(s3: Any, bucket: str, configuration: Mapping[str, Any]) -> None:
    """ObjectLockEnabled with its default retention, as S3 applies it to every new object version.

    CloudFormation creates the bucket with Object Lock; here the provisioned bucket is versioned and still
    empty, and S3 (moto too) enables Object Lock on such a bucket with PutObjectLockConfiguration, so it is
    not created again. S3 cannot turn Object Lock off, and moto takes a configuration only while the bucket
    holds no object (S3 takes a new default retention at any time): both are raised here, with the remedy,
    rather than ignored."""
    wanted = (
        _lock_rule(configuration.get("ObjectLockConfiguration") or {"ObjectLockEnabled": "Enabled"})
        if configuration.get("ObjectLockEnabled")
        else None
    )
    try:
        current = _lock_rule(s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ObjectLockConfigurationNotFoundError":
            raise
        current = None
    if wanted == current:
        return
    if wanted is None:
        raise BucketConfigurationError(
            f"s3://{bucket} has Object Lock ({current}) and S3 cannot turn it off: deploy this without "
            "ObjectLockMode into a fresh account (LocalAws.reset())"
        )
    try:
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=wanted)
    except ClientError as error:
        raise BucketConfigurationError(
            f"s3://{bucket} cannot take Object Lock {wanted} "
            f"({error.response['Error']['Code']}): the local S3 takes it only while the bucket is empty; "
            "choose ObjectLockMode before the first run, or LocalAws.reset() first"
        ) from error


def _lock_rule(configuration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An ObjectLockConfiguration as S3 takes it (Days an integer), whether from the template or S3."""
    if not configuration or configuration.get("ObjectLockEnabled") != "Enabled":
        return None
    retention = configuration.get("Rule", {}).get("DefaultRetention")
    if retention is None:
        return {"ObjectLockEnabled": "Enabled"}
    rule = {"Mode": retention["Mode"]}
    for unit in ("Days", "Years"):
        if int(retention.get(unit) or 0):
            rule[unit] = int(retention[unit])
    return {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}}
