"""Where things live in the bucket. Keys are a function of the checkpoint sequence, so a retried run
writes the very same keys (and overwrites) instead of adding duplicates beside them."""

from __future__ import annotations

from datetime import date

from hook_archive.models.hook_result import HookResult, utc_date


def partition_date(result: HookResult, *, fallback_ms: int) -> date:
    """The UTC date of InvokedAt; a result without InvokedAt goes to the date it was archived."""
    return utc_date(result.invoked_at_ms if result.invoked_at_ms is not None else fallback_ms)


def partition_prefix(archive_prefix: str, day: date) -> str:
    return f"{archive_prefix}/dt={day.isoformat()}/"


def archive_key(archive_prefix: str, day: date, *, account_id: str, region: str, sequence: int) -> str:
    # Account and region in the name let many archivers share one bucket and prefix without collisions.
    return f"{partition_prefix(archive_prefix, day)}{account_id}-{region}-{sequence:012d}.parquet"


def annotations_prefix(archive_prefix: str) -> str:
    # Beside the dt= folders, not inside them: the results table's projection never reads annotation files,
    # and the role's ArchiveObjects statement (<prefix>/dt=*) does not cover these keys by accident.
    return f"{archive_prefix}/annotations/"


def annotation_key(archive_prefix: str, day: date, *, account_id: str, region: str, sequence: int) -> str:
    """Like archive_key: fixed by the sequence, so a retried run overwrites instead of adding a copy."""
    return (
        f"{annotations_prefix(archive_prefix)}dt={day.isoformat()}/"
        f"{account_id}-{region}-{sequence:012d}.parquet"
    )


def is_annotation_key(archive_prefix: str, key: str) -> bool:
    return key.startswith(annotations_prefix(archive_prefix))


def key_partition_date(key: str) -> date:
    """The dt= day an object key names."""
    return date.fromisoformat(key.split("/dt=", 1)[1].split("/", 1)[0])


def checkpoint_key(archive_prefix: str, *, account_id: str, region: str) -> str:
    # Outside every dt= folder, so Athena's projected partitions never read it.
    return f"{archive_prefix}/_state/{account_id}/{region}/checkpoint.json"


def known_ids_prefix(archive_prefix: str, *, account_id: str, region: str) -> str:
    # Beside the checkpoint; each object is named by the SHA-256 of its content.
    return f"{archive_prefix}/_state/{account_id}/{region}/known-ids/"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
