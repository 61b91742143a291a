"""The curated Iceberg table, through pyiceberg's Glue catalog (metadata in Glue, files in S3), and the
S3 calls pyiceberg 0.12 has no API for: listing and deleting the table's files for orphan removal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import boto3
import pyarrow as pa
import pyarrow.compute as pc
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    NotIn,
    Or,
)
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType

from curator.errors import CommitConflictError, CuratedTableError, UnsupportedTableError
from curator.models.curated_table import (
    HOOK_RESULT_ID,
    RAW_OBJECT_ETAG,
    RAW_OBJECT_KEY,
    RESULTS_TABLE,
    TABLE_FORMAT_VERSION,
    CuratedTableSpec,
)
from curator.models.plan import (
    DayFiles,
    DayWindow,
    RecordedDay,
    SnapshotEntry,
    SnapshotHistory,
    StoredFile,
    TableState,
)
from curator.models.raw_archive import PARTITION_COLUMN

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MARK_PROPERTY = "cfn-hook-archive.curator.mark"
# Epoch milliseconds when snapshot expiry and orphan removal last completed: a table property, so it is
# read with the metadata every run loads anyway, and changes only by an atomic catalog commit.
MAINTAINED_AT_PROPERTY = "cfn-hook-archive.curator.maintained-at-ms"
_DELETE_BATCH = 1000


# pyiceberg's predicates take plain values at run time; their pydantic signatures want literal objects.
_IN: Any = In
_EQUAL_TO: Any = EqualTo
_AT_LEAST: Any = GreaterThanOrEqual
_NOT_IN: Any = NotIn


def is_in(column: str, values: Iterable[str]) -> BooleanExpression:
    return cast(BooleanExpression, _IN(column, set(values)))


def equal_to(column: str, value: str) -> BooleanExpression:
    return cast(BooleanExpression, _EQUAL_TO(column, value))


def window_filter(window: DayWindow) -> BooleanExpression:
    if window.days is not None:
        return is_in(PARTITION_COLUMN, (day.isoformat() for day in window.days))
    if window.start is not None:
        return cast(BooleanExpression, _AT_LEAST(PARTITION_COLUMN, window.start.isoformat()))
    return AlwaysTrue()


def glue_catalog(properties: Mapping[str, str]) -> GlueCatalog:
    """pyiceberg's Glue catalog; `properties` may point glue.endpoint and s3.endpoint elsewhere."""
    return GlueCatalog("glue", None, **properties)


