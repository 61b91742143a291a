"""Curator tier: the curator against moto in server mode, with pyiceberg's Glue catalog and its S3 file
IO pointed at it through endpoint settings (as pyiceberg's own tests use moto), and raw objects written by
the archiver's real writer under the archiver's real keys."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pytest
from moto.glue.exceptions import GlueClientError
from moto.glue.responses import GlueResponse

from curator.dal.curated_table import IcebergCuratedTable, glue_catalog
from curator.dal.raw_archive import S3RawArchive
from curator.logic.curation import CurationDependencies, CurationRequest, CurationSettings, curate
from curator.models.curated_table import ANNOTATIONS_TABLE, RESULTS_TABLE, CuratedTableSpec
from curator.models.plan import CurationReport
from emulation.aws_stack import ACCOUNT_ID, CREDENTIALS, REGION, LocalAws, local_aws
from emulation.curated_queries import annotation_rows
from hook_archive.dal.archive_writer import AnnotationSpool, ParquetSpool, S3ArchiveWriter
from hook_archive.logic.partitioning import annotation_key, archive_key
from hook_archive.models.annotation_schema import AnnotationRow
from hook_archive.models.hook_result import HookResult, to_epoch_ms

ARCHIVE_PREFIX = "hook-results"
DATABASE = "cfn_hook_archive"
TABLE = "hook_results"
ANNOTATIONS = "hook_annotations"
STATUSES = ("HOOK_COMPLETE_SUCCEEDED", "HOOK_COMPLETE_FAILED", "HOOK_FAILED")


@pytest.fixture(autouse=True)
def glue_enforces_table_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Glue rejects an UpdateTable whose VersionId is not the table's current one
    (ConcurrentModificationException): it is what makes Iceberg commits on Glue atomic. moto 5 ignores
    VersionId, so two racing commits would both land; the moto server runs in this process, so its
    handler is made to refuse a stale version as Glue does."""
    original = GlueResponse.update_table
    lock = threading.Lock()

    def update_table(self: GlueResponse) -> Any:
        version = self.parameters.get("VersionId")
        with lock:
            if version is not None:
                table_input: dict[str, Any] = self.parameters["TableInput"]
                table = self.glue_backend.get_table(
                    str(self.parameters["DatabaseName"]), str(table_input["Name"])
                )
                if str(table._current_version) != str(version):
                    raise GlueClientError(
                        "ConcurrentModificationException",
                        f"table version {version} is not the current version {table._current_version}",
                    )
            return original(self)

    monkeypatch.setattr(GlueResponse, "update_table", update_table)


@pytest.fixture(scope="module")
def _stack() -> Iterator[LocalAws]:
    with local_aws(enforce_authorization=False, tls=False) as stack:
        yield stack


@pytest.fixture
def aws(_stack: LocalAws) -> LocalAws:
    _stack.reset()
    _stack.client("glue").create_database(DatabaseInput={"Name": DATABASE})
    return _stack


