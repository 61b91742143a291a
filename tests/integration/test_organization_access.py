"""An Organization's access to one central archive, judged on the wire by the local authorization layer.

A local Organization (emulation/organization.py): the local stack's account is the management and central
account, holding the archive bucket (SSE-KMS with its own key) and the bus; two member accounts are created
through moto's Organizations, and a fourth account belongs to none. The central account's administrator
applies the bucket, key and bus policies of template.yaml's central deployment (OrganizationId set),
resolved offline as CloudFormation would; then archiver role sessions of each
account make real boto3 calls through the authorizing proxy, over HTTPS. Each condition the policies use
(aws:PrincipalOrgID, aws:PrincipalAccount, aws:PrincipalArn, aws:SecureTransport, kms:ViaService,
events:source) has a test that flips just it and sees the denial.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulation.aws_stack import (
    FAILURE_EVENT_DETAIL_TYPE,
    FAILURE_EVENT_SOURCE,
    REGION,
    LocalAws,
    local_aws,
)
from emulation.organization import CentralArchive, LocalOrganization

PREFIX = "hook-results"
# The name the member template gives its role (<MemberArchiverRoleName>-<region>), which the central
# policies admit by aws:PrincipalArn.
ARCHIVER_ROLE = f"cfn-hook-archive-archiver-{REGION}"
OUTSIDER = "444455556666"  # an account in no organization
OTHER_REGION = "eu-west-1"


@dataclass
class Central:
    """The central archive (template.yaml deployed with OrganizationId) and the Organization around it."""

    aws: LocalAws
    organization: LocalOrganization
    archive: CentralArchive

    @property
    def bucket(self) -> str:
        return self.archive.bucket

    @property
    def key_arn(self) -> str:
        return self.archive.key_arn

    @property
    def bus_arn(self) -> str:
        return self.archive.bus_arn

    def apply_policies(self, *, key_region: str | None = None, **parameters: str) -> None:
        """The bucket, key and bus policies as the central stack creates them for `parameters` (another
        OrganizationId, EventSource...); `key_region`: the key policy of a stack in that region."""
        self.archive.deploy(key_region=key_region, **parameters)

    def archiver(self, account: str, role_name: str = ARCHIVER_ROLE) -> Member:
        """A session of an archiver role in `account`, whose own (identity) policy grants the whole central
        archive: what narrows it is the central account's policies."""
        identity = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ArchiveObjects",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetObject"],
                    "Resource": f"arn:aws:s3:::{self.bucket}/{PREFIX}/*",
                },
                {
                    "Sid": "ArchiveKey",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": self.key_arn,
                },
                {
                    "Sid": "FailureEvents",
                    "Effect": "Allow",
                    "Action": "events:PutEvents",
                    "Resource": self.bus_arn,
                },
            ],
        }
        credentials = self.organization.role_session(account, role_name, identity)
        return Member(self, account, credentials)


@dataclass
class Member:
    central: Central
    account: str
    credentials: dict[str, str]

    def client(self, service: str) -> Any:
        return self.central.organization.client(self.credentials, service)

    def row_key(self, account: str | None = None) -> str:
        return f"{PREFIX}/dt=2026-11-27/{account or self.account}-{REGION}-1.parquet"

    def annotation_key(self, account: str | None = None) -> str:
        return f"{PREFIX}/annotations/dt=2026-11-27/{account or self.account}-{REGION}-1.parquet"

    def checkpoint_key(self, account: str | None = None) -> str:
        return f"{PREFIX}/_state/{account or self.account}/{REGION}/checkpoint.json"

    def put(self, key: str) -> None:
        self.client("s3").put_object(Bucket=self.central.bucket, Key=key, Body=b"rows")

    def put_events(self, *sources: str) -> dict[str, Any]:
        entries = [
            {
                "EventBusName": self.central.bus_arn,
                "Source": source,
                "DetailType": FAILURE_EVENT_DETAIL_TYPE,
                "Detail": json.dumps({"account": self.account}),
            }
            for source in sources
        ]
        response: dict[str, Any] = self.client("events").put_events(Entries=entries)
        return response


