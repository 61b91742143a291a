"""In-memory fakes of the ports `run_archive` takes (logic/archive_run.py), for the functional tier.

Each fake behaves like its adapter in hook_archive/dal/, including what the adapter refuses and the domain
error it raises; tests/functional/test_fakes_match_adapters.py runs the same cases against both.

- `FakeBucket`: S3 objects with ETags (quoted MD5, as S3 gives for a single PUT), conditional PUTs
  (If-Match, If-None-Match: *) that fail with PreconditionFailed, and NoSuchKey for an If-Match on a missing
  key. The checkpoint store and the archive store keep their objects in it.
- `FakeCheckpointStore` (S3CheckpointStore): a missing checkpoint is (None, None); a stale ETag or an
  existing object under If-None-Match is CheckpointConflictError; the known ids live in a content-addressed
  object the JSON names, checked by SHA-256 (a missing or altered one is CheckpointCorruptError).
- `FakeSpool` / `FakeArchiveStore` (ParquetSpool / S3ArchiveWriter): one object per key; a new key only if it
  does not exist yet, a dead run's object only if it still has the ETag read (else ArchiveConflictError).
  Rows are stored as JSON, not Parquet: the Parquet shape has its own tests (tests/unit/test_archive_shapes).
- `FakeHookResultsApi` / `FakeHookResultsReader` (ListHookResults / HookResultsReader): pages from a snapshot
  taken at the first call, showing current state; opaque tokens, unknown or expired ones refused
  (ValidationError); 90-day retention; the reader's guards against a repeated token and too many pages.
- `FakeEventBus` / `FakeEventPublisher` (PutEvents / EventBridgePublisher): at most 10 entries a call,
  per-entry failures, only retryable codes re-sent, what still fails handed back.

A `Probe` watches one run: it counts the run's steps, moves the clock as calls take time, kills the run at
its deadline as Lambda would, and raises `SimulatedCrash` before a chosen step. Steps are counted at one
of two levels: "adapter" (each adapter call and each page fetch, as tests/faults' StepCounter counts them)
or "wire" (each remote call: every S3 request, every PutEvents attempt, every ListHookResults page).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

from hook_archive.dal.aws_errors import S3_CONFLICT_CODES, S3_NOT_FOUND_CODES
from hook_archive.dal.event_publisher import (
    KEPT_FOR_NEXT_RUN_ENTRY_CODES,
    MAX_ENTRIES_PER_CALL,
    RETRYABLE_ENTRY_CODES,
    FailedEntry,
    PublishOutcome,
)
from hook_archive.errors import (
    ArchiveConflictError,
    ArchiveWriteError,
    CheckpointConflictError,
    CheckpointCorruptError,
    CheckpointError,
    HookResultsError,
    MalformedKnownIdsError,
    PaginationError,
)
from hook_archive.logic.archive_run import ArchiverDependencies, RunSettings, run_archive
from hook_archive.logic.failure_events import MAX_ENTRY_BYTES, EventEnvelope
from hook_archive.logic.partitioning import checkpoint_key, known_ids_prefix
from hook_archive.models.checkpoint import Checkpoint, KnownIdsObject
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import (
    API_FIELDS,
    IN_PROGRESS,
    HookResult,
    from_epoch_ms,
)
from hook_archive.models.known_ids import MAGIC, RECORD_BYTES, KnownIds, KnownIdsUpdate
from hook_archive.models.run_report import RunReport
from tests.simulated_crash import SimulatedCrash

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
BUCKET = "archive-bucket-123456789012"
ARCHIVE_PREFIX = "hook-results"
EVENT_SOURCE = "cfn-hook-archive"
RUN_TIMEOUT_MS = 300_000  # the function's Timeout in template.yaml
RETENTION_MS = 90 * 86_400_000

StepLevel = Literal["adapter", "wire"]


class FakeClock:
    """Epoch milliseconds, moved by hand (advance) or by the calls of a run (Probe.tick_ms)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass
