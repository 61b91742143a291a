"""The only boto3 code of ``status`` and ``verify``: read-only calls, each failure turned into a CliError
that says what failed and carries the exit status it deserves (errors are judged by code, never message).

The product's own adapters are reused where they fit: fleet health's checkpoint reader (listing and reading
checkpoints) and the archiver's ListHookResults reader (the NextToken loop with its guards). Clients are built
the standard boto3 way, so AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> redirect them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound
from botocore.parsers import ResponseParserError

from fleet_health.dal.checkpoint_reader import S3CheckpointReader
from fleet_health.errors import CheckpointListingError, CheckpointReadError
from fleet_health.logic.fleet_check import StoredObject
from hook_archive.dal.hook_results import HookResultsReader
from hook_archive.errors import HookResultsError, MalformedHookResultError
from hook_archive.logic.partitioning import annotations_prefix, partition_prefix
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA, from_table
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import API_FIELDS, HookResult, to_epoch_ms
from hook_archive_cli.archive_location import ArchiveLocation
from hook_archive_cli.errors import AwsAccessError, CliError, UsageError
from hook_archive_cli.verify import ArchivedRow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="cfn-hook-archive-cli",
)
# What a failed call raises: AWS's refusal, the client's own failure, or an answer the SDK cannot parse.
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
# Codes that mean "the configuration names something that is not there", not "you may not".
_NOT_THERE = frozenset({"NoSuchBucket"})
# The archive's summary columns: all verify reads (account_id, region and archived_at are left unread).
SUMMARY_COLUMNS = tuple("invoked_at" if name == "invoked_at_ms" else name for _, name in API_FIELDS)
ARCHIVED_AT = "archived_at"
MAX_PAGES = ArchiverConfig.model_fields["max_pages_per_run"].default
# A day holds up to one object per run (288 a day at the default 5-minute schedule): read many at once.
READ_THREADS = 16


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")


def aws_failure(what: str, error: BaseException) -> CliError:
    """A failed call as the CliError it deserves: configuration (exit 2) or access (exit 3)."""
    if isinstance(error, ClientError):
        code = _code(error)
        message = str(error.response.get("Error", {}).get("Message") or "")
        detail = f"{what} failed: {code}" + (f": {message}" if message else "")
        if code in _NOT_THERE:
            return UsageError(detail)
        return AwsAccessError(detail, error_code=code)
    if isinstance(error, NoCredentialsError):
        return AwsAccessError(
            f"{what} failed: no AWS credentials found (aws configure, AWS_PROFILE or --profile; "
            "aws sso login for IAM Identity Center)",
            error_code=type(error).__name__,
        )
    return AwsAccessError(f"{what} failed: {error}", error_code=type(error).__name__)


def open_session(*, profile: str | None, region: str | None) -> tuple[boto3.Session, str]:
    """The standard credential chain and region, with --profile and --region on top."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise UsageError(str(error)) from None
    if not session.region_name:
        raise UsageError("no region: pass --region, set AWS_DEFAULT_REGION, or give the profile a region")
    return session, session.region_name


def read_stack_outputs(session: boto3.Session, stack: str) -> dict[str, str]:
    """DescribeStacks' outputs of one stack."""
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        # CloudFormation answers a stack that does not exist with ValidationError, and nothing else with it
        # for a well-formed name.
        if _code(error) == "ValidationError":
            raise UsageError(
                f"no stack {stack} in {session.region_name} (DescribeStacks: ValidationError): check --stack "
                "and --region"
            ) from None
        raise aws_failure(f"DescribeStacks {stack}", error) from None
    except (BotoCoreError, ResponseParserError) as error:
        raise aws_failure(f"DescribeStacks {stack}", error) from None
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return {
        output["OutputKey"]: output["OutputValue"]
        for output in outputs
        if "OutputKey" in output and "OutputValue" in output
    }


def read_caller_account(session: boto3.Session) -> str:
    try:
        return session.client("sts", config=CLIENT_CONFIG).get_caller_identity()["Account"]
    except AWS_ERRORS as error:
        raise aws_failure("GetCallerIdentity", error) from None


@dataclass(frozen=True)
class ListedResults:
    """Every summary an unfiltered ListHookResults scan returned, parsed as the archiver parses them."""

    results: list[HookResult]
    malformed: int
    pages: int


