"""The SAM-transformed template, read the way CloudFormation would deploy it with given parameters."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from curator.models.config import ENVIRONMENT_VARIABLES as CURATOR_VARIABLES
from hook_archive.logic.run_metrics import metric_names
from hook_archive.models.archive_schema import PARTITION_COLUMN
from hook_archive.models.config import ENVIRONMENT_VARIABLES
from hook_archive.models.failure_event import DETAIL_TYPE
from tests.template.cfn import ACCOUNT_ID, PARTITION, REGION, REPO_ROOT, Stack, dashboard_metrics, transformed
from tests.template.rules import RULE_FUNCTIONS, functions_used, refusals

FUNCTION = "ArchiverFunction"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HOOKS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/9876fedc-12ab-34cd-56ef-1234567890ab"
OTHER_REGION = "eu-west-1"
OTHER_REGION_KEY = f"arn:aws:kms:{OTHER_REGION}:{ACCOUNT_ID}:key/5555eeee-12ab-34cd-56ef-1234567890ab"
RESULTS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/7777aaaa-12ab-34cd-56ef-1234567890ab"
STACK_NAME = "hook-archive-prod"  # not the product's name, so nothing passes by naming the product instead

# Every optional feature off (the defaults), every one on, and a central archive in another region: the
# statements below must hold for each.
DEFAULTS: dict[str, str] = {}
EVERYTHING = {
    "ExistingArchiveBucketName": "central-hook-archive",
    "KmsKeyArn": KEY,
    "HookResultsKmsKeyArn": HOOKS_KEY,
    "ArchiveTransitionDays": "180",
    "ArchiveExpirationDays": "3650",
    "AccessLogsBucketName": "org-access-logs",
    "NotificationEmail": "platform@example.com",
    "BlockingHookTypeName": "MyOrg::Guard::S3Encryption",
    "AlarmEmail": "oncall@example.com",
    "EventBusName": "hooks",
    "EventSource": "org.platform.hook-archive",
    "ReservedConcurrency": "1",
}
CENTRAL_ARCHIVE_ELSEWHERE = {
    "ExistingArchiveBucketName": "central-hook-archive",
    "ArchiveBucketRegion": OTHER_REGION,
    "KmsKeyArn": OTHER_REGION_KEY,
    "HookResultsKmsKeyArn": HOOKS_KEY,
}
DEPLOYMENTS = {
    "defaults": DEFAULTS,
    "everything": EVERYTHING,
    "central-archive-elsewhere": CENTRAL_ARCHIVE_ELSEWHERE,
}


@pytest.fixture(params=list(DEPLOYMENTS))
def stack(request: pytest.FixtureRequest) -> Stack:
    return Stack(transformed(), parameters=DEPLOYMENTS[request.param], stack_name=STACK_NAME)


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def test_no_policy_allows_a_wildcard_action_and_denies_use_whole_services_only_for_tls(stack: Stack) -> None:
    statements = list(stack.policy_statements())
    assert statements
    for owner, statement in statements:
        assert "NotAction" not in statement, owner
        actions = _actions(statement)
        assert actions, owner
        if statement["Effect"] == "Allow":
            assert all("*" not in action for action in actions), (owner, actions)
        else:
            # A TLS-only deny must cover every action of the service; narrowing it would let some through.
            assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, owner


def test_no_role_attaches_a_managed_policy(stack: Stack) -> None:
    roles = stack.resources("AWS::IAM::Role")
    assert set(roles) == {"ArchiverRole", "ArchiverScheduleRole", "CuratorRole"}
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]


def _role_statements(stack: Stack, role: str) -> dict[str, dict[str, Any]]:
    statements: dict[str, dict[str, Any]] = {}
    for policy in stack.properties(role)["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            statements[statement.get("Sid") or policy["PolicyName"]] = statement
    return statements


def test_archiver_role_reaches_only_its_keys_its_bus_its_queue_and_the_hook_results_api(stack: Stack) -> None:
    bucket = stack.values["ExistingArchiveBucketName"] or "<ArchiveBucket>"
    prefix = stack.values["ArchivePrefix"]
    bus = stack.values["EventBusName"]
    statements = _role_statements(stack, "ArchiverRole")
    granted = {
        sid: (sorted(_actions(statement)), statement["Resource"]) for sid, statement in statements.items()
    }
    expected: dict[str, tuple[list[str], Any]] = {
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"], "<ArchiverLogGroup.Arn>"),
        "Tracing": (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*"),
        "ReadHookResults": (["cloudformation:GetHookResult", "cloudformation:ListAllHookResults"], "*"),
        "Checkpoint": (
            ["s3:GetObject", "s3:PutObject"],
            f"arn:{PARTITION}:s3:::{bucket}/{prefix}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json",
        ),
        "ArchiveObjects": (
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            f"arn:{PARTITION}:s3:::{bucket}/{prefix}/dt=*/{ACCOUNT_ID}-{REGION}-*.parquet",
        ),
        "AnnotationObjects": (
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            f"arn:{PARTITION}:s3:::{bucket}/{prefix}/annotations/dt=*/{ACCOUNT_ID}-{REGION}-*.parquet",
        ),
        "CheckpointKnownIds": (
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            f"arn:{PARTITION}:s3:::{bucket}/{prefix}/_state/{ACCOUNT_ID}/{REGION}/known-ids/*.bin",
        ),
        "MissingCheckpointIsNotFound": (["s3:ListBucket"], f"arn:{PARTITION}:s3:::{bucket}"),
        "FailureEvents": (
            ["events:PutEvents"],
            f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:event-bus/{bus}",
        ),
        "FailedInvocations": (["sqs:SendMessage"], "<DeadLetterQueue.Arn>"),
    }
    if stack.values["KmsKeyArn"]:
        expected["ArchiveKey"] = (["kms:Decrypt", "kms:GenerateDataKey"], stack.values["KmsKeyArn"])
        # S3 uses the key in the bucket's region, which for a central archive need not be the stack's.
        bucket_region = stack.values["ArchiveBucketRegion"] or REGION
        assert statements["ArchiveKey"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{bucket_region}.amazonaws.com"}
        }
    if stack.values["HookResultsKmsKeyArn"]:
        expected["HookResultsKey"] = (["kms:Decrypt"], HOOKS_KEY)
        # Only through CloudFormation, as the Hooks user guide's key policy grants roles kms:Decrypt:
        # https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/hooks-kms-key-policy.html
        assert statements["HookResultsKey"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"cloudformation.{REGION}.amazonaws.com"}
        }
    assert granted == expected
    assert statements["ReadHookResults"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    # EventBridge authorizes each entry of a PutEvents call on its own source and detail-type (an entry
    # with another source fails with NotAuthorizedForSourceException):
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html
    assert statements["FailureEvents"]["Condition"] == {
        "StringEquals": {"events:source": stack.values["EventSource"], "events:detail-type": DETAIL_TYPE}
    }


def test_a_central_archive_in_another_region_is_reached_through_s3_of_that_region() -> None:
    def via_service(bucket_region: str) -> dict[str, str]:
        parameters = {**CENTRAL_ARCHIVE_ELSEWHERE, "ArchiveBucketRegion": bucket_region}
        statements = _role_statements(Stack(transformed(), parameters=parameters), "ArchiverRole")
        condition: dict[str, str] = statements["ArchiveKey"]["Condition"]["StringEquals"]
        return condition

    assert via_service("") == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert via_service(REGION) == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert via_service(OTHER_REGION) == {"kms:ViaService": f"s3.{OTHER_REGION}.amazonaws.com"}


def test_archive_bucket_region_pattern_accepts_every_s3_region_botocore_knows() -> None:
    import botocore.session  # noqa: PLC0415

    session = botocore.session.get_session()
    regions = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("s3", partition)
    }
    assert {"us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1"} <= regions
    pattern = re.compile(transformed()["Parameters"]["ArchiveBucketRegion"]["AllowedPattern"])
    assert [region for region in sorted(regions) if not pattern.fullmatch(region)] == []
    for wrong in ["EU-WEST-1", "eu-west", "s3.eu-west-1", "eu_west_1", "arn:aws:s3:::bucket"]:
        assert not pattern.fullmatch(wrong), wrong


# What the local IAM policy evaluator enforces: a condition it could not evaluate would go unenforced there.
EVALUATED_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "Null",
}
EVALUATED_KEYS = {
    "aws:RequestedRegion",
    "aws:SecureTransport",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:SourceAccount",
    "events:source",
    "events:detail-type",
    "kms:ViaService",
    "kms:CallerAccount",
}


def test_archiver_role_conditions_use_only_operators_and_keys_the_local_evaluator_enforces(
    stack: Stack,
) -> None:
    for sid, statement in _role_statements(stack, "ArchiverRole").items():
        for operator, keys in statement.get("Condition", {}).items():
            qualifier, _, name = operator.rpartition(":")
            assert qualifier in {"", "ForAnyValue", "ForAllValues"}, (sid, operator)
            assert name.removesuffix("IfExists") in EVALUATED_OPERATORS, (sid, operator)
            assert set(keys) <= EVALUATED_KEYS, (sid, keys)


SERVICE_OF_ADAPTER = {
    "archive_writer.py": "s3",
    "archive_ids.py": "s3",
    "checkpoint_store.py": "s3",
    "hook_results.py": "cloudformation",
    "event_publisher.py": "events",
}


def test_every_call_the_adapters_make_has_its_iam_action_in_the_local_stacks_table() -> None:
    # An operation's IAM action is not always its name (ListHookResults unfiltered is
    # cloudformation:ListAllHookResults): the table in emulation/authorization/action_map.py says which, and
    # the local stack authorizes every call by it, so the integration and fault tiers run under the role.
    import botocore.session  # noqa: PLC0415

    from emulation.authorization.action_map import ACTIONS  # noqa: PLC0415

    session = botocore.session.get_session()
    called: set[tuple[str, str]] = set()
    for path in sorted((REPO_ROOT / "functions" / "archiver" / "hook_archive" / "dal").glob("*.py")):
        methods = set(re.findall(r"_client\.([a-z_]+)\(", path.read_text()))
        if not methods:
            continue
        service = SERVICE_OF_ADAPTER[path.name]
        model = session.get_service_model(service)
        by_method = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in model.operation_names}
        signing_name = model.metadata.get("signingName", service)
        called |= {(signing_name, by_method[method]) for method in methods}
    assert {service for service, _ in called} == set(SERVICE_OF_ADAPTER.values())
    assert called <= set(ACTIONS), called - set(ACTIONS)


def test_the_keys_the_role_allows_are_the_keys_the_writer_uses() -> None:
    from datetime import date  # noqa: PLC0415

    from hook_archive.logic.partitioning import archive_key, checkpoint_key, known_ids_prefix  # noqa: PLC0415

    stack = Stack(transformed(), physical_ids={"ArchiveBucket": "archive"})
    statements = _role_statements(stack, "ArchiverRole")
    prefix = stack.values["ArchivePrefix"]
    data = archive_key(prefix, date(2026, 1, 31), account_id=ACCOUNT_ID, region=REGION, sequence=42)
    checkpoint = checkpoint_key(prefix, account_id=ACCOUNT_ID, region=REGION)
    known_ids = known_ids_prefix(prefix, account_id=ACCOUNT_ID, region=REGION) + "0f" * 32 + ".bin"

    def allows(sid: str, key: str) -> bool:
        pattern = re.escape(statements[sid]["Resource"]).replace(r"\*", ".*")
        return re.fullmatch(pattern, f"arn:aws:s3:::archive/{key}") is not None

    assert allows("ArchiveObjects", data)
    assert allows("Checkpoint", checkpoint)
    assert allows("CheckpointKnownIds", known_ids)
    assert not allows("CheckpointKnownIds", checkpoint)
    assert not allows("CheckpointKnownIds", known_ids.replace(ACCOUNT_ID, "999999999999"))
    assert not allows("ArchiveObjects", data.replace(ACCOUNT_ID, "999999999999"))
    assert not allows("ArchiveObjects", checkpoint)


def test_schedule_invokes_the_archiver_at_the_rate_parameter_with_a_scheduled_event() -> None:
    stack = Stack(transformed(), parameters={"ScheduleRate": "rate(10 minutes)"})
    (schedule,) = stack.resources("AWS::Scheduler::Schedule").values()
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == "rate(10 minutes)"
    assert "Name" not in properties  # generated, so several stacks fit in one account
    target = properties["Target"]
    assert target["Arn"] == f"<{FUNCTION}.Arn>"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert target["DeadLetterConfig"] == {"Arn": "<DeadLetterQueue.Arn>"}
    scheduled_tick = json.loads((REPO_ROOT / "events" / "scheduled_tick.json").read_text())
    payload = json.loads(target["Input"])
    assert payload.keys() == scheduled_tick.keys()
    assert target["RoleArn"] == "<ArchiverScheduleRole.Arn>"


def test_schedule_role_trusts_scheduler_for_this_account_only_and_reaches_only_the_function_and_queue(
    stack: Stack,
) -> None:
    # SAM's generated ScheduleV2 role has no aws:SourceAccount; the confused-deputy guidance asks for it:
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html
    (trust,) = stack.properties("ArchiverScheduleRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "scheduler.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
    }
    (schedule,) = stack.resources("AWS::Scheduler::Schedule").values()
    target = schedule["Properties"]["Target"]
    granted = {
        sid: (_actions(statement), statement["Resource"])
        for sid, statement in _role_statements(stack, "ArchiverScheduleRole").items()
    }
    assert granted == {
        "InvokeArchiver": (["lambda:InvokeFunction"], target["Arn"]),
        "UndeliveredTicks": (["sqs:SendMessage"], target["DeadLetterConfig"]["Arn"]),
    }


def test_reserved_concurrency_is_left_out_by_default_and_reserves_what_the_parameter_asks() -> None:
    # Lambda keeps 100 of the account's concurrency unreserved, so any reservation fails stack creation in
    # an account whose quota is 10; and 0 would throttle every invocation, so 0 means "no reservation":
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    def reserved(parameters: dict[str, str]) -> Any:
        return (
            Stack(transformed(), parameters=parameters)
            .properties(FUNCTION)
            .get("ReservedConcurrentExecutions")
        )

    assert reserved({}) is None
    assert reserved({"ReservedConcurrency": "0"}) is None
    assert reserved({"ReservedConcurrency": "1"}) == "1"
    assert reserved({"ReservedConcurrency": "5"}) == "5"
    assert transformed()["Parameters"]["ReservedConcurrency"]["MinValue"] == 0


def test_function_is_traced_with_its_layer_logs_and_failure_destination() -> None:
    stack = Stack(transformed())
    function = stack.properties(FUNCTION)
    assert function["Runtime"] == "python3.13"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Role"] == "<ArchiverRole.Arn>"
    assert function["LoggingConfig"] == {"LogGroup": "<ArchiverLogGroup>"}
    (layer_id,) = (layer for layer in stack.resources("AWS::Lambda::LayerVersion") if "Dependencies" in layer)
    assert function["Layers"] == [f"<{layer_id}>"]
    layer = stack.properties(layer_id)
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == function["Architectures"]
    assert function["Architectures"] in (["arm64"], ["x86_64"])
    assert int(stack.properties("ArchiverLogGroup")["RetentionInDays"]) > 0
    # Leaves time after the paging stops for writing, publishing and the commit.
    margin = float(function["Environment"]["Variables"]["TIME_SAFETY_MARGIN_SECONDS"])
    assert function["Timeout"] >= 4 * margin
    invoke_config = stack.resources("AWS::Lambda::EventInvokeConfig")[f"{FUNCTION}EventInvokeConfig"]
    assert invoke_config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": "<DeadLetterQueue.Arn>"}
    }


def test_source_template_states_the_architecture_once_for_the_function_layer_and_build() -> None:
    from emulation.lambda_runtime import load_template  # noqa: PLC0415

    document = load_template()
    (architecture,) = document["Globals"]["Function"]["Architectures"]
    layer = document["Resources"]["DependenciesLayer"]
    assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": architecture}


def test_environment_holds_only_variables_the_function_reads_and_powertools_settings() -> None:
    variables = Stack(transformed()).properties(FUNCTION)["Environment"]["Variables"]
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    assert powertools <= set(variables)
    assert set(variables) - powertools <= set(ENVIRONMENT_VARIABLES) - {"AWS_REGION"}


# The columns are ARCHIVE_SCHEMA's, written by make generate (tests/template/test_generated.py).
def test_glue_table_is_partitioned_by_dt_a_string(stack: Stack) -> None:
    table = stack.properties("HookResultsTable")["TableInput"]
    assert [(key["Name"], key["Type"]) for key in table["PartitionKeys"]] == [(PARTITION_COLUMN, "string")]


def test_glue_table_projects_dt_as_a_date_from_the_start_parameter_to_now() -> None:
    stack = Stack(transformed(), parameters={"ProjectionStartDate": "2025-06-01"})
    parameters = stack.properties("HookResultsTable")["TableInput"]["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert parameters["projection.dt.range"] == "2025-06-01,NOW"
    assert (parameters["projection.dt.interval"], parameters["projection.dt.interval.unit"]) == ("1", "DAYS")
    assert parameters["classification"] == "parquet"


# Their QueryStrings are the files in queries/, written by make generate (tests/template/test_generated.py).
def test_named_queries_run_in_the_archive_database_and_workgroup(stack: Stack) -> None:
    named = [resource["Properties"] for resource in stack.resources("AWS::Athena::NamedQuery").values()]
    assert named
    for properties in named:
        assert properties["Database"] == "<GlueDatabase>"
        assert properties["WorkGroup"] == "<AthenaWorkGroup>"


def _athena_results_key(stack: Stack) -> str | None:
    """The key of the Athena results bucket (always in the stack's region), or None for SSE-S3."""
    if stack.values["AthenaResultsKmsKeyArn"]:
        return stack.values["AthenaResultsKmsKeyArn"]
    if stack.values["ArchiveBucketRegion"] in {"", REGION}:
        return stack.values["KmsKeyArn"] or None
    return None  # the archive's key is in another region: S3 could not use it for this bucket


@pytest.mark.parametrize(
    ("parameters", "expected_key"),
    [
        ({}, None),
        ({"KmsKeyArn": KEY}, KEY),
        ({"ExistingArchiveBucketName": "central", "ArchiveBucketRegion": REGION, "KmsKeyArn": KEY}, KEY),
        (CENTRAL_ARCHIVE_ELSEWHERE, None),
        ({**CENTRAL_ARCHIVE_ELSEWHERE, "AthenaResultsKmsKeyArn": RESULTS_KEY}, RESULTS_KEY),
        ({"KmsKeyArn": KEY, "AthenaResultsKmsKeyArn": RESULTS_KEY}, RESULTS_KEY),
        ({"AthenaResultsKmsKeyArn": RESULTS_KEY}, RESULTS_KEY),
    ],
)
def test_athena_results_never_use_a_key_from_another_region(
    parameters: dict[str, str], expected_key: str | None
) -> None:
    stack = Stack(transformed(), parameters=parameters)
    (rule,) = stack.properties("AthenaResultsBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    workgroup = stack.properties("AthenaWorkGroup")["WorkGroupConfiguration"]["ResultConfiguration"]
    if expected_key is None:
        assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        assert workgroup["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    else:
        assert expected_key.split(":")[3] == REGION
        assert rule == {
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": expected_key},
            "BucketKeyEnabled": True,
        }
        assert workgroup["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": expected_key}
    assert _athena_results_key(stack) == expected_key


def test_athena_workgroup_encrypts_results_enforces_its_settings_and_cuts_off_large_scans(
    stack: Stack,
) -> None:
    configuration = stack.properties("AthenaWorkGroup")["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert int(configuration["BytesScannedCutoffPerQuery"]) == int(stack.values["AthenaBytesScannedCutoff"])
    encryption = configuration["ResultConfiguration"]["EncryptionConfiguration"]
    key = _athena_results_key(stack)
    assert encryption == (
        {"EncryptionOption": "SSE_KMS", "KmsKey": key} if key else {"EncryptionOption": "SSE_S3"}
    )
    assert configuration["ResultConfiguration"]["OutputLocation"].startswith("s3://<AthenaResultsBucket>/")


def test_created_buckets_encrypt_block_public_access_version_and_keep_denying_plain_http(
    stack: Stack,
) -> None:
    buckets = stack.resources("AWS::S3::Bucket")
    expected = {"AthenaResultsBucket"} | (
        set() if stack.values["ExistingArchiveBucketName"] else {"ArchiveBucket"}
    )
    assert set(buckets) == expected
    policies = {
        policy["Properties"]["Bucket"]: policy for policy in stack.resources("AWS::S3::BucketPolicy").values()
    }
    keys = {
        "ArchiveBucket": stack.values["KmsKeyArn"] or None,
        "AthenaResultsBucket": _athena_results_key(stack),
    }
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if keys[logical_id]:
            assert rule == {
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": keys[logical_id],
                },
                "BucketKeyEnabled": True,
            }
        else:
            assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        assert len(properties["PublicAccessBlockConfiguration"]) == 4
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert ("LoggingConfiguration" in properties) == bool(stack.values["AccessLogsBucketName"])
        policy = policies[f"<{logical_id}>"]
        (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Resource"] == [f"<{logical_id}.Arn>", f"<{logical_id}.Arn>/*"]
        # A retained bucket keeps its TLS-only policy: deleting the stack must not open it to plain HTTP.
        assert policy["DeletionPolicy"] == policy["UpdateReplacePolicy"] == "Retain"


def test_archive_lifecycle_never_touches_checkpoints_and_is_off_by_default() -> None:
    def rules(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
        properties = Stack(transformed(), parameters=parameters).properties("ArchiveBucket")
        return {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}

    assert set(rules({})) == {"noncurrent-versions", "curated-noncurrent-versions"}
    assert rules({})["curated-noncurrent-versions"]["Prefix"] == "hook-results-curated/"
    everything = rules({"ArchiveTransitionDays": "400", "ArchiveExpirationDays": "3650"})
    assert everything["archive-transition"]["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": "400"}
    ]
    assert everything["archive-expiration"]["ExpirationInDays"] == "3650"
    from hook_archive.logic.partitioning import checkpoint_key  # noqa: PLC0415

    checkpoint = checkpoint_key("hook-results", account_id=ACCOUNT_ID, region=REGION)
    for rule_id in ("archive-transition", "archive-expiration"):
        assert everything[rule_id]["Prefix"] == "hook-results/dt="
        assert not checkpoint.startswith(everything[rule_id]["Prefix"])


def test_rules_use_only_the_rule_functions_cloudformation_documents() -> None:
    # Rules take Fn::And/Contains/EachMemberEquals/EachMemberIn/Equals/Not/Or/RefAll/ValueOf/ValueOfAll and
    # Ref, nothing else (no Fn::Select/Split to take an ARN apart: key regions are the preflight's job):
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-rules.html
    rules = transformed()["Rules"]
    assert rules
    for name, rule in rules.items():
        assert set(rule) <= {"RuleCondition", "Assertions"}, name
        assert all(set(assertion) == {"Assert", "AssertDescription"} for assertion in rule["Assertions"]), (
            name
        )
        assert set(functions_used(rule)) <= RULE_FUNCTIONS | {"Ref"}, name


def test_every_deployment_these_tests_use_passes_the_rules() -> None:
    for name, parameters in DEPLOYMENTS.items():
        assert refusals(Stack(transformed(), parameters=parameters)) == [], name


def test_rules_refuse_an_archive_bucket_region_without_an_existing_bucket() -> None:
    (refusal,) = refusals(Stack(transformed(), parameters={"ArchiveBucketRegion": OTHER_REGION}))
    assert "ExistingArchiveBucketName" in refusal
    assert refusals(Stack(transformed(), parameters=CENTRAL_ARCHIVE_ELSEWHERE)) == []


# S3 refuses lifecycle transitions to S3 Standard-IA or One Zone-IA of objects younger than 30 days:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"])
def test_rules_refuse_infrequent_access_transitions_before_30_days_at_deploy_time(storage_class: str) -> None:
    template = transformed()

    def refused(days: int) -> bool:
        parameters = {"ArchiveTransitionStorageClass": storage_class, "ArchiveTransitionDays": str(days)}
        return bool(refusals(Stack(template, parameters=parameters)))

    infrequent_access = storage_class in {"STANDARD_IA", "ONEZONE_IA"}
    assert [day for day in range(400) if refused(day)] == (list(range(1, 30)) if infrequent_access else [])


def test_event_source_pattern_accepts_only_what_an_event_source_and_the_schema_name_accept() -> None:
    # PutEvents Source: 1 to 256 characters, the aws. prefix reserved:
    # https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html
    # Schema name <EventSource>@CloudFormationHookInvocationFailed: AWS's reference states no pattern
    # (https://docs.aws.amazon.com/eventbridge/latest/schema-reference/v1-registries-name-registryname-schemas-name-schemaname.html);
    # the service takes up to 385 letters, digits, '.', '-', '_' and '@', as the Terraform provider documents:
    # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/schemas_schema
    parameters = transformed()["Parameters"]
    pattern = re.compile(parameters["EventSource"]["AllowedPattern"])
    refused_as_source = ["", "x" * 257, "aws.hooks", "aws.cloudformation"]
    refused_in_schema_name = ["org/hooks", "my hooks", "hooks:prod", "hooks#1", "crochet-ü", "a+b"]
    refused_by_choice = ["team@hooks"]  # a second @ would make <source>@<detail-type> ambiguous
    accepted = [parameters["EventSource"]["Default"], "org.platform.hook-archive", "Team_Hooks-2", "x" * 256]
    for value in refused_as_source + refused_in_schema_name + refused_by_choice:
        assert not pattern.fullmatch(value), value
    for value in accepted:
        assert pattern.fullmatch(value), value
        schema_name = Stack(transformed(), parameters={"EventSource": value}).properties(
            "HookFailureEventSchema"
        )["SchemaName"]
        assert schema_name == f"{value}@CloudFormationHookInvocationFailed"
        assert re.fullmatch(r"[A-Za-z0-9._-]+@[A-Za-z0-9]+", schema_name)
        assert len(schema_name) <= 385


# Its Content is written by make generate from the repo's detail schema (tests/template/test_generated.py).
def test_event_schema_is_a_draft_4_schema_named_for_the_event_source() -> None:
    stack = Stack(transformed())
    (schema,) = stack.resources("AWS::EventSchemas::Schema").values()
    properties = schema["Properties"]
    assert properties["Type"] == "JSONSchemaDraft4"
    assert properties["SchemaName"] == "cfn-hook-archive@CloudFormationHookInvocationFailed"
    assert json.loads(properties["Content"])["properties"]["detail-type"]["enum"] == [DETAIL_TYPE]


def _notification_rules(stack: Stack) -> dict[str, dict[str, Any]]:
    """The failure event rules (the curator's schedule is a rule too, with no event pattern)."""
    return {
        name: rule
        for name, rule in stack.resources("AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }


def test_notification_rules_follow_the_blocking_hook_parameter() -> None:
    every = Stack(transformed())
    rules = _notification_rules(every)
    assert set(rules) == {"FailureNotificationRule"}
    assert rules["FailureNotificationRule"]["Properties"]["State"] == "ENABLED"
    narrowed = Stack(transformed(), parameters={"BlockingHookTypeName": "MyOrg::Guard::S3Encryption"})
    rules = _notification_rules(narrowed)
    assert rules["FailureNotificationRule"]["Properties"]["State"] == "DISABLED"
    assert rules["BlockingFailureNotificationRule"]["Properties"]["State"] == "ENABLED"
    for stack in (every, narrowed):
        for rule in _notification_rules(stack).values():
            (target,) = rule["Properties"]["Targets"]
            assert target["Arn"] == "<FailureTopic>"
            assert target["DeadLetterConfig"] == {"Arn": "<DeadLetterQueue.Arn>"}
        # The topic and the dead-letter queue accept exactly these rules.
        names = sorted(f"<{name}.Arn>" for name in _notification_rules(stack))
        for policy in ("FailureTopicPolicy", "DeadLetterQueuePolicy"):
            allow = stack.properties(policy)["PolicyDocument"]["Statement"][0]
            assert allow["Principal"] == {"Service": "events.amazonaws.com"}
            assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == names


def _emitted_metric_names() -> set[str]:
    """Metric names the archiver may publish: logic/run_metrics.py's, at METRICS_LEVEL=all."""
    return set(metric_names("all"))


def test_alarms_and_dashboard_read_metrics_the_handler_emits_in_its_namespace(stack: Stack) -> None:
    variables = stack.properties(FUNCTION)["Environment"]["Variables"]
    namespace = variables["POWERTOOLS_METRICS_NAMESPACE"]
    service = variables["POWERTOOLS_SERVICE_NAME"]
    assert service == STACK_NAME  # the stack's own dimension: see the two-stacks test below
    emitted = _emitted_metric_names()
    assert {"RunsSucceeded", "RunsFailed", "RunsSkipped", "ResultsArchived", "EventsFailed"} <= emitted
    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in stack.resources("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        "Errors",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
        "RunsSucceeded",
        "AuditRepaired",
    }
    repaired = alarms["AuditRepaired"]  # any repair alarms; no audit that day is not a problem
    assert repaired["Namespace"] == namespace
    assert repaired["Dimensions"] == [{"Name": "service", "Value": service}]
    assert (repaired["ComparisonOperator"], repaired["Threshold"]) == ("GreaterThanThreshold", 0)
    assert repaired["TreatMissingData"] == "notBreaching"
    no_success = alarms["RunsSucceeded"]
    assert no_success["Namespace"] == namespace
    assert no_success["Dimensions"] == [{"Name": "service", "Value": service}]
    assert no_success["TreatMissingData"] == "breaching"
    assert no_success["ComparisonOperator"] == "LessThanThreshold"
    hours = int(stack.values["NoSuccessfulRunHours"])
    assert int(no_success["EvaluationPeriods"]) * no_success["Period"] == hours * 3600
    actions = ["<AlarmTopic>"] if stack.values["AlarmEmail"] else None
    for alarm in alarms.values():
        assert alarm.get("AlarmActions") == alarm.get("OKActions") == actions
    dashboard = dashboard_metrics(stack.properties("Dashboard")["DashboardBody"])
    ours = [metric for metric in dashboard if metric[0] == namespace]
    assert ours
    for metric in ours:
        assert metric[1] in emitted
        assert metric[2:4] == ["service", service]


def _archiver_alarm_metrics(stack: Stack) -> set[str]:
    namespace = stack.properties(FUNCTION)["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    return {
        alarm["Properties"]["MetricName"]
        for alarm in stack.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["Namespace"] == namespace
    }


def test_at_essential_no_alarm_reads_a_metric_the_archiver_does_not_publish() -> None:
    essential = Stack(transformed(), parameters={"MetricsLevel": "essential"}, stack_name=STACK_NAME)
    assert _archiver_alarm_metrics(essential) == {"RunsSucceeded"} <= metric_names("essential")
    assert "Dashboard" not in essential.resources()
    # Control: at all, AuditRepaired is published and alarmed on.
    every = Stack(transformed(), parameters={"MetricsLevel": "all"}, stack_name=STACK_NAME)
    assert _archiver_alarm_metrics(every) == {"RunsSucceeded", "AuditRepaired"} <= metric_names("all")


def test_fleet_health_alarms_on_audit_repairs_next_to_stale_archivers_only_for_an_organization() -> None:
    organization = Stack(transformed(), parameters={"OrganizationId": "o-abcdefghij"}, stack_name=STACK_NAME)
    fleet = organization.properties("FleetHealthFunction")["Environment"]["Variables"]
    repairs = organization.properties("ArchiversWithAuditRepairsAlarm")
    stale = organization.properties("StaleArchiversAlarm")
    assert repairs["MetricName"] == "ArchiversWithAuditRepairs"
    assert repairs["Namespace"] == stale["Namespace"] == fleet["POWERTOOLS_METRICS_NAMESPACE"]
    assert repairs["Dimensions"] == [{"Name": "service", "Value": fleet["POWERTOOLS_SERVICE_NAME"]}]
    assert (repairs["ComparisonOperator"], repairs["Threshold"]) == ("GreaterThanThreshold", 0)
    # No data is the check itself stopping: StaleArchiversAlarm (breaching) reports that, not this one.
    # notBreaching: missing data points count as within the threshold
    # (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_cloudwatch.TreatMissingData.html).
    assert repairs["TreatMissingData"] == "notBreaching"
    widgets = json.loads(organization.properties("FleetDashboard")["DashboardBody"])["widgets"]
    charted = dashboard_metrics(json.dumps({"widgets": [w for w in widgets if w["type"] == "metric"]}))
    assert ["CfnHookArchive", "ArchiversWithAuditRepairs", "service", STACK_NAME] in [
        [str(part) for part in metric] for metric in charted
    ]
    single = Stack(transformed(), stack_name=STACK_NAME).resources()
    assert "ArchiversWithAuditRepairsAlarm" not in single
    assert "StaleArchiversAlarm" not in single


def _service_dimensions(stack: Stack) -> set[str]:
    """Every value of the service dimension the function, its alarms and its dashboard use."""
    values = {stack.properties(FUNCTION)["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]}
    for alarm in stack.resources("AWS::CloudWatch::Alarm").values():
        values |= {item["Value"] for item in alarm["Properties"]["Dimensions"] if item["Name"] == "service"}
    for metric in dashboard_metrics(stack.properties("Dashboard")["DashboardBody"]):
        values |= {str(metric[index + 1]) for index, name in enumerate(metric[:-1]) if name == "service"}
    return values


def test_two_stacks_in_one_account_and_region_keep_their_own_metrics_and_alarms() -> None:
    template = transformed()
    first = _service_dimensions(Stack(template, stack_name="hook-archive-team-a"))
    second = _service_dimensions(Stack(template, stack_name="hook-archive-team-b"))
    assert first == {"hook-archive-team-a"}
    assert second == {"hook-archive-team-b"}


def test_every_output_resolves(stack: Stack) -> None:
    outputs = stack.resolve(
        {
            name: output["Value"]
            for name, output in stack.template["Outputs"].items()
            if "Condition" not in output or stack.condition(output["Condition"])
        }
    )
    for name in (
        "ArchiveBucketName",
        "GlueTableName",
        "AthenaWorkGroupName",
        "EventBusName",
        "FailureTopicArn",
        "ArchiverFunctionName",
    ):
        assert outputs[name], name
    assert outputs["GlueTableName"] == "<GlueDatabase>.hook_results"


def test_samconfig_deploys_with_the_capabilities_the_template_needs() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"  # not NAMED_IAM: no role is given a name
    assert deploy["confirm_changeset"] is True
    stack = Stack(transformed(), parameters=EVERYTHING)
    for role in stack.resources("AWS::IAM::Role").values():
        assert "RoleName" not in role["Properties"]
    overrides = re.findall(r"(\w+)=", deploy.get("parameter_overrides", ""))
    assert set(overrides) <= set(stack.template["Parameters"])


def test_deploy_docs_explain_every_parameter_and_environment_variable() -> None:
    page = (REPO_ROOT / "docs" / "deploy-and-operate.md").read_text()

    def section(heading: str) -> str:
        start = page.index(f"\n{heading}\n")
        end = page.find("\n## ", start + 1)
        return page[start : end if end != -1 else len(page)]

    parameters, variables = section("## Parameters"), section("## Configuration")
    for name in transformed()["Parameters"]:
        assert f"| `{name}` |" in parameters, name
    for name in ENVIRONMENT_VARIABLES:
        assert f"| `{name}` |" in variables, name
    curator = variables[variables.index("\n### The curator\n") :]
    for name in CURATOR_VARIABLES:
        assert f"| `{name}` |" in curator, name
