"""`cfn-hook-archive preflight` against the local stack: for every row a setup that passes and one that does
not, the exit status, the JSON, and that nothing is written.

API facts the checks rely on:
- An unfiltered ListHookResults is authorized as cloudformation:ListAllHookResults
  (https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/grant-iam-permissions-for-hooks.html).
- ListTypes with Visibility PRIVATE lists the private extensions registered in the account and region and the
  public ones activated there (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListTypes.html).
- BatchDescribeTypeConfigurations returns a type's configuration JSON
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_BatchDescribeTypeConfigurations.html),
  whose CloudFormationConfiguration.HookConfiguration.HookInvocationStatus is ENABLED or DISABLED
  (https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/hook-configuration-schema.html).
- GetAccountSettings reports AccountLimit.ConcurrentExecutions and UnreservedConcurrentExecutions
  (https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html); Lambda keeps 100 executions
  unreserved, so a reservation may take at most the unreserved count minus 100
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
- GetBucketLocation's LocationConstraint is null for us-east-1
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

from emulation.fault_proxy import Call
from tests.preflight.conftest import ENABLED, HOOK, OTHER_REGION, REGION, Account

READS = ("Get", "List", "Describe", "Head")


# ------------------------------------------------------------------------------------------ exit status


def test_a_ready_account_passes_every_row_and_exits_zero(account: Account) -> None:
    run = account.preflight()

    assert run.exit_status == 0, run.stdout
    assert run.report["ok"] is True
    assert run.report["region"] == REGION
    assert {row["status"] for row in run.report["rows"]} == {"pass"}
    assert [row["name"] for row in run.report["rows"]] == [
        "credentials",
        "hook results",
        "active hooks",
        "lambda concurrency",
        "archive bucket",
        "kms key KmsKeyArn",
        "kms key HookResultsKmsKeyArn",
        "kms key AthenaResultsKmsKeyArn",
        "event bus",
        "sam cli",
        "python3.13",
    ]


def test_warnings_alone_keep_the_exit_status_zero(account: Account) -> None:
    account.aws.emulator.clear()  # no hook has run yet

    run = account.preflight()

    assert run.row("hook results")["status"] == "warn"
    assert run.exit_status == 0


def test_one_failed_row_makes_the_exit_status_one_and_its_row_carries_a_one_line_fix(
    account: Account,
) -> None:
    run = account.preflight("--parameter-overrides", "EventBusName=no-such-bus")

    assert run.exit_status == 1
    assert run.report["ok"] is False
    failed = [row for row in run.report["rows"] if row["status"] == "fail"]
    assert [row["name"] for row in failed] == ["event bus"]
    assert all(row["fix"] and "\n" not in row["fix"] for row in failed)


def test_the_table_shows_each_problem_with_its_fix(account: Account) -> None:
    account.path("python3.13")

    run = account.preflight(table=True)

    table = run.stdout
    assert run.exit_status == 1
    assert "FAIL  sam cli" in table
    assert "fix: install the AWS SAM CLI" in table
    assert table.rstrip().endswith("1 failed, 0 warning(s), 10 passed")


def test_an_unknown_parameter_is_a_usage_error_naming_it(account: Account) -> None:
    run = account.preflight("--parameter-overrides", "ReservedConcurrenc=1")

    assert run.exit_status == 2
    assert run.stdout == ""
    assert "unknown parameter(s) ReservedConcurrenc" in run.stderr


def test_an_unknown_parameter_in_samconfig_is_a_usage_error_too(account: Account) -> None:
    account.samconfig.write_text(
        'version = 0.1\n[default.deploy.parameters]\nparameter_overrides = "NoSuchParameter=1"\n'
    )

    run = account.preflight()

    assert run.exit_status == 2
    assert "parameter_overrides: unknown parameter(s) NoSuchParameter" in run.stderr


def test_without_a_region_preflight_cannot_run(account: Account) -> None:
    account.monkeypatch.delenv("AWS_REGION")
    account.monkeypatch.delenv("AWS_DEFAULT_REGION")

    run = account.preflight()

    assert run.exit_status == 2
    assert "no region" in run.stderr


def test_the_console_script_prints_json_a_script_can_read(account: Account) -> None:
    script = Path(sys.executable).parent / "cfn-hook-archive"

    completed = subprocess.run(  # noqa: S603  # the project's own console script
        [str(script), *account.arguments, "--json", "--parameter-overrides", "ReservedConcurrency=1"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["ok"] is True
    assert {"name", "status", "detail", "fix"} == set(report["rows"][0])


# ---------------------------------------------------------------------------------------- parameters


def test_samconfig_parameter_overrides_are_read_and_the_command_line_wins(account: Account) -> None:
    account.lambda_api.concurrent_executions = 10
    account.samconfig.write_text(
        "version = 0.1\n[default.deploy.parameters]\n"
        'parameter_overrides = "ReservedConcurrency=1 EventBusName=\\"no-such-bus\\""\n'
    )

    from_samconfig = account.preflight()
    overridden = account.preflight(
        "--parameter-overrides", "ParameterKey=ReservedConcurrency,ParameterValue=0", "EventBusName=default"
    )

    assert from_samconfig.row("lambda concurrency")["status"] == "fail"
    assert from_samconfig.row("event bus")["status"] == "fail"
    assert overridden.exit_status == 0
    assert "ReservedConcurrency=0" in overridden.row("lambda concurrency")["detail"]


# --------------------------------------------------------------------------------------- credentials


def test_credentials_row_names_the_caller(account: Account) -> None:
    row = account.preflight().row("credentials")

    assert row["status"] == "pass"
    assert "123456789012" in row["detail"]


def test_credentials_row_fails_without_credentials(account: Account) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        account.monkeypatch.delenv(name)

    run = account.preflight()

    assert run.exit_status == 1
    assert run.row("credentials")["status"] == "fail"
    assert "NoCredentialsError" in run.row("credentials")["detail"]


# -------------------------------------------------------------------------------------- hook results


def test_hook_results_row_counts_the_first_page(account: Account) -> None:
    row = account.preflight().row("hook results")

    assert row["status"] == "pass"
    assert "3 result(s) on the first page" in row["detail"]
    listed = [call for call in account.aws.emulator.calls if call.operation == "ListHookResults"]
    assert [call.params for call in listed] == [{}]  # unfiltered: no parameter at all


def test_an_empty_first_page_is_a_warning(account: Account) -> None:
    account.aws.emulator.clear()

    row = account.preflight().row("hook results")

    assert row["status"] == "warn"
    assert "empty first page" in row["detail"]


def test_a_caller_denied_list_hook_results_fails_with_the_action_to_grant(account: Account) -> None:
    account.aws.emulator.inject(kind="access_denied")

    run = account.preflight()

    row = run.row("hook results")
    assert run.exit_status == 1
    assert row["status"] == "fail"
    assert "AccessDenied" in row["detail"]
    assert "cloudformation:ListAllHookResults" in row["fix"]


# -------------------------------------------------------------------------------------- active hooks


def test_active_hooks_row_names_the_enabled_hook(account: Account) -> None:
    account.aws.emulator.register_hook_type("Other::Lambda::Hook")  # never configured

    row = account.preflight().row("active hooks")

    assert row["status"] == "pass"
    assert row["detail"] == f"1 of 2 hook type(s) enabled: {HOOK}"


def test_an_activated_public_hook_counts_as_active(account: Account) -> None:
    account.aws.emulator.clear_hook_types()
    account.aws.emulator.register_hook_type(
        "Vendor::Security::Hook", configuration=ENABLED, publisher_id="c830e97710da0c9954d80ba8df021e5439e71"
    )

    assert account.preflight().row("active hooks")["status"] == "pass"


def test_no_hook_in_the_region_fails(account: Account) -> None:
    account.aws.emulator.clear_hook_types()

    run = account.preflight()

    assert run.exit_status == 1
    assert run.row("active hooks")["status"] == "fail"
    assert "no hook type is registered or activated" in run.row("active hooks")["detail"]


def test_hooks_that_are_disabled_or_never_configured_fail(account: Account) -> None:
    account.aws.emulator.clear_hook_types()
    account.aws.emulator.register_hook_type(HOOK, configuration=ENABLED.replace("ENABLED", "DISABLED"))
    account.aws.emulator.register_hook_type("Other::Lambda::Hook")

    row = account.preflight().row("active hooks")

    assert row["status"] == "fail"
    assert f"{HOOK} (DISABLED)" in row["detail"]
    assert "Other::Lambda::Hook (not configured)" in row["detail"]
    assert "HookInvocationStatus" in row["fix"]


def test_a_caller_who_may_not_list_types_gets_a_warning(account: Account) -> None:
    account.aws.emulator.inject(operation="ListTypes", kind="access_denied")

    row = account.preflight().row("active hooks")

    assert row["status"] == "warn"
    assert "ListTypes: AccessDenied" in row["detail"]
    assert "cloudformation:ListTypes" in row["fix"]


# --------------------------------------------------------------------------------------- concurrency


def test_a_reservation_that_leaves_100_unreserved_passes_and_reports_the_quota(account: Account) -> None:
    row = account.preflight("--parameter-overrides", "ReservedConcurrency=1").row("lambda concurrency")

    assert row["status"] == "pass"
    assert "account quota 1000 concurrent executions, 1000 unreserved" in row["detail"]
    assert "999 stay unreserved" in row["detail"]


def test_a_quota_of_10_with_reserved_concurrency_1_fails(account: Account) -> None:
    account.lambda_api.concurrent_executions = 10

    run = account.preflight("--parameter-overrides", "ReservedConcurrency=1")

    row = run.row("lambda concurrency")
    assert run.exit_status == 1
    assert row["status"] == "fail"
    assert "account quota 10 concurrent executions, 10 unreserved" in row["detail"]
    assert "ReservedConcurrency=0" in row["fix"]


def test_a_quota_of_10_without_reservation_passes_and_still_reports_the_quota(account: Account) -> None:
    account.lambda_api.concurrent_executions = 10

    row = account.preflight().row("lambda concurrency")

    assert row["status"] == "pass"
    assert "account quota 10 concurrent executions" in row["detail"]


def test_reservations_of_other_functions_count_against_the_unreserved_pool(account: Account) -> None:
    account.lambda_api.reserved_by_functions = 850

    row = account.preflight("--parameter-overrides", "ReservedConcurrency=60").row("lambda concurrency")

    assert row["status"] == "fail"
    assert "150 unreserved" in row["detail"]
    assert "at least 1010" in row["fix"]


def test_an_unreadable_quota_is_a_warning(account: Account) -> None:
    account.lambda_api.denied = True

    row = account.preflight("--parameter-overrides", "ReservedConcurrency=1").row("lambda concurrency")

    assert row["status"] == "warn"
    assert "AccessDeniedException" in row["detail"]


# ------------------------------------------------------------------------------------- archive bucket


def test_without_an_existing_bucket_the_bucket_row_is_skipped(account: Account) -> None:
    row = account.preflight().row("archive bucket")

    assert row["status"] == "pass"
    assert row["detail"].startswith("skipped")


def test_a_well_kept_existing_bucket_passes_every_bucket_row(account: Account) -> None:
    bucket = account.bucket("central-archive")

    run = account.preflight("--parameter-overrides", f"ExistingArchiveBucketName={bucket}")

    assert run.exit_status == 0, run.stdout
    for name in ("region", "versioning", "ownership", "encryption"):
        assert run.row(f"archive bucket {name}")["status"] == "pass"
    assert "central-archive is in us-east-1" in run.row("archive bucket region")["detail"]


def test_a_bucket_in_another_region_fails_unless_archive_bucket_region_names_it(account: Account) -> None:
    bucket = account.bucket("central-archive-eu", region=OTHER_REGION)

    unnamed = account.preflight("--parameter-overrides", f"ExistingArchiveBucketName={bucket}")
    named = account.preflight(
        "--parameter-overrides", f"ExistingArchiveBucketName={bucket}", f"ArchiveBucketRegion={OTHER_REGION}"
    )

    assert unnamed.row("archive bucket region")["status"] == "fail"
    assert unnamed.row("archive bucket region")["fix"] == f"deploy with ArchiveBucketRegion={OTHER_REGION}"
    assert named.row("archive bucket region")["status"] == "pass"
    assert named.exit_status == 0, named.stdout


def test_a_bucket_that_does_not_exist_fails(account: Account) -> None:
    run = account.preflight("--parameter-overrides", "ExistingArchiveBucketName=no-such-archive")

    assert run.row("archive bucket region")["status"] == "fail"
    assert run.row("archive bucket region")["detail"] == "bucket no-such-archive does not exist"


def test_a_bucket_without_versioning_fails(account: Account) -> None:
    bucket = account.bucket("unversioned-archive", versioning=False)

    row = account.preflight("--parameter-overrides", f"ExistingArchiveBucketName={bucket}").row(
        "archive bucket versioning"
    )

    assert row["status"] == "fail"
    assert "never enabled" in row["detail"]
    assert "put-bucket-versioning" in row["fix"]


def test_a_bucket_with_acls_enabled_fails_the_ownership_row(account: Account) -> None:
    writer = account.bucket("object-writer-archive", ownership="ObjectWriter")
    unset = account.bucket("no-controls-archive", ownership=None)

    for bucket, state in ((writer, "ObjectWriter"), (unset, "not set")):
        row = account.preflight("--parameter-overrides", f"ExistingArchiveBucketName={bucket}").row(
            "archive bucket ownership"
        )
        assert row["status"] == "fail"
        assert state in row["detail"]


def test_a_bucket_encrypted_with_the_key_kms_key_arn_names_passes(account: Account) -> None:
    key = account.kms_key()
    bucket = account.bucket("kms-archive", kms_key_arn=key)

    row = account.preflight(
        "--parameter-overrides", f"ExistingArchiveBucketName={bucket}", f"KmsKeyArn={key}"
    ).row("archive bucket encryption")

    assert row["status"] == "pass"


def test_a_bucket_key_given_by_alias_is_resolved_before_it_is_compared(account: Account) -> None:
    key = account.kms_key()
    account.client("kms").create_alias(AliasName="alias/archive", TargetKeyId=key)
    bucket = account.bucket("alias-archive", kms_key_arn="alias/archive")

    row = account.preflight(
        "--parameter-overrides", f"ExistingArchiveBucketName={bucket}", f"KmsKeyArn={key}"
    ).row("archive bucket encryption")

    assert row["status"] == "pass", row


def test_a_bucket_not_encrypted_with_kms_key_arn_fails(account: Account) -> None:
    key = account.kms_key()
    sse_s3 = account.bucket("sse-s3-archive")
    other_key = account.bucket("other-key-archive", kms_key_arn=account.kms_key())

    for bucket in (sse_s3, other_key):
        row = account.preflight(
            "--parameter-overrides", f"ExistingArchiveBucketName={bucket}", f"KmsKeyArn={key}"
        ).row("archive bucket encryption")
        assert row["status"] == "fail"
        assert f"KmsKeyArn is {key}" in row["detail"]


# ------------------------------------------------------------------------------------------- kms keys


def test_keys_in_their_required_regions_pass(account: Account) -> None:
    archive_key, athena_key, hook_key = account.kms_key(), account.kms_key(), account.kms_key()

    run = account.preflight(
        "--parameter-overrides",
        f"KmsKeyArn={archive_key}",
        f"AthenaResultsKmsKeyArn={athena_key}",
        f"HookResultsKmsKeyArn={hook_key}",
    )

    assert run.exit_status == 0, run.stdout
    for parameter in ("KmsKeyArn", "AthenaResultsKmsKeyArn", "HookResultsKmsKeyArn"):
        assert run.row(f"kms key {parameter}")["detail"] == f"{parameter} is in {REGION}, enabled, symmetric"


def test_kms_key_arn_must_be_in_the_archive_buckets_region(account: Account) -> None:
    key = account.kms_key(OTHER_REGION)
    bucket = account.bucket("eu-archive", region=OTHER_REGION, kms_key_arn=key)

    stack_region = account.preflight("--parameter-overrides", f"KmsKeyArn={key}")
    bucket_region = account.preflight(
        "--parameter-overrides",
        f"ExistingArchiveBucketName={bucket}",
        f"ArchiveBucketRegion={OTHER_REGION}",
        f"KmsKeyArn={key}",
    )

    misplaced = stack_region.row("kms key KmsKeyArn")
    assert misplaced["status"] == "fail"
    assert f"KmsKeyArn is in {OTHER_REGION}, but must be in {REGION}" in misplaced["detail"]
    assert bucket_region.row("kms key KmsKeyArn")["status"] == "pass"
    assert bucket_region.exit_status == 0, bucket_region.stdout


def test_hook_results_and_athena_keys_must_be_in_the_stacks_region(account: Account) -> None:
    key = account.kms_key(OTHER_REGION)

    run = account.preflight(
        "--parameter-overrides", f"HookResultsKmsKeyArn={key}", f"AthenaResultsKmsKeyArn={key}"
    )

    assert run.exit_status == 1
    assert run.row("kms key HookResultsKmsKeyArn")["status"] == "fail"
    assert run.row("kms key AthenaResultsKmsKeyArn")["status"] == "fail"


def test_a_disabled_or_missing_key_fails(account: Account) -> None:
    disabled = account.kms_key()
    account.client("kms").disable_key(KeyId=disabled.rsplit("/", 1)[1])
    missing = disabled.rsplit("/", 1)[0] + "/11111111-2222-3333-4444-555555555555"

    run = account.preflight(
        "--parameter-overrides", f"KmsKeyArn={disabled}", f"AthenaResultsKmsKeyArn={missing}"
    )

    assert run.row("kms key KmsKeyArn")["status"] == "fail"
    assert "Disabled" in run.row("kms key KmsKeyArn")["detail"]
    assert run.row("kms key AthenaResultsKmsKeyArn")["status"] == "fail"
    assert "no such key" in run.row("kms key AthenaResultsKmsKeyArn")["detail"]


# ------------------------------------------------------------------------------------------ event bus


def test_the_default_bus_and_a_named_bus_that_exists_pass(account: Account) -> None:
    default = account.preflight().row("event bus")
    bus = account.aws.bus_name
    named = account.preflight("--parameter-overrides", f"EventBusName={bus}").row("event bus")

    assert default["status"] == named["status"] == "pass"
    assert named["detail"].startswith(f"{account.aws.bus_name} exists")


def test_a_missing_bus_fails(account: Account) -> None:
    row = account.preflight("--parameter-overrides", "EventBusName=no-such-bus").row("event bus")

    assert row["status"] == "fail"
    assert row["detail"] == f"no event bus no-such-bus in {REGION}"
    assert "create-event-bus --name no-such-bus" in row["fix"]


# -------------------------------------------------------------------------------------- local tools


def test_sam_and_python_on_path_pass_with_their_versions(account: Account) -> None:
    run = account.preflight()

    assert run.row("sam cli")["detail"].startswith("SAM CLI, version 1.150.1")
    assert run.row("python3.13")["detail"].startswith("Python 3.13")


def test_sam_missing_from_path_fails(account: Account) -> None:
    account.path("python3.13")

    run = account.preflight()

    assert run.exit_status == 1
    assert run.row("sam cli")["status"] == "fail"
    assert run.row("sam cli")["detail"] == "sam is not on PATH"


def test_python_313_missing_from_path_fails(account: Account) -> None:
    account.path("sam")

    run = account.preflight()

    assert run.exit_status == 1
    assert run.row("python3.13")["status"] == "fail"
    assert "python3.13 is not on PATH" in run.row("python3.13")["detail"]


# ------------------------------------------------------------------------------------------ read only


def _proxied_operation(call: Call) -> str:
    """The operation a call through the fault proxy asked for: the query protocol's Action, X-Amz-Target's
    operation, or S3's method and path."""
    if call.method == "POST":
        action = dict(parse_qsl(call.body.decode("utf-8", "replace"))).get("Action")
        if action:
            return action
    return call.operation


