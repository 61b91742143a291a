"""The fakes against the real adapters: every case runs once on a fake and once on the adapter it stands
for, and both must answer alike, refusals included. The S3 adapters run on moto's in-process S3 (no
socket), the others on clients that translate the fake services into botocore's shapes and errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hook_archive.dal.archive_writer import ParquetSpool, S3ArchiveWriter
from hook_archive.dal.checkpoint_store import S3CheckpointStore
from hook_archive.dal.event_publisher import EventBridgePublisher
from hook_archive.dal.hook_results import HookResultsReader
from hook_archive.errors import (
    ArchiveConflictError,
    CheckpointConflictError,
    CheckpointCorruptError,
    CheckpointError,
    HookResultsError,
    PaginationError,
)
from hook_archive.logic.archive_run import ArchiveSpool, ArchiveStore, CheckpointStore, EventSink
from hook_archive.logic.failure_events import EventEnvelope
from hook_archive.models.checkpoint import Checkpoint, PendingInvocation
from hook_archive.models.failure_event import DETAIL_TYPE
from hook_archive.models.hook_result import HookResult
from hook_archive.models.known_ids import KnownIds
from tests.functional.fakes import (
    ACCOUNT_ID,
    BUCKET,
    REGION,
    ApiError,
    FakeArchiveStore,
    FakeBucket,
    FakeCheckpointStore,
    FakeEventBus,
    FakeEventPublisher,
    FakeHookResultsApi,
    FakeHookResultsReader,
    FakeSpool,
    Probe,
)
from tests.functional.history import BASE_MS, MINUTE_MS, History

CHECKPOINT_KEY = f"hook-results/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
KNOWN_IDS_PREFIX = f"hook-results/_state/{ACCOUNT_ID}/{REGION}/known-ids/"
ARCHIVE_KEY = f"hook-results/dt=2026-11-18/{ACCOUNT_ID}-{REGION}-000000000001.parquet"


# -- S3: the checkpoint store and the archive store ------------------------------------------------


class RawBucket(Protocol):
    """The bucket seen from outside the adapters, to set up and inspect a case."""

    def put(self, key: str, body: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def list_keys(self) -> list[str]: ...


@dataclass
class S3Side:
    checkpoints: Callable[[], CheckpointStore]  # a new store: one per invocation, as in the handler
    archive: ArchiveStore
    new_spool: Callable[[int], ArchiveSpool]
    bucket: RawBucket
    spools: list[ArchiveSpool] = field(default_factory=list)  # kept open: a spool's files go with it


class _FakeRaw:
    def __init__(self, bucket: FakeBucket) -> None:
        self._bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        self._bucket.put(key, body)

    def delete(self, key: str) -> None:
        self._bucket.delete(key)

    def list_keys(self) -> list[str]:
        return self._bucket.keys()


class _S3Raw:
    def __init__(self, client: Any) -> None:
        self._client = client

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=BUCKET, Key=key, Body=body)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=BUCKET, Key=key)

    def list_keys(self) -> list[str]:
        listed = self._client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return sorted(item["Key"] for item in listed)


@pytest.fixture(params=["fake", "s3_adapter"])
def s3(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Side]:
    if request.param == "fake":
        bucket = FakeBucket()
        probe = Probe()
        yield S3Side(
            checkpoints=lambda: FakeCheckpointStore(
                bucket, key=CHECKPOINT_KEY, known_ids_prefix=KNOWN_IDS_PREFIX, probe=probe
            ),
            archive=FakeArchiveStore(bucket, probe=probe),
            new_spool=lambda at: FakeSpool(account_id=ACCOUNT_ID, region=REGION, archived_at_ms=at),
            bucket=_FakeRaw(bucket),
        )
        return
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield S3Side(
            checkpoints=lambda: S3CheckpointStore(
                bucket=BUCKET, key=CHECKPOINT_KEY, known_ids_prefix=KNOWN_IDS_PREFIX, client=client
            ),
            archive=S3ArchiveWriter(bucket=BUCKET, client=client),
            new_spool=lambda at: ParquetSpool(
                account_id=ACCOUNT_ID,
                region=REGION,
                archived_at_ms=at,
                rows_per_row_group=100,
                directory=str(tmp_path),
            ),
            bucket=_S3Raw(client),
        )


def a_checkpoint(*ids: str) -> Checkpoint:
    pending = {
        "p": PendingInvocation(summary={"hook_result_id": "p", "invoked_at_ms": BASE_MS}, first_seen_ms=1)
    }
    return Checkpoint.initial(account_id=ACCOUNT_ID, region=REGION).model_copy(
        update={
            "sequence": 3,
            "known_ids": KnownIds.from_mapping({result_id: BASE_MS + n for n, result_id in enumerate(ids)}),
            "pending": pending,
        }
    )


def test_a_missing_checkpoint_loads_as_none(s3: S3Side) -> None:
    assert s3.checkpoints().load() == (None, None)


def test_a_saved_checkpoint_loads_back_with_its_known_ids_and_the_etag_the_save_returned(s3: S3Side) -> None:
    etag = s3.checkpoints().save(a_checkpoint("a", "b"), etag=None)
    loaded, loaded_etag = s3.checkpoints().load()
    assert loaded_etag == etag
    assert loaded is not None
    assert loaded.sequence == 3
    assert "a" in loaded.known_ids
    assert "b" in loaded.known_ids
    assert "c" not in loaded.known_ids
    assert set(loaded.pending) == {"p"}


def test_a_first_save_is_refused_when_a_checkpoint_already_exists(s3: S3Side) -> None:
    s3.checkpoints().save(a_checkpoint("a"), etag=None)
    with pytest.raises(CheckpointConflictError):
        s3.checkpoints().save(a_checkpoint("b"), etag=None)


def test_a_save_with_a_stale_etag_is_refused_as_a_conflict(s3: S3Side) -> None:
    first = s3.checkpoints().save(a_checkpoint("a"), etag=None)
    s3.checkpoints().save(a_checkpoint("a", "b"), etag=first)
    with pytest.raises(CheckpointConflictError):
        s3.checkpoints().save(a_checkpoint("a", "c"), etag=first)


def test_a_save_with_an_etag_after_the_checkpoint_was_deleted_fails_but_is_no_conflict(s3: S3Side) -> None:
    etag = s3.checkpoints().save(a_checkpoint("a"), etag=None)
    s3.bucket.delete(CHECKPOINT_KEY)
    with pytest.raises(CheckpointError) as raised:
        s3.checkpoints().save(a_checkpoint("a"), etag=etag)
    assert not isinstance(raised.value, CheckpointConflictError)


def test_a_replaced_known_ids_object_is_deleted_once_the_new_checkpoint_is_committed(s3: S3Side) -> None:
    store = s3.checkpoints()
    etag = store.save(a_checkpoint("a"), etag=None)
    (first,) = [key for key in s3.bucket.list_keys() if key.startswith(KNOWN_IDS_PREFIX)]
    store.save(a_checkpoint("a", "b"), etag=etag)
    (second,) = [key for key in s3.bucket.list_keys() if key.startswith(KNOWN_IDS_PREFIX)]
    assert second != first


def test_an_unparseable_checkpoint_is_corrupt_never_read_as_missing(s3: S3Side) -> None:
    s3.bucket.put(CHECKPOINT_KEY, b'{"format": "something else"}')
    with pytest.raises(CheckpointCorruptError):
        s3.checkpoints().load()


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_missing_or_altered_known_ids_object_makes_the_checkpoint_corrupt(s3: S3Side, damage: str) -> None:
    s3.checkpoints().save(a_checkpoint("a", "b"), etag=None)
    (key,) = [key for key in s3.bucket.list_keys() if key.startswith(KNOWN_IDS_PREFIX)]
    if damage == "missing":
        s3.bucket.delete(key)
    else:
        s3.bucket.put(key, KnownIds.from_mapping({"a": 1, "z": 2}).to_bytes())
    with pytest.raises(CheckpointCorruptError):
        s3.checkpoints().load()


def archive_rows() -> list[HookResult]:
    history = History(9)
    return [history.one(BASE_MS - n * MINUTE_MS) for n in range(3)] + [history.one(None)]


def spooled(s3: S3Side, results: Sequence[HookResult]) -> Any:
    spool = s3.new_spool(BASE_MS)
    s3.spools.append(spool)
    for result in results:
        spool.add(ARCHIVE_KEY, result)
    (only,) = spool.finish()
    return only


def test_an_archive_object_is_written_once_and_read_back_whole_with_its_etag(s3: S3Side) -> None:
    rows = archive_rows()
    assert s3.archive.upload(spooled(s3, rows)) > 0
    read, etag = s3.archive.read_results(ARCHIVE_KEY)
    assert read == rows
    assert etag is not None


def test_writing_a_key_that_already_exists_without_its_etag_is_refused(s3: S3Side) -> None:
    s3.archive.upload(spooled(s3, archive_rows()))
    with pytest.raises(ArchiveConflictError):
        s3.archive.upload(spooled(s3, archive_rows()[:1]))


def test_an_adopted_object_is_replaced_only_while_it_still_has_the_etag_read(s3: S3Side) -> None:
    s3.archive.upload(spooled(s3, archive_rows()))
    _rows, etag = s3.archive.read_results(ARCHIVE_KEY)
    assert etag is not None
    s3.archive.upload(spooled(s3, archive_rows()[:2]), replacing_etag=etag)
    with pytest.raises(ArchiveConflictError):
        s3.archive.upload(spooled(s3, archive_rows()[:1]), replacing_etag=etag)


def test_replacing_an_object_deleted_meanwhile_is_a_conflict(s3: S3Side) -> None:
    s3.archive.upload(spooled(s3, archive_rows()))
    _rows, etag = s3.archive.read_results(ARCHIVE_KEY)
    assert etag is not None
    s3.bucket.delete(ARCHIVE_KEY)
    with pytest.raises(ArchiveConflictError):
        s3.archive.upload(spooled(s3, archive_rows()), replacing_etag=etag)


def test_reading_a_missing_object_gives_no_rows_and_no_etag(s3: S3Side) -> None:
    assert s3.archive.read_results(ARCHIVE_KEY) == ([], None)


def test_deleting_leftovers_removes_them_and_ignores_keys_already_gone(s3: S3Side) -> None:
    s3.archive.upload(spooled(s3, archive_rows()))
    s3.archive.delete([ARCHIVE_KEY, ARCHIVE_KEY.replace("000000000001", "000000000002")])
    assert s3.bucket.list_keys() == []


# -- EventBridge -----------------------------------------------------------------------------------


class EventsClientOverBus:
    """An EventBridge client for the real publisher: PutEvents answered by a FakeEventBus."""

    def __init__(self, bus: FakeEventBus) -> None:
        self._bus = bus

    def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        envelopes = [
            EventEnvelope(entry["Source"], entry["DetailType"], entry["Detail"], tuple(entry["Resources"]))
            for entry in Entries
        ]
        try:
            codes = self._bus.put_events(envelopes)
        except ApiError as error:
            raise ClientError({"Error": {"Code": error.code, "Message": str(error)}}, "PutEvents") from error
        return {
            "FailedEntryCount": sum(1 for code in codes if code),
            "Entries": [
                {"ErrorCode": code, "ErrorMessage": "injected"} if code else {"EventId": f"event-{n}"}
                for n, code in enumerate(codes)
            ],
        }


def envelopes(count: int) -> list[EventEnvelope]:
    return [
        EventEnvelope("cfn-hook-archive", DETAIL_TYPE, json.dumps({"hook_result_id": f"id-{n}"}), ())
        for n in range(count)
    ]


def publish_both(count: int, arrange: Callable[[FakeEventBus], None]) -> list[tuple[Any, ...]]:
    """The same envelopes through the fake publisher and the real one, each on its own bus, arranged alike:
    what each delivered, and what each handed back."""
    answers = []
    for side in ("fake", "adapter"):
        bus = FakeEventBus()
        arrange(bus)
        sink: EventSink = (
            FakeEventPublisher(bus, probe=Probe())
            if side == "fake"
            else EventBridgePublisher(
                bus_name="default",
                client=EventsClientOverBus(bus),  # type: ignore[arg-type]
                workers=1,
                sleep=lambda _seconds: None,
            )
        )
        outcome = sink.publish(envelopes(count))
        delivered = sorted(event.detail["hook_result_id"] for event in bus.delivered)
        failed = [
            (json.loads(f.envelope.detail)["hook_result_id"], f.error_code, f.retryable)
            for f in outcome.failed
        ]
        answers.append((outcome.published, delivered, failed, bus.calls))
    return answers


@pytest.mark.parametrize(
    ("count", "codes"),
    [
        (25, []),
        (12, ["ThrottlingException", "", "InternalException"]),  # re-sent within the call, then delivered
        (5, ["AccessDeniedException"]),  # not re-sent now, but kept (retryable) for the next run
        (5, ["ValidationException", "MalformedDetail"]),  # dropped: neither retryable nor kept
        (3, ["ThrottlingException"] * 4),  # still failing after the last attempt: handed back, retryable
    ],
)
def test_put_events_partial_failures_are_answered_alike_by_the_fake_and_the_publisher(
    count: int, codes: list[str]
) -> None:
    fake, adapter = publish_both(count, lambda bus: bus.fail_entries(codes))
    assert fake == adapter


def test_a_put_events_call_that_fails_whole_hands_back_its_chunk_alike() -> None:
    fake, adapter = publish_both(23, lambda bus: bus.fail_calls("ResourceNotFoundException", times=1))
    assert fake == adapter
    assert len(fake[2]) == 10


def test_the_fake_bus_refuses_more_than_ten_entries_a_call() -> None:
    with pytest.raises(ApiError) as raised:
        FakeEventBus().put_events(envelopes(11))
    assert raised.value.code == "ValidationException"


# -- ListHookResults / GetHookResult ---------------------------------------------------------------


class CloudFormationClientOverApi:
    """A CloudFormation client for the real reader: ListHookResults and GetHookResult answered by the fake
    API, its errors raised as botocore raises them."""

    def __init__(self, api: FakeHookResultsApi) -> None:
        self._api = api

    def list_hook_results(self, **parameters: str) -> dict[str, Any]:
        try:
            results, token = self._api.list_hook_results(parameters.get("NextToken"))
        except ApiError as error:
            raise ClientError(
                {"Error": {"Code": error.code, "Message": str(error)}}, "ListHookResults"
            ) from error
        return {"HookResults": results} | ({"NextToken": token} if token else {})

    def get_hook_result(self, *, HookResultId: str) -> dict[str, Any]:
        try:
            return self._api.get_hook_result(HookResultId)
        except ApiError as error:
            raise ClientError(
                {"Error": {"Code": error.code, "Message": str(error)}}, "GetHookResult"
            ) from error


def an_api(arrange: Callable[[FakeHookResultsApi], None]) -> FakeHookResultsApi:
    from tests.functional.fakes import FakeClock  # noqa: PLC0415

    api = FakeHookResultsApi(FakeClock(BASE_MS), page_size=10, seed=4)
    api.add(*History(4).between(BASE_MS - 60 * MINUTE_MS, BASE_MS, count=45))
    arrange(api)
    return api


def scan_both(
    arrange: Callable[[FakeHookResultsApi], None], *, start_token: str | None = None, max_pages: int = 100
) -> list[tuple[list[list[str]], str | None, str | None]]:
    """A scan by the fake reader and by the real one, each over its own fake API arranged alike: the ids
    of each page, the error type and code it ended with."""
    answers = []
    for side in ("fake", "adapter"):
        api = an_api(arrange)
        reader = (
            FakeHookResultsReader(api, probe=Probe(), max_pages=max_pages)
            if side == "fake"
            else HookResultsReader(CloudFormationClientOverApi(api), max_pages=max_pages)  # type: ignore[arg-type]
        )
        pages: list[list[str]] = []
        error: tuple[str | None, str | None] = (None, None)
        try:
            for results, _token in reader.pages(start_token):
                pages.append([summary["HookResultId"] for summary in results])
        except HookResultsError as raised:
            error = (type(raised).__name__, raised.error_code)
        answers.append((pages, *error))
    return answers


@pytest.mark.parametrize(
    "arrange",
    [
        pytest.param(lambda api: None, id="every-page"),
        pytest.param(
            lambda api: api.inject("ListHookResults", "ThrottlingException", after_calls=2), id="throttled"
        ),
        pytest.param(
            lambda api: api.inject("ListHookResults", "repeat_token", after_calls=1), id="repeated-token"
        ),
    ],
)
def test_paging_and_its_failures_are_answered_alike_by_the_fake_and_the_reader(
    arrange: Callable[[FakeHookResultsApi], None],
) -> None:
    fake, adapter = scan_both(arrange)
    assert fake == adapter


def test_a_scan_is_five_pages_of_its_first_snapshot() -> None:
    (pages, error, _code), _adapter = scan_both(lambda api: None)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 5]
    assert error is None


def test_an_unknown_token_is_a_validation_error_alike() -> None:
    fake, adapter = scan_both(lambda api: None, start_token="not-a-token")  # noqa: S106
    assert fake == adapter == ([], "HookResultsError", "ValidationError")


def test_too_many_pages_is_a_pagination_error_alike() -> None:
    fake, adapter = scan_both(lambda api: None, max_pages=2)
    assert fake == adapter
    assert fake[1] == PaginationError.__name__


def test_get_hook_result_and_its_not_found_are_answered_alike() -> None:
    api = an_api(lambda api: None)
    known = api.results()[0].hook_result_id
    fake = FakeHookResultsReader(api, probe=Probe())
    adapter = HookResultsReader(CloudFormationClientOverApi(api), max_pages=10)  # type: ignore[arg-type]
    assert fake.get_hook_result(known) == adapter.get_hook_result(known)
    codes = []
    for reader in (fake, adapter):
        with pytest.raises(HookResultsError) as raised:
            reader.get_hook_result("00000000-0000-4000-8000-000000000000")
        codes.append(raised.value.error_code)
    assert codes == ["HookResultNotFound", "HookResultNotFound"]
