"""What AWS services do with the template's grants, judged by the local evaluator (emulation/authorization):
Scheduler assumes the schedule's role and invokes the function or dead-letters a tick; EventBridge's rules
deliver to the failure topic and dead-letter to the queue; Lambda assumes the archiver's role. The local
stack has no Scheduler, EventBridge-to-SNS delivery or role assumption by a service, so these are decided on
the template's resolved policies: each grant allows its call, and taken away (or with a foreign source, or
over plain HTTP) refuses it, as AWS would.

Confused-deputy conditions: https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html;
EventBridge targets' resource policies: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html
"""

from __future__ import annotations

from typing import Any

import pytest

from emulation.authorization.policy_evaluation import Effect, Request, evaluate
from tests.template.cfn import ACCOUNT_ID, REGION, Stack, transformed
from tests.template.test_stack import STACK_NAME

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{STACK_NAME}-archiver"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{STACK_NAME}-dead-letters"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{STACK_NAME}-failures"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{STACK_NAME}-failures"
BLOCKING_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{STACK_NAME}-blocking-failures"
TLS = {"aws:SecureTransport": "true"}


def deployment(**parameters: str) -> Stack:
    return Stack(
        transformed(),
        parameters=parameters,
        stack_name=STACK_NAME,
        physical_ids={"FailureTopic": TOPIC_ARN},
        attributes={
            "ArchiverFunction.Arn": FUNCTION_ARN,
            "DeadLetterQueue.Arn": QUEUE_ARN,
            "FailureNotificationRule.Arn": RULE_ARN,
            "BlockingFailureNotificationRule.Arn": BLOCKING_RULE_ARN,
        },
    )


def policy(stack: Stack, logical_id: str) -> dict[str, Any]:
    document: dict[str, Any] = stack.properties(logical_id)["PolicyDocument"]
    return document


def without(document: dict[str, Any], sid: str) -> dict[str, Any]:
    kept = [statement for statement in document["Statement"] if statement.get("Sid") != sid]
    assert len(kept) < len(document["Statement"]), sid
    return {**document, "Statement": kept}


def role_policies(stack: Stack, logical_id: str) -> list[dict[str, Any]]:
    return [item["PolicyDocument"] for item in stack.properties(logical_id)["Policies"]]


@pytest.mark.parametrize(
    ("resource_policy", "action", "resource", "sid"),
    [
        ("DeadLetterQueuePolicy", "sqs:SendMessage", QUEUE_ARN, "NotificationRulesDeadLetters"),
        ("FailureTopicPolicy", "sns:Publish", TOPIC_ARN, "FailureRulesPublish"),
    ],
)
def test_only_the_stacks_rules_reach_the_topic_and_queue_over_tls_and_only_while_granted(
    resource_policy: str, action: str, resource: str, sid: str
) -> None:
    for stack, rules in (
        (deployment(), [RULE_ARN]),
        (deployment(BlockingHookTypeName="A::B::C"), [RULE_ARN, BLOCKING_RULE_ARN]),
    ):
        document = policy(stack, resource_policy)
        for rule in rules:
            delivery = Request("events.amazonaws.com", action, resource, {**TLS, "aws:SourceArn": rule})
            assert evaluate(delivery, [], document).allowed, (resource_policy, rule)
            # Taken away, EventBridge is refused.
            refused = evaluate(delivery, [], without(document, sid))
            assert refused.effect is Effect.IMPLICIT_DENY
            assert refused.message().startswith(
                f"User: events.amazonaws.com is not authorized to perform: {action}"
            )
        # Another account's rule (the confused deputy), or plain HTTP, is refused.
        foreign = f"arn:aws:events:{REGION}:999999999999:rule/theirs"
        assert not evaluate(
            Request("events.amazonaws.com", action, resource, {**TLS, "aws:SourceArn": foreign}), [], document
        ).allowed
        plain = Request(
            "events.amazonaws.com",
            action,
            resource,
            {"aws:SecureTransport": "false", "aws:SourceArn": RULE_ARN},
        )
        assert evaluate(plain, [], document).effect is Effect.EXPLICIT_DENY
        # Another service may not use the grant.
        assert not evaluate(
            Request("sns.amazonaws.com", action, resource, {**TLS, "aws:SourceArn": RULE_ARN}), [], document
        ).allowed


