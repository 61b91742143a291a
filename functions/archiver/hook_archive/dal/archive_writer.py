"""Writing the archive: rows are spooled per partition into local Parquet files (bounded memory,
whatever the backlog), then each file becomes exactly one S3 object per partition per run."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.dal.aws_errors import S3_CONFLICT_CODES, S3_NOT_FOUND_CODES, error_code
from hook_archive.errors import ArchiveConflictError, ArchiveWriteError
from hook_archive.models.annotation_schema import (
    ANNOTATION_SCHEMA,
    AnnotationRow,
    annotations_from_table,
    annotations_to_record_batch,
)
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA, from_table, to_record_batch
from hook_archive.models.hook_result import HookResult

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"

Row = TypeVar("Row")


@dataclass(frozen=True)
class SpooledObject:
    key: str
    path: Path
    rows: int


class _Spool(Generic[Row]):
    """Buffers rows per object key and flushes full row groups to local ZSTD Parquet files."""

    schema: pa.Schema

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        archived_at_ms: int,
        rows_per_row_group: int,
        directory: str | None,
    ) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="hook-archive-", dir=directory)
        self._account_id = account_id
        self._region = region
        self._archived_at_ms = archived_at_ms
        self._rows_per_row_group = rows_per_row_group
        self._buffers: dict[str, list[Row]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._paths: dict[str, Path] = {}
        self._rows: dict[str, int] = {}
        self._buffered = 0

    def _batch(self, rows: list[Row]) -> pa.RecordBatch:
        raise NotImplementedError

    def add(self, key: str, result: Row) -> None:
        self._buffers.setdefault(key, []).append(result)
        self._rows[key] = self._rows.get(key, 0) + 1
        self._buffered += 1
        if len(self._buffers[key]) >= self._rows_per_row_group:
            self._flush(key)
        elif self._buffered >= 2 * self._rows_per_row_group:
            # Many partitions each holding a little: flush the biggest to keep memory bounded.
            self._flush(max(self._buffers, key=lambda name: len(self._buffers[name])))

    @property
    def keys(self) -> list[str]:
        return sorted(self._rows)

    @property
    def rows(self) -> int:
        return sum(self._rows.values())

    def _flush(self, key: str) -> None:
        results = self._buffers.pop(key, [])
        if not results:
            return
        self._buffered -= len(results)
        writer = self._writers.get(key)
        if writer is None:
            path = Path(self._directory.name) / f"part-{len(self._writers):05d}.parquet"
            writer = pq.ParquetWriter(
                path, self.schema, compression="zstd", compression_level=3, write_statistics=True
            )
            self._writers[key] = writer
            self._paths[key] = path
        writer.write_batch(self._batch(results), row_group_size=self._rows_per_row_group)

    def finish(self) -> list[SpooledObject]:
        for key in list(self._buffers):
            self._flush(key)
        for writer in self._writers.values():
            writer.close()
        return [SpooledObject(key, self._paths[key], self._rows[key]) for key in sorted(self._paths)]

    def discard(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._directory.cleanup()


class ParquetSpool(_Spool[HookResult]):
    """The results table's spool: rows in ARCHIVE_SCHEMA."""

    schema = ARCHIVE_SCHEMA

    def _batch(self, rows: list[HookResult]) -> pa.RecordBatch:
        return to_record_batch(
            rows, account_id=self._account_id, region=self._region, archived_at_ms=self._archived_at_ms
        )


class AnnotationSpool(_Spool[AnnotationRow]):
    """The annotations table's spool: rows in ANNOTATION_SCHEMA."""

    schema = ANNOTATION_SCHEMA

    def _batch(self, rows: list[AnnotationRow]) -> pa.RecordBatch:
        return annotations_to_record_batch(
            rows, account_id=self._account_id, region=self._region, archived_at_ms=self._archived_at_ms
        )


class S3ArchiveWriter:
    def __init__(
        self, *, bucket: str, client: S3Client | None = None, botocore_config: Config | None = None
    ) -> None:
        self._client = client or boto3.client("s3", config=botocore_config)
        self.bucket = bucket

    def upload(self, spooled: SpooledObject, *, replacing_etag: str | None = None) -> int:
        """PUT one object and return its size. Writes are conditional, so a run that outlived its lease
        can never overwrite the run that took over: a new key only if it does not exist yet (If-None-Match),
        a dead run's object only if it is still the version this run read and adopted (If-Match)."""
        size = spooled.path.stat().st_size
        condition = {"IfMatch": replacing_etag} if replacing_etag else {"IfNoneMatch": "*"}
        try:
            with spooled.path.open("rb") as body:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=spooled.key,
                    Body=body,
                    ContentLength=size,
                    ContentType=PARQUET_CONTENT_TYPE,
                    Metadata={"rows": str(spooled.rows)},
                    **condition,  # type: ignore[arg-type]
                )
        except ClientError as error:
            code = error_code(error)
            if code in S3_CONFLICT_CODES or (code == "NoSuchKey" and replacing_etag):
                raise ArchiveConflictError(
                    f"s3://{self.bucket}/{spooled.key} changed under this run ({code}): another run wrote it "
                    "after this one started, or the checkpoint is older than the archive (restored from a "
                    "previous version?); this run stops without committing"
                ) from error
            raise ArchiveWriteError(f"writing s3://{self.bucket}/{spooled.key} failed: {code}") from error
        except BotoCoreError as error:
            raise ArchiveWriteError(f"writing s3://{self.bucket}/{spooled.key} failed: {error}") from error
        return size

    def read_results(self, key: str) -> tuple[list[HookResult], str | None]:
        """The rows of one archive object and its ETag; ([], None) if it does not exist."""
        body, etag = self._read(key)
        return (results_from_parquet(body), etag) if body is not None else ([], None)

    def read_annotations(self, key: str) -> tuple[list[AnnotationRow], str | None]:
        """The rows of one annotation object and its ETag; ([], None) if it does not exist."""
        body, etag = self._read(key)
        if body is None:
            return [], None
        return annotations_from_table(pq.ParquetFile(io.BytesIO(body)).read()), etag

    def _read(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"].read()
        except ClientError as error:
            code = error_code(error)
            if code in S3_NOT_FOUND_CODES:
                return None, None
            raise ArchiveWriteError(f"reading s3://{self.bucket}/{key} failed: {code}") from error
        except BotoCoreError as error:
            raise ArchiveWriteError(f"reading s3://{self.bucket}/{key} failed: {error}") from error
        return body, response["ETag"]

    def delete(self, keys: list[str]) -> None:
        """Remove objects a dead run left behind (DeleteObjects takes at most 1,000 keys)."""
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            try:
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
                )
            except (ClientError, BotoCoreError) as error:
                raise ArchiveWriteError(
                    f"deleting {len(chunk)} orphaned archive object(s) failed: {error}"
                ) from error
            if response.get("Errors"):
                first = response["Errors"][0]
                raise ArchiveWriteError(
                    f"deleting orphaned archive object {first.get('Key')} failed: {first.get('Code')}"
                )


def results_from_parquet(body: bytes) -> list[HookResult]:
    """The rows of one archive object. ParquetFile reads it directly: pq.read_table would go through
    pyarrow.dataset, which the layer does not ship."""
    return from_table(pq.ParquetFile(io.BytesIO(body)).read())
