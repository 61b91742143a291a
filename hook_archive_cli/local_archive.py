"""A local copy of the archive, queried with DuckDB as Athena queries the Glue table.

The copy is laid out as the bucket: ``DIR/dt=YYYY-MM-DD/*.parquet`` (``aws s3 sync s3://BUCKET/PREFIX DIR``)
or ``DIR/PREFIX/dt=YYYY-MM-DD/*.parquet`` (a sync of the whole bucket). The ``hook_results`` view is the one
emulation/demo.py and the template tests make: every object under ``dt=*``, dt kept a string (as the Glue
partition is), in a UTC session (as Athena's). ``union_by_name`` reads an object written before a column
existed with that column null, as Athena does. A copy with no objects yet is an empty table of the archive's
schema, not an error.

``hook_annotations`` is the annotations table the same way: every object under ``annotations/dt=*`` beside
the results' partitions (``DIR/annotations/dt=YYYY-MM-DD/*.parquet``), or an empty table of
ANNOTATION_SCHEMA when the copy has none (an archive from before annotations, or with no enriched failure).

duckdb is imported on first use: a development dependency, not (yet) one of the ``cli`` extra's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from hook_archive.models.annotation_schema import ANNOTATION_SCHEMA
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA, PARTITION_COLUMN
from hook_archive_cli.errors import UsageError
from hook_archive_cli.named_queries import to_duckdb


@dataclass(frozen=True)
class QueryResult:
    """A query's answer, whichever engine ran it: column names and types, rows of Python values."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    engine: str
    statistics: dict[str, Any] = field(default_factory=dict)


def partition_root(directory: Path, prefix: str) -> Path:
    """The folder that holds the dt=... partitions: DIR itself, or DIR/PREFIX."""
    if not directory.is_dir():
        raise UsageError(f"--local {directory}: no such directory")
    if any(directory.glob("dt=*")):
        return directory
    nested = directory / prefix
    if nested.is_dir():
        return nested
    return directory  # no partitions at all: an empty archive


def _duckdb() -> Any:
    try:
        import duckdb  # noqa: PLC0415  # a development dependency: only the commands that need it import it
    except ModuleNotFoundError:
        raise UsageError(
            "--local and report need duckdb: pip install duckdb, or uv sync in a clone"
        ) from None
    return duckdb


ANNOTATIONS_DIR = "annotations"


class LocalArchive:
    def __init__(self, directory: Path, *, prefix: str) -> None:
        self.root = partition_root(directory, prefix)
        self.objects = sorted(self.root.glob("dt=*/*.parquet"))
        self.annotation_objects = sorted((self.root / ANNOTATIONS_DIR).glob("dt=*/*.parquet"))
        self._connection = _duckdb().connect()
        self._connection.execute("SET TimeZone = 'UTC'")
        self._view("hook_results", self.root, ARCHIVE_SCHEMA, present=bool(self.objects))
        self._view(
            "hook_annotations",
            self.root / ANNOTATIONS_DIR,
            ANNOTATION_SCHEMA,
            present=bool(self.annotation_objects),
        )

    def _view(self, table: str, partitions: Path, schema: pa.Schema, *, present: bool) -> None:
        """The table over partitions/dt=*/*.parquet, or an empty table of its schema (with dt)."""
        if present:
            pattern = str(partitions / "dt=*" / "*.parquet").replace("'", "''")
            self._connection.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet("  # noqa: S608  # our names, a quoted path
                f"'{pattern}', hive_partitioning = true, hive_types = {{'dt': 'VARCHAR'}}, "
                "union_by_name = true)"
            )
        else:
            empty = schema.append(pa.field(PARTITION_COLUMN, pa.string())).empty_table()
            self._connection.register(f"empty_{table}", empty)
            self._connection.execute(f"CREATE VIEW {table} AS SELECT * FROM empty_{table}")  # noqa: S608

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LocalArchive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, athena_sql: str) -> QueryResult:
        cursor = self._connection.execute(to_duckdb(athena_sql))
        description = cursor.description or []
        return QueryResult(
            columns=[column[0] for column in description],
            types=[str(column[1]) for column in description],
            rows=[tuple(row) for row in cursor.fetchall()],
            engine="duckdb",
            statistics={
                "objects": len(self.objects),
                "annotation_objects": len(self.annotation_objects),
                "root": str(self.root),
            },
        )
