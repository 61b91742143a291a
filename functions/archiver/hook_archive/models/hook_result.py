"""One hook invocation summary, as ListHookResults returns it, in our own typed shape."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dateutil.parser

from hook_archive.errors import MalformedHookResultError

IN_PROGRESS = "HOOK_IN_PROGRESS"
FAILED_STATUSES = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_HOOK_RESULT_ID = re.compile(r"^[A-Za-z0-9-]{36}$")

# API member name -> our field name, in the API's order. One table drives parsing and the checkpoint.
API_FIELDS: tuple[tuple[str, str], ...] = (
    ("HookResultId", "hook_result_id"),
    ("InvocationPoint", "invocation_point"),
    ("FailureMode", "failure_mode"),
    ("TypeName", "type_name"),
    ("TypeVersionId", "type_version_id"),
    ("TypeConfigurationVersionId", "type_configuration_version_id"),
    ("Status", "status"),
    ("HookStatusReason", "hook_status_reason"),
    ("InvokedAt", "invoked_at_ms"),
    ("TargetType", "target_type"),
    ("TargetId", "target_id"),
    ("TypeArn", "type_arn"),
    ("HookExecutionTarget", "hook_execution_target"),
)


def to_epoch_ms(moment: datetime) -> int:
    """UTC milliseconds, truncating sub-millisecond precision (the archive's resolution)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def parse_api_timestamp(value: str) -> datetime:
    """The API's ISO 8601 timestamps, parsed natively; anything else by dateutil, as botocore would.

    botocore's default (dateutil) parser is far slower, and every InvokedAt goes through it: bench/RESULTS.md,
    section 1 ("A tuned floor"), measures the difference."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = dateutil.parser.parse(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def from_epoch_ms(epoch_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=epoch_ms)


def utc_date(epoch_ms: int) -> date:
    return from_epoch_ms(epoch_ms).date()


@dataclass(frozen=True, slots=True)
class HookResult:
    """A hook invocation summary. Every field but the id may be missing in odd API data."""

    hook_result_id: str
    invocation_point: str | None
    failure_mode: str | None
    type_name: str | None
    type_version_id: str | None
    type_configuration_version_id: str | None
    status: str | None
    hook_status_reason: str | None
    invoked_at_ms: int | None
    target_type: str | None
    target_id: str | None
    type_arn: str | None
    hook_execution_target: str | None

    @property
    def is_terminal(self) -> bool:
        # Unknown future statuses count as terminal: only HOOK_IN_PROGRESS is known to change.
        return self.status is not None and self.status != IN_PROGRESS

    @property
    def is_failure(self) -> bool:
        return self.status in FAILED_STATUSES

    @classmethod
    def from_api(cls, summary: Mapping[str, Any]) -> HookResult:
        """Build from one boto3 HookResultSummary dict."""
        hook_result_id = summary.get("HookResultId")
        if not isinstance(hook_result_id, str) or not _HOOK_RESULT_ID.match(hook_result_id):
            raise MalformedHookResultError(f"HookResultId missing or malformed: {hook_result_id!r}")
        invoked_at = summary.get("InvokedAt")
        values: dict[str, Any] = {}
        for api_name, field in API_FIELDS:
            value = summary.get(api_name)
            values[field] = value if value is None or isinstance(value, str) else str(value)
        values["invoked_at_ms"] = to_epoch_ms(invoked_at) if isinstance(invoked_at, datetime) else None
        return cls(**values)

    def to_document(self) -> dict[str, Any]:
        """Plain JSON-ready dict (used by the checkpoint for pending invocations)."""
        return {field: getattr(self, field) for _, field in API_FIELDS}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> HookResult:
        values: dict[str, Any] = {field: document.get(field) for _, field in API_FIELDS}
        return cls(**values)