def _central(aws: LocalAws) -> Central:
    organization = LocalOrganization.create(aws)
    return Central(aws, organization, CentralArchive.create(organization))


@pytest.fixture
def central() -> Iterator[Central]:
    with local_aws(page_size=25) as aws:
        yield _central(aws)


def _member(central: Central, name: str = "member-a") -> Member:
    return central.archiver(central.organization.members[name])


def _refused(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


# -- what the Organization's archivers may do ----------------------------------------------------------


def test_each_member_writes_rows_and_a_checkpoint_naming_its_own_account(central: Central) -> None:
    for name in ("member-a", "member-b"):
        member = _member(central, name)
        member.put(member.row_key())
        member.put(member.checkpoint_key())
        body = member.client("s3").get_object(Bucket=central.bucket, Key=member.checkpoint_key())["Body"]
        assert body.read() == b"rows"
    stored = central.aws.client("s3").list_objects_v2(Bucket=central.bucket)["Contents"]
    assert len(stored) == 4


def test_a_members_calls_are_judged_as_cross_account_by_the_central_resources_policies(
    central: Central,
) -> None:
    member = _member(central)
    member.put(member.row_key())
    member.put_events(FAILURE_EVENT_SOURCE)
    assert central.aws.authorizer is not None
    decisions = {
        decision.request.action: decision.request
        for verdict in central.aws.authorizer.verdicts
        for decision in verdict.decisions
    }
    central_account = central.organization.management_account
    assert {action: request.resource_account for action, request in decisions.items()} == {
        "s3:PutObject": central_account,
        "kms:GenerateDataKey": central_account,
        "events:PutEvents": central_account,
    }
    assert decisions["kms:GenerateDataKey"].resource == central.key_arn
    assert decisions["events:PutEvents"].resource == central.bus_arn
    assert decisions["s3:PutObject"].context["aws:PrincipalOrgID"] == central.organization.organization_id


def test_a_members_failure_event_put_by_arn_lands_on_the_central_bus(central: Central) -> None:
    member = _member(central)
    response = member.put_events(FAILURE_EVENT_SOURCE)
    assert response["FailedEntryCount"] == 0
    (event,) = central.aws.receive_events()
    assert (event["source"], event["detail"]) == (FAILURE_EVENT_SOURCE, {"account": member.account})
    # (moto's rule targets get the event without its `account` field: its default input template.)


# -- each condition, flipped --------------------------------------------------------------------------


def test_principal_org_id_a_policy_naming_another_organization_refuses_the_member(central: Central) -> None:
    member = _member(central)
    central.apply_policies(OrganizationId="o-someoneelse1")
    with pytest.raises(ClientError) as refused:
        member.put(member.row_key())
    code, message = _refused(refused)
    assert code == "AccessDenied"
    assert "because no resource-based policy allows the s3:PutObject action" in message


def test_principal_org_id_an_account_in_no_organization_is_refused_everywhere(central: Central) -> None:
    # Its role matches the name pattern and its identity policy grants everything: aws:PrincipalOrgID is
    # missing from its requests, so no statement of the central policies applies.
    outsider = central.archiver(OUTSIDER)
    with pytest.raises(ClientError) as refused:
        outsider.put(outsider.row_key())
    assert _refused(refused)[0] == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        outsider.put(outsider.checkpoint_key())
    assert _refused(refused)[0] == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        outsider.put_events(FAILURE_EVENT_SOURCE)
    code, message = _refused(refused)
    assert code == "AccessDeniedException"
    assert f"on resource: {central.bus_arn}" in message
    assert central.aws.receive_events() == []


def test_principal_account_a_member_cannot_write_a_row_or_checkpoint_claiming_another_account(
    central: Central,
) -> None:
    member = _member(central)
    other = central.organization.members["member-b"]
    for key in (member.row_key(other), member.checkpoint_key(other)):
        with pytest.raises(ClientError) as refused:
            member.put(key)
        code, message = _refused(refused)
        assert code == "AccessDenied"
        assert f"arn:aws:s3:::{central.bucket}/{key}" in message
    member.put(member.row_key())  # its own account's key, same call otherwise
    assert central.aws.client("s3").list_objects_v2(Bucket=central.bucket)["KeyCount"] == 1


def test_principal_arn_a_member_role_not_named_as_the_archiver_is_refused(central: Central) -> None:
    other_role = central.archiver(central.organization.members["member-a"], role_name="ops-automation")
    with pytest.raises(ClientError) as refused:
        other_role.put(other_role.row_key())
    assert _refused(refused)[0] == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        other_role.put_events(FAILURE_EVENT_SOURCE)
    assert _refused(refused)[0] == "AccessDeniedException"


def test_secure_transport_plain_http_is_refused_by_the_central_bucket() -> None:
    with local_aws(page_size=25, tls=False) as aws:
        central = _central(aws)
        member = _member(central)
        with pytest.raises(ClientError) as refused:
            member.put(member.row_key())
        code, message = _refused(refused)
        assert code == "AccessDenied"
        assert message.endswith("with an explicit deny in a resource-based policy")


def test_kms_via_service_the_key_through_s3_of_another_region_refuses_the_write(central: Central) -> None:
    member = _member(central)
    central.apply_policies(key_region=OTHER_REGION)
    with pytest.raises(ClientError) as refused:
        member.put(member.row_key())
    code, message = _refused(refused)
    assert code == "AccessDenied"
    assert f"kms:GenerateDataKey on resource: {central.key_arn}" in message
    assert central.aws.client("s3").list_objects_v2(Bucket=central.bucket)["KeyCount"] == 0


def test_events_source_another_source_is_refused_per_entry_while_the_archives_lands(central: Central) -> None:
    member = _member(central)
    response = member.put_events("someone-else", FAILURE_EVENT_SOURCE)
    refused, delivered = response["Entries"]
    assert response["FailedEntryCount"] == 1
    assert refused["ErrorCode"] == "NotAuthorizedForSourceException"
    assert "EventId" in delivered
    assert [event["source"] for event in central.aws.receive_events()] == [FAILURE_EVENT_SOURCE]


def test_events_source_a_bus_policy_for_another_source_refuses_the_archives_events(central: Central) -> None:
    member = _member(central)
    central.apply_policies(EventSource="someone-else")
    response = member.put_events(FAILURE_EVENT_SOURCE)
    assert [entry.get("ErrorCode") for entry in response["Entries"]] == ["NotAuthorizedForSourceException"]
    assert central.aws.receive_events() == []


def test_a_refused_sts_call_answers_in_the_query_protocols_xml(central: Central) -> None:
    # STS speaks the query protocol: a refusal is an <ErrorResponse> document, which botocore parses into
    # the code (a JSON body would raise ResponseParserError instead).
    stranger = {
        "aws_access_key_id": "AKIANOSUCHKEY0000000",
        "aws_secret_access_key": "secret",
    }
    with pytest.raises(ClientError) as refused:
        central.organization.client(stranger, "sts").get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# An analyst's own policy lets it read and decrypt anything: only the central policies can refuse it.
ANALYST_READS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}],
}


