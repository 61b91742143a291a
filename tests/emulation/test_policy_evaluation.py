"""The local IAM evaluator decides as AWS's policy evaluation logic does.

References:
- evaluation: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- cross-account: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
- condition operators and missing keys:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- policy variables: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
"""

from __future__ import annotations

from typing import Any

import pytest

from emulation.authorization.policy_evaluation import Effect, PolicyError, Request, evaluate

SESSION = "arn:aws:sts::111111111111:assumed-role/archiver/ArchiverFunction"
ROLE = "arn:aws:iam::111111111111:role/archiver"
OBJECT = "arn:aws:s3:::archive/hook-results/dt=2026-11-27/111111111111-us-east-1-7.parquet"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def request(action: str = "s3:GetObject", resource: str = OBJECT, **context: str) -> Request:
    return Request(SESSION, action, resource, context)


def test_an_allow_matching_action_and_resource_allows() -> None:
    assert evaluate(request(), [policy(allow("s3:GetObject", OBJECT))]).allowed


def test_nothing_allows_by_default_and_the_message_says_which_action() -> None:
    decision = evaluate(request(), [policy(allow("s3:PutObject", OBJECT))])
    assert decision.effect is Effect.IMPLICIT_DENY
    assert decision.message() == (
        f"User: {SESSION} is not authorized to perform: s3:GetObject on resource: {OBJECT} "
        "because no identity-based policy allows the s3:GetObject action"
    )


def test_actions_match_case_insensitively_with_wildcards_and_resources_case_sensitively() -> None:
    assert evaluate(request(), [policy(allow("S3:get*", "arn:aws:s3:::archive/*"))]).allowed
    assert evaluate(request(), [policy(allow("s3:GetObjec?", "arn:aws:s3:::archive/*"))]).allowed
    assert not evaluate(request(), [policy(allow("s3:GetObject", "arn:aws:s3:::ARCHIVE/*"))]).allowed
    # A wildcard in a resource does not stop at slashes.
    assert evaluate(
        request(), [policy(allow("s3:GetObject", "arn:aws:s3:::archive/hook-results/dt=*"))]
    ).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    decision = evaluate(request(), [policy(allow("s3:GetObject", OBJECT)), policy(deny)])
    assert decision.effect is Effect.EXPLICIT_DENY
    assert decision.message().endswith("with an explicit deny in a identity-based policy")


def test_an_allow_whose_condition_fails_does_not_apply_and_is_not_a_deny() -> None:
    # moto turns this into an explicit Deny, so a second statement could never allow: AWS does not.
    regional = allow("s3:GetObject", OBJECT, Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})
    decision = evaluate(request(**{"aws:RequestedRegion": "us-east-1"}), [policy(regional)])
    assert decision.effect is Effect.IMPLICIT_DENY
    assert decision.unmet_condition_keys == {"aws:requestedregion"}
    both = policy(regional, allow("s3:GetObject", OBJECT))
    assert evaluate(request(**{"aws:RequestedRegion": "us-east-1"}), [both]).allowed


def test_condition_keys_are_case_insensitive_and_values_of_one_key_are_alternatives() -> None:
    statement = allow(
        "events:PutEvents", "*", Condition={"StringEquals": {"EVENTS:Source": ["a", "cfn-hook-archive"]}}
    )
    assert evaluate(
        request("events:PutEvents", "*", **{"events:source": "cfn-hook-archive"}), [policy(statement)]
    ).allowed
    assert not evaluate(
        request("events:PutEvents", "*", **{"events:source": "b"}), [policy(statement)]
    ).allowed


def test_every_key_and_every_operator_of_a_condition_must_hold() -> None:
    statement = allow(
        "events:PutEvents",
        "*",
        Condition={
            "StringEquals": {"events:source": "s", "events:detail-type": "d"},
            "Bool": {"aws:SecureTransport": "true"},
        },
    )
    good = {"events:source": "s", "events:detail-type": "d", "aws:SecureTransport": "true"}
    assert evaluate(request("events:PutEvents", "*", **good), [policy(statement)]).allowed
    decision = evaluate(
        request("events:PutEvents", "*", **{**good, "events:detail-type": "x"}), [policy(statement)]
    )
    assert not decision.allowed
    assert decision.unmet_condition_keys == {"events:detail-type"}