def test_preflight_makes_read_calls_only(account: Account) -> None:
    # Given every check with something to read: an existing bucket, all three keys, a named bus
    key = account.kms_key()
    bucket = account.bucket("read-only-archive", kms_key_arn=key)

    run = account.preflight(
        "--parameter-overrides",
        f"ExistingArchiveBucketName={bucket}",
        f"KmsKeyArn={key}",
        f"HookResultsKmsKeyArn={account.kms_key()}",
        f"AthenaResultsKmsKeyArn={account.kms_key()}",
        f"EventBusName={account.aws.bus_name}",
        "ReservedConcurrency=1",
    )
    assert run.exit_status == 0, run.stdout

    proxied = account.aws.proxy.calls
    through_proxy = {_proxied_operation(call) for call in proxied}
    assert {"GetCallerIdentity", "DescribeKey", "DescribeEventBus"} <= through_proxy
    writes = [
        (call.method, call.path, _proxied_operation(call))
        for call in proxied
        if call.method not in {"GET", "HEAD"} and not _proxied_operation(call).startswith(READS)
    ]
    assert writes == []
    s3_queries = sorted({call.path.split("?", 1)[-1] for call in proxied if call.method == "GET"})
    assert s3_queries == ["encryption", "location", "ownershipControls", "versioning"]
    emulated = {call.operation for call in account.aws.emulator.calls}
    assert emulated == {"ListHookResults", "ListTypes", "BatchDescribeTypeConfigurations"}
    assert {(request.method, request.path) for request in account.lambda_api.requests} == {
        ("GET", "/2016-08-19/account-settings")
    }
