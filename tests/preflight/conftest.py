"""Preflight tier: the real `cfn-hook-archive preflight` against moto (S3, KMS, EventBridge, STS) behind the
fault proxy, the CloudFormation emulator (ListHookResults, ListTypes, BatchDescribeTypeConfigurations) and the
Lambda account-settings emulator, all on loopback, reached through the standard AWS_ENDPOINT_URL variables."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulation.aws_stack import CREDENTIALS, LocalAws, local_aws
from emulation.lambda_account_api import LambdaAccountApi
from emulation.synthetic_history import synthetic_history
from hook_archive_cli.__main__ import main

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
HOOK = "MyOrg::Guard::S3Encryption"
# What SetTypeConfiguration stores for an enabled hook (the Hooks user guide's configuration schema).
ENABLED = json.dumps(
    {
        "CloudFormationConfiguration": {
            "HookConfiguration": {
                "HookInvocationStatus": "ENABLED",
                "TargetOperations": ["STACK"],
                "FailureMode": "FAIL",
                "Properties": {},
            }
        }
    }
)
# Stands in for the SAM CLI on PATH: preflight only looks it up and asks for its version.
SAM_STUB = "#!/bin/sh\necho 'SAM CLI, version 1.150.1'\n"


@dataclass(frozen=True)
class PreflightRun:
    exit_status: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document

    def row(self, name: str) -> dict[str, str]:
        rows: dict[str, dict[str, str]] = {row["name"]: row for row in self.report["rows"]}
        return rows[name]


@dataclass
class Account:
    """The local stack as one AWS account, plus the machine preflight looks at."""

    aws: LocalAws
    lambda_api: LambdaAccountApi
    bin_dir: Path
    samconfig: Path
    monkeypatch: pytest.MonkeyPatch

    def client(self, service: str, region: str = REGION) -> Any:
        """A client of the test's own, straight to moto (not through the proxy) in any region."""
        return boto3.client(  # type: ignore[call-overload]  # service chosen at run time
            service,
            endpoint_url=self.aws.moto_url,
            region_name=region,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    @property
    def arguments(self) -> list[str]:
        return ["preflight", "--template-file", str(TEMPLATE), "--config-file", str(self.samconfig)]

    def preflight(self, *arguments: str, table: bool = False) -> PreflightRun:
        """`cfn-hook-archive preflight --json ...` (or the table) in this process, with this account's
        environment."""
        stdout, stderr = io.StringIO(), io.StringIO()
        argv = [*self.arguments, *([] if table else ["--json"]), *arguments]
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(argv)
        return PreflightRun(status, stdout.getvalue(), stderr.getvalue())

    def add_hook_results(self, count: int = 3) -> None:
        history = synthetic_history(end=datetime.now(UTC) - timedelta(hours=2), days=1, per_day=count, seed=7)
        self.aws.emulator.add(*history)

    def bucket(
        self,
        name: str,
        *,
        region: str = REGION,
        versioning: bool = True,
        ownership: str | None = "BucketOwnerEnforced",
        kms_key_arn: str | None = None,
    ) -> str:
        s3 = self.client("s3", region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if ownership is not None:
            s3.put_bucket_ownership_controls(
                Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]}
            )
        default: dict[str, str] = {"SSEAlgorithm": "AES256"}
        if kms_key_arn is not None:
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_arn}
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
        )
        return name

    def kms_key(self, region: str = REGION) -> str:
        kms = self.client("kms", region)
        created = kms.create_key(Description="preflight test", KeyUsage="ENCRYPT_DECRYPT")
        arn: str = created["KeyMetadata"]["Arn"]
        return arn

    def path(self, *commands: str) -> None:
        """PATH holds only these of the tools preflight looks for."""
        only = self.bin_dir.parent / "only"
        only.mkdir(exist_ok=True)
        for command in commands:
            (only / command).symlink_to(self.bin_dir / command)
        self.monkeypatch.setenv("PATH", str(only))


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalAws]:
    with local_aws(page_size=25) as aws:
        yield aws


@pytest.fixture(scope="session")
def lambda_api() -> Iterator[LambdaAccountApi]:
    with LambdaAccountApi() as api:
        yield api


@pytest.fixture
def account(
    stack: LocalAws, lambda_api: LambdaAccountApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Account:
    """A fresh account that passes every check: one hook enabled, hook results listed, the default quota,
    the default bus, sam and python3.13 on PATH, and the template's default parameters."""
    stack.reset()
    stack.emulator.clear_hook_types()
    stack.proxy.calls.clear()
    lambda_api.concurrent_executions, lambda_api.reserved_by_functions = 1000, 0
    lambda_api.denied = False
    lambda_api.requests.clear()

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sam = bin_dir / "sam"
    sam.write_text(SAM_STUB)
    sam.chmod(0o755)
    python = sys.executable if sys.version_info[:2] == (3, 13) else shutil.which("python3.13")
    if python is None:
        pytest.skip("needs a Python 3.13 to put on PATH")
    (bin_dir / "python3.13").symlink_to(python)
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text("version = 0.1\n")

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    environment = {
        **stack.process_environment(),
        "AWS_ENDPOINT_URL_LAMBDA": lambda_api.endpoint_url,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PATH": str(bin_dir),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    created = Account(stack, lambda_api, bin_dir, samconfig, monkeypatch)
    created.add_hook_results()
    stack.emulator.register_hook_type(HOOK, configuration=ENABLED)
    return created