def _analyst_s3(central: Central, account: str) -> Any:
    """An S3 client of an analyst role in `account` (a member, or an account outside the Organization)."""
    return central.organization.client(
        central.organization.role_session(account, "analyst", ANALYST_READS), "s3"
    )


def test_members_read_archive_is_off_by_default_and_opens_reading_to_the_organization(
    central: Central,
) -> None:
    # MembersReadArchive: the bucket's OrganizationReadsTheArchive and the key's
    # OrganizationReadsThroughTheArchiveBucket statements, both conditioned on aws:PrincipalOrgID only.
    writer = _member(central, "member-a")
    writer.put(writer.row_key())
    s3 = _analyst_s3(central, central.organization.members["member-b"])
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=central.bucket, Key=writer.row_key())
    assert _refused(refused)[0] == "AccessDenied"
    central.apply_policies(MembersReadArchive="true")
    assert s3.get_object(Bucket=central.bucket, Key=writer.row_key())["Body"].read() == b"rows"
    with pytest.raises(ClientError) as refused:
        _analyst_s3(central, OUTSIDER).get_object(Bucket=central.bucket, Key=writer.row_key())
    assert _refused(refused)[0] == "AccessDenied"


def test_annotations_a_member_writes_its_own_and_the_statement_taken_away_refuses_them(
    central: Central,
) -> None:
    # MembersWriteAnnotationsOfTheirOwnAccount: the annotations table's keys, scoped like the rows'.
    member = _member(central)
    other = central.organization.members["member-b"]
    member.put(member.annotation_key())
    with pytest.raises(ClientError) as refused:
        member.put(member.annotation_key(other))
    assert _refused(refused)[0] == "AccessDenied"
    policy = central.archive.deployment().properties("ArchiveBucketPolicy")["PolicyDocument"]
    without = {
        **policy,
        "Statement": [
            s for s in policy["Statement"] if s.get("Sid") != "MembersWriteAnnotationsOfTheirOwnAccount"
        ],
    }
    assert len(without["Statement"]) == len(policy["Statement"]) - 1
    central.aws.client("s3").put_bucket_policy(Bucket=central.bucket, Policy=json.dumps(without))
    with pytest.raises(ClientError) as refused:
        member.put(member.annotation_key())
    code, message = _refused(refused)
    assert code == "AccessDenied"
    assert "because no resource-based policy allows the s3:PutObject action" in message
    # Nothing lost: the annotation written while the statement stood is still there.
    body = central.aws.client("s3").get_object(Bucket=central.bucket, Key=member.annotation_key())["Body"]
    assert body.read() == b"rows"


