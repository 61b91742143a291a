"""`make package-org` publishing, on the local stack: one artefact bucket per region, the same zips in each,
the member template once, and buckets the Organization may read and nobody else (judged by the local
authorization layer, as Lambda's code download is judged for the StackSet's execution role)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from emulation.aws_stack import LocalAws, local_aws
from emulation.lambda_runtime import environment_variables
from emulation.organization import LocalOrganization
from tooling.package_org import KEY_PREFIX, publish

pytestmark = pytest.mark.integration

REGIONS = ["us-east-1", "eu-west-1"]
PREFIX = "org-artefacts"
READ_ARTEFACTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAws, LocalOrganization, str]]:
    out = tmp_path_factory.mktemp("org")
    files = {
        f"{KEY_PREFIX}/archiver-abc.zip": _write(out / "archiver-abc.zip", b"code"),
        f"{KEY_PREFIX}/dependencies-def.zip": _write(out / "dependencies-def.zip", b"layer"),
        f"{KEY_PREFIX}/member-123.json": _write(out / "member.json", b'{"Resources": {}}'),
    }
    with local_aws() as aws:
        organization = LocalOrganization.create(aws)
        # The publisher's standard boto3 clients reach the local stack through AWS_ENDPOINT_URL, as the
        # management (or artefact) account's administrator.
        environment = {key: value for key, value in aws.process_environment().items() if key != "AWS_REGION"}
        with environment_variables(environment):
            url = publish(files, prefix=PREFIX, regions=REGIONS, organization_id=organization.organization_id)
        yield aws, organization, url


def _write(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


def test_each_region_gets_the_zips_and_the_first_the_template(
    published: tuple[LocalAws, LocalOrganization, str],
) -> None:
    aws, _organization, url = published
    s3 = aws.client("s3")
    keys = {
        region: sorted(item["Key"] for item in s3.list_objects_v2(Bucket=f"{PREFIX}-{region}")["Contents"])
        for region in REGIONS
    }
    assert keys["us-east-1"] == [
        f"{KEY_PREFIX}/archiver-abc.zip",
        f"{KEY_PREFIX}/dependencies-def.zip",
        f"{KEY_PREFIX}/member-123.json",
    ]
    assert keys["eu-west-1"] == [f"{KEY_PREFIX}/archiver-abc.zip", f"{KEY_PREFIX}/dependencies-def.zip"]
    assert url == f"https://{PREFIX}-us-east-1.s3.us-east-1.amazonaws.com/{KEY_PREFIX}/member-123.json"
    location = s3.get_bucket_location(Bucket=f"{PREFIX}-eu-west-1")["LocationConstraint"]
    assert location == "eu-west-1"


def test_a_member_account_may_read_the_artefacts_and_an_outsider_may_not(
    published: tuple[LocalAws, LocalOrganization, str],
) -> None:
    _aws, organization, _url = published
    member = organization.members["member-a"]
    deployer = organization.role_session(member, "stackset-execution", READ_ARTEFACTS)
    body = organization.client(deployer, "s3").get_object(
        Bucket=f"{PREFIX}-eu-west-1", Key=f"{KEY_PREFIX}/archiver-abc.zip"
    )["Body"]
    assert body.read() == b"code"
    outsider = organization.role_session("444455556666", "stackset-execution", READ_ARTEFACTS)
    with pytest.raises(ClientError) as refused:
        organization.client(outsider, "s3").get_object(
            Bucket=f"{PREFIX}-eu-west-1", Key=f"{KEY_PREFIX}/archiver-abc.zip"
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_artefact_buckets_are_versioned_private_and_tls_only(
    published: tuple[LocalAws, LocalOrganization, str],
) -> None:
    aws, _organization, _url = published
    s3 = aws.client("s3")
    for region in REGIONS:
        bucket = f"{PREFIX}-{region}"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        deny = next(statement for statement in statements if statement["Effect"] == "Deny")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
