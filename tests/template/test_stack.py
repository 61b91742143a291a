"""The SAM-transformed template, read the way CloudFormation would deploy it with given parameters."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from typing import Any

import pyarrow as pa
import pytest

from hook_archive.models.archive_schema import ARCHIVE_SCHEMA, PARTITION_COLUMN
from hook_archive.models.config import ENVIRONMENT_VARIABLES
from hook_archive.models.failure_event import DETAIL_TYPE
from tests.template.cfn import ACCOUNT_ID, PARTITION, REGION, REPO_ROOT, Stack, dashboard_metrics, transformed
from tests.template.event_schema import registry_schema_text

QUERIES = REPO_ROOT / "queries"
HANDLER = REPO_ROOT / "functions" / "archiver" / "hook_archive" / "handlers" / "archive_run.py"
FUNCTION = "ArchiverFunction"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HOOKS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/9876fedc-12ab-34cd-56ef-1234567890ab"

# Every optional feature off (the defaults) and every one on: the statements below must hold for both.
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
}
DEPLOYMENTS = {"defaults": DEFAULTS, "everything": EVERYTHING}


@pytest.fixture(params=list(DEPLOYMENTS))
def stack(request: pytest.FixtureRequest) -> Stack:
    return Stack(transformed(), parameters=DEPLOYMENTS[request.param])


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
    assert set(roles) == {"ArchiverRole", "ArchiverFunctionScheduleRole"}
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
        expected["ArchiveKey"] = (["kms:Decrypt", "kms:GenerateDataKey"], KEY)
        assert statements["ArchiveKey"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
        }
    if stack.values["HookResultsKmsKeyArn"]:
        expected["HookResultsKey"] = (["kms:Decrypt"], HOOKS_KEY)
    assert granted == expected
    assert statements["ReadHookResults"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}


# Which keys each adapter's S3 calls touch, and the IAM action of each API call that differs from its name.
# Every S3 call an adapter makes must be allowed on at least one kind of key it touches.
ADAPTER_KEYS = {"archive_writer.py": ["data"], "checkpoint_store.py": ["checkpoint", "known_ids"]}
IAM_ACTION_OF = {"s3:DeleteObjects": "s3:DeleteObject", "s3:HeadObject": "s3:GetObject"}
SERVICE_OF_ADAPTER = {
    "archive_writer.py": "s3",
    "checkpoint_store.py": "s3",
    "hook_results.py": "cloudformation",
    "event_publisher.py": "events",
}


def _called_actions() -> dict[str, set[str]]:
    """IAM actions of every AWS call in dal/, by adapter file (boto3 method names mapped by botocore)."""
    import botocore.session  # noqa: PLC0415

    session = botocore.session.get_session()
    called: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / "functions" / "archiver" / "hook_archive" / "dal").glob("*.py")):
        methods = set(re.findall(r"_client\.([a-z_]+)\(", path.read_text()))
        if not methods:
            continue
        service = SERVICE_OF_ADAPTER[path.name]
        model = session.get_service_model(service)
        by_method = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in model.operation_names}
        prefix = model.metadata.get("signingName", service)
        actions = {f"{prefix}:{by_method[method]}" for method in methods}
        called[path.name] = {IAM_ACTION_OF.get(action, action) for action in actions}
    return called


def test_every_call_the_adapters_make_is_allowed_on_the_keys_it_touches() -> None:
    from datetime import date  # noqa: PLC0415

    from hook_archive.logic.partitioning import archive_key, checkpoint_key, known_ids_prefix  # noqa: PLC0415

    stack = Stack(transformed(), physical_ids={"ArchiveBucket": "archive"})
    statements = list(_role_statements(stack, "ArchiverRole").values())
    prefix = stack.values["ArchivePrefix"]
    keys = {
        "data": archive_key(prefix, date(2026, 1, 31), account_id=ACCOUNT_ID, region=REGION, sequence=7),
        "checkpoint": checkpoint_key(prefix, account_id=ACCOUNT_ID, region=REGION),
        "known_ids": known_ids_prefix(prefix, account_id=ACCOUNT_ID, region=REGION) + "ab" * 32 + ".bin",
    }

    def allowed(action: str, resource: str) -> bool:
        for statement in statements:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if action in _actions(statement) and any(
                re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), resource) for pattern in resources
            ):
                return True
        return False

    called = _called_actions()
    assert set(called) == set(SERVICE_OF_ADAPTER)
    for adapter, actions in called.items():
        for action in actions:
            resources = {
                "s3": [f"arn:aws:s3:::archive/{keys[kind]}" for kind in ADAPTER_KEYS.get(adapter, [])],
                "events": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{stack.values['EventBusName']}"],
                "cloudformation": [f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:hook-result/any"],
            }[SERVICE_OF_ADAPTER[adapter]]
            assert any(allowed(action, resource) for resource in resources), (
                f"{adapter} calls {action} on {resources}, which the role denies"
            )


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
    role = target["RoleArn"].strip("<>").split(".")[0]
    (invoke,) = [s for s in _role_statements(stack, role).values() if "lambda:InvokeFunction" in _actions(s)]
    assert invoke["Resource"] == f"<{FUNCTION}.Arn>"
    assert stack.properties(role)["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["scheduler.amazonaws.com"]
    }


def test_function_runs_one_at_a_time_traced_with_its_layer_logs_and_failure_destination() -> None:
    stack = Stack(transformed())
    function = stack.properties(FUNCTION)
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Runtime"] == "python3.13"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Role"] == "<ArchiverRole.Arn>"
    assert function["LoggingConfig"] == {"LogGroup": "<ArchiverLogGroup>"}
    (layer_id,) = stack.resources("AWS::Lambda::LayerVersion")
    assert function["Layers"] == [f"<{layer_id}>"]
    layer = stack.properties(layer_id)
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == function["Architectures"]
    assert function["Architectures"] in (["arm64"], ["x86_64"])
    assert int(stack.properties("ArchiverLogGroup")["RetentionInDays"]) > 0
    # Leaves time after the paging stops for writing, publishing and the commit.
    margin = float(function["Environment"]["Variables"]["TIME_SAFETY_MARGIN_SECONDS"])
    assert function["Timeout"] >= 4 * margin
    (invoke_config,) = stack.resources("AWS::Lambda::EventInvokeConfig").values()
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


def _glue_type(data_type: pa.DataType) -> str:
    if pa.types.is_string(data_type):
        return "string"
    if pa.types.is_timestamp(data_type) and data_type.unit == "ms" and data_type.tz == "UTC":
        return "timestamp"
    raise AssertionError(f"no Glue type chosen for {data_type}")


def test_glue_table_columns_and_types_are_the_arrow_schema_and_dt_the_partition(stack: Stack) -> None:
    table = stack.properties("HookResultsTable")["TableInput"]
    columns = [(column["Name"], column["Type"]) for column in table["StorageDescriptor"]["Columns"]]
    assert columns == [(field.name, _glue_type(field.type)) for field in ARCHIVE_SCHEMA]
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


def test_named_query_texts_are_the_files_in_queries(stack: Stack) -> None:
    named = {
        properties["Description"]: properties
        for properties in (
            resource["Properties"] for resource in stack.resources("AWS::Athena::NamedQuery").values()
        )
    }
    files = {f"queries/{path.name}": path.read_text() for path in sorted(QUERIES.glob("*.sql"))}
    assert named.keys() == files.keys()
    for description, properties in named.items():
        assert properties["QueryString"] == files[description], description
        assert properties["Database"] == "<GlueDatabase>"
        assert properties["WorkGroup"] == "<AthenaWorkGroup>"


def test_athena_workgroup_encrypts_results_enforces_its_settings_and_cuts_off_large_scans(
    stack: Stack,
) -> None:
    configuration = stack.properties("AthenaWorkGroup")["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert int(configuration["BytesScannedCutoffPerQuery"]) == int(stack.values["AthenaBytesScannedCutoff"])
    encryption = configuration["ResultConfiguration"]["EncryptionConfiguration"]
    expected = (
        {"EncryptionOption": "SSE_KMS", "KmsKey": KEY}
        if stack.values["KmsKeyArn"]
        else {"EncryptionOption": "SSE_S3"}
    )
    assert encryption == expected
    assert configuration["ResultConfiguration"]["OutputLocation"].startswith("s3://<AthenaResultsBucket>/")


def test_created_buckets_encrypt_block_public_access_version_and_deny_plain_http(stack: Stack) -> None:
    buckets = stack.resources("AWS::S3::Bucket")
    expected = {"AthenaResultsBucket"} | (
        set() if stack.values["ExistingArchiveBucketName"] else {"ArchiveBucket"}
    )
    assert set(buckets) == expected
    policies = {
        policy["Properties"]["Bucket"]: policy for policy in stack.resources("AWS::S3::BucketPolicy").values()
    }
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if stack.values["KmsKeyArn"]:
            assert rule == {
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY},
                "BucketKeyEnabled": True,
            }
        else:
            assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        assert len(properties["PublicAccessBlockConfiguration"]) == 4
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert ("LoggingConfiguration" in properties) == bool(stack.values["AccessLogsBucketName"])
        (deny,) = policies[f"<{logical_id}>"]["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Resource"] == [f"<{logical_id}.Arn>", f"<{logical_id}.Arn>/*"]


def test_archive_lifecycle_never_touches_checkpoints_and_is_off_by_default() -> None:
    def rules(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
        properties = Stack(transformed(), parameters=parameters).properties("ArchiveBucket")
        return {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}

    assert set(rules({})) == {"noncurrent-versions"}
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


def test_event_schema_is_the_envelope_around_the_repo_detail_schema() -> None:
    stack = Stack(transformed())
    (schema,) = stack.resources("AWS::EventSchemas::Schema").values()
    properties = schema["Properties"]
    assert properties["Type"] == "JSONSchemaDraft4"
    assert properties["Content"] == registry_schema_text()
    assert properties["SchemaName"] == "cfn-hook-archive@CloudFormationHookInvocationFailed"
    assert json.loads(properties["Content"])["properties"]["detail-type"]["enum"] == [DETAIL_TYPE]


def test_notification_rules_follow_the_blocking_hook_parameter() -> None:
    every = Stack(transformed())
    rules = every.resources("AWS::Events::Rule")
    assert set(rules) == {"FailureNotificationRule"}
    assert rules["FailureNotificationRule"]["Properties"]["State"] == "ENABLED"
    narrowed = Stack(transformed(), parameters={"BlockingHookTypeName": "MyOrg::Guard::S3Encryption"})
    rules = narrowed.resources("AWS::Events::Rule")
    assert rules["FailureNotificationRule"]["Properties"]["State"] == "DISABLED"
    assert rules["BlockingFailureNotificationRule"]["Properties"]["State"] == "ENABLED"
    for stack in (every, narrowed):
        for rule in stack.resources("AWS::Events::Rule").values():
            (target,) = rule["Properties"]["Targets"]
            assert target["Arn"] == "<FailureTopic>"
            assert target["DeadLetterConfig"] == {"Arn": "<DeadLetterQueue.Arn>"}
        # The topic and the dead-letter queue accept exactly these rules.
        names = sorted(f"<{name}.Arn>" for name in stack.resources("AWS::Events::Rule"))
        for policy in ("FailureTopicPolicy", "DeadLetterQueuePolicy"):
            allow = stack.properties(policy)["PolicyDocument"]["Statement"][0]
            assert allow["Principal"] == {"Service": "events.amazonaws.com"}
            assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == names


def _emitted_metric_names() -> set[str]:
    """Metric names handlers/archive_run.py emits: its _COUNT_METRICS table and literal add_metric names."""
    tree = ast.parse(HANDLER.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and any(isinstance(target, ast.Name) and target.id == "_COUNT_METRICS" for target in node.targets)
        ):
            names |= {str(value.value) for value in node.value.values if isinstance(value, ast.Constant)}
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names.add(str(keyword.value.value))
    return names


def test_alarms_and_dashboard_read_metrics_the_handler_emits_in_its_namespace(stack: Stack) -> None:
    variables = stack.properties(FUNCTION)["Environment"]["Variables"]
    namespace = variables["POWERTOOLS_METRICS_NAMESPACE"]
    service = variables["POWERTOOLS_SERVICE_NAME"]
    emitted = _emitted_metric_names()
    assert {"RunsSucceeded", "RunsFailed", "RunsSkipped", "ResultsArchived", "EventsFailed"} <= emitted
    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in stack.resources("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {"Errors", "Throttles", "ApproximateNumberOfMessagesVisible", "RunsSucceeded"}
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


def test_readme_explains_every_parameter() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy to AWS") : readme.index("## Query with Athena")]
    for name in transformed()["Parameters"]:
        assert f"| `{name}` |" in section, name
