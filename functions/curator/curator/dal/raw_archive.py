"""The raw archive in S3, read-only: ListObjectsV2 (paged, as a generator) and conditional GetObject."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from curator.errors import RawArchiveError
from curator.models.plan import DayWindow
from curator.models.raw_archive import RAW_ARCHIVE_SCHEMA, RawObject, data_prefix, day_of_key, day_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# GetObject lost the object (deleted since the listing), or it is no longer the listed version.
_GONE_CODES = frozenset({"NoSuchKey", "404"})
_CHANGED_CODES = frozenset({"PreconditionFailed", "412"})


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


def normalize_etag(etag: str) -> str:
    return etag.strip('"')


class S3RawArchive:
    def __init__(
        self,
        *,
        bucket: str,
        archive_prefix: str,
        region: str | None = None,
        client: S3Client | None = None,
        schema: pa.Schema = RAW_ARCHIVE_SCHEMA,
    ) -> None:
        """archive_prefix: the prefix the table's dt= folders are under (CuratedTableSpec.raw_prefix)."""
        # In the bucket's region: boto3 would follow S3's redirect, at the cost of a refused call per run.
        self._client = client or boto3.client(
            "s3",
            region_name=region,
            config=Config(retries={"mode": "standard"}, user_agent_extra="cfn-hook-archive-curator"),
        )
        self.bucket = bucket
        self.archive_prefix = archive_prefix
        self.schema = schema

    def list_objects(self, window: DayWindow) -> Iterator[RawObject]:
        if window.days is not None:
            for day in sorted(window.days):
                yield from self._list(prefix=day_prefix(self.archive_prefix, day), window=window)
            return
        start_after = f"{self.archive_prefix}/dt={window.start.isoformat()}" if window.start else None
        yield from self._list(prefix=data_prefix(self.archive_prefix), window=window, start_after=start_after)

    def _list(self, *, prefix: str, window: DayWindow, start_after: str | None = None) -> Iterator[RawObject]:
        arguments = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            arguments["StartAfter"] = start_after
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(**arguments):  # type: ignore[arg-type]
                for item in page.get("Contents", []):
                    day = day_of_key(self.archive_prefix, item["Key"])
                    if day is not None and day in window:
                        yield RawObject(day=day, key=item["Key"], etag=normalize_etag(item["ETag"]))
        except ClientError as error:
            raise RawArchiveError(f"listing s3://{self.bucket}/{prefix} failed: {_code(error)}") from error
        except BotoCoreError as error:
            raise RawArchiveError(f"listing s3://{self.bucket}/{prefix} failed: {error}") from error

    def read_rows(self, obj: RawObject) -> pa.Table | None:
        where = f"s3://{self.bucket}/{obj.key}"
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
            body = response["Body"].read()
        except ClientError as error:
            code = _code(error)
            if code in _GONE_CODES or code in _CHANGED_CODES:
                return None
            raise RawArchiveError(f"reading {where} failed: {code}") from error
        except BotoCoreError as error:
            raise RawArchiveError(f"reading {where} failed: {error}") from error
        try:
            table = pq.ParquetFile(io.BytesIO(body)).read()
            return table.select(self.schema.names).cast(self.schema)
        except (pa.ArrowException, KeyError, ValueError) as error:
            # A raw object the curator cannot read stops the run: skipping it would leave the curated
            # table short of rows the raw table holds, without a trace.
            raise RawArchiveError(f"{where} is not an archive object of this schema: {error}") from error
