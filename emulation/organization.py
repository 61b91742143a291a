"""A local AWS Organization on the local stack: a management account (the local stack's own, which also
holds the central archive), member accounts created through moto's Organizations, and any account's
administrator or role sessions, as STS `AssumeRole` gives them.

moto keeps every account in one process; an access key names its account (moto's STS issues a session's
key in the account of the role it assumed), so a member's session reaches the central account's bucket,
key and bus through the authorizing proxy exactly as a cross-account call does on AWS. Nothing here is
deployed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.events.models import EventsBackend, events_backends

from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.tls import ca_bundle

# The role Organizations creates in an account it creates, for the management account's administrators
# (moto's CreateAccount creates none, and its STS does not need one: the name is what AWS uses).
ADMIN_ROLE = "OrganizationAccountAccessRole"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass
class LocalOrganization:
    """An Organization whose management account is the local stack's account (`ACCOUNT_ID`)."""

    aws: LocalAws
    organization_id: str
    members: dict[str, str]  # account name -> account id
    management_account: str = ACCOUNT_ID
    _admin_sessions: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def create(
        cls, aws: LocalAws, member_names: tuple[str, ...] = ("member-a", "member-b")
    ) -> LocalOrganization:
        """CreateOrganization in the local account, then CreateAccount for each member."""
        deliver_events_to_the_bus_they_name()
        organizations = aws.client("organizations")
        organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        members = {}
        for name in member_names:
            status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
            members[name] = status["CreateAccountStatus"]["AccountId"]
        return cls(aws, organization_id, members)

    def admin_client(self, account: str, service: str, *, region: str = REGION) -> Any:
        """A client of `account`'s administrator, straight to moto (setup and inspection, never judged)."""
        if account == self.management_account:
            return self.aws.client(service, region=region)
        if account not in self._admin_sessions:
            role_arn = f"arn:aws:iam::{account}:role/{ADMIN_ROLE}"
            self._admin_sessions[account] = _credentials(
                self.aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="admin")
            )
        return _client(service, self.aws.moto_url, region, self._admin_sessions[account])

    def role_session(
        self,
        account: str,
        role_name: str,
        policy: Mapping[str, Any],
        *,
        trust_policy: Mapping[str, Any] = LAMBDA_TRUST,
    ) -> dict[str, str]:
        """Create `role_name` in `account`'s IAM with `policy` inline; return a session of it (as Lambda
        hands the function its role's credentials)."""
        iam = self.admin_client(account, "iam")
        role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust_policy))[
            "Role"
        ]["Arn"]
        iam.put_role_policy(RoleName=role_name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        sts = self.admin_client(account, "sts")
        return _credentials(sts.assume_role(RoleArn=role_arn, RoleSessionName=role_name))

    def client(self, credentials: Mapping[str, str], service: str, *, region: str = REGION) -> Any:
        """A client holding `credentials` that goes through the authorizing proxy, as a deployed function's
        does (over HTTPS unless the local stack was started with tls=False)."""
        return _client(service, self.aws.proxy.url, region, credentials)


def _credentials(response: Mapping[str, Any]) -> dict[str, str]:
    credentials = response["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def _client(service: str, endpoint: str, region: str, credentials: Mapping[str, str]) -> Any:
    return boto3.client(  # type: ignore[call-overload]  # service name chosen at run time
        service,
        endpoint_url=endpoint,
        verify=ca_bundle() if endpoint.startswith("https:") else None,
        region_name=region,
        **credentials,
    )


def deliver_events_to_the_bus_they_name() -> None:
    """Make moto deliver a PutEvents entry whose `EventBusName` is another account's (or region's) bus ARN to
    that bus, as EventBridge does. moto strips the ARN to the bus name and looks it up in the caller's own
    account and region, so such an entry fails the whole call with ResourceNotFoundException ("Event bus
    <name> does not exist.") or lands on a same-named bus of the caller. Delivered by the bus owner's
    backend, the event's `account` field is the bus owner's, as moto's own cross-account rule targets do.
    Idempotent; process-wide, like `authorizer.take_over_bucket_policy_checks`."""
    original = EventsBackend.put_events
    if getattr(original, "delivers_by_arn", False):
        return

    def put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        owners = [_bus_owner(self, entry) for entry in events]
        if len(events) > 10 or all(owner is self for owner in owners):  # noqa: PLR2004  # moto validates
            return original(self, events)
        return [
            result for owner, entry in zip(owners, events, strict=True) for result in original(owner, [entry])
        ]

    put_events.delivers_by_arn = True  # type: ignore[attr-defined]
    EventsBackend.put_events = put_events  # type: ignore[method-assign]


def _bus_owner(backend: EventsBackend, entry: Mapping[str, Any]) -> EventsBackend:
    bus = str(entry.get("EventBusName") or "")
    if not bus.startswith("arn:"):
        return backend
    _, _, _, region, account, _ = bus.split(":", 5)
    if (account, region) == (backend.account_id, backend.region_name):
        return backend
    return events_backends[account][region]


# -- the central archive's resource policies, as issue 12 prescribes them --------------------------------
# Access by condition, never by listing principals: the Organization (aws:PrincipalOrgID) and the archiver
# role's name (aws:PrincipalArn); each member writes only keys naming its own account
# (${aws:PrincipalAccount}); the key only through S3 in the bucket's region (kms:ViaService); the bus only
# the archive's source (events:source); the bucket only over TLS (aws:SecureTransport).


def _members(organization_id: str, role_arn_pattern: str) -> dict[str, Any]:
    return {
        "StringEquals": {"aws:PrincipalOrgID": organization_id},
        "ArnLike": {"aws:PrincipalArn": role_arn_pattern},
    }


def central_bucket_policy(
    bucket: str, prefix: str, *, organization_id: str, role_arn_pattern: str
) -> dict[str, Any]:
    objects = f"arn:aws:s3:::{bucket}/{prefix}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "MembersWriteRowsOfTheirOwnAccount",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{objects}/dt=*/${{aws:PrincipalAccount}}-*.parquet",
                "Condition": _members(organization_id, role_arn_pattern),
            },
            {
                "Sid": "MembersKeepTheirOwnCheckpoint",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"{objects}/_state/${{aws:PrincipalAccount}}/*",
                "Condition": _members(organization_id, role_arn_pattern),
            },
        ],
    }


def central_key_policy(
    account: str, *, organization_id: str, role_arn_pattern: str, bucket_region: str
) -> dict[str, Any]:
    through_s3 = _members(organization_id, role_arn_pattern)
    through_s3["StringEquals"] = {
        **through_s3["StringEquals"],
        "kms:ViaService": f"s3.{bucket_region}.amazonaws.com",
    }
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CentralAccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "MembersUseTheKeyOnlyThroughTheArchiveBucket",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Condition": through_s3,
            },
        ],
    }


def central_bus_policy(
    bus_arn: str, *, organization_id: str, role_arn_pattern: str, source: str
) -> dict[str, Any]:
    condition = _members(organization_id, role_arn_pattern)
    condition["StringEquals"] = {**condition["StringEquals"], "events:source": source}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MembersPutTheArchivesFailureEvents",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": bus_arn,
                "Condition": condition,
            }
        ],
    }
