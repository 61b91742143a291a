"""The self-audit's reads (logic/audit.py): which ids this account-region's archive objects hold, one dt
partition at a time, reading the ``hook_result_id`` and ``invoked_at`` columns only. A row without
InvokedAt (filed under the day it was archived) is left out: the audit never looks for one, and the
checkpoint's day digests do not count it (models/checkpoint.py IdDigests)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TYPE_CHECKING

import boto3
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.dal.aws_errors import S3_NOT_FOUND_CODES, error_code
from hook_archive.errors import ArchiveWriteError
from hook_archive.logic.partitioning import partition_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ID_COLUMN = "hook_result_id"
INVOKED_AT_COLUMN = "invoked_at"
# A day holds at most one object per run (288 at the 5-minute schedule): read several at once, boundedly.
READ_THREADS = 8


class S3ArchivedIds:
    """Lists ``<prefix>/dt=<day>/<account>-<region>-*.parquet`` (s3:ListBucket) and reads each object's id
    column (s3:GetObject on the role's ArchiveObjects keys). The GET fetches the whole object: pyarrow's
    S3 filesystem, which could range-read the column chunk, is pruned from the layer; the objects are small
    ZSTD files and only the one column is decoded. A listing longer than 1,000 keys is followed with
    NextContinuationToken while IsTruncated
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html)."""

    def __init__(
        self,
        *,
        bucket: str,
        archive_prefix: str,
        account_id: str,
        region: str,
        client: S3Client | None = None,
        botocore_config: Config | None = None,
        threads: int = READ_THREADS,
    ) -> None:
        self._client = client or boto3.client("s3", config=botocore_config)
        self._bucket = bucket
        self._prefix = archive_prefix
        self._name_start = f"{account_id}-{region}-"
        self._threads = threads

    def day_keys(self, day: date) -> list[str]:
        prefix = f"{partition_prefix(self._prefix, day)}{self._name_start}"
        keys: list[str] = []
        token: str | None = None
        try:
            while True:
                page = (
                    self._client.list_objects_v2(Bucket=self._bucket, Prefix=prefix, ContinuationToken=token)
                    if token
                    else self._client.list_objects_v2(Bucket=self._bucket, Prefix=prefix)
                )
                contents = page.get("Contents", [])
                keys.extend(item["Key"] for item in contents if item["Key"].endswith(".parquet"))
                token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
                if not token:
                    break
        except ClientError as error:
            raise ArchiveWriteError(
                f"listing s3://{self._bucket}/{prefix} for the audit failed: {error_code(error)}"
            ) from error
        except BotoCoreError as error:
            raise ArchiveWriteError(
                f"listing s3://{self._bucket}/{prefix} for the audit failed: {error}"
            ) from error
        return sorted(keys)

    def object_ids(self, key: str) -> frozenset[str]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error_code(error) in S3_NOT_FOUND_CODES:
                return frozenset()  # deleted since the listing (a dead run's leftover being cleaned up)
            raise ArchiveWriteError(
                f"reading s3://{self._bucket}/{key} for the audit failed: {error_code(error)}"
            ) from error
        except BotoCoreError as error:
            raise ArchiveWriteError(
                f"reading s3://{self._bucket}/{key} for the audit failed: {error}"
            ) from error
        table = pq.ParquetFile(io.BytesIO(body)).read(columns=[ID_COLUMN, INVOKED_AT_COLUMN])
        ids = table.column(ID_COLUMN).to_pylist()
        invoked_at = table.column(INVOKED_AT_COLUMN).to_pylist()
        return frozenset(
            str(value)
            for value, at in zip(ids, invoked_at, strict=True)
            if value is not None and at is not None
        )

    def ids_of_days(self, days: Iterable[date]) -> tuple[dict[date, frozenset[str]], int]:
        wanted = list(days)
        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            listed = dict(zip(wanted, pool.map(self.day_keys, wanted), strict=True))
            located = [(day, key) for day, keys in listed.items() for key in keys]
            read = pool.map(self.object_ids, [key for _day, key in located])
            ids: dict[date, set[str]] = {day: set() for day in wanted}
            for (day, _key), object_ids in zip(located, read, strict=True):
                ids[day].update(object_ids)
        return {day: frozenset(found) for day, found in ids.items()}, len(located)
