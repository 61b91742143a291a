"""The catch-up list's pure rules (logic/annotation_catch_up.py) and its place in the checkpoint."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hook_archive.errors import CheckpointCorruptError
from hook_archive.logic.annotation_catch_up import (
    as_result,
    bounded,
    due_for,
    gave_up_reason,
    is_permanent,
    oldest_first,
)
from hook_archive.models.annotation_schema import annotation_rows
from hook_archive.models.checkpoint import AnnotationDue, Checkpoint
from hook_archive.models.failure_event import Annotation, Enrichment
from tests.functional.history import COMPLETE_FAILED, hook_result

# A checkpoint as the release before the catch-up list wrote it (no annotations_due, no audit).
PREVIOUS_RELEASE_CHECKPOINT = {
    "format": "cfn-hook-archive/checkpoint",
    "version": 2,
    "account_id": "123456789012",
    "region": "us-east-1",
    "sequence": 7,
    "newest_seen_ms": 1795000000000,
    "settled_below_ms": 1794990000000,
    "swept_down_to_ms": 1794000000000,
    "order": "newest_first",
    "known_ids_object": None,
    "pending": {},
    "outbox": [],
    "scan": None,
    "intent": None,
    "updated_at_ms": 1795000060000,
}


def _due(
    number: int, *, invoked_at_ms: int | None, dt: str = "2026-11-18", attempts: int = 0
) -> AnnotationDue:
    return AnnotationDue(
        hook_result_id=f"{number:08d}-0000-4000-8000-000000000000",
        type_name="MyOrg::Guard::S3Encryption",
        dt=dt,
        invoked_at_ms=invoked_at_ms,
        attempts=attempts,
    )


def test_a_checkpoint_written_by_the_previous_release_loads_with_an_empty_catch_up_list() -> None:
    body = json.dumps(PREVIOUS_RELEASE_CHECKPOINT).encode()
    checkpoint = Checkpoint.from_json_bytes(body, where="s3://bucket/checkpoint.json")
    assert checkpoint.annotations_due == []
    assert checkpoint.sequence == 7
    # Written back, it carries the new field, and reads back the same.
    assert Checkpoint.from_json_bytes(checkpoint.to_json_bytes(), where="again") == checkpoint


def test_a_catch_up_entry_round_trips_and_a_malformed_one_is_refused_not_reset() -> None:
    listed = _due(1, invoked_at_ms=1794999000000, attempts=2)
    document = {**PREVIOUS_RELEASE_CHECKPOINT, "annotations_due": [listed.model_dump()]}
    loaded = Checkpoint.from_json_bytes(json.dumps(document).encode(), where="s3://bucket/checkpoint.json")
    assert loaded.annotations_due == [listed]
    # Control: the model does check the entries (a dt that is not a day, a negative attempt count).
    for bad in ({"dt": "yesterday"}, {"attempts": -1}):
        broken = {**document, "annotations_due": [{**listed.model_dump(), **bad}]}
        with pytest.raises(CheckpointCorruptError, match="annotations_due"):
            Checkpoint.from_json_bytes(json.dumps(broken).encode(), where="s3://bucket/checkpoint.json")


def test_a_listed_failure_keeps_what_its_annotation_rows_need() -> None:
    result = hook_result(3, invoked_at_ms=1794999000000, status=COMPLETE_FAILED)
    listed = due_for(result, dt=date(2026, 11, 18))
    enrichment = Enrichment(status="enriched", annotations=[Annotation(annotation_name="S3_ENCRYPTED")])
    assert annotation_rows(as_result(listed), enrichment) == annotation_rows(result, enrichment)
    assert (listed.dt, listed.invoked_at_ms, listed.attempts) == ("2026-11-18", 1794999000000, 0)


def test_permanent_refusals_leave_the_list_and_passing_ones_stay() -> None:
    assert is_permanent("HookResultNotFound")  # aged out of the API's 90 days
    assert is_permanent("AccessDenied")  # kms:Decrypt on the hook's key
    for passing in ("Throttling", "ServiceUnavailable", "InternalFailure", None):
        assert not is_permanent(passing)
    assert gave_up_reason("Throttling") == "Throttling (gave up)"
    assert gave_up_reason(None) == "network error (gave up)"


def test_oldest_first_orders_by_invoked_at_and_falls_back_to_the_partition_day() -> None:
    newer = _due(1, invoked_at_ms=1795000000000)
    older = _due(2, invoked_at_ms=1794000000000)
    undated_older_day = _due(3, invoked_at_ms=None, dt="2026-11-01")
    assert oldest_first([newer, older, undated_older_day]) == [undated_older_day, older, newer]


def test_a_full_list_keeps_what_was_waiting_and_hands_back_the_newest_additions() -> None:
    waiting = [_due(n, invoked_at_ms=1_000 + n) for n in range(3)]
    added = [_due(n, invoked_at_ms=5_000 + n) for n in range(10, 14)]
    listed, overflow = bounded(waiting, added, limit=5)
    assert listed == [*waiting, *added[:2]]
    assert overflow == added[2:]


entries = st.builds(
    _due,
    st.integers(min_value=0, max_value=30),
    invoked_at_ms=st.one_of(st.none(), st.integers(min_value=0, max_value=10**13)),
    dt=st.dates().map(lambda day: day.isoformat()),
)


@given(st.lists(entries, max_size=20), st.lists(entries, max_size=20), st.integers(min_value=0, max_value=25))
def test_the_list_is_bounded_and_loses_no_id_silently(
    waiting: list[AnnotationDue], added: list[AnnotationDue], limit: int
) -> None:
    listed, overflow = bounded(waiting, added, limit=limit)
    assert len(listed) <= limit
    listed_ids = [item.hook_result_id for item in listed]
    overflow_ids = [item.hook_result_id for item in overflow]
    assert len(set(listed_ids)) == len(listed_ids)  # once per id
    # Every id offered is either listed or handed back to be counted: none vanishes.
    assert set(listed_ids) | set(overflow_ids) == {item.hook_result_id for item in [*waiting, *added]}
    assert not set(listed_ids) & set(overflow_ids)
