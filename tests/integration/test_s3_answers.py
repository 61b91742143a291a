"""What S3 answers through the authorizing proxy, for details clients depend on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from emulation.aws_stack import LocalAws, local_aws
from emulation.organization import LocalOrganization

pytestmark = pytest.mark.integration

BUCKET = "hook-archive-local"


@pytest.fixture(scope="module")
def local() -> Iterator[tuple[LocalAws, LocalOrganization]]:
    with local_aws() as aws:
        yield aws, LocalOrganization.create(aws)


def _reader(organization: LocalOrganization, prefix: str, name: str) -> object:
    """A role of the local account that may read objects, and list the bucket only under `prefix`."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{BUCKET}",
                "Condition": {"StringLike": {"s3:prefix": f"{prefix}*"}},
            },
        ],
    }
    session = organization.role_session(organization.management_account, name, policy)
    return organization.client(session, "s3")


def test_a_head_answers_the_objects_size_not_its_empty_body(
    local: tuple[LocalAws, LocalOrganization],
) -> None:
    aws, organization = local
    aws.client("s3").put_object(Bucket=BUCKET, Key="curated/metadata.json", Body=b"x" * 1234)
    s3 = _reader(organization, "curated/", "sized-reader")
    assert s3.head_object(Bucket=BUCKET, Key="curated/metadata.json")["ContentLength"] == 1234  # type: ignore[attr-defined]


def test_a_missing_key_is_404_under_the_listable_prefix_and_403_elsewhere(
    local: tuple[LocalAws, LocalOrganization],
) -> None:
    # API_HeadObject.html, "Permissions": 404 only with s3:ListBucket. A ListBucket narrowed by s3:prefix
    # counts for keys under that prefix (kopia/kopia#3072, seen against S3; ceph/ceph#68577).
    _aws, organization = local
    s3 = _reader(organization, "curated/", "prefix-reader")
    codes = {}
    for key in ("curated/missing.json", "raw/missing.json"):
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=BUCKET, Key=key)  # type: ignore[attr-defined]
        codes[key] = missing.value.response["Error"]["Code"]
    assert codes == {"curated/missing.json": "404", "raw/missing.json": "403"}
