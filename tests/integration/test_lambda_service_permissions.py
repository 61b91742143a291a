"""The role's statements that the Lambda service uses on the function's behalf: log delivery (Logs), X-Ray
(Tracing) and the on-failure destination of asynchronous invocations (FailedInvocations). Taken away, AWS
loses the logs, traces or records quietly and the function's result does not change; the local Lambda
service (emulation/lambda_service.py) records each refusal, as the tests below read it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import LocalAws
from emulation.lambda_service import Delivery
from tests.integration.conftest import seed_history


def _fail_every_list_call(aws: LocalAws) -> None:
    aws.emulator.inject(kind="access_denied", times=None)


def _dead_letters(aws: LocalAws) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=aws.dead_letter_queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_with_the_whole_role_logs_traces_and_failure_records_are_delivered(
    aws: LocalAws, archiver: ArchiverHarness
) -> None:
    seed_history(aws, days=1, per_day=5)
    archiver.run()
    _fail_every_list_call(aws)
    with pytest.raises(Exception, match="AccessDenied"):
        archiver.run()
    assert {d.what for d in archiver.deliveries if d.delivered} == {"logs", "trace", "destination"}
    assert all(d.delivered for d in archiver.deliveries), archiver.deliveries
    logs = aws.client("logs")
    group = archiver.log_group_name(archiver.deployment())
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 2  # one per invocation
    (record,) = _dead_letters(aws)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert "AccessDenied" in str(record["responsePayload"])


@pytest.mark.parametrize(
    ("sid", "what"), [("Logs", "logs"), ("Tracing", "trace"), ("FailedInvocations", "destination")]
)
def test_without_the_statement_the_lambda_service_is_refused_and_the_run_is_unchanged(
    aws: LocalAws, archiver: ArchiverHarness, sid: str, what: str
) -> None:
    seed_history(aws, days=1, per_day=5)
    archiver.put_role_policy(archiver.role_documents().without(sid))
    report = archiver.run()
    assert report["archived"] == 5  # the function's own work does not depend on these
    _fail_every_list_call(aws)
    with pytest.raises(Exception, match="AccessDenied"):
        archiver.run()
    refused = [d for d in archiver.deliveries if not d.delivered]
    assert refused
    assert {d.what for d in refused} == {what}
    assert all(d.error_code in {"AccessDenied", "AccessDeniedException"} for d in refused), refused
    if what == "destination":
        assert _dead_letters(aws) == []
    archiver.restore_role()
    archiver.deliveries.clear()
    with pytest.raises(Exception, match="AccessDenied"):
        archiver.run()
    assert Delivery(what, delivered=True) in archiver.deliveries
