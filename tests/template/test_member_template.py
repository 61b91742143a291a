"""The member template of an Organization (tooling/member_template.py) is template.yaml's archiver, in plain
CloudFormation a service-managed StackSet accepts, and stays in step with template.yaml by construction:
these tests hold the generated template to the same linters and to the same role and function as a
single-account deployment archiving into the same central bucket."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from emulation.lambda_runtime import load_template
from tests.template.cfn import ACCOUNT_ID, Stack, tool, transformed
from tests.template.test_linters import _checkov, _suppressions, run
from tooling.member_template import MEMBER_RESOURCES, MemberTemplateError, member_template
from tooling.package_org import deterministic_zip

CENTRAL = "111111111111"
CENTRAL_BUCKET = "org-hook-archive"
CENTRAL_KEY = f"arn:aws:kms:us-east-1:{CENTRAL}:key/0c7e3c1e-5b7e-4d43-9a8c-5c1a3c0a1b2d"
CENTRAL_BUS = f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/hook-archive"
# What a member deployment and the equivalent single-account deployment share.
SHARED = {
    "ExistingArchiveBucketName": CENTRAL_BUCKET,
    "KmsKeyArn": CENTRAL_KEY,
    "EventBusName": CENTRAL_BUS,
    "ArchiveBucketRegion": "us-east-1",
}
MEMBER_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return member_template(
        transformed(), function_key="cfn-hook-archive/a.zip", layer_key="cfn-hook-archive/l.zip"
    )


def _member_stack(member: dict[str, Any], **parameters: str) -> Stack:
    return Stack(
        member,
        parameters={**SHARED, "ArtifactBucketPrefix": "org-artefacts", **parameters},
        account_id=ACCOUNT_ID,
        region=MEMBER_REGION,
        stack_name="StackSet-hook-archive-members-5f0c",
    )


def _single_account_stack() -> Stack:
    return Stack(
        transformed(),
        parameters=SHARED,
        account_id=ACCOUNT_ID,
        region=MEMBER_REGION,
        stack_name="StackSet-hook-archive-members-5f0c",
    )


def test_member_template_has_no_transform_and_only_the_archiver(member: dict[str, Any]) -> None:
    assert "Transform" not in member
    assert "Globals" not in member
    types = {resource["Type"] for resource in member["Resources"].values()}
    assert not any(type_name.startswith("AWS::Serverless::") for type_name in types)
    layers = [logical_id for logical_id in member["Resources"] if logical_id.startswith("DependenciesLayer")]
    assert set(member["Resources"]) == {*MEMBER_RESOURCES, *layers}
    assert len(layers) == 1
    # Nothing the central stack owns for the whole Organization.
    for central in (
        "ArchiveBucket",
        "ArchiveKey",
        "HookResultsTable",
        "FailureNotificationRule",
        "Dashboard",
    ):
        assert central not in member["Resources"]


def test_member_template_passes_cfn_lint_even_informational(member: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "member.json"
    path.write_text(json.dumps(member))
    result = run([tool("sam", "cfn-lint"), "--include-checks", "I", "--", path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_member_template_passes_checkov_skipping_only_what_template_yaml_suppresses(
    member: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "member.json"
    path.write_text(json.dumps(member))
    results = _checkov(path)["results"]
    assert [(check["resource"], check["check_id"]) for check in results["failed_checks"]] == []
    declared = {key for key in _suppressions(load_template()) if key[0] in member["Resources"]}
    skipped = {(check["resource"].split(".", 1)[1], check["check_id"]) for check in results["skipped_checks"]}
    # template.yaml's reasons, and SAM's copies of the function's onto what it generates from it.
    assert declared <= skipped
    assert all(logical_id.startswith("ArchiverFunction") for logical_id, _ in skipped - declared)


def test_member_role_is_template_yamls_archiver_role_with_a_fixed_name(member: dict[str, Any]) -> None:
    mine = _member_stack(member).properties("ArchiverRole")
    single = _single_account_stack().properties("ArchiverRole")
    assert mine.pop("RoleName") == f"cfn-hook-archive-archiver-{MEMBER_REGION}"
    assert mine == single
    statements = {
        statement["Sid"]: statement for statement in mine["Policies"][0]["PolicyDocument"]["Statement"]
    }
    # The central archive: its key through S3 of its region, its bus by ARN.
    assert statements["ArchiveKey"]["Resource"] == CENTRAL_KEY
    assert (
        statements["ArchiveKey"]["Condition"]["StringEquals"]["kms:ViaService"]
        == "s3.us-east-1.amazonaws.com"
    )
    assert statements["FailureEvents"]["Resource"] == CENTRAL_BUS
    assert statements["ArchiveObjects"]["Resource"] == (
        f"arn:aws:s3:::{CENTRAL_BUCKET}/hook-results/dt=*/{ACCOUNT_ID}-{MEMBER_REGION}-*.parquet"
    )


def test_member_role_name_is_the_one_the_central_policies_admit(member: dict[str, Any]) -> None:
    central = Stack(transformed(), parameters={"OrganizationId": "o-abcdefghij"}, account_id=CENTRAL)
    role_name = _member_stack(member).properties("ArchiverRole")["RoleName"]
    bucket_policy = central.properties("ArchiveBucketPolicy")["PolicyDocument"]["Statement"]
    patterns = {
        statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
        for statement in bucket_policy
        if "ArnLike" in statement.get("Condition", {})
    }
    assert patterns == {"arn:aws:iam::*:role/cfn-hook-archive-archiver-*"}
    assert fnmatch.fnmatchcase(f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}", patterns.pop())
    assert (
        member["Parameters"]["MemberArchiverRoleName"]["Default"]
        == (transformed()["Parameters"]["MemberArchiverRoleName"]["Default"])
    )


def test_member_function_is_template_yamls_with_code_from_its_regions_artefact_bucket(
    member: dict[str, Any],
) -> None:
    mine = _member_stack(member).properties("ArchiverFunction")
    single = _single_account_stack().properties("ArchiverFunction")
    assert mine.pop("Code") == {
        "S3Bucket": f"org-artefacts-{MEMBER_REGION}",
        "S3Key": "cfn-hook-archive/a.zip",
    }
    single.pop("Code")
    variables = mine["Environment"]["Variables"]
    # Members publish the metrics fleet alarms need; the rest stays in the run's log line.
    assert variables.pop("METRICS_LEVEL") == "essential"
    assert single["Environment"]["Variables"].pop("METRICS_LEVEL") == "all"
    assert mine == single
    layer = next(r for i, r in _member_stack(member).resources().items() if i.startswith("DependenciesLayer"))
    assert layer["Properties"]["Content"] == {
        "S3Bucket": f"org-artefacts-{MEMBER_REGION}",
        "S3Key": "cfn-hook-archive/l.zip",
    }
    for logical_id in (
        "ArchiverFunctionSchedule",
        "ArchiverFunctionEventInvokeConfig",
        "ArchiverScheduleRole",
    ):
        assert _member_stack(member).properties(logical_id) == _single_account_stack().properties(logical_id)


def test_member_template_requires_the_central_archives_coordinates(member: dict[str, Any]) -> None:
    for name in ("ExistingArchiveBucketName", "KmsKeyArn", "EventBusName", "ArtifactBucketPrefix"):
        assert "Default" not in member["Parameters"][name], name
    with pytest.raises(KeyError):
        Stack(member, parameters={"OrganizationId": "o-abcdefghij"})  # a central-only parameter


def test_generation_refuses_a_template_yaml_without_the_archiver() -> None:
    document = transformed()
    del document["Resources"]["ArchiverScheduleRole"]
    with pytest.raises(MemberTemplateError, match="ArchiverScheduleRole"):
        member_template(document, function_key="a", layer_key="l")


def test_packaged_zips_are_byte_identical_for_the_same_build(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text("b = 2\n")
    (tmp_path / "pkg" / "a.py").write_text("a = 1\n")
    first = deterministic_zip(tmp_path)
    (tmp_path / "pkg" / "a.py").touch()  # a new mtime, as every sam build gives
    assert deterministic_zip(tmp_path) == first
    (tmp_path / "pkg" / "a.py").write_text("a = 3\n")
    assert deterministic_zip(tmp_path) != first
