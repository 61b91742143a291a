"""The only boto3 code of ``query`` on Athena: StartQueryExecution in the stack's workgroup, GetQueryExecution
until the query ends, GetQueryResults page by page. Each failure becomes a CliError with its exit status.

A query Athena ran and failed (or cancelled: the workgroup's bytes-scanned cutoff cancels it) carries its
reason. Athena's own ErrorCategory says whose fault it is: 2 (USER: a missing table, bad SQL) exits 2 like
any configuration problem; SYSTEM and OTHER exit 3, like any AWS failure.

No ResultConfiguration is sent: the workgroup enforces its own (output bucket, encryption), as template.yaml
sets it up. The query runs in ``database``, where ``hook_results`` is (the stack's GlueTableName output).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from hook_archive_cli.archive_reads import AWS_ERRORS, CLIENT_CONFIG, aws_failure
from hook_archive_cli.errors import EXIT_AWS, EXIT_USAGE, CliError, UsageError

WORKGROUP_OUTPUT = "AthenaWorkGroupName"
TABLE_OUTPUT = "GlueTableName"  # <database>.hook_results
# Athena's list price, us-east-1: $5 per TB (10^12 bytes) scanned, at least 10 MB per query (as bench/).
PRICE_PER_TB_USD = 5.0
MIN_BILLED_BYTES = 10_000_000
FIRST_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 2.0
USER_ERROR_CATEGORY = 2
_FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def cost_usd(bytes_scanned: int) -> float:
    return max(bytes_scanned, MIN_BILLED_BYTES) / 1e12 * PRICE_PER_TB_USD


@dataclass(frozen=True)
class AthenaTarget:
    workgroup: str
    database: str


def target_from_stack_outputs(stack: str, outputs: dict[str, str]) -> AthenaTarget:
    workgroup, table = outputs.get(WORKGROUP_OUTPUT), outputs.get(TABLE_OUTPUT)
    if not workgroup or not table or "." not in table:
        raise UsageError(
            f"stack {stack} has no {WORKGROUP_OUTPUT} and {TABLE_OUTPUT} outputs: is it a cfn-hook-archive "
            "stack? (pass --workgroup and --database instead)"
        )
    return AthenaTarget(workgroup, table.split(".", 1)[0])


class QueryFailed(CliError):
    """Athena ran the query and it failed or was cancelled."""

    def __init__(self, message: str, *, user_error: bool) -> None:
        super().__init__(message)
        self.exit_status = EXIT_USAGE if user_error else EXIT_AWS


@dataclass(frozen=True)
class AthenaAnswer:
    query_execution_id: str
    columns: list[str]
    types: list[str]
    rows: list[tuple[str | None, ...]]
    bytes_scanned: int
    execution_ms: int | None


class AthenaQueries:
    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            if session is None:
                raise ValueError("give a session or a client")
            client = session.client("athena", config=CLIENT_CONFIG)
        self._athena = client
        self._sleep = sleep

    def run(
        self, sql: str, target: AthenaTarget, *, on_state: Callable[[str, float], None] | None = None
    ) -> AthenaAnswer:
        execution_id = self._start(sql, target)
        execution = self._wait(execution_id, on_state or (lambda _state, _seconds: None))
        statistics = execution.get("Statistics", {})
        columns, types, rows = self._results(execution_id)
        return AthenaAnswer(
            query_execution_id=execution_id,
            columns=columns,
            types=types,
            rows=rows,
            bytes_scanned=int(statistics.get("DataScannedInBytes", 0)),
            execution_ms=statistics.get("TotalExecutionTimeInMillis"),
        )

    def _start(self, sql: str, target: AthenaTarget) -> str:
        try:
            started = self._athena.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={"Database": target.database},
                WorkGroup=target.workgroup,
            )
        except AWS_ERRORS as error:
            raise aws_failure(f"StartQueryExecution in workgroup {target.workgroup}", error) from None
        return str(started["QueryExecutionId"])

    def _wait(self, execution_id: str, on_state: Callable[[str, float], None]) -> dict[str, Any]:
        started = time.monotonic()
        delay = FIRST_POLL_SECONDS
        while True:
            try:
                execution: dict[str, Any] = self._athena.get_query_execution(QueryExecutionId=execution_id)[
                    "QueryExecution"
                ]
            except AWS_ERRORS as error:
                raise aws_failure(f"GetQueryExecution {execution_id}", error) from None
            status = execution.get("Status", {})
            state = str(status.get("State", "UNKNOWN"))
            on_state(state, time.monotonic() - started)
            if state == "SUCCEEDED":
                return execution
            if state in _FINISHED:
                raise _failed(execution_id, state, status)
            self._sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)

    def _pages(self, execution_id: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            request: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": 1000}
            if token:
                request["NextToken"] = token
            try:
                page: dict[str, Any] = self._athena.get_query_results(**request)
            except AWS_ERRORS as error:
                raise aws_failure(f"GetQueryResults {execution_id}", error) from None
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def _results(self, execution_id: str) -> tuple[list[str], list[str], list[tuple[str | None, ...]]]:
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple[str | None, ...]] = []
        for number, page in enumerate(self._pages(execution_id)):
            result_set = page.get("ResultSet", {})
            page_rows = [
                tuple(cell.get("VarCharValue") for cell in row.get("Data", []))
                for row in result_set.get("Rows", [])
            ]
            if number == 0:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [str(column.get("Name", "")) for column in info]
                types = [str(column.get("Type", "varchar")) for column in info]
                # A SELECT's first row is its header (the column names), on the first page only.
                if page_rows and list(page_rows[0]) == columns:
                    page_rows = page_rows[1:]
            rows.extend(page_rows)
        return columns, types, rows


def _failed(execution_id: str, state: str, status: dict[str, Any]) -> CliError:
    reason = str(status.get("StateChangeReason") or "no reason given")
    error = status.get("AthenaError", {})
    category = error.get("ErrorCategory")
    kind = f" (Athena error type {error['ErrorType']})" if "ErrorType" in error else ""
    return QueryFailed(
        f"Athena query {execution_id} {state}{kind}: {reason}", user_error=category == USER_ERROR_CATEGORY
    )
