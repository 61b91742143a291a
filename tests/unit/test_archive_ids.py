"""dal/archive_ids.py, the self-audit's reads, against botocore's Stubber (no sockets): it lists only this
account-region's keys of a day, follows ListObjectsV2's continuation tokens, reads only the id column, and
turns a refusal into a domain error that says what failed."""

from __future__ import annotations

import io
from datetime import date

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

from hook_archive.dal.archive_ids import S3ArchivedIds
from hook_archive.errors import ArchiveWriteError

DAY = date(2026, 11, 18)
PREFIX = "hook-results/dt=2026-11-18/123456789012-us-east-1-"


def _parquet(ids: list[str], *, undated: tuple[str, ...] = ()) -> bytes:
    invoked_at = [1_795_000_000_000] * len(ids) + [None] * len(undated)
    table = pa.table(
        {
            "hook_result_id": [*ids, *undated],
            "status": ["HOOK_COMPLETE_SUCCEEDED"] * (len(ids) + len(undated)),
            "invoked_at": pa.array(invoked_at, pa.timestamp("ms", tz="UTC")),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _reader() -> tuple[S3ArchivedIds, Stubber]:
    # Unsigned: no credentials are looked up (that could reach for the instance metadata service).
    client = boto3.client("s3", region_name="us-east-1", config=Config(signature_version=UNSIGNED))
    reader = S3ArchivedIds(
        bucket="archive",
        archive_prefix="hook-results",
        account_id="123456789012",
        region="us-east-1",
        client=client,
        threads=1,  # the Stubber answers in order
    )
    return reader, Stubber(client)


def _get(stubber: Stubber, key: str, body: bytes) -> None:
    stubber.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body))},
        {"Bucket": "archive", "Key": key},
    )


def test_a_days_ids_come_from_every_page_of_its_listing_and_only_this_account_regions_keys() -> None:
    # ListObjectsV2 pages: IsTruncated, then NextContinuationToken as the next ContinuationToken
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html).
    reader, stubber = _reader()
    first, second = f"{PREFIX}000000000001.parquet", f"{PREFIX}000000000002.parquet"
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": first}], "IsTruncated": True, "NextContinuationToken": "next"},
        {"Bucket": "archive", "Prefix": PREFIX},
    )
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": second}, {"Key": f"{PREFIX}notes.txt"}], "IsTruncated": False},
        {"Bucket": "archive", "Prefix": PREFIX, "ContinuationToken": "next"},
    )
    _get(stubber, first, _parquet(["a", "b"]))
    _get(stubber, second, _parquet(["c"], undated=("filed-by-archive-date",)))
    with stubber:
        ids, objects = reader.ids_of_days([DAY])
    stubber.assert_no_pending_responses()
    # A row without InvokedAt is left out: the audit never looks for one, the day digests do not count it.
    assert ids == {DAY: frozenset({"a", "b", "c"})}
    assert objects == 2


def test_a_refused_listing_is_an_archive_error_naming_the_prefix() -> None:
    reader, stubber = _reader()
    stubber.add_client_error("list_objects_v2", service_error_code="AccessDenied", http_status_code=403)
    with stubber, pytest.raises(ArchiveWriteError, match=f"listing s3://archive/{PREFIX}.*AccessDenied"):
        reader.ids_of_days([DAY])
