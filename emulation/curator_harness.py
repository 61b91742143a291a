"""Runs the real curator handler on the local stack, as template.yaml deploys it: a session of its own
CuratorRole, the environment CuratorFunction declares (resolved for the same deployment as the archiver's),
and every call (Glue, S3, KMS) through the authorizing proxy. The raw archive it curates is the one an
ArchiverHarness of the same deployment wrote.

Each invocation is a cold start in a process of its own (`python -m emulation.curator_harness`), holding only
the function's environment: pyarrow's S3 filesystem fixes the CAs it trusts when pyarrow is first imported,
so the local stack's certificate must be in place before that (see `_invoke`).

The deployment is an ArchiverHarness's (a single-account stack), or a CentralDeployment: the central stack
of an Organization (emulation/organization.py), whose curator reads every member's raw objects."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol

import pyarrow as pa
from typing_extensions import TypeVar

from emulation.archiver_harness import STACK_NAME, ArchiverHarness
from emulation.aws_stack import ACCOUNT_ID, CREDENTIALS, REGION, LocalAws
from emulation.cfn_stack import Stack
from emulation.function_role import RoleDocuments, put_role, session_credentials
from emulation.lambda_runtime import (
    REPO_ROOT,
    FunctionSpec,
    function_spec,
    invoke,
    load_event,
    resolved_environment,
)
from emulation.lambda_service import Delivery, LambdaService
from emulation.organization import CentralArchive

ROLE_LOGICAL_ID = "CuratorRole"
ROLE_NAME = f"{STACK_NAME}-{ROLE_LOGICAL_ID}"
FUNCTION_LOGICAL_ID = "CuratorFunction"
_RUN_TIMEOUT_SECONDS = 300


class Deployment(Protocol):
    """What a curator is deployed with: the local stack, and template.yaml resolved for one stack."""

    @property
    def aws(self) -> LocalAws: ...

    def deployment(self) -> Stack: ...


@dataclass
class CentralDeployment:
    """The central stack of an Organization (template.yaml with OrganizationId), as CentralArchive
    resolves it: its bucket holds every member's raw objects."""

    central: CentralArchive
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def aws(self) -> LocalAws:
        return self.central.organization.aws

    def deployment(self) -> Stack:
        return self.central.deployment(**self.parameters)


D = TypeVar("D", bound=Deployment, default=ArchiverHarness)


