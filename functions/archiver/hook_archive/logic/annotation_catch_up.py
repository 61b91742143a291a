"""The catch-up list (Checkpoint.annotations_due): failures archived without their annotations, which later
runs fetch with GetHookResult and write to hook_annotations. Pure rules; logic/archive_run.py makes the calls.

Why a failure leaves the list:
- its annotations were fetched (and written, if it has any), or a dead run had written them (adopted);
- a permanent refusal: HookResultNotFound (the API keeps a result 90 days, so it aged out) or AccessDenied
  (GetHookResult needs kms:Decrypt on the key the hook encrypts its results with,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetHookResult.html): counted by code;
- a passing error (Throttling, 5xx, a timeout) repeated `max_attempts` times: counted as given up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from hook_archive.models.checkpoint import AnnotationDue
from hook_archive.models.hook_result import HookResult

# Codes a retry will not change. Any other code (or none: a network error) is taken as passing, and bounded
# by the attempts instead, so an unexpected code costs a few calls, never a lost annotation.
PERMANENT_ERROR_CODES = frozenset(
    {"HookResultNotFound", "AccessDenied", "AccessDeniedException", "ValidationError"}
)
OVERFLOW = "overflow"


def is_permanent(error_code: str | None) -> bool:
    return error_code in PERMANENT_ERROR_CODES


def gave_up_reason(error_code: str | None) -> str:
    return f"{error_code or 'network error'} (gave up)"


def due_for(result: HookResult, *, dt: date, attempts: int = 0) -> AnnotationDue:
    """What a later run needs to write this failure's annotation rows: annotation_rows' fields, and dt."""
    return AnnotationDue(
        hook_result_id=result.hook_result_id,
        type_name=result.type_name,
        dt=dt.isoformat(),
        invoked_at_ms=result.invoked_at_ms,
        attempts=attempts,
    )


def as_result(item: AnnotationDue) -> HookResult:
    """The listed failure as annotation_rows reads it (the id and type name; nothing else is used)."""
    return HookResult.from_document(
        {
            "hook_result_id": item.hook_result_id,
            "type_name": item.type_name,
            "invoked_at_ms": item.invoked_at_ms,
        }
    )


def _age_key(item: AnnotationDue) -> tuple[int, str]:
    # Without InvokedAt, the partition's day stands in for it.
    if item.invoked_at_ms is not None:
        return item.invoked_at_ms, item.hook_result_id
    day = date.fromisoformat(item.dt)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(midnight.timestamp() * 1000), item.hook_result_id


def oldest_first(items: Iterable[AnnotationDue]) -> list[AnnotationDue]:
    """The order of the catch-up: the oldest is the nearest to leaving the API's 90-day retention."""
    return sorted(items, key=_age_key)


def bounded(
    kept: Sequence[AnnotationDue], added: Sequence[AnnotationDue], *, limit: int
) -> tuple[list[AnnotationDue], list[AnnotationDue]]:
    """The new list, at most `limit` long, once per id: what was already waiting first, then what this run
    adds; and what did not fit (the newest additions), for the caller to count and log."""
    listed: list[AnnotationDue] = []
    overflow: list[AnnotationDue] = []
    seen: set[str] = set()
    for item in [*kept, *added]:
        if item.hook_result_id in seen:
            continue
        seen.add(item.hook_result_id)
        (listed if len(listed) < limit else overflow).append(item)
    return oldest_first(listed), overflow