class Probe:
    """One run's steps. Before step number `crash_at` (counted at `level`) the run dies; `on_step` sees
    every counted step first (to change the world mid-run); wire calls move the clock by `tick_ms`;
    once the clock reaches `kill_at_ms` the run dies, as Lambda ends an invocation at its timeout."""

    crash_at: int | None = None
    level: StepLevel = "adapter"
    tick_ms: int = 0
    slow_calls: str = ""  # only wire calls whose label starts with this take tick_ms ("": all of them)
    on_step: Callable[[int, str], None] | None = None
    steps: list[str] = field(default_factory=list)  # the counted ones
    trace: list[str] = field(default_factory=list)  # every step of both levels, in order
    lambda_timeout: bool = True  # False: a host that lets the run go on past its deadline
    clock: FakeClock | None = None
    kill_at_ms: int | None = None

    def step(self, label: str, level: StepLevel) -> None:
        self.trace.append(label)
        if self.clock is not None and level == "wire" and label.startswith(self.slow_calls):
            self.clock.advance(self.tick_ms)
        if self.clock is not None and self.kill_at_ms is not None and self.clock() >= self.kill_at_ms:
            raise SimulatedCrash(f"Lambda timeout before {label}")
        if level != self.level:
            return
        self.steps.append(label)
        if self.on_step is not None:
            self.on_step(len(self.steps), label)
        if self.crash_at is not None and len(self.steps) == self.crash_at:
            raise SimulatedCrash(f"crash before step {self.crash_at}: {label}")


# -- S3 --------------------------------------------------------------------------------------------


