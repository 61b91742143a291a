"""The curator as template.yaml deploys it: its role, its environment, its schedule, and the two tables."""

from __future__ import annotations

from typing import Any

import pytest

from curator.models.config import ENVIRONMENT_VARIABLES, CuratorConfig
from tests.template.cfn import ACCOUNT_ID, PARTITION, REGION, Stack, transformed

KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEPLOYMENTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "existing-bucket-with-key": {
        "ExistingArchiveBucketName": "central-hook-archive",
        "KmsKeyArn": KEY,
        "ArchivePrefix": "org/hooks",
        "GlueDatabaseName": "hooks_prod",
    },
}
# What the resolver shows for a resource's Ref, and the value CloudFormation would give it.
NAMES = {"<ArchiveBucket>": "hook-archive-prod-archivebucket-1a2b3c", "<GlueDatabase>": "cfn_hook_archive"}


@pytest.fixture(params=list(DEPLOYMENTS))
def stack(request: pytest.FixtureRequest) -> Stack:
    return Stack(transformed(), parameters=DEPLOYMENTS[request.param], stack_name="hook-archive-prod")


def _statements(stack: Stack) -> dict[str, dict[str, Any]]:
    (policy,) = stack.properties("CuratorRole")["Policies"]
    return {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return sorted([actions] if isinstance(actions, str) else actions)


def _named(value: str) -> str:
    for placeholder, name in NAMES.items():
        value = value.replace(placeholder, name)
    return value


def test_curator_role_reads_the_raw_archive_and_writes_only_its_table_prefix_and_glue_table(
    stack: Stack,
) -> None:
    bucket = stack.values["ExistingArchiveBucketName"] or "<ArchiveBucket>"
    prefix = stack.values["ArchivePrefix"]
    table_prefix = f"{prefix}-curated/{ACCOUNT_ID}/{REGION}/<GlueDatabase>/hook_results"
    glue = f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT_ID}"
    statements = _statements(stack)
    granted = {sid: (_actions(statement), statement["Resource"]) for sid, statement in statements.items()}
    expected: dict[str, tuple[list[str], Any]] = {
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"], "<CuratorLogGroup.Arn>"),
        "Tracing": (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*"),
        "ListRawArchive": (["s3:ListBucket"], f"arn:{PARTITION}:s3:::{bucket}"),
        "ReadRawArchive": (["s3:GetObject"], f"arn:{PARTITION}:s3:::{bucket}/{prefix}/dt=*"),
        "ListCuratedTable": (["s3:ListBucket"], f"arn:{PARTITION}:s3:::{bucket}"),
        "CuratedTableFiles": (
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            f"arn:{PARTITION}:s3:::{bucket}/{table_prefix}/*",
        ),
        "CuratedTableCatalog": (
            ["glue:CreateTable", "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
            [
                f"{glue}:catalog",
                f"{glue}:database/<GlueDatabase>",
                f"{glue}:table/<GlueDatabase>/hook_results",
            ],
        ),
    }
    if stack.values["KmsKeyArn"]:
        expected["ArchiveKey"] = (["kms:Decrypt", "kms:GenerateDataKey"], KEY)
        assert statements["ArchiveKey"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
        }
    assert granted == expected
    assert statements["ListRawArchive"]["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}/dt=*"}}
    assert statements["ListCuratedTable"]["Condition"] == {"StringLike": {"s3:prefix": f"{table_prefix}/*"}}
    # Nothing of the curator's may land where the raw table's partition projection reads.
    assert not table_prefix.startswith(f"{prefix}/")


def test_curator_environment_is_the_curators_config_and_its_location_is_the_one_the_role_writes(
    stack: Stack,
) -> None:
    variables = stack.properties("CuratorFunction")["Environment"]["Variables"]
    assert set(variables) <= set(ENVIRONMENT_VARIABLES) - {"AWS_REGION", "AWS_ENDPOINT_URL"} | {
        "POWERTOOLS_LOG_LEVEL"
    }
    config = CuratorConfig.from_environ(
        {name: _named(str(value)) for name, value in variables.items()} | {"AWS_REGION": REGION}
    )
    assert config.curated_table == "hook_results"
    assert config.endpoint_url is None
    files = _statements(stack)["CuratedTableFiles"]["Resource"]
    assert _named(files) == f"arn:{PARTITION}:s3:::{config.table_location.removeprefix('s3://')}/*"
    outputs = stack.resolve({"Location": stack.template["Outputs"]["CuratedTableLocation"]["Value"]})
    assert _named(outputs["Location"]) == config.table_location + "/"
    catalog = _statements(stack)["CuratedTableCatalog"]["Resource"]
    assert _named(catalog[-1]).endswith(f":table/{config.glue_database}/{config.curated_table}")


def test_curator_runs_on_its_own_schedule_parameter_with_its_own_layer_and_log_group() -> None:
    stack = Stack(transformed(), parameters={"CuratorScheduleRate": "rate(10 minutes)"})
    function = stack.properties("CuratorFunction")
    assert function["Role"] == "<CuratorRole.Arn>"
    (layer_id,) = (
        name for name in stack.resources("AWS::Lambda::LayerVersion") if name.startswith("Curator")
    )
    assert function["Layers"] == [f"<{layer_id}>"]
    assert function["LoggingConfig"] == {"LogGroup": "<CuratorLogGroup>"}
    assert function["Handler"] == "curator.handlers.curate.lambda_handler"
    assert function["TracingConfig"] == {"Mode": "Active"}
    layer = stack.properties(layer_id)
    assert layer["CompatibleArchitectures"] == function["Architectures"]
    schedules = [
        rule["Properties"]
        for rule in stack.resources("AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
    ]
    (schedule,) = schedules
    assert schedule["ScheduleExpression"] == "rate(10 minutes)"
    assert [target["Arn"] for target in schedule["Targets"]] == ["<CuratorFunction.Arn>"]
    default = Stack(transformed()).template["Parameters"]["CuratorScheduleRate"]["Default"]
    assert default == "rate(5 minutes)"  # within the 15 minutes from commit to queryable


def test_named_queries_read_the_curated_table_and_the_raw_table_is_hook_results_raw() -> None:
    stack = Stack(transformed())
    raw = stack.properties("HookResultsTable")["TableInput"]
    assert raw["Name"] == "hook_results_raw"
    assert raw["Parameters"]["projection.enabled"] == "true"
    curated = stack.properties("CuratorFunction")["Environment"]["Variables"]["CURATED_TABLE"]
    for query in stack.resources("AWS::Athena::NamedQuery").values():
        # queries/annotations/ read the annotations table, hook_annotations, not the results
        table = "hook_annotations" if "/annotations/" in query["Properties"]["Description"] else curated
        assert f"FROM {table}\n" in query["Properties"]["QueryString"]
        assert "hook_results_raw" not in query["Properties"]["QueryString"]
    outputs = stack.resolve(
        {
            name: output["Value"]
            for name, output in stack.template["Outputs"].items()
            if "Condition" not in output
        }
    )
    assert outputs["GlueTableName"] == "<GlueDatabase>.hook_results"
    assert outputs["RawGlueTableName"] == "<GlueDatabase>.<HookResultsTable>"
