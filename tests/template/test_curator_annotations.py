"""The annotations side of the curator as template.yaml deploys it: the raw table hook_annotations_raw over
<prefix>/annotations/, the curated Iceberg table hook_annotations the curator creates under its own prefix,
the grants CuratorRole needs for it, and the outputs that name them.

The role's grants are decided by the local IAM evaluator (emulation/authorization/policy_evaluation.py), as
on the wire, for the requests the curator makes: a grant is an allow/deny decision, not a string in the
template. S3's s3:prefix condition key on ListBucket:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html; Glue's table actions are
authorized on the catalog, the database and the table ARN:
https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from curator.models.config import CuratorConfig
from emulation.authorization.policy_evaluation import Request, evaluate
from tests.template.cfn import ACCOUNT_ID, PARTITION, REGION, Stack, transformed
from tests.template.test_curator import DEPLOYMENTS  # the same two deployments as the results' tests

STACK_NAME = "hook-archive-prod"
CREATED_BUCKET = "hook-archive-prod-archivebucket-1a2b3c"
SESSION = f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/{STACK_NAME}-CuratorRole-1A2B3C4D/curator"
DAY = "dt=2026-11-27"
OBJECT = f"{ACCOUNT_ID}-{REGION}-00000000000000000001.parquet"
WRITES = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
FILE_ACTIONS = ("s3:GetObject", *WRITES)
TABLE_ACTIONS = ("glue:GetTable", "glue:CreateTable", "glue:UpdateTable")


@dataclass(frozen=True)
class Deployment:
    stack: Stack
    bucket: str
    prefix: str
    database: str

    @property
    def curated(self) -> str:
        """The curated annotations table's key prefix, as the contract with the curator fixes it."""
        return f"{self.prefix}-curated/{ACCOUNT_ID}/{REGION}/{self.database}/hook_annotations"

    def object_arn(self, key: str) -> str:
        return f"arn:{PARTITION}:s3:::{self.bucket}/{key}"

    def glue_arn(self, resource: str) -> str:
        return f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT_ID}:{resource}"

    def may(self, action: str, resource: str, **context: str) -> bool:
        """CuratorRole's decision for one request of the curator's session."""
        policies = [item["PolicyDocument"] for item in self.stack.properties("CuratorRole")["Policies"]]
        request = Request(SESSION, action, resource, {"aws:SecureTransport": "true", **context})
        return evaluate(request, policies).allowed

    def may_list(self, prefix: str) -> bool:
        return self.may("s3:ListBucket", f"arn:{PARTITION}:s3:::{self.bucket}", **{"s3:prefix": prefix})


