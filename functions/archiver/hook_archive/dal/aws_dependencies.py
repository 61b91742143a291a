"""Builds the real adapters. Clients are created the standard boto3 way (region and endpoints from the
environment, so AWS_ENDPOINT_URL[_<SERVICE>] redirect them); there is no endpoint plumbing of ours."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.config import Config

from hook_archive.dal.archive_ids import S3ArchivedIds
from hook_archive.dal.archive_writer import AnnotationSpool, ParquetSpool, S3ArchiveWriter
from hook_archive.dal.checkpoint_store import S3CheckpointStore
from hook_archive.dal.event_publisher import EventBridgePublisher
from hook_archive.dal.hook_results import HookResultsReader
from hook_archive.logic.archive_run import ArchiverDependencies
from hook_archive.logic.partitioning import checkpoint_key, known_ids_prefix
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import parse_api_timestamp

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class AwsClients:
    cloudformation: CloudFormationClient
    s3: S3Client
    events: EventBridgeClient

    @classmethod
    def create(cls, config: ArchiverConfig) -> AwsClients:
        botocore_config = Config(
            retries={"mode": config.api_retry_mode, "total_max_attempts": config.api_max_attempts},
            connect_timeout=5,
            read_timeout=config.api_read_timeout_seconds,
            user_agent_extra="cfn-hook-archive",
        )
        session = _session()
        region = config.region
        return cls(
            cloudformation=session.client("cloudformation", region_name=region, config=botocore_config),
            s3=session.client("s3", region_name=region, config=botocore_config),
            # EventBridge takes another account's bus by ARN, but only at the bus's regional endpoint.
            events=session.client("events", region_name=config.event_bus_region, config=botocore_config),
        )


@cache
def _session() -> boto3.session.Session:
    # One session per process, like boto3's default one, with our parser: creating a session loads botocore's
    # data again (what client creation costs at cold start: bench/RESULTS.md, section 4).
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_api_timestamp)
    return boto3.session.Session(botocore_session=core)


def build_dependencies(
    config: ArchiverConfig, clients: AwsClients, *, account_id: str, spool_directory: str | None = None
) -> ArchiverDependencies:
    def new_spool(archived_at_ms: int) -> ParquetSpool:
        return ParquetSpool(
            account_id=account_id,
            region=config.region,
            archived_at_ms=archived_at_ms,
            rows_per_row_group=config.spool_rows_per_row_group,
            directory=spool_directory,
        )

    def new_annotation_spool(archived_at_ms: int) -> AnnotationSpool:
        return AnnotationSpool(
            account_id=account_id,
            region=config.region,
            archived_at_ms=archived_at_ms,
            rows_per_row_group=config.spool_rows_per_row_group,
            directory=spool_directory,
        )

    archive = S3ArchiveWriter(bucket=config.archive_bucket, client=clients.s3)
    return ArchiverDependencies(
        hook_results=HookResultsReader(clients.cloudformation, max_pages=config.max_pages_per_run),
        checkpoints=S3CheckpointStore(
            bucket=config.archive_bucket,
            key=checkpoint_key(config.archive_prefix, account_id=account_id, region=config.region),
            known_ids_prefix=known_ids_prefix(
                config.archive_prefix, account_id=account_id, region=config.region
            ),
            client=clients.s3,
        ),
        archive=archive,
        events=EventBridgePublisher(bus_name=config.event_bus_name, client=clients.events),
        new_spool=new_spool,
        annotations=archive,
        new_annotation_spool=new_annotation_spool,
        archived_ids=S3ArchivedIds(
            bucket=config.archive_bucket,
            archive_prefix=config.archive_prefix,
            account_id=account_id,
            region=config.region,
            client=clients.s3,
        ),
    )