class S3Error(Exception):
    """What botocore's ClientError carries for S3: an error code."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    operation: str
    code: str
    prefix: str
    after_calls: int
    times: int | None

    def take(self, operation: str, key: str) -> bool:
        if operation != self.operation or not key.startswith(self.prefix):
            return False
        if self.after_calls > 0:
            self.after_calls -= 1
            return False
        if self.times is not None:
            if self.times == 0:
                return False
            self.times -= 1
        return True


def s3_etag(body: bytes) -> str:
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


class FakeBucket:
    """One S3 bucket. Conditional PUTs behave as S3's: If-None-Match: * fails on an existing key and
    If-Match on another ETag (PreconditionFailed), If-Match on a missing key fails with NoSuchKey."""

    def __init__(self, name: str = BUCKET) -> None:
        self.name = name
        self.objects: dict[str, StoredObject] = {}
        self.requests: list[tuple[str, str]] = []  # (operation, key)
        self._faults: list[_Fault] = []

    def inject(
        self, operation: str, code: str, *, prefix: str = "", after_calls: int = 0, times: int | None = 1
    ) -> None:
        """Fail matching requests (GetObject, PutObject, DeleteObject) with `code`."""
        self._faults.append(_Fault(operation, code, prefix, after_calls, times))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _request(self, operation: str, key: str) -> None:
        self.requests.append((operation, key))
        for fault in self._faults:
            if fault.take(operation, key):
                raise S3Error(fault.code, f"injected on {operation} {key}")

    def get(self, key: str) -> StoredObject:
        self._request("GetObject", key)
        stored = self.objects.get(key)
        if stored is None:
            raise S3Error("NoSuchKey", key)
        return stored

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        self._request("PutObject", key)
        current = self.objects.get(key)
        if if_none_match and current is not None:
            raise S3Error("PreconditionFailed", f"{key} exists (If-None-Match: *)")
        if if_match is not None:
            if current is None:
                raise S3Error("NoSuchKey", f"{key} does not exist (If-Match)")
            if current.etag != if_match:
                raise S3Error("PreconditionFailed", f"{key} has ETag {current.etag}, not {if_match}")
        stored = StoredObject(body, s3_etag(body), dict(metadata or {}))
        self.objects[key] = stored
        return stored.etag

    def delete(self, key: str) -> None:
        self._request("DeleteObject", key)
        self.objects.pop(key, None)  # S3 answers 204 for a missing key too

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))


def _object_kind(key: str) -> str:
    if key.endswith("checkpoint.json"):
        return "checkpoint"
    return "known-ids" if "/known-ids/" in key else "archive"


class FakeCheckpointStore:
    """S3CheckpointStore in memory: the same objects, conditions and errors."""

    def __init__(self, bucket: FakeBucket, *, key: str, known_ids_prefix: str, probe: Probe) -> None:
        self._bucket = bucket
        self.key = key
        self.known_ids_prefix = known_ids_prefix
        self._probe = probe
        self._stored: tuple[KnownIds | KnownIdsUpdate, KnownIdsObject | None] = (KnownIds(), None)

    @property
    def location(self) -> str:
        return f"s3://{self._bucket.name}/{self.key}"

    def _wire(self, operation: str, key: str) -> None:
        self._probe.step(f"s3.{operation} {_object_kind(key)}", "wire")

    def load(self) -> tuple[Checkpoint | None, str | None]:
        self._probe.step("checkpoints.load", "adapter")
        self._wire("GetObject", self.key)
        try:
            stored = self._bucket.get(self.key)
        except S3Error as error:
            if error.code in S3_NOT_FOUND_CODES:
                return None, None
            raise CheckpointError(f"reading checkpoint {self.location} failed: {error.code}") from error
        checkpoint = Checkpoint.from_json_bytes(stored.body, where=self.location)
        reference = checkpoint.known_ids_object
        if reference is not None:
            checkpoint = checkpoint.model_copy(update={"known_ids": self._read_known_ids(reference)})
        self._stored = (checkpoint.known_ids, reference)
        return checkpoint, stored.etag

    def _read_known_ids(self, reference: KnownIdsObject) -> KnownIds:
        where = f"s3://{self._bucket.name}/{reference.key}"
        self._wire("GetObject", reference.key)
        try:
            data = self._bucket.get(reference.key).body
        except S3Error as error:
            if error.code in S3_NOT_FOUND_CODES:
                raise CheckpointCorruptError(
                    f"checkpoint {self.location} names known ids {where}, which does not exist"
                ) from error
            raise CheckpointError(f"reading known ids {where} failed: {error.code}") from error
        try:
            known = KnownIds.from_bytes(data)
        except MalformedKnownIdsError as error:
            raise CheckpointCorruptError(
                f"known ids {where} of checkpoint {self.location}: {error}"
            ) from error
        if len(known) != reference.count or hashlib.sha256(data).hexdigest() != reference.sha256:
            raise CheckpointCorruptError(f"known ids {where} do not match checkpoint {self.location}")
        return known

    def _write_known_ids(self, known: KnownIds | KnownIdsUpdate) -> KnownIdsObject | None:
        stored, reference = self._stored
        if known is stored or known == stored:
            return reference
        data = MAGIC + b"".join(known.records())
        count = (len(data) - len(MAGIC)) // RECORD_BYTES
        if count == 0:
            return None
        sha256 = hashlib.sha256(data).hexdigest()
        new = KnownIdsObject(key=f"{self.known_ids_prefix}{sha256}.bin", count=count, sha256=sha256)
        self._wire("PutObject", new.key)
        try:
            self._bucket.put(new.key, data)
        except S3Error as error:
            raise CheckpointError(f"writing known ids {new.key} failed: {error.code}") from error
        return new

    def save(self, checkpoint: Checkpoint, *, etag: str | None) -> str:
        self._probe.step("checkpoints.save", "adapter")
        old = self._stored[1]
        reference = self._write_known_ids(checkpoint.known_ids)
        body = checkpoint.model_copy(update={"known_ids_object": reference}).to_json_bytes()
        self._wire("PutObject", self.key)
        try:
            new_etag = self._bucket.put(self.key, body, if_match=etag or None, if_none_match=not etag)
        except S3Error as error:
            if error.code in S3_CONFLICT_CODES:
                raise CheckpointConflictError(
                    f"checkpoint {self.location} was changed by another run ({error.code})"
                ) from error
            raise CheckpointError(f"writing checkpoint {self.location} failed: {error.code}") from error
        self._stored = (checkpoint.known_ids, reference)
        if old is not None and (reference is None or reference.key != old.key):
            self._wire("DeleteObject", old.key)
            with contextlib.suppress(
                S3Error
            ):  # best effort, as in the adapter: a leftover costs storage only
                self._bucket.delete(old.key)
        return new_etag


# -- the archive -----------------------------------------------------------------------------------


def encode_rows(results: Iterable[HookResult], *, account_id: str, region: str, archived_at_ms: int) -> bytes:
    """The archive object's body: JSON rows in the archive's columns (Parquet stands aside here)."""
    rows = [
        {**result.to_document(), "account_id": account_id, "region": region, "archived_at_ms": archived_at_ms}
        for result in results
    ]
    return json.dumps({"format": "fake-archive/1", "rows": rows}, sort_keys=True).encode()


def decode_rows(body: bytes) -> list[dict[str, Any]]:
    document = json.loads(body)
    if not isinstance(document, dict) or document.get("format") != "fake-archive/1":
        raise ValueError("not a fake archive object")
    rows: list[dict[str, Any]] = document["rows"]
    return rows


@dataclass(frozen=True)
class FakeSpooledObject:
    key: str
    rows: int
    body: bytes


Row = TypeVar("Row")


class MemorySpool(Generic[Row]):
    """A spool in memory (ParquetSpool, the annotation spool): rows per key; finish() gives one object per
    key, sorted by key, its body what `encode` makes of the key's rows."""

    def __init__(self, encode: Callable[[list[Row]], bytes]) -> None:
        self._encode = encode
        self._rows: dict[str, list[Row]] = {}
        self._closed = False

    def add(self, key: str, result: Row) -> None:
        if self._closed:
            raise RuntimeError("the spool is finished or discarded")
        self._rows.setdefault(key, []).append(result)

    @property
    def keys(self) -> list[str]:
        return sorted(self._rows)

    def finish(self) -> list[FakeSpooledObject]:
        if self._closed:
            raise RuntimeError("the spool is finished or discarded")
        self._closed = True
        return [
            FakeSpooledObject(key, len(rows), self._encode(rows)) for key, rows in sorted(self._rows.items())
        ]

    def discard(self) -> None:
        self._closed = True