@pytest.mark.parametrize(
    ("operator", "holds_without_the_key"),
    [
        ("StringEquals", False),
        ("StringLike", False),
        ("ArnLike", False),
        ("StringNotEquals", True),  # negated operators hold when the key is missing
        ("StringNotLike", True),
        ("StringEqualsIfExists", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAllValues:StringEquals", True),
    ],
)
def test_a_missing_condition_key_fails_matching_operators_and_satisfies_negated_ones(
    operator: str, holds_without_the_key: bool
) -> None:
    statement = allow("s3:GetObject", OBJECT, Condition={operator: {"aws:SourceVpce": "vpce-1"}})
    assert evaluate(request(), [policy(statement)]).allowed is holds_without_the_key


def test_null_checks_whether_a_key_is_present() -> None:
    absent = allow("s3:GetObject", OBJECT, Condition={"Null": {"aws:SourceVpce": "true"}})
    present = allow("s3:GetObject", OBJECT, Condition={"Null": {"aws:SourceVpce": "false"}})
    assert evaluate(request(), [policy(absent)]).allowed
    assert not evaluate(request(), [policy(present)]).allowed
    assert evaluate(request(**{"aws:SourceVpce": "vpce-1"}), [policy(present)]).allowed


def test_a_tls_only_bucket_policy_denies_plain_http_and_lets_tls_through() -> None:
    tls_only = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::archive", "arn:aws:s3:::archive/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    identity = [policy(allow("s3:GetObject", OBJECT))]
    plain = evaluate(request(**{"aws:SecureTransport": "false"}), identity, tls_only)
    assert plain.effect is Effect.EXPLICIT_DENY
    assert plain.denied_by == "resource-based policy"
    assert evaluate(request(**{"aws:SecureTransport": "true"}), identity, tls_only).allowed


def test_within_an_account_a_resource_policy_naming_the_role_allows_on_its_own() -> None:
    bucket_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": OBJECT}
    )
    assert evaluate(request(), [], bucket_policy).allowed


def test_a_resource_policy_naming_only_the_account_delegates_to_the_identity_policy() -> None:
    key_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    key = "arn:aws:kms:us-east-1:111111111111:key/1234"
    assert not evaluate(request("kms:Decrypt", key), [], key_policy).allowed
    assert evaluate(request("kms:Decrypt", key), [policy(allow("kms:Decrypt", key))], key_policy).allowed


def test_across_accounts_both_the_identity_and_the_resource_policy_must_allow() -> None:
    central = Request(SESSION, "s3:PutObject", "arn:aws:s3:::central/k", {}, resource_account="999999999999")
    identity = [policy(allow("s3:PutObject", "arn:aws:s3:::central/*"))]
    bucket_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "111111111111"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::central/*",
        }
    )
    assert not evaluate(central, identity).allowed
    assert not evaluate(central, [], bucket_policy).allowed
    assert evaluate(central, identity, bucket_policy).allowed
    assert "no resource-based policy allows" in evaluate(central, identity).message()


def test_policy_variables_resolve_from_the_request_and_a_missing_one_matches_nothing() -> None:
    own_keys = allow("s3:PutObject", "arn:aws:s3:::central/dt=*/${aws:PrincipalAccount}-*.parquet")
    mine = Request(
        SESSION, "s3:PutObject", "arn:aws:s3:::central/dt=2026-11-27/111111111111-us-east-1-1.parquet"
    )
    theirs = Request(
        SESSION, "s3:PutObject", "arn:aws:s3:::central/dt=2026-11-27/222222222222-us-east-1-1.parquet"
    )
    assert evaluate(mine, [policy(own_keys)]).allowed
    assert not evaluate(theirs, [policy(own_keys)]).allowed
    unknown = allow("s3:PutObject", "arn:aws:s3:::central/${aws:SourceVpce}/*")
    assert not evaluate(mine, [policy(unknown)]).allowed


def test_principal_arn_is_the_role_behind_a_session() -> None:
    statement = allow(
        "s3:GetObject", OBJECT, Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/arch*"}}
    )
    assert evaluate(request(), [policy(statement)]).allowed


def test_not_action_and_not_resource_invert_their_match() -> None:
    everything_but_delete = {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}
    assert evaluate(request(), [policy(everything_but_delete)]).allowed
    assert not evaluate(request("s3:DeleteObject"), [policy(everything_but_delete)]).allowed
    outside = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::archive/*"}
    assert not evaluate(request(), [policy(outside)]).allowed


def test_an_operator_the_evaluator_does_not_know_is_an_error_never_a_match() -> None:
    statement = allow("s3:GetObject", OBJECT, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    with pytest.raises(PolicyError, match="IpAddress"):
        evaluate(request(**{"aws:SourceIp": "10.1.2.3"}), [policy(statement)])


def test_a_service_principal_has_only_the_resource_policys_grant_and_its_conditions() -> None:
    queue = "arn:aws:sqs:us-east-1:111111111111:dead-letters"
    rule = "arn:aws:events:us-east-1:111111111111:rule/failures"
    grant = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
        }
    )
    delivery = Request("events.amazonaws.com", "sqs:SendMessage", queue, {"aws:SourceArn": rule})
    assert evaluate(delivery, [], grant).allowed
    assert not evaluate(delivery, [policy(allow("sqs:SendMessage", queue))]).allowed  # no identity of its own
    other_rule = Request("events.amazonaws.com", "sqs:SendMessage", queue, {"aws:SourceArn": rule + "-x"})
    assert not evaluate(other_rule, [], grant).allowed
    assert not evaluate(
        Request("sns.amazonaws.com", "sqs:SendMessage", queue, {"aws:SourceArn": rule}), [], grant
    ).allowed
