"""``query NAME``: one named query, run by Athena in the stack's workgroup or by DuckDB over a local copy of
the archive, printed as a table, CSV or JSON. Pure formatting here; the engines are athena_reads (boto3) and
local_archive (DuckDB).

Values print the same whichever engine ran the query: timestamps as Athena prints them
(``2026-11-27 03:47:09.865 UTC``), numbers as numbers in JSON, null as JSON null or an empty CSV field.
Athena returns every value as text: JSON turns its integer, floating and decimal columns back into numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hook_archive_cli.athena_reads import MIN_BILLED_BYTES, PRICE_PER_TB_USD, AthenaAnswer, cost_usd
from hook_archive_cli.local_archive import QueryResult
from hook_archive_cli.named_queries import NamedQuery

FORMATS = ("table", "csv", "json")
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_NUMBER_TYPES = frozenset({"double", "float", "real", "decimal"})


def from_athena(answer: AthenaAnswer) -> QueryResult:
    rows = [
        tuple(_athena_value(value, kind) for value, kind in zip(row, answer.types, strict=False))
        for row in answer.rows
    ]
    return QueryResult(
        columns=answer.columns,
        types=answer.types,
        rows=rows,
        engine="athena",
        statistics={
            "query_execution_id": answer.query_execution_id,
            "bytes_scanned": answer.bytes_scanned,
            "cost_usd": round(cost_usd(answer.bytes_scanned), 6),
            "execution_ms": answer.execution_ms,
        },
    )


def _athena_value(value: str | None, kind: str) -> Any:
    if value is None:
        return None
    base = kind.split("(", 1)[0].strip().lower()
    try:
        if base in _INTEGER_TYPES:
            return int(value)
        if base in _NUMBER_TYPES:
            return float(value)
    except ValueError:
        return value
    return value


def text(value: Any) -> str:
    """One value as the table and CSV show it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d} UTC"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return text(value)
    return value


def as_json(query: NamedQuery, result: QueryResult) -> str:
    document = {
        "query": query.name,
        "engine": result.engine,
        "window_days": query.window_days,
        "sql": query.athena_sql,
        "columns": result.columns,
        "row_count": len(result.rows),
        "rows": [
            {column: _json_value(value) for column, value in zip(result.columns, row, strict=True)}
            for row in result.rows
        ],
        "statistics": result.statistics,
    }
    return json.dumps(document, indent=2)


def as_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([text(value) for value in row] for row in result.rows)
    return buffer.getvalue()


def as_table(query: NamedQuery, result: QueryResult, *, where: str) -> str:
    lines = [f"cfn-hook-archive query {query.name}: {where}", ""]
    if result.columns:
        cells = [[text(value) for value in row] for row in result.rows]
        lines += _aligned(result.columns, cells)
    lines += ["", f"{len(result.rows)} row(s)"]
    if result.engine == "athena":
        lines.append(statistics_line(result))
    return "\n".join(lines)


def statistics_line(result: QueryResult) -> str:
    scanned = int(result.statistics["bytes_scanned"])
    return (
        f"scanned {scanned:,} bytes ({scanned / 1e6:.2f} MB): ${cost_usd(scanned):.6f} at "
        f"${PRICE_PER_TB_USD:g}/TB, billed at least {MIN_BILLED_BYTES // 1_000_000} MB a query; "
        f"query execution {result.statistics['query_execution_id']}"
    )


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]
