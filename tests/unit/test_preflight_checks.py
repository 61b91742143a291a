"""Preflight's checks are pure: the cases the local stack cannot stage (another account's key, a bucket the
caller may not read, a legacy hook configuration) are judged here from facts alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hook_archive_cli.facts import ApiError, ArchiveBucket, DefaultEncryption, HookType, KmsKey
from hook_archive_cli.parameters import (
    DeployParameters,
    ParameterError,
    parse_overrides,
    read_samconfig,
    resolve,
    template_parameters,
)
from hook_archive_cli.preflight import (
    check_active_hooks,
    check_bucket_encryption,
    check_bucket_versioning,
    check_kms_key,
    parse_key_arn,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
KEY = "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def parameters(**values: str) -> DeployParameters:
    declared = template_parameters(TEMPLATE)
    return DeployParameters.from_values(
        resolve(declared, [("test", values)]), stack_region="us-east-1", template=str(TEMPLATE)
    )


def test_another_accounts_key_the_caller_cannot_describe_is_a_warning() -> None:
    denied = ApiError("DescribeKey", "AccessDeniedException", "not authorized")

    row = check_kms_key("KmsKeyArn", parameters(KmsKeyArn=KEY), denied)

    assert row.status == "warn"
    assert "us-east-1 (from its ARN)" in row.detail


def test_an_asymmetric_key_fails() -> None:
    key = KmsKey(KEY, enabled=True, key_state="Enabled", key_spec="RSA_2048", key_usage="SIGN_VERIFY")

    assert check_kms_key("KmsKeyArn", parameters(KmsKeyArn=KEY), key).status == "fail"


def test_a_hook_enabled_through_the_legacy_target_stacks_all_counts_as_active() -> None:
    legacy = json.dumps({"CloudFormationConfiguration": {"HookConfiguration": {"TargetStacks": "ALL"}}})
    hook = HookType("MyOrg::Legacy::Hook", "arn:aws:cloudformation:us-east-1:1:type/hook/x", legacy)

    assert check_active_hooks((hook,), "us-east-1").status == "pass"


def test_hook_configurations_the_caller_cannot_read_are_a_warning_not_a_failure() -> None:
    unreadable = ApiError("BatchDescribeTypeConfigurations", "AccessDenied", "no")
    hook = HookType("MyOrg::Guard::Hook", "arn:aws:cloudformation:us-east-1:1:type/hook/x", unreadable)

    row = check_active_hooks((hook,), "us-east-1")

    assert row.status == "warn"
    assert "configuration unreadable (AccessDenied)" in row.detail


def test_a_bucket_the_caller_may_not_read_is_a_warning() -> None:
    denied = ApiError("GetBucketVersioning", "AccessDenied", "Access Denied")
    bucket = ArchiveBucket("central", "us-east-1", denied, "BucketOwnerEnforced", None)

    row = check_bucket_versioning(bucket)

    assert row.status == "warn"
    assert "s3:GetBucketVersioning" in row.fix


def test_a_bucket_key_that_could_not_be_resolved_is_a_warning() -> None:
    encryption = DefaultEncryption("aws:kms", "alias/somewhere-else", None)
    bucket = ArchiveBucket("central", "us-east-1", "Enabled", "BucketOwnerEnforced", encryption)

    assert check_bucket_encryption(bucket, KEY).status == "warn"


def test_sse_kms_with_the_aws_managed_key_does_not_satisfy_kms_key_arn() -> None:
    bucket = ArchiveBucket(
        "central", "us-east-1", "Enabled", "BucketOwnerEnforced", DefaultEncryption("aws:kms", None, None)
    )

    row = check_bucket_encryption(bucket, KEY)

    assert row.status == "fail"
    assert "aws/s3" in row.detail


def test_a_key_arn_names_its_region_and_account() -> None:
    parsed = parse_key_arn(KEY)

    assert parsed is not None
    assert (parsed.region, parsed.account) == ("us-east-1", "210987654321")
    assert parse_key_arn("alias/archive") is None


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["A=1", "B=two words"], {"A": "1", "B": "two words"}),
        (['A=1 B="two words"'], {"A": "1", "B": "two words"}),
        (["ParameterKey=A,ParameterValue=x,y"], {"A": "x,y"}),
        (["Empty="], {"Empty": ""}),
    ],
)
def test_parameter_overrides_are_read_as_sam_deploy_reads_them(
    tokens: list[str], expected: dict[str, str]
) -> None:
    assert parse_overrides(tokens, source="test") == expected


def test_a_parameter_override_without_a_value_is_refused() -> None:
    with pytest.raises(ParameterError, match="is not Key=Value"):
        parse_overrides(["ReservedConcurrency"], source="--parameter-overrides")


def test_samconfig_deploy_parameters_win_over_its_global_ones(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        "version = 0.1\n"
        '[prod.global.parameters]\nregion = "eu-west-1"\nparameter_overrides = ["A=global", "B=global"]\n'
        '[prod.deploy.parameters]\nprofile = "ops"\nparameter_overrides = ["A=deploy"]\n'
    )

    read = read_samconfig(config, "prod")

    assert read.parameter_overrides == {"A": "deploy"}
    assert (read.region, read.profile) == ("eu-west-1", "ops")


def test_defaults_come_from_the_template_and_numbers_are_checked() -> None:
    declared = template_parameters(TEMPLATE)

    assert resolve(declared, [])["EventBusName"] == declared["EventBusName"].default
    with pytest.raises(ParameterError, match="ReservedConcurrency is a Number"):
        resolve(declared, [("test", {"ReservedConcurrency": "one"})])