def list_hook_results(
    session: boto3.Session, *, on_page: Callable[[int, int], None] | None = None
) -> ListedResults:
    """Page the live API to the end, with the archiver's own reader (NextToken loop, repeated-token guard)."""
    reader = HookResultsReader(session.client("cloudformation", config=CLIENT_CONFIG), max_pages=MAX_PAGES)
    results: list[HookResult] = []
    malformed = pages = 0
    try:
        for page, _token in reader.pages():
            pages += 1
            for summary in page:
                try:
                    results.append(HookResult.from_api(summary))
                except MalformedHookResultError:
                    malformed += 1
            if on_page is not None:
                on_page(pages, len(results))
    except HookResultsError as error:
        cause = error.__cause__
        if isinstance(cause, ClientError | BotoCoreError):
            raise aws_failure("ListHookResults", cause) from None
        raise AwsAccessError(str(error), error_code=error.error_code or type(error).__name__) from None
    except ResponseParserError as error:  # the archiver's reader lets an unparseable answer through
        raise aws_failure("ListHookResults", error) from None
    return ListedResults(results, malformed, pages)


@dataclass(frozen=True)
class StoredVersion:
    """An earlier version of an object, as S3 versioning keeps it."""

    last_modified_ms: int
    body: bytes


class ArchiveReader:
    """Reads one archive: its checkpoints (for fleet health's check, which is given this object as its
    CheckpointSource), earlier versions of a checkpoint, and the rows of one account-region's partitions."""

    def __init__(self, session: boto3.Session, location: ArchiveLocation) -> None:
        self._s3: S3Client = session.client("s3", config=CLIENT_CONFIG)
        self._checkpoints = S3CheckpointReader(bucket=location.bucket, client=self._s3)
        self.location = location
        self.bodies: dict[str, bytes] = {}  # each checkpoint read, by key

    # -- fleet_health's CheckpointSource ----------------------------------------------------------

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        where = f"listing s3://{self.location.bucket}/{prefix}"
        try:
            yield from self._checkpoints.list_objects(prefix)
        except CheckpointListingError as error:
            cause = error.__cause__
            raise aws_failure(where, cause if cause is not None else error) from None
        except ResponseParserError as error:
            raise aws_failure(where, error) from None

    def read(self, key: str) -> bytes:
        try:
            body = self._checkpoints.read(key)  # CheckpointReadError: fleet health reports it as unreadable
        except ResponseParserError as error:
            raise CheckpointReadError(
                f"reading checkpoint s3://{self.location.bucket}/{key} failed: {error}",
                error_code=type(error).__name__,
            ) from error
        self.bodies[key] = body
        return body

    # -- checkpoint history, for an ETA ------------------------------------------------------------

    def earlier_versions(self, key: str, *, limit: int) -> list[StoredVersion]:
        """Up to ``limit`` versions of ``key`` before the current one, newest first. Empty when the bucket
        keeps no versions or the caller may not read them: an ETA is a nicety, never a reason to fail."""
        try:
            listing = self._s3.list_object_versions(
                Bucket=self.location.bucket, Prefix=key, MaxKeys=limit + 1
            )
            versions = [
                item
                for item in listing.get("Versions", [])
                if item.get("Key") == key and not item.get("IsLatest") and "VersionId" in item
            ][:limit]
            return [
                StoredVersion(
                    last_modified_ms=int(item["LastModified"].timestamp() * 1000),
                    body=self._s3.get_object(
                        Bucket=self.location.bucket, Key=key, VersionId=item["VersionId"]
                    )["Body"].read(),
                )
                for item in versions
            ]
        except (*AWS_ERRORS, CheckpointReadError):
            return []

    # -- the archive's rows ------------------------------------------------------------------------

    def day_keys(self, day: date, *, account_id: str, region: str) -> list[str]:
        """The objects of one account-region in one dt partition (their names start with both)."""
        prefix = f"{partition_prefix(self.location.prefix, day)}{account_id}-{region}-"
        keys: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix
            ):
                contents = page.get("Contents", [])
                keys.extend(item["Key"] for item in contents if item["Key"].endswith(".parquet"))
        except AWS_ERRORS as error:
            raise aws_failure(f"listing s3://{self.location.bucket}/{prefix}", error) from None
        return sorted(keys)

    def rows(self, key: str, *, day: date, archived_at: bool = False) -> list[ArchivedRow]:
        """The rows of one archive object, reading only the summary columns (and archived_at if asked)."""
        try:
            body = self._s3.get_object(Bucket=self.location.bucket, Key=key)["Body"].read()
        except AWS_ERRORS as error:
            raise aws_failure(f"reading s3://{self.location.bucket}/{key}", error) from None
        parquet = pq.ParquetFile(io.BytesIO(body))
        present = set(parquet.schema_arrow.names)
        wanted = (*SUMMARY_COLUMNS, ARCHIVED_AT) if archived_at else SUMMARY_COLUMNS
        table = parquet.read(columns=[name for name in wanted if name in present])
        for name in SUMMARY_COLUMNS:
            if name not in present:  # an object written before the column existed reads it as null
                column_type = ARCHIVE_SCHEMA.field(name).type
                table = table.append_column(name, pa.nulls(table.num_rows, type=column_type))
        stamps: list[int | None] = [None] * table.num_rows
        if archived_at and ARCHIVED_AT in present:
            stamps = [
                to_epoch_ms(moment) if moment is not None else None
                for moment in table.column(ARCHIVED_AT).to_pylist()
            ]
        return [
            ArchivedRow(result, day, key, stamp)
            for result, stamp in zip(from_table(table), stamps, strict=True)
        ]

    def rows_of_days(
        self,
        days: Sequence[date],
        *,
        account_id: str,
        region: str,
        on_progress: Callable[[str], None] | None = None,
        archived_at: bool = False,
    ) -> list[ArchivedRow]:
        """Every row of one account-region in these dt partitions: the partitions are listed, then their
        objects read, each on a pool of threads (a boto3 client is thread-safe)."""
        report = on_progress or (lambda _message: None)
        located: list[tuple[date, str]] = []
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            listings = {
                pool.submit(self.day_keys, day, account_id=account_id, region=region): day for day in days
            }
            for done, listing in enumerate(as_completed(listings), start=1):
                located.extend((listings[listing], key) for key in listing.result())
                report(f"listed {done}/{len(days)} day(s), {len(located)} object(s)")
            rows: list[ArchivedRow] = []
            reads = [
                pool.submit(self.rows, key, day=day, archived_at=archived_at) for day, key in sorted(located)
            ]
            for done, read in enumerate(as_completed(reads), start=1):
                rows.extend(read.result())
                report(f"read {done}/{len(reads)} object(s), {len(rows)} row(s)")
        return rows

    # -- a local copy, for DuckDB -------------------------------------------------------------------

    def download_partitions(
        self,
        days: Sequence[date],
        directory: Path,
        *,
        on_progress: Callable[[str], None] | None = None,
        annotations: bool = False,
    ) -> int:
        """Copy every object of these dt partitions, whatever account or region wrote it, to
        ``directory/dt=YYYY-MM-DD/`` (and with ``annotations``, the annotations' partitions of the same days
        to ``directory/annotations/dt=YYYY-MM-DD/``): the local layout DuckDB reads. Returns the number of
        objects."""
        report = on_progress or (lambda _message: None)
        location = self.location
        s3 = self._s3
        keys: list[str] = []
        tables = [location.prefix]
        if annotations:
            tables.append(annotations_prefix(location.prefix).removesuffix("/"))
        for prefix in (partition_prefix(table, day) for table in tables for day in days):
            try:
                for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=location.bucket, Prefix=prefix
                ):
                    keys.extend(
                        item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".parquet")
                    )
            except AWS_ERRORS as error:
                raise aws_failure(f"listing s3://{location.bucket}/{prefix}", error) from None
            report(f"listed {len(keys)} object(s)")

        def fetch(key: str) -> None:
            try:
                body = s3.get_object(Bucket=location.bucket, Key=key)["Body"].read()
            except AWS_ERRORS as error:
                raise aws_failure(f"reading s3://{location.bucket}/{key}", error) from None
            target = directory / key[len(location.prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)

        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            for done, copied in enumerate(as_completed([pool.submit(fetch, key) for key in keys]), start=1):
                copied.result()
                report(f"copied {done}/{len(keys)} object(s)")
        return len(keys)