class FakeSpool(MemorySpool[HookResult]):
    """ParquetSpool in memory: the results' rows encoded as the fake archive's objects (encode_rows)."""

    def __init__(self, *, account_id: str, region: str, archived_at_ms: int) -> None:
        super().__init__(
            lambda results: encode_rows(
                results, account_id=account_id, region=region, archived_at_ms=archived_at_ms
            )
        )


class FakeArchiveStore:
    """S3ArchiveWriter in memory: conditional writes, adoption by ETag, quiet deletes."""

    def __init__(self, bucket: FakeBucket, *, probe: Probe) -> None:
        self._bucket = bucket
        self._probe = probe

    def upload(self, spooled: FakeSpooledObject, *, replacing_etag: str | None = None) -> int:
        self._probe.step("archive.upload", "adapter")
        self._probe.step("s3.PutObject archive", "wire")
        where = f"s3://{self._bucket.name}/{spooled.key}"
        try:
            self._bucket.put(
                spooled.key,
                spooled.body,
                if_match=replacing_etag or None,
                if_none_match=not replacing_etag,
                metadata={"rows": str(spooled.rows)},
            )
        except S3Error as error:
            if error.code in S3_CONFLICT_CODES or (error.code == "NoSuchKey" and replacing_etag):
                raise ArchiveConflictError(f"{where} changed under this run ({error.code})") from error
            raise ArchiveWriteError(f"writing {where} failed: {error.code}") from error
        return len(spooled.body)

    def read_results(self, key: str) -> tuple[list[HookResult], str | None]:
        self._probe.step("archive.read_results", "adapter")
        self._probe.step("s3.GetObject archive", "wire")
        try:
            stored = self._bucket.get(key)
        except S3Error as error:
            if error.code in S3_NOT_FOUND_CODES:
                return [], None
            raise ArchiveWriteError(f"reading s3://{self._bucket.name}/{key} failed: {error.code}") from error
        return [HookResult.from_document(row) for row in decode_rows(stored.body)], stored.etag

    def delete(self, keys: list[str]) -> None:
        self._probe.step("archive.delete", "adapter")
        for start in range(0, len(keys), 1000):
            self._probe.step("s3.DeleteObjects archive", "wire")
            for key in keys[start : start + 1000]:
                try:
                    self._bucket.delete(key)
                except S3Error as error:
                    raise ArchiveWriteError(
                        f"deleting orphaned archive object {key} failed: {error.code}"
                    ) from error


