"""The checkpoint object in S3, written only with conditional writes (If-Match / If-None-Match), so two
runs can never both believe they own it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.errors import CheckpointConflictError, CheckpointError
from hook_archive.models.checkpoint import Checkpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


class S3CheckpointStore:
    def __init__(
        self, *, bucket: str, key: str, client: S3Client | None = None, botocore_config: Config | None = None
    ) -> None:
        self._client = client or boto3.client("s3", config=botocore_config)
        self.bucket = bucket
        self.key = key

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> tuple[Checkpoint | None, str | None]:
        """The checkpoint and its ETag, or (None, None) before the first run."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key)
            body = response["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in {"NoSuchKey", "404"}:
                return None, None
            raise CheckpointError(f"reading checkpoint {self.location} failed: {code}") from error
        except BotoCoreError as error:
            raise CheckpointError(f"reading checkpoint {self.location} failed: {error}") from error
        return Checkpoint.from_json_bytes(body, where=self.location), response["ETag"]

    def save(self, checkpoint: Checkpoint, *, etag: str | None) -> str:
        """Write only if the object is still the one we read (or still absent); return the new ETag."""
        body = checkpoint.to_json_bytes()
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
            code = error.response.get("Error", {}).get("Code")
            if code in _CONFLICT_CODES:
                raise CheckpointConflictError(
                    f"checkpoint {self.location} was changed by another run ({code}); this run made no commit"
                ) from error
            raise CheckpointError(f"writing checkpoint {self.location} failed: {code}") from error
        except BotoCoreError as error:
            raise CheckpointError(f"writing checkpoint {self.location} failed: {error}") from error
        return response["ETag"]
