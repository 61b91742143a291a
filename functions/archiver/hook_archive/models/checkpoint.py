"""The checkpoint: the archiver's whole durable state, one small JSON object per account and region.

Meaning of the coverage fields (all UTC epoch milliseconds of InvokedAt):
- every result with invoked_at < settled_below_ms has been handled;
- every result with swept_down_to_ms < invoked_at < newest_seen_ms - late_arrival_window has been handled;
- anywhere else, a result has been handled exactly when its id is in known_ids (or it is pending).
So known_ids only needs the ids outside those settled ranges, which keeps the state bounded.

known_ids is not part of the JSON document: it can reach a million ids during a first backfill, so it is
stored as a compact binary object (models/known_ids.py) whose key and SHA-256 the JSON names in
known_ids_object. Only the checkpoint store reads and writes that object.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hook_archive.errors import CheckpointCorruptError
from hook_archive.models.known_ids import KnownIds, KnownIdsUpdate

Order = Literal["unknown", "newest_first", "unordered"]


class PendingInvocation(BaseModel):
    """A HOOK_IN_PROGRESS invocation waiting for a terminal status."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: dict[str, str | int | None]
    first_seen_ms: int


class OutboxEntry(BaseModel):
    """A failure event whose PutEvents kept failing with a retryable code: re-sent by the next run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hook_result_id: str
    detail: str
    resources: list[str] = Field(default_factory=list)
    attempts: int = Field(ge=0)  # 0: deferred for lack of time, never tried


class AnnotationDue(BaseModel):
    """A failure archived without its annotations (its run had spent its GetHookResult budget or time, or
    the call was throttled): a later run fetches them and writes its rows to hook_annotations. It carries
    what annotation_rows needs, and dt, the partition its row is in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hook_result_id: str
    type_name: str | None = None
    dt: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    invoked_at_ms: int | None = None  # oldest first: the API forgets a result 90 days after it
    attempts: int = Field(default=0, ge=0)  # GetHookResult calls that failed for a passing reason


class ScanProgress(BaseModel):
    """A scan cut short by the time budget: the next run resumes it from next_token instead of the top,
    so a backfill longer than one invocation still finishes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    next_token: str
    results_seen: int = Field(ge=0)
    out_of_order: bool
    last_ms: int | None = None
    max_ms: int | None = None


DIGEST_MODULUS = 2**64


class DayDigest(BaseModel):
    """The ids of one dt day as a count and a sum mod 2**64 of their 64-bit hashes (logic/audit.py's
    ``id_hash``): equal digests mean equal sets of ids but for a 2**-64 chance, and a digest grows by
    addition, so it is updated without reading the day back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(default=0, ge=0)
    sum: int = Field(default=0, ge=0, lt=DIGEST_MODULUS)

    def plus(self, other: DayDigest) -> DayDigest:
        return DayDigest(count=self.count + other.count, sum=(self.sum + other.sum) % DIGEST_MODULUS)


class IdDigests(BaseModel):
    """The archive side of the audit: per dt day, the digest of the distinct hook_result_ids (with
    InvokedAt) of this account-region's committed objects. A day is known when it is in ``days``, or on or
    after ``since`` (then absent means empty); any other day is unknown, and the audit reads it. Absent in
    checkpoints written before digests existed: every day archived until then is unknown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    since: date
    days: dict[date, DayDigest] = Field(default_factory=dict)

    def of(self, day: date) -> DayDigest | None:
        if day in self.days:
            return self.days[day]
        return DayDigest() if day >= self.since else None

    def updated(
        self, added: dict[date, DayDigest], *, resynced: dict[date, DayDigest], keep_from: date
    ) -> IdDigests:
        """These digests after a commit: resynced days replaced by what was read, the rows the commit
        archives added to every known day (an unknown day stays unknown), days before keep_from pruned."""
        days = {**self.days, **resynced}
        for day, digest in added.items():
            base = days.get(day, DayDigest() if day >= self.since else None)
            if base is not None:
                days[day] = base.plus(digest)
        return IdDigests(since=self.since, days={day: days[day] for day in sorted(days) if day >= keep_from})

    @classmethod
    def starting_after(cls, day: date) -> IdDigests:
        """For a checkpoint that had none: the days until ``day`` may hold rows never counted."""
        return cls(since=day + timedelta(days=1))


class AuditProgress(BaseModel):
    """The daily self-audit (logic/audit.py): when the next one is due, when one last reached the end of the
    listing, and where an audit cut short by the time budget resumes. Absent in checkpoints written before
    the audit existed: the first run that audits starts the clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    next_due_ms: int
    last_completed_ms: int | None = None
    started_ms: int | None = None  # when the audit in progress began (None: none in progress)
    next_token: str | None = None  # where it resumes (None: from the top)
    pages: int = Field(default=0, ge=0)  # read so far by the audit in progress
    repaired: int = Field(default=0, ge=0)  # archived so far by the audit in progress
    # What the audit that completed at last_completed_ms archived (None: before this was recorded); fleet
    # health reads it to count the account-regions whose audits repair anything.
    last_repaired: int | None = Field(default=None, ge=0)
    # Phase 1 pages the listing into per-day digests of what the archive should hold (no reads); phase 2
    # pages it again and reads only the days whose digests differed (logic/audit.py).
    phase: Literal["compare", "repair"] = "compare"
    listed: dict[date, DayDigest] = Field(default_factory=dict)  # phase 1's digests so far
    differing: list[date] = Field(default_factory=list)  # the days phase 2 reads

    @property
    def in_progress(self) -> bool:
        return self.started_ms is not None


