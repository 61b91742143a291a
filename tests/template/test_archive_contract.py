"""The template against what the real handler produces: keys, events, metrics (moto and the emulator)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import jsonschema
import pyarrow.parquet as pq
import pytest

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import LocalAws
from hook_archive.logic.partitioning import checkpoint_key
from tests.integration.conftest import failed_ids, seed_history
from tests.template.cfn import ACCOUNT_ID, REGION, REPO_ROOT, Stack, dashboard_metrics, transformed

BLOCKING_HOOK = "MyOrg::Guard::S3Encryption"  # FAIL mode in the synthetic history
EXAMPLE_EVENT = REPO_ROOT / "events" / "hook-failure-event.json"
DETAIL_SCHEMA = REPO_ROOT / "schemas" / "hook-failure-event.v1.json"
JAVA_TO_STRPTIME = {"yyyy-MM-dd": "%Y-%m-%d"}


def stack_for(aws: LocalAws, *, stack_name: str = "cfn-hook-archive", **parameters: str) -> Stack:
    """The stack as deployed into the local AWS: its bucket, bus and prefix are the harness's."""
    return Stack(
        transformed(),
        parameters={"ArchivePrefix": ARCHIVE_PREFIX, "EventBusName": aws.bus_name, **parameters},
        physical_ids={"ArchiveBucket": aws.bucket},
        stack_name=stack_name,
    )


def test_partition_projection_template_locates_every_object_the_writer_wrote_and_nothing_else(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    # Given an archive the real handler wrote from two weeks of history
    seed_history(aws, days=14, per_day=20)
    archiver.run()
    s3 = aws.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    table = stack_for(aws).properties("HookResultsTable")["TableInput"]
    parameters = table["Parameters"]
    template = parameters["storage.location.template"]
    day_format = JAVA_TO_STRPTIME[parameters["projection.dt.format"]]
    start, end = parameters["projection.dt.range"].split(",")
    assert end == "NOW"
    assert template.count("${dt}") == 1
    location = re.escape(template).replace(re.escape("${dt}"), "(?P<dt>[^/]+)") + r"[^/]+"
    annotations_template = stack_for(aws).properties("HookAnnotationsTable")["TableInput"]["Parameters"][
        "storage.location.template"
    ]
    annotations_location = re.escape(annotations_template).replace(re.escape("${dt}"), "[^/]+") + r"[^/]+"
    # When each key is matched against the projection's location template
    state = [key for key in keys if key.startswith(f"{ARCHIVE_PREFIX}/_state/")]
    annotations = [key for key in keys if key.startswith(f"{ARCHIVE_PREFIX}/annotations/")]
    data = [key for key in keys if key not in state and key not in annotations]
    assert checkpoint_key(ARCHIVE_PREFIX, account_id=ACCOUNT_ID, region=REGION) in state
    assert any("/known-ids/" in key for key in state)
    assert len(data) == len(archiver.object_keys()) > 10
    assert annotations  # the failures' annotations, in a table of their own
    for key in keys:
        uri = f"s3://{aws.bucket}/{key}"
        match = re.fullmatch(location, uri)
        if key in state:
            assert match is None, f"the checkpoint object {key} would be read as table data"
            continue
        if key in annotations:
            assert match is None, f"the annotations object {key} would be read as results"
            assert re.fullmatch(annotations_location, uri), f"{uri} is outside {annotations_template}"
            continue
        # Then the partition Athena projects for it is a valid day in range, and holds its rows' days
        assert match is not None, f"{uri} is outside every projected partition of {template}"
        assert uri.startswith(table["StorageDescriptor"]["Location"])
        day = datetime.strptime(match["dt"], day_format).replace(tzinfo=UTC).date()
        assert date.fromisoformat(start) <= day <= datetime.now(UTC).date()
        rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()))
        assert {str(moment)[:10] for moment in rows.column("invoked_at").to_pylist()} == {day.isoformat()}


def _route_to_queue(aws: LocalAws, name: str, pattern: dict[str, Any]) -> str:
    sqs, events = aws.client("sqs"), aws.client("events")
    queue_url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=aws.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=aws.bus_name, Targets=[{"Id": "queue", "Arn": arn}])
    return queue_url