def test_members_read_archive_lets_an_organization_reader_read_annotations_and_only_the_statement_does(
    central: Central,
) -> None:
    # OrganizationReadsTheArchive names <prefix>/annotations/dt=* beside <prefix>/dt=*: a reader who may read
    # the results may read the rules and controls behind them (issue 14).
    writer = _member(central, "member-a")
    writer.put(writer.row_key())
    writer.put(writer.annotation_key())
    s3 = _analyst_s3(central, central.organization.members["member-b"])
    # Off (the default): refused
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=central.bucket, Key=writer.annotation_key())
    assert _refused(refused)[0] == "AccessDenied"
    # On: read
    central.apply_policies(MembersReadArchive="true")
    assert s3.get_object(Bucket=central.bucket, Key=writer.annotation_key())["Body"].read() == b"rows"
    # Taken away: the statement without its annotations resource refuses them and still grants the results
    policy = central.archive.deployment(MembersReadArchive="true").properties("ArchiveBucketPolicy")[
        "PolicyDocument"
    ]
    (reads_statement,) = [s for s in policy["Statement"] if s.get("Sid") == "OrganizationReadsTheArchive"]
    annotations = [r for r in reads_statement["Resource"] if "/annotations/" in r]
    assert len(annotations) == 1
    reads_statement["Resource"] = [r for r in reads_statement["Resource"] if r not in annotations]
    central.aws.client("s3").put_bucket_policy(Bucket=central.bucket, Policy=json.dumps(policy))
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=central.bucket, Key=writer.annotation_key())
    code, message = _refused(refused)
    assert code == "AccessDenied"
    assert "because no resource-based policy allows the s3:GetObject action" in message
    assert s3.get_object(Bucket=central.bucket, Key=writer.row_key())["Body"].read() == b"rows"
