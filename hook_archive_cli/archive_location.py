"""Where an archive lives: its bucket and prefix, given on the command line or read from the stack's outputs
(template.yaml Outputs ArchiveBucketName and ArchiveLocation, ``s3://<bucket>/<prefix>/``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hook_archive.logic.partitioning import checkpoint_key
from hook_archive_cli.errors import UsageError

BUCKET_OUTPUT = "ArchiveBucketName"
LOCATION_OUTPUT = "ArchiveLocation"
# The archiver's own rules (hook_archive/models/config.py): a bucket name, a prefix without edge slashes.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}$")


@dataclass(frozen=True)
class ArchiveLocation:
    bucket: str
    prefix: str

    def __post_init__(self) -> None:
        if not _BUCKET_NAME.match(self.bucket) or ".." in self.bucket:
            raise UsageError(f"{self.bucket!r} is not an S3 bucket name")
        prefix = self.prefix
        if not _PREFIX.match(prefix) or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise UsageError(
                f"{prefix!r} is not an archive prefix: no leading or trailing '/', e.g. hook-results"
            )

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"

    def checkpoint_key(self, *, account_id: str, region: str) -> str:
        return checkpoint_key(self.prefix, account_id=account_id, region=region)


def from_stack_outputs(stack: str, outputs: Mapping[str, str]) -> ArchiveLocation:
    """The archive a deployed stack writes: ArchiveLocation's prefix in ArchiveBucketName's bucket."""
    missing = [name for name in (BUCKET_OUTPUT, LOCATION_OUTPUT) if not outputs.get(name)]
    if missing:
        raise UsageError(
            f"stack {stack} has no output(s) {', '.join(missing)}: is it a cfn-hook-archive stack, "
            "and is it deployed? (pass --bucket and --prefix instead)"
        )
    bucket, location = outputs[BUCKET_OUTPUT], outputs[LOCATION_OUTPUT]
    expected = f"s3://{bucket}/"
    if not location.startswith(expected):
        raise UsageError(f"stack {stack}: {LOCATION_OUTPUT} {location} is not in bucket {bucket}")
    return ArchiveLocation(bucket, location[len(expected) :].rstrip("/"))
