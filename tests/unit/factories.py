"""Small builders for pure tests."""

from __future__ import annotations

import uuid
from dataclasses import replace

from hook_archive.models.hook_result import HookResult

DAY_MS = 86_400_000
BASE_MS = 1_795_000_000_000  # 2026-11-18


_DEFAULT_TIME = -1


def hook_result(
    number: int,
    *,
    invoked_at_ms: int | None = _DEFAULT_TIME,
    status: str = "HOOK_COMPLETE_SUCCEEDED",
    **changes: object,
) -> HookResult:
    """A summary; invoked_at_ms defaults to one second per number after BASE_MS, and None means absent."""
    result = HookResult(
        hook_result_id=str(uuid.UUID(int=number + 1, version=4)),
        invocation_point="PRE_PROVISION",
        failure_mode="FAIL",
        type_name="MyOrg::Guard::S3Encryption",
        type_version_id="00000001",
        type_configuration_version_id="00000002",
        status=status,
        hook_status_reason="ok",
        invoked_at_ms=BASE_MS + number * 1000 if invoked_at_ms == _DEFAULT_TIME else invoked_at_ms,
        target_type="STACK",
        target_id="arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        type_arn="arn:aws:cloudformation:us-east-1:123456789012:type/hook/MyOrg-Guard-S3Encryption",
        hook_execution_target="arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
    )
    return replace(result, **changes) if changes else result  # type: ignore[arg-type]
