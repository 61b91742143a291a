"""A central archive bucket in another region than the curator: on the enforcing local stack, with
template.yaml's CuratorRole and CuratorFunction environment, S3 refuses a call signed for another region
than the bucket's (AuthorizationHeaderMalformed, naming the bucket's region:
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). boto3 follows that answer to the
bucket's region; pyarrow's S3 filesystem, pyiceberg's file IO, does not. ArchiveBucketRegion, which the
template passes to the curator as ARCHIVE_BUCKET_REGION, is what lets it curate such a bucket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import LocalAws, local_aws
from emulation.curator_harness import ROLE_LOGICAL_ID, CuratorHarness, CuratorRunError
from tests.integration.conftest import seed_history

pytestmark = pytest.mark.integration

QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
CENTRAL_BUCKET = "central-hook-archive"
CENTRAL_REGION = "eu-west-1"


@pytest.fixture
def enforcing_aws() -> Iterator[LocalAws]:
    with local_aws(page_size=25) as stack:
        yield stack


@pytest.fixture
def central_archiver(enforcing_aws: LocalAws) -> ArchiverHarness:
    """A deployment archiving into an existing bucket of eu-west-1, the stack in us-east-1."""
    enforcing_aws.client("s3").create_bucket(
        Bucket=CENTRAL_BUCKET, CreateBucketConfiguration={"LocationConstraint": CENTRAL_REGION}
    )
    archiver = ArchiverHarness(enforcing_aws)
    archiver.parameters.update(
        {"ExistingArchiveBucketName": CENTRAL_BUCKET, "ArchiveBucketRegion": CENTRAL_REGION}
    )
    seed_history(enforcing_aws, days=3, per_day=10)
    assert archiver.run()["status"] == "complete"
    return archiver


def _wrong_region_refusals(aws: LocalAws) -> list[str]:
    assert aws.authorizer is not None
    return [
        verdict.call.operation
        for verdict in aws.authorizer.verdicts
        if verdict.denial is not None and verdict.denial.code == "AuthorizationHeaderMalformed"
    ]


def test_a_curator_of_a_bucket_in_another_region_fails_clearly_without_the_region_and_curates_with_it(
    enforcing_aws: LocalAws, central_archiver: ArchiverHarness
) -> None:
    curator = CuratorHarness(central_archiver, runtime_environment=QUIET)
    raw = central_archiver.read_archive()
    assert raw.num_rows == 30
    # Given the deployment without ArchiveBucketRegion: S3 calls are signed for the function's region
    central_archiver.parameters.pop("ArchiveBucketRegion")
    assert curator.environment(curator.deployment())["ARCHIVE_BUCKET_REGION"] == "us-east-1"
    # When the curator runs, Then it fails naming S3's refusal and the setting that fixes it
    with pytest.raises(CuratorRunError) as failure:
        curator.run()
    message = str(failure.value)
    # (pyarrow's own words for S3's answer, which names the bucket's region in x-amz-bucket-region)
    assert "HTTP status 400" in message, message
    assert f"bucket is located in '{CENTRAL_REGION}'" in message, message
    assert "ARCHIVE_BUCKET_REGION" in message, message
    # ...refused by S3 for the region, not by IAM: the role had every permission it needed
    assert _wrong_region_refusals(enforcing_aws)
    assert not [
        verdict
        for verdict in enforcing_aws.authorizer.verdicts  # type: ignore[union-attr]
        if ROLE_LOGICAL_ID in verdict.principal_arn and verdict.denial is not None
    ]
    # ...and nothing was curated, nothing of the raw archive touched
    assert not curator.table_exists()
    assert central_archiver.read_archive().equals(raw)
    # Given ArchiveBucketRegion, When the curator runs again
    central_archiver.parameters["ArchiveBucketRegion"] = CENTRAL_REGION
    assert curator.environment(curator.deployment())["ARCHIVE_BUCKET_REGION"] == CENTRAL_REGION
    enforcing_aws.authorizer.verdicts.clear()  # type: ignore[union-attr]
    report = curator.run()
    # Then hook_results is exactly the raw archive, and no call went to the wrong region
    assert report["rows_written"] == raw.num_rows
    curated = curator.curated_rows()
    ids = curated.column("hook_result_id").to_pylist()
    assert len(ids) == len(set(ids)) == raw.num_rows
    assert set(ids) == set(raw.column("hook_result_id").to_pylist())
    assert _wrong_region_refusals(enforcing_aws) == []