def _drain(aws: LocalAws, queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    received: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        received.extend(json.loads(message["Body"]) for message in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return received


def _ids(events: list[dict[str, Any]]) -> set[str]:
    return {event["detail"]["hook_result_id"] for event in events}


def test_notification_rule_patterns_match_the_events_the_handler_emits_and_nothing_else(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    # Given both example rules of the template, deployed on the bus with their real patterns
    stack = stack_for(aws, BlockingHookTypeName=BLOCKING_HOOK)
    rules = {name: rule["Properties"] for name, rule in stack.resources("AWS::Events::Rule").items()}
    every = _route_to_queue(aws, "every-failure", rules["FailureNotificationRule"]["EventPattern"])
    blocking = _route_to_queue(
        aws, "blocking-failures", rules["BlockingFailureNotificationRule"]["EventPattern"]
    )
    # When the handler archives a history with failures of every kind
    seed_history(aws, days=6, per_day=40)
    archiver.run()
    emitted = aws.receive_events()  # everything the handler sent (the emulation's own catch-all rule)
    # Then the all-failures rule delivers every failure, and the blocking rule the FAIL-mode ones of one hook
    now = aws.emulator.clock()
    truth = {result.hook_result_id: result for result in (item.at(now) for item in aws.emulator.results())}
    expected_blocking = {
        hook_result_id
        for hook_result_id in failed_ids(aws)
        if truth[hook_result_id].failure_mode == "FAIL" and truth[hook_result_id].type_name == BLOCKING_HOOK
    }
    assert _ids(_drain(aws, every)) == _ids(emitted) == failed_ids(aws)
    assert _ids(_drain(aws, blocking)) == expected_blocking
    assert expected_blocking
    assert {truth[i].failure_mode for i in failed_ids(aws) - expected_blocking} >= {"WARN", "FAIL"}
    # And variations of a real event show what each pattern rejects
    (sample,) = [event for event in emitted if event["detail"]["hook_result_id"] == min(expected_blocking)]
    variants = {
        "succeeded": ({**sample["detail"], "status": "HOOK_COMPLETE_SUCCEEDED"}, sample["source"], set()),
        "other source": (sample["detail"], "someone-else", set()),
        "warn mode": ({**sample["detail"], "failure_mode": "WARN"}, sample["source"], {"every"}),
        "other hook": ({**sample["detail"], "type_name": "MyOrg::Other::Hook"}, sample["source"], {"every"}),
        "hook error": (
            {**sample["detail"], "status": "HOOK_FAILED"},
            sample["source"],
            {"every", "blocking"},
        ),
    }
    events = aws.client("events")
    for name, (changed, source, _) in variants.items():
        detail = {**changed, "hook_result_id": name}
        events.put_events(
            Entries=[
                {
                    "EventBusName": aws.bus_name,
                    "Source": source,
                    "DetailType": sample["detail-type"],
                    "Detail": json.dumps(detail),
                }
            ]
        )
    received = {"every": _ids(_drain(aws, every)), "blocking": _ids(_drain(aws, blocking))}
    for name, (_, _, matched_by) in variants.items():
        assert {rule for rule, ids in received.items() if name in ids} == matched_by, name


def test_emitted_events_and_the_example_event_validate_against_the_registered_schema(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    (schema,) = stack_for(aws).resources("AWS::EventSchemas::Schema").values()
    registered = json.loads(schema["Properties"]["Content"])
    jsonschema.Draft4Validator.check_schema(registered)
    envelope = jsonschema.Draft4Validator(registered)
    detail = jsonschema.Draft202012Validator(json.loads(DETAIL_SCHEMA.read_text()))
    seed_history(aws, days=3, per_day=30)
    archiver.run()
    emitted = aws.receive_events()
    assert emitted
    for event in emitted:
        # moto leaves out `account`, which EventBridge puts in every event it delivers.
        event.setdefault("account", ACCOUNT_ID)
    example = json.loads(EXAMPLE_EVENT.read_text())
    for event in [*emitted, example]:
        envelope.validate(event)
        detail.validate(event["detail"])
    # The example is shaped like the real thing: same envelope and detail fields.
    assert sorted(example) == sorted(emitted[0])
    assert example["detail"].keys() == emitted[0]["detail"].keys()
    assert example["detail"]["enrichment"]["status"] == "enriched"


def _emf_blobs(output: str) -> list[dict[str, Any]]:
    blobs = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def test_a_real_run_publishes_the_metrics_the_alarms_and_dashboard_read(
    aws: LocalAws, archiver: ArchiverHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack not named like the product, whose function's environment sets the service dimension
    stack = stack_for(aws, stack_name="hook-archive-team-a")
    variables = stack.properties("ArchiverFunction")["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "hook-archive-team-a"
    archiver.settings["POWERTOOLS_SERVICE_NAME"] = variables["POWERTOOLS_SERVICE_NAME"]
    seed_history(aws, days=2, per_day=20)
    capsys.readouterr()
    archiver.run()
    published: dict[str, dict[str, Any]] = {}
    for blob in _emf_blobs(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                dimensions = {name: blob[name] for names in directive["Dimensions"] for name in names}
                published[metric["Name"]] = {"namespace": directive["Namespace"], "dimensions": dimensions}
    alarms = [alarm["Properties"] for alarm in stack.resources("AWS::CloudWatch::Alarm").values()]
    ours = [alarm for alarm in alarms if not alarm["Namespace"].startswith("AWS/")]
    # MetricsLevel's default is all: AuditRepairedAlarm exists only then (at essential nothing publishes it).
    assert sorted(alarm["MetricName"] for alarm in ours) == ["AuditRepaired", "RunsSucceeded"]
    for alarm in ours:
        metric = published[alarm["MetricName"]]
        assert metric["namespace"] == alarm["Namespace"]
        assert metric["dimensions"] == {item["Name"]: item["Value"] for item in alarm["Dimensions"]}
    namespace = ours[0]["Namespace"]
    dashboard = dashboard_metrics(stack.properties("Dashboard")["DashboardBody"])
    charted = {metric[1] for metric in dashboard if metric[0] == namespace}
    assert charted
    # A successful run counts no failed or skipped run; those two are checked against the handler's source.
    assert charted - {"RunsFailed", "RunsSkipped"} <= set(published)
    for name in charted & set(published):
        assert published[name]["namespace"] == namespace
        assert published[name]["dimensions"] == {"service": "hook-archive-team-a"}
    for metric in dashboard:
        if metric[0] == namespace:
            assert metric[2:4] == ["service", "hook-archive-team-a"]


def test_example_event_file_is_a_failure_event_the_example_rule_routes(aws: LocalAws) -> None:
    example = json.loads(EXAMPLE_EVENT.read_text())
    pattern = stack_for(aws).resources("AWS::Events::Rule")["FailureNotificationRule"]["Properties"]
    queue = _route_to_queue(aws, "example", pattern["EventPattern"])
    aws.client("events").put_events(
        Entries=[
            {
                "EventBusName": aws.bus_name,
                "Source": example["source"],
                "DetailType": example["detail-type"],
                "Detail": json.dumps(example["detail"]),
            }
        ]
    )
    assert _ids(_drain(aws, queue)) == {example["detail"]["hook_result_id"]}
