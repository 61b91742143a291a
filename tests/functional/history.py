"""Hook results for the fake API: numbered, with ids and statuses drawn from one seeded generator."""

from __future__ import annotations

import hashlib
import random
import uuid

from hook_archive.models.hook_result import IN_PROGRESS, HookResult

SUCCEEDED = "HOOK_COMPLETE_SUCCEEDED"
COMPLETE_FAILED = "HOOK_COMPLETE_FAILED"
HOOK_FAILED = "HOOK_FAILED"
UNKNOWN_STATUS = "HOOK_SOMETHING_NEW"  # a status added to the API later: terminal, not a failure
MINUTE_MS = 60_000
DAY_MS = 86_400_000
BASE_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z
_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/0a1b2c3d-0000-4000-8000-000000000001"
_HOOK = "arn:aws:cloudformation:us-east-1:123456789012:type/hook/MyOrg-Guard-S3Encryption"


def result_id(number: int, *, seed: int = 0) -> str:
    """A UUID that differs for every (seed, number): histories of different seeds never share an id."""
    return str(
        uuid.UUID(bytes=hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=16).digest(), version=4)
    )


def hook_result(
    number: int,
    *,
    seed: int = 0,
    invoked_at_ms: int | None,
    status: str = SUCCEEDED,
    reason: str | None = "Template passed all Guard rules",
) -> HookResult:
    return HookResult(
        hook_result_id=result_id(number, seed=seed),
        invocation_point="PRE_PROVISION",
        failure_mode="FAIL",
        type_name="MyOrg::Guard::S3Encryption",
        type_version_id="00000001",
        type_configuration_version_id="00000002",
        status=status,
        hook_status_reason=None if status == IN_PROGRESS else reason,
        invoked_at_ms=invoked_at_ms,
        target_type="STACK",
        target_id=_STACK,
        type_arn=_HOOK,
        hook_execution_target=_STACK,
    )


class History:
    """Numbered results from one seed: the same seed always gives the same results."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.number = 0

    def terminal_status(self, *, failed_share: float = 0.2) -> str:
        draw = self.rng.random()
        if draw < failed_share * 0.8:
            return COMPLETE_FAILED
        if draw < failed_share:
            return HOOK_FAILED
        return UNKNOWN_STATUS if draw > 0.98 else SUCCEEDED

    def one(
        self, invoked_at_ms: int | None, *, status: str | None = None, failed_share: float = 0.2
    ) -> HookResult:
        """The next result; invoked_at_ms None: the API leaves InvokedAt out (odd data the archiver keeps)."""
        self.number += 1
        chosen = status or self.terminal_status(failed_share=failed_share)
        reason = "Guard rule S3_ENCRYPTED failed" if chosen in {COMPLETE_FAILED, HOOK_FAILED} else None
        return hook_result(
            self.number, seed=self.seed, invoked_at_ms=invoked_at_ms, status=chosen, reason=reason or "ok"
        )

    def between(
        self,
        start_ms: int,
        end_ms: int,
        *,
        count: int,
        failed_share: float = 0.2,
        in_progress_share: float = 0.0,
    ) -> list[HookResult]:
        """`count` results invoked in [start_ms, end_ms), oldest first."""
        moments = sorted(self.rng.randrange(start_ms, end_ms) for _ in range(count))
        return [
            self.one(
                moment,
                status=IN_PROGRESS if self.rng.random() < in_progress_share else None,
                failed_share=failed_share,
            )
            for moment in moments
        ]

    def days(self, *, end_ms: int, days: int, per_day: int, failed_share: float = 0.2) -> list[HookResult]:
        """`days * per_day` terminal results over the `days` before end_ms."""
        return self.between(end_ms - days * DAY_MS, end_ms, count=days * per_day, failed_share=failed_share)
