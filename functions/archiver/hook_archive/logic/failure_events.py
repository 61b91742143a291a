"""Building failure events: summary + enrichment -> a PutEvents entry that fits EventBridge's limits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hook_archive.errors import EventTooLargeError
from hook_archive.models.failure_event import (
    DETAIL_TYPE,
    Annotation,
    Enrichment,
    HookFailureDetail,
    HookTarget,
)
from hook_archive.models.hook_result import HookResult, from_epoch_ms

# PutEvents counts Time (14 bytes), Source, DetailType, Detail and Resources against 256 KB per entry.
MAX_ENTRY_BYTES = 256 * 1024
_TIME_BYTES = 14
_TRUNCATION_MARK = "…[truncated]"
_MIN_KEPT_CHARS = 64


def iso_ms(epoch_ms: int) -> str:
    return from_epoch_ms(epoch_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enrichment_from_api(response: Mapping[str, Any]) -> Enrichment:
    """Map a GetHookResult response to our enrichment model."""
    target = response.get("Target")
    return Enrichment(
        status="enriched",
        original_type_name=response.get("OriginalTypeName"),
        target=HookTarget(
            target_type=target.get("TargetType"),
            target_type_name=target.get("TargetTypeName"),
            target_id=target.get("TargetId"),
            action=target.get("Action"),
        )
        if isinstance(target, Mapping)
        else None,
        annotations=[
            Annotation(
                annotation_name=item.get("AnnotationName"),
                status=item.get("Status"),
                status_message=item.get("StatusMessage"),
                remediation_message=item.get("RemediationMessage"),
                remediation_link=item.get("RemediationLink"),
                severity_level=item.get("SeverityLevel"),
            )
            for item in response.get("Annotations") or []
            if isinstance(item, Mapping)
        ],
    )


def build_detail(
    result: HookResult,
    *,
    account_id: str,
    region: str,
    archive_uri: str,
    archived_at_ms: int,
    enrichment: Enrichment,
) -> HookFailureDetail:
    return HookFailureDetail(
        hook_result_id=result.hook_result_id,
        status=result.status or "",
        failure_mode=result.failure_mode,
        hook_status_reason=result.hook_status_reason,
        type_name=result.type_name,
        type_arn=result.type_arn,
        type_version_id=result.type_version_id,
        type_configuration_version_id=result.type_configuration_version_id,
        invocation_point=result.invocation_point,
        invoked_at=iso_ms(result.invoked_at_ms) if result.invoked_at_ms is not None else None,
        target_type=result.target_type,
        target_id=result.target_id,
        hook_execution_target=result.hook_execution_target,
        account_id=account_id,
        region=region,
        archive_uri=archive_uri,
        archived_at=iso_ms(archived_at_ms),
        enrichment=enrichment,
    )


@dataclass(frozen=True)
class EventEnvelope:
    """Everything of a PutEvents entry but the bus, which the publisher adds."""

    source: str
    detail_type: str
    detail: str
    resources: tuple[str, ...]

    def entry_bytes(self) -> int:
        return (
            _TIME_BYTES
            + len(self.source.encode())
            + len(self.detail_type.encode())
            + len(self.detail.encode())
            + sum(len(resource.encode()) for resource in self.resources)
        )


def fit_to_limit(detail: HookFailureDetail, *, budget_bytes: int) -> HookFailureDetail:
    """Shorten the longest strings first (then drop trailing annotations) until the detail fits."""
    document = detail.model_dump(mode="json")
    truncated: list[str] = list(document.get("truncated_fields", []))

    def size() -> int:
        return len(json.dumps({**document, "truncated_fields": truncated}, ensure_ascii=False).encode())

    while (excess := size() - budget_bytes) > 0:
        path, value = _longest_string(document)
        if value is None or len(value) <= _MIN_KEPT_CHARS + len(_TRUNCATION_MARK):
            annotations = document["enrichment"]["annotations"]
            if not annotations:
                raise EventTooLargeError(
                    f"failure event for {detail.hook_result_id} cannot fit in {budget_bytes} bytes"
                )
            annotations.pop()
            marker = "enrichment.annotations[dropped]"
            if marker not in truncated:
                truncated.append(marker)
            continue
        # Each step shortens the string by at least an eighth, so this ends quickly and never grows it.
        cut = max(excess, len(value) // 8)
        keep = max(_MIN_KEPT_CHARS, len(value) - cut - len(_TRUNCATION_MARK))
        _assign(document, path, value[:keep] + _TRUNCATION_MARK)
        label = ".".join(str(part) for part in path)
        if label not in truncated:
            truncated.append(label)
    document["truncated_fields"] = truncated
    return HookFailureDetail.model_validate(document)


def to_envelope(
    detail: HookFailureDetail, *, source: str, max_entry_bytes: int = MAX_ENTRY_BYTES
) -> EventEnvelope:
    resources = tuple(
        value
        for value in (detail.type_arn, detail.hook_execution_target)
        if value and value.startswith("arn:")
    )
    envelope = EventEnvelope(source, DETAIL_TYPE, detail.model_dump_json(), resources)
    if envelope.entry_bytes() <= max_entry_bytes:
        return envelope  # nearly every event: serialised once
    budget = max_entry_bytes - EventEnvelope(source, DETAIL_TYPE, "", resources).entry_bytes()
    fitted = fit_to_limit(detail, budget_bytes=budget)
    return EventEnvelope(source, DETAIL_TYPE, fitted.model_dump_json(), resources)


def _longest_string(document: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str | None]:
    best: tuple[tuple[Any, ...], str | None] = ((), None)
    items = document.items() if isinstance(document, dict) else enumerate(document)
    for key, value in items:
        if key in {"hook_result_id", "archive_uri", "schema_version", "truncated_fields"}:
            continue
        if isinstance(value, str):
            candidate: tuple[tuple[Any, ...], str | None] = ((*path, key), value)
        elif isinstance(value, dict | list):
            candidate = _longest_string(value, (*path, key))
        else:
            continue
        if candidate[1] is not None and (best[1] is None or len(candidate[1]) > len(best[1])):
            best = candidate
    return best


def _assign(document: Any, path: tuple[Any, ...], value: str) -> None:
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value