class WriteIntent(BaseModel):
    """Written before any archive object: lets a later run clean up after a run that died mid-write."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    sequence: int
    object_keys: list[str]
    lease_expires_ms: int


class KnownIdsObject(BaseModel):
    """Where the known ids of this checkpoint are stored: a content-addressed object beside it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    count: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    format: Literal["cfn-hook-archive/checkpoint"] = "cfn-hook-archive/checkpoint"
    version: Literal[1, 2] = 2  # 1 kept known_ids inline as {id: position}; read, then written as 2
    account_id: str
    region: str
    sequence: int = Field(default=0, ge=0)
    newest_seen_ms: int | None = None
    settled_below_ms: int | None = None
    swept_down_to_ms: int | None = None
    order: Order = "unknown"
    # What the store loaded; after a run, the change its commit streams into a new object.
    known_ids: KnownIds | KnownIdsUpdate = Field(default_factory=KnownIds, exclude=True)
    known_ids_object: KnownIdsObject | None = None
    pending: dict[str, PendingInvocation] = Field(default_factory=dict)
    outbox: list[OutboxEntry] = Field(default_factory=list)
    # Failures whose annotations are still to be archived (absent before the catch-up list existed).
    annotations_due: list[AnnotationDue] = Field(default_factory=list)
    scan: ScanProgress | None = None
    audit: AuditProgress | None = None
    # The audit's digest of the archived ids per day (absent before digests existed: all days unknown).
    id_digests: IdDigests | None = None
    intent: WriteIntent | None = None
    updated_at_ms: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline_known_ids(cls, data: object) -> object:
        # Version 1 documents carried the ids inline as {id: position}; they are read, then written as 2.
        if isinstance(data, dict) and isinstance(data.get("known_ids"), dict):
            inline = data["known_ids"]
            if not all(isinstance(k, str) and type(v) is int for k, v in inline.items()):
                raise ValueError("known_ids must map result ids to integer positions")
            return {**data, "known_ids": KnownIds.from_mapping(inline), "version": 2}
        if isinstance(data, dict) and data.get("version") == 1:
            return {**data, "version": 2}
        return data

    @classmethod
    def initial(cls, *, account_id: str, region: str) -> Checkpoint:
        # Nothing archived yet: every day is known, and empty.
        return cls(account_id=account_id, region=region, id_digests=IdDigests(since=date(1970, 1, 1)))

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, body: bytes, *, where: str) -> Checkpoint:
        try:
            return cls.model_validate_json(body)
        except ValidationError as error:
            first = error.errors()[0]
            location = ".".join(str(part) for part in first["loc"]) or "<document>"
            raise CheckpointCorruptError(
                f"checkpoint {where} is not a valid checkpoint ({location}: {first['msg']}; "
                f"{error.error_count()} problem(s)). Refusing to reset it: a reset would re-archive or skip "
                "data. Inspect it, then restore a previous S3 version or delete it to start a full backfill."
            ) from None