@dataclass
class CuratorHarness(Generic[D]):
    """CuratorFunction of a deployment: the archiver's (same parameters, bucket and Glue database), or
    the central stack's."""

    archiver: D
    documents: RoleDocuments | None = None  # the role's policies, when a test narrows them
    runtime_environment: dict[str, str] = field(default_factory=dict)  # e.g. Powertools switches
    spec: FunctionSpec = field(default_factory=lambda: function_spec(FUNCTION_LOGICAL_ID))
    deliveries: list[Delivery] = field(default_factory=list)  # by the Lambda service, with the role

    @property
    def aws(self) -> LocalAws:
        return self.archiver.aws

    def deployment(self) -> Stack:
        """The archiver's deployment, with what the curator's resources resolve to on the local stack."""
        stack = self.archiver.deployment()
        stack.physical_ids |= {
            "GlueDatabase": stack.values["GlueDatabaseName"],
            FUNCTION_LOGICAL_ID: f"{stack.stack_name}-{FUNCTION_LOGICAL_ID}",
        }
        log_group = str(stack.properties("CuratorLogGroup")["LogGroupName"])
        stack.physical_ids["CuratorLogGroup"] = log_group
        stack.attributes |= {
            "CuratorLogGroup.Arn": f"arn:aws:logs:{stack.region}:{stack.account_id}:log-group:{log_group}:*",
            f"{ROLE_LOGICAL_ID}.Arn": f"arn:aws:iam::{stack.account_id}:role/{_role_name(stack)}",
        }
        return stack

    def role_documents(self) -> RoleDocuments:
        return RoleDocuments.of(self.deployment(), ROLE_LOGICAL_ID)

    @property
    def database(self) -> str:
        return str(self.deployment().physical_ids["GlueDatabase"])

    @property
    def table_name(self) -> str:
        return str(self.spec.environment["CURATED_TABLE"])

    @property
    def annotations_table_name(self) -> str:
        return str(self.spec.environment["CURATED_ANNOTATIONS_TABLE"])

    def provision(self, stack: Stack) -> None:
        """What the stack creates beside the function: the Glue database with the raw table, the log group."""
        glue = self.aws.client("glue")
        database = stack.properties("GlueDatabase")["DatabaseInput"]
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput=database)
        for raw_table in (stack.properties("HookResultsTable"), stack.properties("HookAnnotationsTable")):
            with contextlib.suppress(glue.exceptions.AlreadyExistsException):
                glue.create_table(DatabaseName=raw_table["DatabaseName"], TableInput=raw_table["TableInput"])
        logs = self.aws.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=stack.physical_ids["CuratorLogGroup"])

    def environment(self, stack: Stack) -> dict[str, str]:
        role_arn = put_role(
            self.aws.client("iam"),
            _role_name(stack),
            self.documents or RoleDocuments.of(stack, ROLE_LOGICAL_ID),
        )
        return {
            **resolved_environment(self.spec, {}, stack=stack),
            **self.aws.process_environment(),
            **session_credentials(self.aws.client("sts"), role_arn, FUNCTION_LOGICAL_ID),
            **self.runtime_environment,
        }

    def run(self, event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A cold start and one invocation (a schedule tick unless `event` is given); then what the Lambda
        service does with the role (log delivery, the trace segment)."""
        stack = self.deployment()
        self.provision(stack)
        environment = self.environment(stack)
        invocation = dict(event) if event is not None else load_event("scheduled_tick.json")
        with self.lambda_service(environment, stack).invocation(invocation):
            return self._invoke(environment, invocation)

    def _invoke(self, environment: Mapping[str, str], event: Mapping[str, Any]) -> dict[str, Any]:
        """The cold start in an execution environment of its own: a fresh process holding only the
        function's environment. pyarrow's S3 filesystem (pyiceberg's file IO) takes the CAs it trusts
        from the process's OpenSSL defaults when pyarrow is first imported, and has no AWS_CA_BUNDLE: the
        local stack's certificate is given to it as SSL_CERT_FILE, as Lambda's image trusts AWS's."""
        process_environment = {
            **environment,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(self.spec.code_dir)]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if "AWS_CA_BUNDLE" in environment:
            process_environment["SSL_CERT_FILE"] = environment["AWS_CA_BUNDLE"]
        with tempfile.TemporaryDirectory(prefix="curator-run-") as directory:
            outcome_path = Path(directory) / "outcome.json"
            completed = subprocess.run(  # noqa: S603  # this interpreter, this module
                [sys.executable, "-m", __name__, self.spec.logical_id, str(outcome_path)],
                input=json.dumps(dict(event)),
                env=process_environment,
                capture_output=True,
                text=True,
                timeout=_RUN_TIMEOUT_SECONDS,
                check=False,
            )
            if not outcome_path.exists():
                raise CuratorRunError(
                    f"the curator's process ended without an outcome (exit {completed.returncode}): "
                    f"{completed.stderr[-4000:]}"
                )
            outcome = json.loads(outcome_path.read_text())
        if "error" in outcome:
            raise CuratorRunError(outcome["error"])
        result = outcome["result"]
        if not isinstance(result, dict):
            raise TypeError(f"handler returned {type(result).__name__}")
        return result

    def lambda_service(self, environment: Mapping[str, str], stack: Stack) -> LambdaService:
        function = stack.properties(FUNCTION_LOGICAL_ID)
        tracing = function.get(
            "Tracing", self.spec.template.get("Globals", {}).get("Function", {}).get("Tracing")
        )
        return LambdaService(
            environment,
            function_name=stack.physical_ids[FUNCTION_LOGICAL_ID],
            log_group=stack.physical_ids["CuratorLogGroup"],
            on_failure_destination=None,  # CuratorFunction has no on-failure destination
            tracing=tracing == "Active",
            deliveries=self.deliveries,
        )

    # ------------------------------------------------------------------------------ reading the outcome
    def admin_catalog_properties(self) -> dict[str, str]:
        """pyiceberg's Glue catalog and S3 IO as the account's administrator, straight to moto."""
        url = self.aws.moto_url
        keys = {
            "access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        return {
            "glue.endpoint": url,
            "glue.region": REGION,
            "s3.endpoint": url,
            "s3.region": REGION,
            **{f"glue.{name}": value for name, value in keys.items()},
            **{f"s3.{name}": value for name, value in keys.items()},
        }

    def curated_rows(self, table_name: str | None = None) -> pa.Table:
        """Every row of hook_results (or of the curated table named), as an analyst reads it."""
        from pyiceberg.catalog.glue import GlueCatalog  # noqa: PLC0415  # the curator's dependency

        catalog = GlueCatalog("admin", None, **self.admin_catalog_properties())
        return catalog.load_table((self.database, table_name or self.table_name)).scan().to_arrow()

    def curated_annotations(self) -> pa.Table:
        return self.curated_rows(self.annotations_table_name)

    def table_exists(self) -> bool:
        glue = self.aws.client("glue")
        try:
            glue.get_table(DatabaseName=self.database, Name=self.table_name)
        except glue.exceptions.EntityNotFoundException:
            return False
        return True


def _role_name(stack: Stack) -> str:
    return ROLE_NAME if stack.stack_name == STACK_NAME else f"{stack.stack_name}-{ROLE_LOGICAL_ID}"


class CuratorRunError(RuntimeError):
    """The invocation failed: the handler's exception, with the chain of causes, as its process saw it."""


def _describe(error: BaseException) -> str:
    """The exception and each cause, one line each (an AWS error code appears where botocore put it)."""
    lines = []
    current: BaseException | None = error
    while current is not None:
        lines.append(f"{type(current).__module__}.{type(current).__qualname__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n  caused by ".join(lines)


def _execution_environment(logical_id: str, outcome_path: str) -> None:
    """The child process: one cold start and one invocation with the event on stdin; the outcome (the
    handler's result, or its exception) is written to `outcome_path`, as stdout carries the logs."""
    spec = function_spec(logical_id)
    event = json.loads(sys.stdin.read())
    outcome: dict[str, Any]
    try:
        outcome = {"result": invoke(spec, event, environment=dict(os.environ), account_id=ACCOUNT_ID)}
    except Exception as error:  # the invocation's failure is the outcome, whatever it is
        outcome = {"error": _describe(error)}
    Path(outcome_path).write_text(json.dumps(outcome, default=str))


if __name__ == "__main__":
    _execution_environment(sys.argv[1], sys.argv[2])