@pytest.mark.parametrize(
    ("sid", "action", "resource"),
    [
        ("InvokeArchiver", "lambda:InvokeFunction", FUNCTION_ARN),
        ("UndeliveredTicks", "sqs:SendMessage", QUEUE_ARN),
    ],
)
def test_the_schedules_role_invokes_the_archiver_and_dead_letters_ticks_only_while_granted(
    sid: str, action: str, resource: str
) -> None:
    stack = deployment()
    session = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{STACK_NAME}-schedule/scheduler"
    policies = role_policies(stack, "ArchiverScheduleRole")
    assert evaluate(Request(session, action, resource, TLS), policies).allowed
    refused = evaluate(Request(session, action, resource, TLS), [without(p, sid) for p in policies])
    assert refused.effect is Effect.IMPLICIT_DENY
    assert "because no identity-based policy allows the" in refused.message()
    # Nothing else: not another function.
    assert not evaluate(
        Request(session, action, resource.replace("archiver", "other").replace("dead-letters", "other"), TLS),
        policies,
    ).allowed


@pytest.mark.parametrize(
    ("role", "service"),
    [("ArchiverScheduleRole", "scheduler.amazonaws.com"), ("ArchiverRole", "lambda.amazonaws.com")],
)
def test_only_its_service_acting_for_this_account_may_assume_each_role(role: str, service: str) -> None:
    trust = deployment().properties(role)["AssumeRolePolicyDocument"]
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"
    mine = Request(service, "sts:AssumeRole", role_arn, {"aws:SourceAccount": ACCOUNT_ID})
    assert evaluate(mine, [], trust).allowed
    # Another account's schedule or function (the confused deputy), or another service, is refused.
    assert not evaluate(
        Request(service, "sts:AssumeRole", role_arn, {"aws:SourceAccount": "999999999999"}), [], trust
    ).allowed
    assert not evaluate(Request(service, "sts:AssumeRole", role_arn), [], trust).allowed
    assert not evaluate(
        Request("ec2.amazonaws.com", "sts:AssumeRole", role_arn, {"aws:SourceAccount": ACCOUNT_ID}), [], trust
    ).allowed


@pytest.mark.parametrize(
    ("bucket_policy", "bucket"),
    [("ArchiveBucketPolicy", "ArchiveBucket"), ("AthenaResultsBucketPolicy", "AthenaResultsBucket")],
)
def test_both_buckets_refuse_plain_http_to_anyone_and_leave_tls_to_iam(
    bucket_policy: str, bucket: str
) -> None:
    # The archive bucket's policy is also judged on the wire (tests/integration/test_transport_security.py);
    # the Athena results bucket has no local Athena, so its policy is judged here.
    arn = f"arn:aws:s3:::{STACK_NAME}-{bucket.lower()}"
    stack = Stack(transformed(), stack_name=STACK_NAME, attributes={f"{bucket}.Arn": arn})
    document = policy(stack, bucket_policy)
    reader = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/analyst/session"
    allowed = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/*"}]
    identity = [{"Statement": allowed}]
    over_tls = Request(reader, "s3:GetObject", f"{arn}/results/1.csv", TLS)
    plain = Request(reader, "s3:GetObject", f"{arn}/results/1.csv", {"aws:SecureTransport": "false"})
    assert evaluate(over_tls, identity, document).allowed
    refused = evaluate(plain, identity, document)
    assert refused.effect is Effect.EXPLICIT_DENY
    assert refused.message().endswith("with an explicit deny in a resource-based policy")
    assert evaluate(plain, identity, without(document, "DenyInsecureTransport")).allowed