class IcebergCuratedTable:
    def __init__(
        self,
        *,
        catalog: Catalog,
        database: str,
        table_name: str,
        location: str,
        region: str | None = None,
        s3_client: S3Client | None = None,
        spec: CuratedTableSpec = RESULTS_TABLE,
    ) -> None:
        self.spec = spec
        self._catalog = catalog
        self.identifier = (database, table_name)
        self.location = location.rstrip("/")
        self.region = region
        self._s3 = s3_client or boto3.client(
            "s3",
            region_name=region,
            config=Config(retries={"mode": "standard"}, user_agent_extra="cfn-hook-archive-curator"),
        )

    # ------------------------------------------------------------------------------------------ the table
    def ensure(self) -> Table:
        """Create the table on first use; refuse one with another schema or partition spec."""
        try:
            table = self._catalog.load_table(self.identifier)
        except NoSuchTableError:
            try:
                with self._file_io(f"creating {'.'.join(self.identifier)} at {self.location}"):
                    return self._catalog.create_table(
                        self.identifier,
                        schema=self.spec.schema,
                        partition_spec=self.spec.partition_spec,
                        location=self.location,
                        properties={**self.spec.properties, "format-version": str(TABLE_FORMAT_VERSION)},
                    )
            except TableAlreadyExistsError:  # another run created it first
                table = self._catalog.load_table(self.identifier)
        check_table(table, self.spec)
        return table

    @contextmanager
    def _file_io(self, what: str) -> Iterator[None]:
        """pyarrow's S3 filesystem raises OSError, and follows no redirect to the bucket's region: the
        error says which region its calls were signed for."""
        try:
            yield
        except OSError as error:
            raise CuratedTableError(
                f"{what} failed: {error} (S3 calls signed for {self.region or 'the function region'};"
                " a bucket in another region needs ARCHIVE_BUCKET_REGION, the ArchiveBucketRegion parameter)"
            ) from error

    def _load(self) -> Table:
        try:
            table = self._catalog.load_table(self.identifier)
        except NoSuchTableError:
            table = self.ensure()
        except Exception as error:  # pyiceberg wraps boto3 and pyarrow errors in many types
            raise CuratedTableError(f"loading {'.'.join(self.identifier)} failed: {error}") from error
        check_table(table, self.spec)
        return table

    def load(self) -> TableState:
        table = self._load()
        snapshot = table.current_snapshot()
        mark = table.properties.get(MARK_PROPERTY)
        maintained_at = table.properties.get(MAINTAINED_AT_PROPERTY, "")
        summary = snapshot.summary if snapshot is not None else None
        return TableState(
            snapshot_id=snapshot.snapshot_id if snapshot else None,
            mark=date.fromisoformat(mark) if mark else None,
            handle=table,
            summary=dict(summary.additional_properties) if summary is not None else {},
            # Anything but a count of milliseconds reads as never: maintenance runs and rewrites it.
            maintained_at_ms=int(maintained_at) if maintained_at.isdigit() else None,
        )

    def mark_maintained(self, at_ms: int) -> None:
        """Record that maintenance completed at at_ms: one property commit, conditional on the metadata
        just loaded (a concurrent writer makes it raise CommitConflictError)."""
        transaction = self._load().transaction()
        transaction.set_properties({MAINTAINED_AT_PROPERTY: str(at_ms)})
        with self._file_io(f"recording maintenance of {'.'.join(self.identifier)}"):
            self._commit(transaction, what="maintenance time")

    @staticmethod
    def _table(state: TableState) -> Table:
        if not isinstance(state.handle, Table):
            raise TypeError("a TableState from IcebergCuratedTable.load is needed")
        return state.handle

    # ------------------------------------------------------------------------------------------ ingesting
    def recorded(
        self, state: TableState, window: DayWindow, *, skip: frozenset[date] = frozenset()
    ) -> dict[date, RecordedDay]:
        """The lineage of the rows of the window's days but `skip`, as of the state's snapshot. Skipped
        days' files are pruned by their partition value: not read at all."""
        if state.snapshot_id is None:
            return {}
        row_filter = window_filter(window)
        if skip:
            unskipped = _NOT_IN(PARTITION_COLUMN, {day.isoformat() for day in skip})
            row_filter = And(row_filter, cast(BooleanExpression, unskipped))
        scan = self._table(state).scan(
            row_filter=row_filter,
            selected_fields=(PARTITION_COLUMN, RAW_OBJECT_KEY, RAW_OBJECT_ETAG, HOOK_RESULT_ID),
            snapshot_id=state.snapshot_id,
        )
        objects: dict[date, dict[str, str]] = {}
        ids: dict[date, dict[str, str]] = {}
        for batch in scan.to_arrow_batch_reader():
            columns = batch.to_pydict()
            for dt, key, etag, hook_result_id in zip(
                columns[PARTITION_COLUMN],
                columns[RAW_OBJECT_KEY],
                columns[RAW_OBJECT_ETAG],
                columns[HOOK_RESULT_ID],
                strict=True,
            ):
                day = date.fromisoformat(dt)
                objects.setdefault(day, {})[key] = etag
                ids.setdefault(day, {})[hook_result_id] = key
        return {day: RecordedDay(objects=objects[day], ids=ids[day]) for day in objects}

    def commit_ingest(
        self,
        state: TableState,
        *,
        delete_days: Sequence[date],
        delete_keys: Sequence[str],
        delete_ids: Sequence[str],
        rows: pa.Table | None,
        mark: date | None,
        summary: dict[str, str],
    ) -> None:
        with self._file_io(f"ingest commit to {'.'.join(self.identifier)}"):
            table = self._table(state)
            transaction = table.transaction()
            deletions: list[BooleanExpression] = []
            if delete_keys:
                deletions.append(is_in(RAW_OBJECT_KEY, delete_keys))
            if delete_ids:
                deletions.append(is_in(HOOK_RESULT_ID, delete_ids))
            if deletions and delete_days:
                which = deletions[0] if len(deletions) == 1 else Or(deletions[0], deletions[1])
                days = is_in(PARTITION_COLUMN, (day.isoformat() for day in delete_days))
                transaction.delete(And(days, which), snapshot_properties=summary)
            if rows is not None and rows.num_rows:
                transaction.append(rows, snapshot_properties=summary)
            if mark is not None and mark != state.mark:
                transaction.set_properties({MARK_PROPERTY: mark.isoformat()})
            self._commit(transaction, what="ingest")

    def _commit(self, transaction: Any, *, what: str) -> None:
        try:
            transaction.commit_transaction()
        except CommitFailedException as error:
            raise CommitConflictError(
                f"{what} commit to {'.'.join(self.identifier)} lost to a concurrent writer: {error}"
            ) from error

    # ----------------------------------------------------------------------------------------- compaction
    def day_files(self, state: TableState, window: DayWindow) -> list[DayFiles]:
        if state.snapshot_id is None:
            return []
        scan = self._table(state).scan(row_filter=window_filter(window), snapshot_id=state.snapshot_id)
        totals: dict[str, list[int]] = {}
        for task in scan.plan_files():
            dt = str(task.file.partition[0])
            files, size, rows = totals.get(dt, [0, 0, 0])
            totals[dt] = [files + 1, size + task.file.file_size_in_bytes, rows + task.file.record_count]
        return [
            DayFiles(day=date.fromisoformat(dt), files=files, bytes=size, rows=rows)
            for dt, (files, size, rows) in sorted(totals.items())
        ]

    def compact_day(self, state: TableState, day: date, summary: dict[str, str]) -> None:
        """One partition overwrite: the day's rows, read at the state's snapshot, in as few files as the
        writer's target size allows, sorted by the table's sort keys (results: invocation time, so invoked_at
        bounds stay tight)."""
        with self._file_io(f"compaction of {day} in {'.'.join(self.identifier)}"):
            self._compact(state, day, summary)

    def _compact(self, state: TableState, day: date, summary: dict[str, str]) -> None:
        table = self._table(state)
        day_filter = equal_to(PARTITION_COLUMN, day.isoformat())
        rows = table.scan(row_filter=day_filter, snapshot_id=state.snapshot_id).to_arrow()
        rows = rows.select(self.spec.arrow_schema.names).cast(self.spec.arrow_schema)
        order = pc.sort_indices(rows, sort_keys=list(self.spec.sort_keys))
        transaction = table.transaction()
        transaction.overwrite(rows.take(order), overwrite_filter=day_filter, snapshot_properties=summary)
        self._commit(transaction, what=f"compaction of {day}")

    # ------------------------------------------------------------------------------ expiry and orphans
    def history(self) -> SnapshotHistory:
        metadata = self._load().metadata
        return SnapshotHistory(
            snapshots=tuple(SnapshotEntry(s.snapshot_id, s.timestamp_ms) for s in metadata.snapshots),
            log=tuple(SnapshotEntry(e.snapshot_id, e.timestamp_ms) for e in metadata.snapshot_log),
            current_id=metadata.current_snapshot_id,
            protected_ids=frozenset(
                ref.snapshot_id
                for ref in metadata.refs.values()
                if ref.snapshot_ref_type in (SnapshotRefType.BRANCH, SnapshotRefType.TAG)
            ),
        )

    def expire(self, snapshot_ids: set[int]) -> None:
        table = self._load()
        still_there = [sid for sid in sorted(snapshot_ids) if table.metadata.snapshot_by_id(sid) is not None]
        if not still_there:
            return
        try:
            table.maintenance.expire_snapshots().by_ids(still_there).commit()
        except CommitFailedException as error:
            raise CommitConflictError(f"expiring snapshots lost to a concurrent writer: {error}") from error

    def referenced_files(self) -> set[str]:
        """Every file a kept snapshot or kept metadata file needs: metadata files, manifest lists,
        manifests, and data files (deleted entries too: the snapshot before still reads them)."""
        table = self._load()
        metadata = table.metadata
        referenced = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
        seen_manifests: set[str] = set()
        for snapshot in metadata.snapshots:
            referenced.add(snapshot.manifest_list)
            for manifest in snapshot.manifests(table.io):
                if manifest.manifest_path in seen_manifests:
                    continue
                seen_manifests.add(manifest.manifest_path)
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                    referenced.add(entry.data_file.file_path)
        referenced.update(seen_manifests)
        return referenced

    def stored_files(self) -> Iterator[StoredFile]:
        parsed = urlparse(self.location)
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/") + "/"
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredFile(
                        uri=f"s3://{bucket}/{item['Key']}",
                        last_modified_ms=int(item["LastModified"].timestamp() * 1000),
                    )
        except (ClientError, BotoCoreError) as error:
            raise CuratedTableError(f"listing {self.location} failed: {error}") from error

    def delete_files(self, uris: Sequence[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for uri in uris:
            parsed = urlparse(uri)
            if not uri.startswith(self.location + "/"):
                raise CuratedTableError(f"refusing to delete {uri}: outside the table's location")
            by_bucket.setdefault(parsed.netloc, []).append(parsed.path.lstrip("/"))
        for bucket, keys in by_bucket.items():
            for start in range(0, len(keys), _DELETE_BATCH):
                chunk = keys[start : start + _DELETE_BATCH]
                try:
                    response = self._s3.delete_objects(
                        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
                    )
                except (ClientError, BotoCoreError) as error:
                    raise CuratedTableError(
                        f"deleting {len(chunk)} orphaned file(s) failed: {error}"
                    ) from error
                if response.get("Errors"):
                    first = response["Errors"][0]
                    raise CuratedTableError(
                        f"deleting orphaned file {first.get('Key')} failed: {first.get('Code')}"
                    )


def check_table(table: Table, spec: CuratedTableSpec) -> None:
    """The table must be this curator's: same columns (names, ids, types, required) and partitioning, and
    pyiceberg's own commit retry off (it would replay an append onto a concurrent commit)."""
    schema = table.schema()
    expected = [(f.field_id, f.name, f.field_type, f.required) for f in spec.schema.fields]
    actual = [(f.field_id, f.name, f.field_type, f.required) for f in schema.fields]
    if actual[: len(expected)] != expected:
        raise UnsupportedTableError(
            f"{table.name()} does not have the curated {spec.kind} schema:"
            f" expected {expected}, found {actual}"
        )
    partitioning = table.spec()
    if [(f.source_id, f.transform, f.name) for f in partitioning.fields] != [
        (f.source_id, f.transform, f.name) for f in spec.partition_spec.fields
    ]:
        raise UnsupportedTableError(f"{table.name()} is not partitioned by identity(dt): {partitioning}")
    if table.properties.get("commit.retry.num-retries") != "0":
        raise UnsupportedTableError(
            f"{table.name()} has commit.retry.num-retries={table.properties.get('commit.retry.num-retries')}:"
            " the curator needs 0, it retries a lost commit itself by planning again"
        )
