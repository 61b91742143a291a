"""The archive bucket's checkpoints, read-only: ListObjectsV2 (paged, as a generator) and GetObject."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from fleet_health.errors import CheckpointGoneError, CheckpointListingError, CheckpointReadError
from fleet_health.logic.fleet_check import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# GetObject on a missing key: NoSuchKey, or the bare status where S3 sends no body.
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404"})
# A checkpoint is a few KB; anything far larger is not one, and is not read into memory.
MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


class S3CheckpointReader:
    def __init__(self, *, bucket: str, client: S3Client | None = None) -> None:
        self._client = client or boto3.client(
            "s3",
            config=Config(retries={"mode": "standard"}, user_agent_extra="cfn-hook-archive-fleet-health"),
        )
        self.bucket = bucket

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        where = f"s3://{self.bucket}/{prefix}"
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        key=item["Key"], last_modified_ms=int(item["LastModified"].timestamp() * 1000)
                    )
        except ClientError as error:
            raise CheckpointListingError(
                f"listing checkpoints under {where} failed: {_code(error)}"
            ) from error
        except BotoCoreError as error:
            raise CheckpointListingError(f"listing checkpoints under {where} failed: {error}") from error

    def read(self, key: str) -> bytes:
        where = f"s3://{self.bucket}/{key}"
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            if response["ContentLength"] > MAX_CHECKPOINT_BYTES:
                response["Body"].close()
                raise CheckpointReadError(
                    f"checkpoint {where} is {response['ContentLength']} bytes, too large to be a checkpoint",
                    error_code="TooLarge",
                )
            return response["Body"].read()
        except ClientError as error:
            code = _code(error)
            if code in _NOT_FOUND_CODES:
                raise CheckpointGoneError(f"checkpoint {where} is gone", error_code=code) from error
            raise CheckpointReadError(
                f"reading checkpoint {where} failed: {code}", error_code=code
            ) from error
        except BotoCoreError as error:
            raise CheckpointReadError(
                f"reading checkpoint {where} failed: {error}", error_code=type(error).__name__
            ) from error
