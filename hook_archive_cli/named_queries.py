"""The named queries (queries/NAME.sql over hook_results, queries/annotations/NAME.sql over hook_annotations:
the template's saved queries verbatim) as ``query`` and ``report`` run them: found by name, narrowed by the
caller's options, and translated for DuckDB. Pure: no AWS, no files but the queries themselves.

A query's name is its path under queries/ without ``.sql`` (``daily_failure_trend``,
``annotations/top_failing_rules_last_30_days``); an annotations query may also be called by its file name
alone when no other query has it.

Narrowing edits the parsed query (sqlglot's Athena dialect), never its text, so a value is always a quoted
literal:

- ``days``: the query's own window, ``dt >= date_format(current_date - INTERVAL 'N' DAY, ...)``, gets N days
  instead (dt from N days ago to today, UTC, both included). A query without such a window refuses it.
- ``hook``: every SELECT that reads ``hook_results`` or ``hook_annotations`` itself gets
  ``AND type_name = 'TYPE'`` (both tables have the column), so aggregates, rankings and "latest" are computed
  over that hook's rows only.
- ``hook_result_id``: invocation_by_id's placeholder id is replaced (the query needs one).

A query run without options is sent as written. A narrowed one is sent as sqlglot prints it back in Athena's
dialect (same meaning, its own layout).

sqlglot is imported on first use: it is a development dependency, not (yet) one of the ``cli`` extra's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hook_archive_cli.errors import UsageError

if TYPE_CHECKING:
    from sqlglot import exp

QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"
TABLE = "hook_results"
ANNOTATIONS_TABLE = "hook_annotations"
ANNOTATIONS_DIR = "annotations"
# The tables whose SELECTs --hook narrows: each has type_name.
HOOK_TABLES = frozenset({TABLE, ANNOTATIONS_TABLE})
# queries/invocation_by_id.sql's stand-in, which its comment asks a user to replace.
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
_HOOK_RESULT_ID = re.compile(r"^[A-Za-z0-9-]{1,128}$")
MAX_DAYS = 3650


@dataclass(frozen=True)
class Narrowing:
    days: int | None = None
    hook: str | None = None
    hook_result_id: str | None = None

    @property
    def any(self) -> bool:
        return self.days is not None or self.hook is not None or self.hook_result_id is not None


@dataclass(frozen=True)
class NamedQuery:
    name: str
    athena_sql: str  # what Athena runs: the file as written, or narrowed
    window_days: int | None  # the dt window it reads, when it has one


def _sqlglot() -> Any:
    try:
        import sqlglot  # noqa: PLC0415  # a development dependency: only the commands that need it import it
    except ModuleNotFoundError:
        raise UsageError(
            "query and report need sqlglot (and duckdb for --local and report): "
            "pip install sqlglot duckdb, or uv sync in a clone"
        ) from None
    return sqlglot


def names(directory: Path = QUERIES_DIR) -> list[str]:
    """The results queries, then the annotations queries (annotations/NAME)."""
    results = sorted(path.stem for path in directory.glob("*.sql"))
    annotations = sorted(
        f"{ANNOTATIONS_DIR}/{path.stem}" for path in (directory / ANNOTATIONS_DIR).glob("*.sql")
    )
    return results + annotations


def resolve(name: str, known: list[str]) -> str:
    """The query's full name: as given, or an annotations query called by its file name alone."""
    if name in known:
        return name
    matches = [candidate for candidate in known if candidate.rsplit("/", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"no named query {name!r}; the named queries are: {', '.join(known)}")


def load(name: str, narrowing: Narrowing = Narrowing(), *, directory: Path = QUERIES_DIR) -> NamedQuery:
    known = names(directory)
    if not known:
        raise UsageError(
            f"no named queries in {directory}: run the CLI from a checkout of cfn-hook-archive (queries/)"
        )
    name = resolve(name, known)
    text = (directory / f"{name}.sql").read_text()
    sqlglot = _sqlglot()
    statement = sqlglot.parse_one(text, read="athena")
    window = _window(statement)
    if name == "invocation_by_id" and narrowing.hook_result_id is None:
        raise UsageError(
            "invocation_by_id needs --id HOOK_RESULT_ID (a failure event's detail.hook_result_id)"
        )
    if not narrowing.any:
        return NamedQuery(name, text, int(window.this.this) if window is not None else None)
    if narrowing.days is not None:
        if window is None:
            raise UsageError(f"{name} has no day window: --days does not apply to it")
        if not 0 <= narrowing.days <= MAX_DAYS:
            raise UsageError(f"--days must be between 0 and {MAX_DAYS}")
        window.set("this", sqlglot.exp.Literal.string(str(narrowing.days)))
    if narrowing.hook is not None:
        for select in _selects_of_table(statement):
            condition = sqlglot.exp.EQ(
                this=sqlglot.exp.column("type_name"), expression=sqlglot.exp.Literal.string(narrowing.hook)
            )
            select.where(condition, append=True, copy=False)
    if narrowing.hook_result_id is not None:
        _replace_placeholder(name, statement, narrowing.hook_result_id)
    window_days = int(window.this.this) if window is not None else None
    return NamedQuery(name, statement.sql(dialect="athena", pretty=True) + "\n", window_days)


def _window(statement: exp.Expression) -> exp.Interval | None:
    """The ``current_date - INTERVAL 'N' DAY`` of the dt filter: the only interval the named queries have."""
    from sqlglot import exp  # noqa: PLC0415

    for interval in statement.find_all(exp.Interval):
        parent = interval.parent
        unit = interval.args.get("unit")
        if (
            isinstance(parent, exp.Sub)
            and isinstance(parent.this, exp.CurrentDate)
            and unit is not None
            and unit.name.upper() == "DAY"
            and isinstance(interval.this, exp.Literal)
        ):
            return interval
    return None


def _selects_of_table(statement: exp.Expression) -> list[exp.Select]:
    from sqlglot import exp  # noqa: PLC0415

    selects = []
    for select in statement.find_all(exp.Select):
        source = select.args.get("from") or select.args.get("from_")
        if (
            isinstance(source, exp.From)
            and isinstance(source.this, exp.Table)
            and source.this.name in HOOK_TABLES
        ):
            selects.append(select)
    return selects


def _replace_placeholder(name: str, statement: exp.Expression, hook_result_id: str) -> None:
    from sqlglot import exp  # noqa: PLC0415

    if not _HOOK_RESULT_ID.match(hook_result_id):
        raise UsageError(f"{hook_result_id!r} is not a hook result id (letters, digits and '-')")
    placeholders = [
        literal
        for literal in statement.find_all(exp.Literal)
        if literal.is_string and literal.this == PLACEHOLDER_ID
    ]
    if not placeholders:
        raise UsageError(f"{name} takes no id: --id applies to invocation_by_id only")
    for literal in placeholders:
        literal.replace(exp.Literal.string(hook_result_id))


def to_duckdb(athena_sql: str) -> str:
    """The query as DuckDB runs it, translated by sqlglot as the template tests and the demo translate it."""
    transpiled: list[str] = _sqlglot().transpile(athena_sql, read="athena", write="duckdb")
    return transpiled[0]