def deployed(name: str) -> Deployment:
    """The stack with the names CloudFormation would give: a Glue table's and database's Ref is its name."""
    template = transformed()
    parameters = DEPLOYMENTS[name]
    values = Stack(template, parameters=parameters).values
    tables = {
        logical_id: resource["Properties"]["TableInput"]["Name"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Glue::Table"
    }
    stack = Stack(
        template,
        parameters=parameters,
        stack_name=STACK_NAME,
        physical_ids={"ArchiveBucket": CREATED_BUCKET, "GlueDatabase": values["GlueDatabaseName"], **tables},
    )
    return Deployment(
        stack=stack,
        bucket=values["ExistingArchiveBucketName"] or CREATED_BUCKET,
        prefix=values["ArchivePrefix"],
        database=values["GlueDatabaseName"],
    )


@pytest.fixture(params=list(DEPLOYMENTS))
def deployment(request: pytest.FixtureRequest) -> Deployment:
    return deployed(request.param)


def _curator_environment(deployment: Deployment) -> dict[str, Any]:
    variables: dict[str, Any] = deployment.stack.properties("CuratorFunction")["Environment"]["Variables"]
    return variables


def test_the_raw_annotations_table_is_hook_annotations_raw_over_the_annotations_prefix(
    deployment: Deployment,
) -> None:
    table = deployment.stack.properties("HookAnnotationsTable")["TableInput"]
    raw = f"s3://{deployment.bucket}/{deployment.prefix}/annotations/"
    assert table["Name"] == "hook_annotations_raw"
    assert table["StorageDescriptor"]["Location"] == raw
    assert table["Parameters"]["storage.location.template"] == raw + "dt=${dt}/"
    assert "Query hook_annotations, its compacted copy," in table["Description"]
    # The curated hook_annotations is the curator's (created on its first run), like hook_results.
    names = {
        resource["Properties"]["TableInput"]["Name"]
        for resource in deployment.stack.resources("AWS::Glue::Table").values()
    }
    assert names == {"hook_results_raw", "hook_annotations_raw"}


def test_the_curators_annotations_table_lives_under_the_curated_prefix_outside_the_raw_one(
    deployment: Deployment,
) -> None:
    variables = _curator_environment(deployment)
    location = f"s3://{deployment.bucket}/{deployment.curated}"
    assert variables["CURATED_ANNOTATIONS_TABLE"] == "hook_annotations"
    assert variables["CURATED_ANNOTATIONS_LOCATION"] == location
    # The raw tables' partition projections read everything under <prefix>/ (dt= and annotations/dt=).
    assert not f"{location}/".startswith(f"s3://{deployment.bucket}/{deployment.prefix}/")
    # Each table removes the files under its location it does not reference: neither may hold the other.
    results = f"{variables['CURATED_LOCATION']}/"
    assert not results.startswith(f"{location}/")
    assert not f"{location}/".startswith(results)
    # And the curator reads them as its annotations table and location (its cold-start config).
    config = CuratorConfig.from_environ(
        {name: str(value) for name, value in variables.items()} | {"AWS_REGION": REGION}
    )
    assert config.curated_annotations_table == "hook_annotations"
    assert config.annotations_table_location == location


def test_curator_role_lists_and_reads_raw_annotations_and_keeps_the_curated_annotations_table(
    deployment: Deployment,
) -> None:
    raw = f"{deployment.prefix}/annotations"
    curated = deployment.curated
    database = deployment.database
    requests = {
        # Every day since the mark, and one day
        f"list {raw}/dt=": deployment.may_list(f"{raw}/dt="),
        f"list {raw}/{DAY}/": deployment.may_list(f"{raw}/{DAY}/"),
        "read a raw annotations object": deployment.may(
            "s3:GetObject", deployment.object_arn(f"{raw}/{DAY}/{OBJECT}")
        ),
        # Orphan removal, and pyarrow's listing of a new file's "directory"
        f"list {curated}/": deployment.may_list(f"{curated}/"),
        f"list {curated}/metadata/": deployment.may_list(f"{curated}/metadata/"),
    }
    for action in FILE_ACTIONS:
        for key in (
            f"{curated}/data/dt=2026-11-27/00000-0-a.parquet",
            f"{curated}/metadata/00001-b.metadata.json",
        ):
            requests[f"{action} {key}"] = deployment.may(action, deployment.object_arn(key))
    for action in TABLE_ACTIONS:
        for resource in ("catalog", f"database/{database}", f"table/{database}/hook_annotations"):
            requests[f"{action} {resource}"] = deployment.may(action, deployment.glue_arn(resource))
    assert [request for request, allowed in requests.items() if not allowed] == []


def test_control_curator_role_writes_nothing_under_the_raw_prefix_and_no_raw_or_other_table(
    deployment: Deployment,
) -> None:
    prefix, database = deployment.prefix, deployment.database
    # The same session may write its own table's files: the refusals below are the grants' doing.
    assert deployment.may("s3:PutObject", deployment.object_arn(f"{deployment.curated}/data/x.parquet"))
    raw_keys = (
        f"{prefix}/annotations/{DAY}/{OBJECT}",
        f"{prefix}/{DAY}/{OBJECT}",
        f"{prefix}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json",
        f"{prefix}/annotations/hook_annotations/data/x.parquet",
        f"{prefix}/{deployment.curated}/data/x.parquet",
    )
    # '/' bounds the grant: a sibling whose name starts like the table's is another table.
    elsewhere = (
        f"{deployment.curated}_raw/data/x.parquet",
        f"{prefix}-curated/hook_annotations/data/x.parquet",
    )
    allowed = [
        f"{action} {key}"
        for key in (*raw_keys, *elsewhere)
        for action in WRITES
        if deployment.may(action, deployment.object_arn(key))
    ]
    allowed += [
        f"{action} {table}"
        for table in ("hook_annotations_raw", "hook_results_raw")
        for action in ("glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable")
        if deployment.may(action, deployment.glue_arn(f"table/{database}/{table}"))
    ]
    if deployment.may("glue:DeleteTable", deployment.glue_arn(f"table/{database}/hook_annotations")):
        allowed.append("glue:DeleteTable hook_annotations")
    allowed += [
        f"list {listed}"
        for listed in (f"{prefix}/", f"{prefix}/annotations/", f"{prefix}/_state/", "")
        if deployment.may_list(listed)
    ]
    checkpoint = deployment.object_arn(f"{prefix}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json")
    if deployment.may("s3:GetObject", checkpoint):
        allowed.append("read the checkpoint")
    assert allowed == []


def test_outputs_name_the_curated_and_raw_annotations_tables_and_the_curated_location(
    deployment: Deployment,
) -> None:
    outputs = deployment.stack.resolve(
        {name: output["Value"] for name, output in deployment.stack.template["Outputs"].items()}
    )
    variables = _curator_environment(deployment)
    database = deployment.database
    assert outputs["AnnotationsTableName"] == f"{database}.{variables['CURATED_ANNOTATIONS_TABLE']}"
    assert outputs["AnnotationsTableName"] == f"{database}.hook_annotations"
    assert outputs["RawAnnotationsTableName"] == f"{database}.hook_annotations_raw"
    assert outputs["CuratedAnnotationsLocation"] == f"{variables['CURATED_ANNOTATIONS_LOCATION']}/"
    # Beside the results' three, which name the other tables
    assert outputs["GlueTableName"] == f"{database}.hook_results"
    assert outputs["RawGlueTableName"] == f"{database}.hook_results_raw"
    assert outputs["CuratedTableLocation"] == f"{variables['CURATED_LOCATION']}/"
    for name in ("AnnotationsTableName", "RawAnnotationsTableName", "CuratedAnnotationsLocation"):
        assert deployment.stack.template["Outputs"][name]["Description"], name
