"""The few fields of the archiver's checkpoint (hook_archive/models/checkpoint.py) this check reads.

Its own model, not an import: the check is a separate deployable and must not ship the archiver's code.
Unknown fields are ignored, so a newer archiver's checkpoint still reads; the fields read here are checked
against the archiver's model by tests/unit/test_fleet_health_checkpoint_view.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CHECKPOINT_FORMAT = "cfn-hook-archive/checkpoint"


class LeaseView(BaseModel):
    """The checkpoint's write intent: the run that holds the lease, and until when."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    lease_expires_ms: int


class ScanView(BaseModel):
    """A scan cut short by a run's time budget, which the next run resumes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    next_token: str
    results_seen: int = Field(ge=0)


class AuditView(BaseModel):
    """The daily self-audit: when one last completed, and what it archived (results the scans missed)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    last_completed_ms: int | None = None
    last_repaired: int | None = Field(default=None, ge=0)  # absent in checkpoints of older archivers


class CheckpointView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal["cfn-hook-archive/checkpoint"]
    version: int = Field(ge=1)
    account_id: str
    region: str
    sequence: int = Field(default=0, ge=0)
    updated_at_ms: int | None = None
    outbox: list[dict[str, object]] = Field(default_factory=list)
    scan: ScanView | None = None
    intent: LeaseView | None = None
    audit: AuditView | None = None  # absent before the archiver audited


class MalformedCheckpointError(ValueError):
    """The object is not a checkpoint this check can read."""


def parse_checkpoint(body: bytes) -> CheckpointView:
    try:
        return CheckpointView.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "<document>"
        raise MalformedCheckpointError(
            f"{location}: {first['msg']} ({error.error_count()} problem(s))"
        ) from None