# -- CloudFormation ListHookResults / GetHookResult ------------------------------------------------


class ApiError(Exception):
    """What botocore's ClientError carries for the API (after botocore's own retries): an error code."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


@dataclass(frozen=True)
class StoredHookResult:
    result: HookResult
    visible_from_ms: int | None = None  # not listed before then ("appears late")
    annotations: tuple[Mapping[str, str], ...] = ()


@dataclass
class _Token:
    snapshot: tuple[str, ...]
    offset: int
    issued_at_ms: int


@dataclass
class _ApiFault:
    operation: str
    kind: str  # an error code, or "repeat_token"
    after_calls: int
    times: int | None


ListingOrder = Literal["newest_first", "oldest_first", "shuffled"]


def api_summary(result: HookResult) -> dict[str, Any]:
    """The HookResultSummary as boto3 hands it over: API member names, InvokedAt a datetime, and absent
    members left out."""
    summary: dict[str, Any] = {}
    for member, name in API_FIELDS:
        value = getattr(result, name)
        if value is None:
            continue
        summary[member] = from_epoch_ms(value) if member == "InvokedAt" else value
    return summary


class FakeHookResultsApi:
    """The service behind ListHookResults and GetHookResult, as the emulator models it: a scan lists the
    ids visible at its first call, in `order`; later pages show those results' current state, without the
    ones aged out since. Tokens are opaque, belong to one scan, and are refused when unknown or expired."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        page_size: int = 25,
        order: ListingOrder = "newest_first",
        seed: int = 0,
        token_ttl_ms: int | None = 3_600_000,
    ) -> None:
        self.clock = clock
        self.page_size = page_size
        self.order: ListingOrder = order
        self.token_ttl_ms = token_ttl_ms
        self._rng = random.Random(seed)
        self._stored: dict[str, StoredHookResult] = {}
        self._tokens: dict[str, _Token] = {}
        self._faults: list[_ApiFault] = []
        self.calls: dict[str, int] = {"ListHookResults": 0, "GetHookResult": 0}

    # -- the world's side
    def add(
        self,
        *results: HookResult,
        visible_from_ms: int | None = None,
        annotations: Sequence[Mapping[str, str]] = (),
    ) -> None:
        for result in results:
            self._stored[result.hook_result_id] = StoredHookResult(
                result, visible_from_ms, tuple(annotations)
            )

    def set_status(self, hook_result_id: str, status: str, reason: str | None = None) -> None:
        stored = self._stored[hook_result_id]
        result = replace(stored.result, status=status, hook_status_reason=reason)
        self._stored[hook_result_id] = replace(stored, result=result)

    def results(self) -> list[HookResult]:
        """Every result, in its current state, including those not (or no longer) listed."""
        return [stored.result for stored in self._stored.values()]

    def stored_results(self) -> list[StoredHookResult]:
        return list(self._stored.values())

    def stored(self, hook_result_id: str) -> StoredHookResult:
        return self._stored[hook_result_id]

    def visible(self, stored: StoredHookResult) -> bool:
        now = self.clock()
        invoked = stored.result.invoked_at_ms
        return (stored.visible_from_ms is None or stored.visible_from_ms <= now) and (
            invoked is None or invoked >= now - RETENTION_MS
        )

    def inject(self, operation: str, kind: str, *, after_calls: int = 0, times: int | None = 1) -> None:
        """Fail ListHookResults or GetHookResult with error code `kind` (as it stands after botocore's
        retries), or make ListHookResults hand back the token presented ("repeat_token")."""
        self._faults.append(_ApiFault(operation, kind, after_calls, times))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _fault(self, operation: str) -> str | None:
        self.calls[operation] += 1
        for fault in self._faults:
            if fault.operation != operation:
                continue
            if fault.after_calls > 0:
                fault.after_calls -= 1
                continue
            if fault.times is not None:
                if fault.times == 0:
                    continue
                fault.times -= 1
            return fault.kind
        return None

    # -- the API
    def list_hook_results(self, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        kind = self._fault("ListHookResults")
        if kind is not None and kind != "repeat_token":
            raise ApiError(kind, "injected")
        now = self.clock()
        if next_token is None:
            scan = _Token(self._ordered_visible_ids(), 0, now)
        else:
            found = self._tokens.get(next_token)
            if found is None:
                raise ApiError("ValidationError", "Invalid NextToken: the token is not recognised")
            if self.token_ttl_ms is not None and now - found.issued_at_ms > self.token_ttl_ms:
                del self._tokens[next_token]
                raise ApiError("ValidationError", "Invalid NextToken: the pagination token has expired")
            scan = found
        end = scan.offset + self.page_size
        page = [
            api_summary(stored.result)
            for stored in (self._stored.get(i) for i in scan.snapshot[scan.offset : end])
            if stored is not None and self.visible(stored)
        ]
        token: str | None = None
        if kind == "repeat_token" and next_token is not None:
            token = next_token
        elif end < len(scan.snapshot):
            token = f"{self._rng.getrandbits(128):032x}"
            self._tokens[token] = _Token(scan.snapshot, end, now)
        return page, token

    def _ordered_visible_ids(self) -> tuple[str, ...]:
        stored = sorted(
            (item for item in self._stored.values() if self.visible(item)),
            key=lambda item: item.result.hook_result_id,
        )
        if self.order == "shuffled":
            self._rng.shuffle(stored)
        else:
            now = self.clock()
            stored.sort(
                key=lambda item: item.result.invoked_at_ms if item.result.invoked_at_ms is not None else now,
                reverse=self.order == "newest_first",
            )
        return tuple(item.result.hook_result_id for item in stored)

    def get_hook_result(self, hook_result_id: str) -> dict[str, Any]:
        kind = self._fault("GetHookResult")
        if kind is not None:
            raise ApiError(kind, "injected")
        stored = self._stored.get(hook_result_id)
        if stored is None or not self.visible(stored):
            raise ApiError("HookResultNotFound", f"Hook result {hook_result_id} not found")
        result = stored.result
        response = api_summary(result)
        response["Target"] = {
            "TargetType": result.target_type or "STACK",
            "TargetTypeName": "AWS::CloudFormation::Stack",
            "TargetId": result.target_id or "",
            "Action": "CREATE",
        }
        response["Annotations"] = [dict(annotation) for annotation in stored.annotations]
        return response


class FakeHookResultsReader:
    """HookResultsReader over the fake API: the same paging loop, guards and errors."""

    def __init__(self, api: FakeHookResultsApi, *, probe: Probe, max_pages: int = 200_000) -> None:
        self._api = api
        self._probe = probe
        self._max_pages = max_pages

    def pages(
        self, start_token: str | None = None
    ) -> Generator[tuple[list[Mapping[str, Any]], str | None], None, None]:
        token = start_token
        used_tokens: set[str] = set()
        page = 0
        while True:
            page += 1
            self._probe.step("hook_results.pages", "adapter")
            self._probe.step("cloudformation.ListHookResults", "wire")
            try:
                results, token = self._api.list_hook_results(token)
            except ApiError as error:
                raise HookResultsError(
                    f"ListHookResults failed on page {page} after retries: {error}", error_code=error.code
                ) from error
            yield list(results), token
            if token is None:
                return
            if token in used_tokens:
                raise PaginationError(
                    f"ListHookResults returned a NextToken it had already returned (page {page})"
                )
            used_tokens.add(token)
            if page >= self._max_pages:
                raise PaginationError(
                    f"ListHookResults still paging after MAX_PAGES_PER_RUN={self._max_pages}"
                )

    def get_hook_result(self, hook_result_id: str) -> Mapping[str, Any]:
        self._probe.step("hook_results.get_hook_result", "adapter")
        self._probe.step("cloudformation.GetHookResult", "wire")
        try:
            return self._api.get_hook_result(hook_result_id)
        except ApiError as error:
            raise HookResultsError(
                f"GetHookResult {hook_result_id} failed: {error.code}", error_code=error.code
            ) from error


# -- EventBridge -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveredEvent:
    source: str
    detail_type: str
    detail: Mapping[str, Any]
    resources: tuple[str, ...]


class FakeEventBus:
    """PutEvents on one bus. Refuses more than 10 entries or an entry over 256 KB (ValidationException);
    per-entry error codes queued with fail_entries() are answered one per entry attempt, in order."""

    def __init__(self) -> None:
        self.delivered: list[DeliveredEvent] = []
        self.calls = 0
        self._entry_codes: deque[str] = deque()
        self._call_error: tuple[str, int | None] | None = None

    def fail_entries(self, codes: Iterable[str]) -> None:
        """The next entries sent get these ErrorCodes ("" = accepted)."""
        self._entry_codes.extend(codes)

    def fail_calls(self, code: str, *, times: int | None = None) -> None:
        """Whole PutEvents calls fail with `code` (e.g. a bus that does not exist)."""
        self._call_error = (code, times)

    def clear_faults(self) -> None:
        self._entry_codes.clear()
        self._call_error = None

    def put_events(self, entries: Sequence[EventEnvelope]) -> list[str]:
        """One ErrorCode per entry, "" for those accepted."""
        self.calls += 1
        if self._call_error is not None:
            code, times = self._call_error
            if times is None or times > 0:
                self._call_error = (code, None if times is None else times - 1)
                raise ApiError(code, "injected")
        if not 1 <= len(entries) <= MAX_ENTRIES_PER_CALL:
            raise ApiError("ValidationException", f"{len(entries)} entries: PutEvents takes 1 to 10")
        if any(entry.entry_bytes() > MAX_ENTRY_BYTES for entry in entries):
            raise ApiError("ValidationException", "an entry is larger than 256 KB")
        codes = []
        for entry in entries:
            code = self._entry_codes.popleft() if self._entry_codes else ""
            if not code:
                self.delivered.append(
                    DeliveredEvent(entry.source, entry.detail_type, json.loads(entry.detail), entry.resources)
                )
            codes.append(code)
        return codes


class FakeEventPublisher:
    """EventBridgePublisher over the fake bus: chunks of 10, failed retryable entries re-sent up to
    `entry_attempts` times, authorization codes kept for the next run, the rest handed back."""

    def __init__(self, bus: FakeEventBus, *, probe: Probe, entry_attempts: int = 4) -> None:
        self._bus = bus
        self._probe = probe
        self._entry_attempts = entry_attempts

    def publish(self, envelopes: Sequence[EventEnvelope]) -> PublishOutcome:
        self._probe.step("events.publish", "adapter")
        outcome = PublishOutcome()
        for start in range(0, len(envelopes), MAX_ENTRIES_PER_CALL):
            self._send_with_retries(list(envelopes[start : start + MAX_ENTRIES_PER_CALL]), outcome)
        return outcome

    def _send_with_retries(self, chunk: list[EventEnvelope], outcome: PublishOutcome) -> None:
        for attempt in range(1, self._entry_attempts + 1):
            outcome.calls += 1
            self._probe.step("events.PutEvents", "wire")
            try:
                codes = self._bus.put_events(chunk)
            except ApiError as error:
                outcome.failed.extend(
                    FailedEntry(envelope, error.code, str(error), True) for envelope in chunk
                )
                return
            retry = []
            for envelope, code in zip(chunk, codes, strict=True):
                if not code:
                    outcome.published += 1
                elif code in RETRYABLE_ENTRY_CODES:
                    retry.append(envelope)
                else:
                    outcome.failed.append(
                        FailedEntry(envelope, code, "injected", code in KEPT_FOR_NEXT_RUN_ENTRY_CODES)
                    )
            if not retry:
                return
            if attempt == self._entry_attempts:
                last = dict(zip(map(id, chunk), codes, strict=True))
                outcome.failed.extend(
                    FailedEntry(envelope, last[id(envelope)], "injected", True) for envelope in retry
                )
                return
            chunk = retry


# -- the world -------------------------------------------------------------------------------------


def default_settings(**changes: Any) -> RunSettings:
    """RunSettings as the handler derives them from the template's defaults."""
    settings = RunSettings(
        bucket=BUCKET,
        archive_prefix=ARCHIVE_PREFIX,
        account_id=ACCOUNT_ID,
        region=REGION,
        event_source=EVENT_SOURCE,
        late_window_ms=900_000,
        in_progress_timeout_ms=7_200_000,
        safety_margin_ms=60_000,
        enrich_failures=True,
        max_enrichments=500,
        max_outbox=20_000,
        max_events=10_000,
        max_annotations_due=ArchiverConfig.model_fields["max_annotations_due"].default,
        max_enrichment_attempts=ArchiverConfig.model_fields["annotation_fetch_attempts"].default,
    )
    return replace(settings, **changes)


class FakeWorld:
    """One account's archiver and everything it talks to, in memory, on one clock."""

    def __init__(
        self,
        *,
        now_ms: int,
        page_size: int = 25,
        order: ListingOrder = "newest_first",
        seed: int = 0,
        settings: RunSettings | None = None,
    ) -> None:
        self.clock = FakeClock(now_ms)
        self.api = FakeHookResultsApi(self.clock, page_size=page_size, order=order, seed=seed)
        self.bucket = FakeBucket()
        self.bus = FakeEventBus()
        self.settings = settings or default_settings()
        self.runs = 0
        self.reports: list[RunReport | BaseException] = []

    @property
    def checkpoint_key(self) -> str:
        return checkpoint_key(
            self.settings.archive_prefix, account_id=self.settings.account_id, region=self.settings.region
        )

    def checkpoint_store(self, probe: Probe | None = None) -> FakeCheckpointStore:
        return FakeCheckpointStore(
            self.bucket,
            key=self.checkpoint_key,
            known_ids_prefix=known_ids_prefix(
                self.settings.archive_prefix, account_id=self.settings.account_id, region=self.settings.region
            ),
            probe=probe or Probe(),
        )

    def dependencies(self, probe: Probe | None = None) -> ArchiverDependencies:
        """Fresh adapters for one invocation (the store's memory of its last write is per invocation)."""
        probe = probe or Probe()
        probe.clock = self.clock

        def new_spool(archived_at_ms: int) -> FakeSpool:
            return FakeSpool(
                account_id=self.settings.account_id,
                region=self.settings.region,
                archived_at_ms=archived_at_ms,
            )

        return ArchiverDependencies(
            hook_results=FakeHookResultsReader(self.api, probe=probe),
            checkpoints=self.checkpoint_store(probe),
            archive=FakeArchiveStore(self.bucket, probe=probe),
            events=FakeEventPublisher(self.bus, probe=probe),
            new_spool=new_spool,
            clock_ms=self.clock,
        )

    def run(
        self, probe: Probe | None = None, *, timeout_ms: int = RUN_TIMEOUT_MS
    ) -> RunReport | BaseException:
        """One invocation; what it raised (a domain error, a simulated crash) is returned, not raised."""
        probe = probe or Probe()
        self.runs += 1
        deadline_ms = self.clock() + timeout_ms
        probe.kill_at_ms = deadline_ms if probe.lambda_timeout else None
        outcome: RunReport | BaseException
        try:
            outcome = run_archive(
                self.settings, self.dependencies(probe), run_id=f"run-{self.runs}", deadline_ms=deadline_ms
            )
        except (Exception, SimulatedCrash) as error:
            outcome = error
        self.reports.append(outcome)
        return outcome

    def settle(self, *, runs: int = 4) -> list[RunReport | BaseException]:
        """Faults off, every invocation finished, time moved past any lease, then clean runs."""
        self.api.clear_faults()
        self.bucket.clear_faults()
        self.bus.clear_faults()
        for result in self.api.results():
            if result.status == IN_PROGRESS:
                self.api.set_status(result.hook_result_id, "HOOK_COMPLETE_SUCCEEDED", "finished")
        outcomes = []
        for _ in range(runs):
            self.clock.advance(20 * 60_000)
            outcomes.append(self.run())
        return outcomes

    def load_checkpoint(self) -> Checkpoint | None:
        checkpoint, _etag = self.checkpoint_store().load()
        return checkpoint

    def archive_keys(self) -> list[str]:
        return self.bucket.keys(f"{self.settings.archive_prefix}/dt=")

    def archive_rows(self) -> list[dict[str, Any]]:
        """Every row of every archive object, with its key and its dt partition."""
        rows = []
        for key in self.archive_keys():
            partition = key.split("/dt=", 1)[1].split("/", 1)[0]
            for row in decode_rows(self.bucket.objects[key].body):
                rows.append({**row, "key": key, "dt": partition})
        return rows
