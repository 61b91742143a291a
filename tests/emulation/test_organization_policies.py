"""The central archive's Organization policies (template.yaml deployed with OrganizationId, resolved
offline as CloudFormation would) under the local evaluator, and
how the authorization layer learns an Organization and another account's bus: pure, no sockets.

References:
- aws:PrincipalOrgID, aws:PrincipalAccount, aws:PrincipalArn:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
- kms:ViaService: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
- events:source: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulation.authorization.api_calls import parse_request
from emulation.authorization.authorizer import organization_of
from emulation.authorization.policy_evaluation import Effect, Request, evaluate
from emulation.cfn_stack import Stack
from emulation.lambda_runtime import load_template

CENTRAL = "123456789012"
MEMBER = "111111111111"
OTHER_MEMBER = "222222222222"
OUTSIDER = "444455556666"
ORG = "o-exampleorg1"
BUCKET = "org-hook-archive"
KEY = f"arn:aws:kms:us-east-1:{CENTRAL}:key/1234"
BUS = f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/hook-archive-bus"
IN_ORG = {"aws:PrincipalOrgID": ORG, "aws:SecureTransport": "true"}


def central(region: str = "us-east-1") -> Stack:
    """The central stack, as deployed in `region`."""
    return Stack(
        load_template(),
        parameters={"OrganizationId": ORG, "EventBusName": "hook-archive-bus"},
        physical_ids={"ArchiveBucket": BUCKET, "ArchiveKey": "1234"},
        attributes={"ArchiveBucket.Arn": f"arn:aws:s3:::{BUCKET}", "ArchiveKey.Arn": KEY},
        account_id=CENTRAL,
        region=region,
    )


def bucket_policy() -> Any:
    return central().properties("ArchiveBucketPolicy")["PolicyDocument"]


def key_policy(region: str = "us-east-1") -> Any:
    return central(region).properties("ArchiveKey")["KeyPolicy"]


def bus_policy() -> Any:
    policy = central().properties("OrganizationEventBusPolicy")
    return {"Statement": [{"Sid": policy["StatementId"], **policy["Statement"]}]}


def session(account: str = MEMBER, role: str = "cfn-hook-archive-archiver-us-east-1") -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/ArchiverFunction"


def row(account: str = MEMBER) -> str:
    return f"arn:aws:s3:::{BUCKET}/hook-results/dt=2026-11-27/{account}-us-east-1-7.parquet"


def checkpoint(account: str = MEMBER) -> str:
    return f"arn:aws:s3:::{BUCKET}/hook-results/_state/{account}/us-east-1/checkpoint.json"


def grants_everything(*actions: str) -> list[dict[str, Any]]:
    """The member role's identity policy: the central account's policies are what narrow it."""
    return [{"Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}]


def bucket(**context: str) -> Any:
    return lambda principal, resource: evaluate(
        Request(principal, "s3:PutObject", resource, {**IN_ORG, **context}, CENTRAL),
        grants_everything("s3:PutObject"),
        bucket_policy(),
    )


def key(context: dict[str, str], *, bucket_region: str = "us-east-1", principal: str | None = None) -> Any:
    return evaluate(
        Request(principal or session(), "kms:GenerateDataKey", KEY, {**IN_ORG, **context}, CENTRAL),
        grants_everything("kms:GenerateDataKey"),
        key_policy(bucket_region),
    )


def bus(context: dict[str, str], *, principal: str | None = None) -> Any:
    return evaluate(
        Request(principal or session(), "events:PutEvents", BUS, {**IN_ORG, **context}, CENTRAL),
        grants_everything("events:PutEvents"),
        bus_policy(),
    )


def test_a_member_archiver_writes_its_own_rows_and_checkpoint() -> None:
    assert bucket()(session(), row()).allowed
    assert bucket()(session(), checkpoint()).allowed


def test_principal_account_a_member_writing_another_accounts_row_or_checkpoint_is_denied() -> None:
    for resource in (row(OTHER_MEMBER), checkpoint(OTHER_MEMBER)):
        decision = bucket()(session(), resource)
        assert decision.effect is Effect.IMPLICIT_DENY
        assert "because no resource-based policy allows the s3:PutObject action" in decision.message()


def test_principal_org_id_missing_or_another_organizations_is_denied() -> None:
    outsider = evaluate(
        Request(
            session(OUTSIDER),
            "s3:PutObject",
            row(OUTSIDER),
            {"aws:SecureTransport": "true"},  # no aws:PrincipalOrgID: the account is in no Organization
            CENTRAL,
        ),
        grants_everything("s3:PutObject"),
        bucket_policy(),
    )
    assert outsider.effect is Effect.IMPLICIT_DENY
    assert not bucket(**{"aws:PrincipalOrgID": "o-someoneelse1"})(session(), row()).allowed


def test_principal_arn_a_role_not_named_as_the_archiver_is_denied() -> None:
    assert not bucket()(session(role="ops-automation"), row()).allowed
    assert not key({"kms:ViaService": "s3.us-east-1.amazonaws.com"}, principal=session(role="ops")).allowed
    assert not bus({"events:source": "cfn-hook-archive"}, principal=session(role="ops")).allowed


def test_secure_transport_false_is_an_explicit_deny_even_for_the_members_own_row() -> None:
    decision = bucket(**{"aws:SecureTransport": "false"})(session(), row())
    assert decision.effect is Effect.EXPLICIT_DENY
    assert decision.denied_by == "resource-based policy"


def test_kms_via_service_only_s3_of_the_buckets_region_may_use_the_key() -> None:
    through_s3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert key(through_s3).allowed
    assert not key({"kms:ViaService": "s3.eu-west-1.amazonaws.com"}).allowed
    assert not key({}).allowed  # called directly, not through a service
    assert not key(through_s3, bucket_region="eu-west-1").allowed


def test_events_source_only_the_archives_source_and_the_unmet_key_says_so() -> None:
    assert bus({"events:source": "cfn-hook-archive"}).allowed
    decision = bus({"events:source": "someone-else"})
    assert not decision.allowed
    assert decision.unmet_condition_keys == {"events:source"}


def test_a_put_events_entry_naming_a_bus_by_arn_keeps_that_buss_account_and_region() -> None:
    headers = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=ASIAMEMBER/20261127/us-east-1/events/aws4_request, ...",
        "X-Amz-Target": "AWSEvents.PutEvents",
    }
    other_region_bus = f"arn:aws:events:eu-west-1:{CENTRAL}:event-bus/central"
    body = json.dumps({"Entries": [{"EventBusName": other_region_bus}, {"EventBusName": "mine"}, {}]})
    call = parse_request("POST", "/", headers, body.encode())
    by_arn, by_name, default = call.params["Entries"]
    assert (by_arn["EventBusName"], by_arn["EventBusAccount"], by_arn["EventBusRegion"]) == (
        "central",
        CENTRAL,
        "eu-west-1",
    )
    assert by_name == {"EventBusName": "mine"}
    assert default == {"EventBusName": "default"}


@pytest.fixture
def organizations() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "organizations",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  # moto's
        )


def test_principal_org_id_is_the_organization_moto_holds_the_account_in(organizations: Any) -> None:
    assert organization_of(CENTRAL) is None
    organization = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    member = organizations.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"][
        "AccountId"
    ]
    assert organization_of(CENTRAL) == organization  # the management account
    assert organization_of(member) == organization
    assert organization_of(OUTSIDER) is None
    organizations.remove_account_from_organization(AccountId=member)
    assert organization_of(member) is None