def catalog_properties(aws: LocalAws) -> dict[str, str]:
    return {
        "glue.endpoint": aws.moto_url,
        "glue.region": REGION,
        "glue.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "glue.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "s3.endpoint": aws.moto_url,
        "s3.region": REGION,
        "s3.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "s3.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def curated_table(aws: LocalAws, spec: CuratedTableSpec = RESULTS_TABLE) -> IcebergCuratedTable:
    """A fresh catalog each call: separate curators share nothing but Glue and S3."""
    name = TABLE if spec is RESULTS_TABLE else ANNOTATIONS
    return IcebergCuratedTable(
        catalog=glue_catalog(catalog_properties(aws)),
        database=DATABASE,
        table_name=name,
        location=f"s3://{aws.bucket}/curated/{name}",
        s3_client=aws.client("s3"),
        spec=spec,
    )


def dependencies(
    aws: LocalAws, spec: CuratedTableSpec = RESULTS_TABLE, **overrides: Any
) -> CurationDependencies:
    """One table's curation, as the handler builds it."""
    raw = S3RawArchive(
        bucket=aws.bucket,
        archive_prefix=spec.raw_prefix(ARCHIVE_PREFIX),
        client=aws.client("s3"),
        schema=spec.raw_schema,
    )
    values: dict[str, Any] = {
        "raw": raw,
        "table": curated_table(aws, spec),
        "spec": spec,
        "sleep": lambda _: None,
        **overrides,
    }
    return CurationDependencies(**values)


def run_curator(
    aws: LocalAws,
    request: CurationRequest | None = None,
    settings: CurationSettings | None = None,
    **overrides: Any,
) -> CurationReport:
    return curate(
        dependencies(aws, **overrides), settings or CurationSettings(), request or CurationRequest()
    )


def run_annotations_curator(
    aws: LocalAws,
    request: CurationRequest | None = None,
    settings: CurationSettings | None = None,
    **overrides: Any,
) -> CurationReport:
    return run_curator(aws, request, settings, spec=ANNOTATIONS_TABLE, **overrides)


@dataclass
class RawArchiveWriter:
    """Writes raw objects the way an archiver run does: ParquetSpool, then one conditional PUT per
    partition under archive_key(sequence)."""

    aws: LocalAws
    account_id: str = ACCOUNT_ID
    region: str = REGION
    sequence: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def results(self, day: date, count: int) -> list[HookResult]:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return [
            HookResult(
                hook_result_id=str(uuid.UUID(int=self.rng.getrandbits(128))),
                invocation_point="PRE_PROVISION",
                failure_mode=self.rng.choice(("FAIL", "WARN")),
                type_name=self.rng.choice(("MyOrg::Guard::S3Encryption", "MyOrg::Guard::Tags")),
                type_version_id="00000001",
                type_configuration_version_id="00000001",
                status=self.rng.choice(STATUSES),
                hook_status_reason="reason",
                invoked_at_ms=to_epoch_ms(start + timedelta(seconds=self.rng.randrange(86_400))),
                target_type="RESOURCE",
                target_id=f"stack/{self.rng.randrange(50)}",
                type_arn="arn:aws:cloudformation:us-east-1:123456789012:type/hook/MyOrg-Guard",
                hook_execution_target=None,
            )
            for _ in range(count)
        ]

    def write_run(
        self,
        by_day: Mapping[date, Sequence[HookResult]],
        *,
        sequence: int | None = None,
        replacing: bool = False,
        archived_at_ms: int | None = None,
    ) -> list[str]:
        """One archiver run: an object per day under the run's sequence. `replacing` rewrites the
        objects of that sequence (an adopting run: new bytes, so a new ETag, If-Match the old one)."""
        return self._write(
            ParquetSpool,
            archive_key,
            by_day,
            sequence=sequence,
            replacing=replacing,
            archived_at_ms=archived_at_ms,
        )

    def _write(
        self,
        spool_type: type[ParquetSpool] | type[AnnotationSpool],
        key_of: Callable[..., str],
        by_day: Mapping[date, Sequence[Any]],
        *,
        sequence: int | None,
        replacing: bool,
        archived_at_ms: int | None = None,
    ) -> list[str]:
        """The archiver's writing of one run's objects of a table: its spool, then one conditional PUT
        per day under key_of(sequence)."""
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        spool = spool_type(
            account_id=self.account_id,
            region=self.region,
            archived_at_ms=archived_at_ms or to_epoch_ms(datetime.now(UTC)) + sequence,
            rows_per_row_group=10_000,
            directory=None,
        )
        writer = S3ArchiveWriter(bucket=self.aws.bucket, client=self.aws.client("s3"))
        s3 = self.aws.client("s3")
        keys = []
        try:
            for day, rows in by_day.items():
                key = key_of(
                    ARCHIVE_PREFIX, day, account_id=self.account_id, region=self.region, sequence=sequence
                )
                keys.append(key)
                for row in rows:
                    spool.add(key, row)
            for spooled in spool.finish():
                etag = s3.head_object(Bucket=self.aws.bucket, Key=spooled.key)["ETag"] if replacing else None
                writer.upload(spooled, replacing_etag=etag)
        finally:
            spool.discard()
        return keys

    def annotations(self, results: Sequence[HookResult], *, per_result: int = 3) -> list[AnnotationRow]:
        """per_result annotations of each result, as GetHookResult reports a Guard hook's rules."""
        return [
            AnnotationRow(
                hook_result_id=result.hook_result_id,
                type_name=result.type_name,
                annotation_name=f"rule_{number}",
                status=self.rng.choice(("FAILED", "PASSED", "SKIPPED")),
                status_message=f"message {number}",
                remediation_message="fix it",
                remediation_link="https://docs.aws.amazon.com/",
                severity_level=self.rng.choice(("LOW", "MEDIUM", "HIGH", "CRITICAL")),
            )
            for result in results
            for number in range(per_result)
        ]

    def write_annotations(
        self,
        by_day: Mapping[date, Sequence[AnnotationRow]],
        *,
        sequence: int | None = None,
        replacing: bool = False,
    ) -> list[str]:
        """One archiver run's annotation objects (annotations/dt=...), as write_run writes its results."""
        return self._write(AnnotationSpool, annotation_key, by_day, sequence=sequence, replacing=replacing)


@pytest.fixture
def raw(aws: LocalAws) -> RawArchiveWriter:
    return RawArchiveWriter(aws)


def raw_union(aws: LocalAws) -> dict[str, dict[str, Any]]:
    """Ground truth: every row of every raw data object, by hook_result_id (with its dt)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    s3 = aws.client("s3")
    rows: dict[str, dict[str, Any]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=aws.bucket, Prefix=f"{ARCHIVE_PREFIX}/dt="):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=aws.bucket, Key=item["Key"])["Body"].read()
            table = pq.ParquetFile(pa.BufferReader(body)).read()
            day = item["Key"].split("/")[1].removeprefix("dt=")
            for row in table.to_pylist():
                assert row["hook_result_id"] not in rows, "the raw archive itself holds a duplicate"
                rows[row["hook_result_id"]] = {**row, "dt": day}
    return rows


def curated_rows(aws: LocalAws, *, row_filter: str = "True") -> pa.Table:
    table = glue_catalog(catalog_properties(aws)).load_table((DATABASE, TABLE))
    return table.scan(row_filter=row_filter).to_arrow()


def assert_curated_equals_raw(aws: LocalAws) -> None:
    """The curated table holds exactly the raw archive's rows: same ids, no duplicate, same values."""
    expected = raw_union(aws)
    curated = curated_rows(aws)
    ids = curated.column("hook_result_id").to_pylist()
    assert len(ids) == len(set(ids)), "duplicate hook_result_id in the curated table"
    assert set(ids) == set(expected)
    for row in curated.to_pylist():
        want = expected[row["hook_result_id"]]
        for name, value in want.items():
            assert row[name] == value, (name, row["hook_result_id"])


def raw_annotations(aws: LocalAws) -> pa.Table:
    """Ground truth: every annotation object's rows, with dt from its key (each id's rows in one object)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    s3 = aws.client("s3")
    tables = []
    owner: dict[str, str] = {}
    prefix = f"{ANNOTATIONS_TABLE.raw_prefix(ARCHIVE_PREFIX)}/dt="
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=aws.bucket, Key=item["Key"])["Body"].read()
            table = pq.ParquetFile(pa.BufferReader(body)).read()
            for hook_result_id in table.column("hook_result_id").to_pylist():
                assert owner.setdefault(str(hook_result_id), item["Key"]) == item["Key"], (
                    "an id in two objects"
                )
            day = item["Key"].split("/")[2].removeprefix("dt=")
            tables.append(table.append_column("dt", pa.array([day] * table.num_rows, pa.string())))
    return pa.concat_tables(tables)


def curated_annotations(aws: LocalAws) -> pa.Table:
    return glue_catalog(catalog_properties(aws)).load_table((DATABASE, ANNOTATIONS)).scan().to_arrow()


def assert_curated_annotations_equal_raw(aws: LocalAws) -> None:
    """hook_annotations holds exactly the raw annotation rows: every row of every id, none twice."""
    assert annotation_rows(curated_annotations(aws)) == annotation_rows(raw_annotations(aws))
