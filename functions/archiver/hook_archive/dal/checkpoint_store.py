"""The checkpoint object in S3, written only with conditional writes (If-Match / If-None-Match), so two
runs can never both believe they own it.

Its known ids live in a second, content-addressed object (`<known_ids_prefix><sha256>.bin`) that the JSON
names with its SHA-256. A new one is written before the checkpoint that names it, and the one it replaces
is deleted only after that checkpoint is committed: every committed checkpoint names an object that exists,
and a checkpoint whose object is missing or altered is reported as corrupt, never read as "no ids".
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.dal.aws_errors import S3_CONFLICT_CODES, S3_NOT_FOUND_CODES, error_code
from hook_archive.errors import (
    CheckpointConflictError,
    CheckpointCorruptError,
    CheckpointError,
    MalformedKnownIdsError,
)
from hook_archive.models.checkpoint import Checkpoint, KnownIdsObject
from hook_archive.models.known_ids import MAGIC, RECORD_BYTES, KnownIds, KnownIdsUpdate

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3CheckpointStore:
    def __init__(
        self,
        *,
        bucket: str,
        key: str,
        known_ids_prefix: str,
        client: S3Client | None = None,
        botocore_config: Config | None = None,
    ) -> None:
        self._client = client or boto3.client("s3", config=botocore_config)
        self.bucket = bucket
        self.key = key
        self.known_ids_prefix = known_ids_prefix
        # The known ids as last read or committed, and their object: unchanged ids are not rewritten.
        self._stored: tuple[KnownIds | KnownIdsUpdate, KnownIdsObject | None] = (KnownIds(), None)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> tuple[Checkpoint | None, str | None]:
        """The checkpoint and its ETag, or (None, None) before the first run."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key)
            body = response["Body"].read()
        except ClientError as error:
            code = error_code(error)
            if code in S3_NOT_FOUND_CODES:
                return None, None
            raise CheckpointError(f"reading checkpoint {self.location} failed: {code}") from error
        except BotoCoreError as error:
            raise CheckpointError(f"reading checkpoint {self.location} failed: {error}") from error
        checkpoint = Checkpoint.from_json_bytes(body, where=self.location)
        del body
        reference = checkpoint.known_ids_object
        if reference is not None:
            checkpoint = checkpoint.model_copy(update={"known_ids": self._read_known_ids(reference)})
        self._stored = (checkpoint.known_ids, reference)
        return checkpoint, response["ETag"]

    def _read_known_ids(self, reference: KnownIdsObject) -> KnownIds:
        where = f"s3://{self.bucket}/{reference.key}"
        digest = hashlib.sha256()
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=reference.key)["Body"]
            magic = body.read(len(MAGIC))
            digest.update(magic)

            def chunks() -> Iterator[bytes]:  # whole records, a chunk at a time: no copy of the whole set
                pending = b""
                while data := body.read(RECORD_BYTES * 8192):
                    digest.update(data)
                    data = pending + data
                    cut = len(data) - len(data) % RECORD_BYTES
                    pending = data[cut:]
                    yield data[:cut]
                if pending:
                    yield pending  # not whole records: from_records refuses it

            known = KnownIds.from_records(chunks(), count=reference.count) if magic == MAGIC else None
        except ClientError as error:
            code = error_code(error)
            if code in S3_NOT_FOUND_CODES:
                raise CheckpointCorruptError(
                    f"checkpoint {self.location} names known ids {where}, which does not exist. Refusing to "
                    "go on without them: they prevent duplicates. Restore the object or a previous "
                    "checkpoint version (S3 versioning), or delete the checkpoint to start a full backfill."
                ) from error
            raise CheckpointError(f"reading known ids {where} failed: {code}") from error
        except BotoCoreError as error:
            raise CheckpointError(f"reading known ids {where} failed: {error}") from error
        except MalformedKnownIdsError as error:
            raise CheckpointCorruptError(
                f"known ids {where} of checkpoint {self.location}: {error}"
            ) from error
        # from_records has already refused a count that differs from the reference's.
        if known is None or digest.hexdigest() != reference.sha256:
            raise CheckpointCorruptError(
                f"known ids {where} do not match checkpoint {self.location} (expected {reference.count} ids "
                f"with SHA-256 {reference.sha256}). Restore a matching pair from S3 versioning."
            )
        return known

    def _write_known_ids(self, known: KnownIds | KnownIdsUpdate) -> KnownIdsObject | None:
        stored, reference = self._stored
        if known is stored or known == stored:
            return reference
        # Streamed through a local file: a large set is never serialised in memory.
        with tempfile.TemporaryFile() as spooled:
            digest = hashlib.sha256()
            size = 0
            for data in itertools.chain([MAGIC], known.records()):
                spooled.write(data)
                digest.update(data)
                size += len(data)
            count = (size - len(MAGIC)) // RECORD_BYTES
            if count == 0:
                return None
            sha256 = digest.hexdigest()
            new = KnownIdsObject(key=f"{self.known_ids_prefix}{sha256}.bin", count=count, sha256=sha256)
            spooled.seek(0)
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=new.key,
                    Body=spooled,
                    ContentLength=size,
                    ContentType="application/octet-stream",
                )
            except (ClientError, BotoCoreError) as error:
                raise CheckpointError(
                    f"writing known ids s3://{self.bucket}/{new.key} failed: {error}"
                ) from error
        return new

    def _delete_replaced(self, old: KnownIdsObject | None, new: KnownIdsObject | None) -> None:
        if old is None or (new is not None and new.key == old.key):
            return
        # Best effort: a leftover costs only storage and is never read again.
        with contextlib.suppress(ClientError, BotoCoreError):
            self._client.delete_object(Bucket=self.bucket, Key=old.key)

    def save(self, checkpoint: Checkpoint, *, etag: str | None) -> str:
        """Write only if the object is still the one we read (or still absent); return the new ETag."""
        old = self._stored[1]
        reference = self._write_known_ids(checkpoint.known_ids)
        body = checkpoint.model_copy(update={"known_ids_object": reference}).to_json_bytes()
        try:
            if etag:
                response = self._client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json", IfMatch=etag
                )
            else:
                response = self._client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
        except ClientError as error:
            code = error_code(error)
            if code in S3_CONFLICT_CODES:
                raise CheckpointConflictError(
                    f"checkpoint {self.location} was changed by another run ({code}); this run made no commit"
                ) from error
            raise CheckpointError(f"writing checkpoint {self.location} failed: {code}") from error
        except BotoCoreError as error:
            raise CheckpointError(f"writing checkpoint {self.location} failed: {error}") from error
        self._stored = (checkpoint.known_ids, reference)
        self._delete_replaced(old, reference)
        return response["ETag"]
