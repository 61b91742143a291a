"""The curator as template.yaml deploys it: its role, its environment, its schedule, and the four tables
(hook_results and hook_annotations curated, each with its raw table)."""

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


def test_curator_role_reads_the_raw_archive_and_writes_only_its_tables_prefixes_and_glue_tables(
    stack: Stack,
) -> None:
    # Each statement serves hook_results and hook_annotations (the curator curates both): one resource or
    # prefix per table, and nothing more for either (tests/template/test_curator_annotations.py decides
    # the annotations' requests with the IAM evaluator).
    bucket = stack.values["ExistingArchiveBucketName"] or "<ArchiveBucket>"
    prefix = stack.values["ArchivePrefix"]
    curated = f"{prefix}-curated/{ACCOUNT_ID}/{REGION}/<GlueDatabase>"
    table_prefix = f"{curated}/hook_results"
    annotations_prefix = f"{curated}/hook_annotations"
    glue = f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT_ID}"
    statements = _statements(stack)
    granted = {sid: (_actions(statement), statement["Resource"]) for sid, statement in statements.items()}
    expected: dict[str, tuple[list[str], Any]] = {
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"], "<CuratorLogGroup.Arn>"),
        "Tracing": (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*"),
        "ListRawArchive": (["s3:ListBucket"], f"arn:{PARTITION}:s3:::{bucket}"),
        "ReadRawArchive": (
            ["s3:GetObject"],
            [
                f"arn:{PARTITION}:s3:::{bucket}/{prefix}/dt=*",
                f"arn:{PARTITION}:s3:::{bucket}/{prefix}/annotations/dt=*",
            ],
        ),
        "ListCuratedTable": (["s3:ListBucket"], f"arn:{PARTITION}:s3:::{bucket}"),
        "CuratedTableFiles": (
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [
                f"arn:{PARTITION}:s3:::{bucket}/{table_prefix}/*",
                f"arn:{PARTITION}:s3:::{bucket}/{annotations_prefix}/*",
            ],
        ),
        "CuratedTableCatalog": (
            ["glue:CreateTable", "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
            [
                f"{glue}:catalog",
                f"{glue}:database/<GlueDatabase>",
                f"{glue}:table/<GlueDatabase>/hook_results",
                f"{glue}:table/<GlueDatabase>/hook_annotations",
            ],
        ),
    }
    if stack.values["KmsKeyArn"]:
        expected["ArchiveKey"] = (["kms:Decrypt", "kms:GenerateDataKey"], KEY)
        assert statements["ArchiveKey"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
        }
    assert granted == expected
    assert statements["ListRawArchive"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"{prefix}/dt=*", f"{prefix}/annotations/dt=*"]}
    }
    assert statements["ListCuratedTable"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"{table_prefix}/*", f"{annotations_prefix}/*"]}
    }
    # Nothing of the curator's may land where the raw tables' partition projections read.
    assert not table_prefix.startswith(f"{prefix}/")
    assert not annotations_prefix.startswith(f"{prefix}/")


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
    assert config.curated_annotations_table == "hook_annotations"
    assert config.endpoint_url is None
    files = [_named(resource) for resource in _statements(stack)["CuratedTableFiles"]["Resource"]]
    locations = {"CuratedTableLocation": config.table_location}
    locations["CuratedAnnotationsLocation"] = config.annotations_table_location
    assert files == [
        f"arn:{PARTITION}:s3:::{location.removeprefix('s3://')}/*" for location in locations.values()
    ]
    outputs = stack.resolve({name: stack.template["Outputs"][name]["Value"] for name in locations})
    assert {name: _named(value) for name, value in outputs.items()} == {
        name: location + "/" for name, location in locations.items()
    }
    catalog = [_named(resource) for resource in _statements(stack)["CuratedTableCatalog"]["Resource"]]
    assert catalog[-2:] == [
        f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT_ID}:table/{config.glue_database}/{table}"
        for table in (config.curated_table, config.curated_annotations_table)
    ]


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


def test_named_queries_read_the_curated_tables_and_the_raw_tables_are_the_raw_ones() -> None:
    stack = Stack(transformed())
    for logical_id, name in (
        ("HookResultsTable", "hook_results_raw"),
        ("HookAnnotationsTable", "hook_annotations_raw"),
    ):
        raw = stack.properties(logical_id)["TableInput"]
        assert raw["Name"] == name
        assert raw["Parameters"]["projection.enabled"] == "true"
    variables = stack.properties("CuratorFunction")["Environment"]["Variables"]
    curated, annotations = variables["CURATED_TABLE"], variables["CURATED_ANNOTATIONS_TABLE"]
    assert annotations == "hook_annotations"
    for query in stack.resources("AWS::Athena::NamedQuery").values():
        # queries/annotations/ read the curated annotations table, hook_annotations, not the results
        table = annotations if "/annotations/" in query["Properties"]["Description"] else curated
        assert f"FROM {table}\n" in query["Properties"]["QueryString"]
        for raw_table in ("hook_results_raw", "hook_annotations_raw"):
            assert raw_table not in query["Properties"]["QueryString"]
    outputs = stack.resolve(
        {
            name: output["Value"]
            for name, output in stack.template["Outputs"].items()
            if "Condition" not in output
        }
    )
    assert outputs["GlueTableName"] == "<GlueDatabase>.hook_results"
    assert outputs["RawGlueTableName"] == "<GlueDatabase>.<HookResultsTable>"
    assert outputs["AnnotationsTableName"] == "<GlueDatabase>.hook_annotations"
    assert outputs["RawAnnotationsTableName"] == "<GlueDatabase>.<HookAnnotationsTable>"
