"""The compact set of remembered ids behaves like the {id: position} dict it replaces, in 24 bytes per id."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hook_archive.errors import CheckpointCorruptError, MalformedKnownIdsError
from hook_archive.models.checkpoint import Checkpoint
from hook_archive.models.known_ids import MAGIC, RECORD_BYTES, KnownIds

ids = st.text(min_size=1, max_size=40)
batches = st.lists(st.dictionaries(ids, st.integers(0, 10**13), max_size=30), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    batches=batches, thresholds=st.lists(st.integers(0, 10**13), min_size=6, max_size=6), probes=st.lists(ids)
)
def test_merging_and_pruning_matches_a_plain_dict(
    batches: list[dict[str, int]], thresholds: list[int], probes: list[str]
) -> None:
    model: dict[str, int] = {}
    known = KnownIds()
    for batch, threshold in zip(batches, thresholds, strict=False):
        new = {key: value for key, value in batch.items() if key not in model}  # the sweep never re-adds

        def keep(position: int, threshold: int = threshold) -> bool:
            return position >= threshold

        change = known.updated(new, keep=keep)
        merged = known.merged(new, keep=keep)
        # What a commit streams is exactly the merged set; no change streams nothing new.
        assert MAGIC + b"".join(change.records()) == merged.to_bytes()
        assert (change is known) == (merged == known)  # exactly: never a rewrite of an unchanged set
        known = merged
        model = {key: value for key, value in {**model, **new}.items() if value >= threshold}
        assert len(known) == len(model)
        for result_id in [*model, *probes]:
            assert (result_id in known) == (result_id in model)
            assert known.position_of(result_id) == model.get(result_id)
    assert sorted(known.positions()) == sorted(model.values())
    assert KnownIds.from_bytes(known.to_bytes()) == known


def _stored_records(known: KnownIds, *, records_per_chunk: int) -> list[bytes]:
    """The stored object's records (after the magic), cut into chunks of whole records."""
    body = known.to_bytes()[len(MAGIC) :]
    size = RECORD_BYTES * records_per_chunk
    return [body[start : start + size] for start in range(0, len(body), size)]


def test_stored_records_are_read_back_whatever_the_chunking_and_a_partial_record_is_refused() -> None:
    known = KnownIds.from_mapping({f"id-{index}": index for index in range(100)})
    chunks = _stored_records(known, records_per_chunk=7)
    assert KnownIds.from_records(chunks, count=100) == known
    with pytest.raises(MalformedKnownIdsError, match="not whole 24-byte records"):
        KnownIds.from_records([b"".join(chunks)[:-1]], count=100)


def test_an_update_answers_membership_like_the_set_it_will_become() -> None:
    base = KnownIds.from_mapping({"old": 1, "settled": 0})
    change = base.updated({"new": 5}, keep=lambda position: position >= 1)
    assert change is not base
    assert ("new" in change, "old" in change, "settled" in change) == (True, True, False)
    assert len(change) == 2


def test_an_id_added_twice_is_kept_once_at_its_lowest_position() -> None:
    known = KnownIds.from_mapping({"a": 5}).merged({"a": 3, "b": 1}, keep=lambda _position: True)
    assert len(known) == 2
    assert known.position_of("a") == 3


def test_the_stored_form_takes_24_bytes_per_id_after_an_8_byte_header() -> None:
    known = KnownIds.from_mapping({f"id-{index}": index for index in range(1000)})
    data = known.to_bytes()
    assert data.startswith(MAGIC)
    assert len(data) == len(MAGIC) + 24 * 1000


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"NOTMAGIC" + bytes(24), "not a known-ids object"),
        (MAGIC + bytes(23), "not a known-ids object"),
        (b"", "not a known-ids object"),
    ],
)
def test_a_damaged_stored_form_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(MalformedKnownIdsError, match=problem):
        KnownIds.from_bytes(data)


def test_non_string_probes_are_never_members() -> None:
    known = KnownIds.from_mapping({"1": 1})
    assert 1 not in known
    assert None not in known


def test_a_version_1_checkpoint_with_inline_ids_is_read_and_upgraded() -> None:
    body = (
        b'{"format": "cfn-hook-archive/checkpoint", "version": 1, "account_id": "123456789012", '
        b'"region": "us-east-1", "known_ids": {"r-1": 1700000000000, "r-2": 1700000000001}}'
    )
    checkpoint = Checkpoint.from_json_bytes(body, where="s3://b/k")
    assert checkpoint.version == 2
    assert "r-1" in checkpoint.known_ids
    assert checkpoint.known_ids.position_of("r-2") == 1700000000001
    # The ids are never written into the JSON document: the checkpoint store keeps them beside it.
    assert b'known_ids"' not in checkpoint.to_json_bytes()


def test_inline_ids_with_non_integer_positions_are_a_corrupt_checkpoint() -> None:
    body = (
        b'{"format": "cfn-hook-archive/checkpoint", "version": 1, "account_id": "123456789012", '
        b'"region": "us-east-1", "known_ids": {"r-1": "soon"}}'
    )
    with pytest.raises(CheckpointCorruptError, match="not a valid checkpoint"):
        Checkpoint.from_json_bytes(body, where="s3://b/k")


def test_records_fill_arrays_preallocated_at_the_announced_count_and_a_wrong_count_is_refused() -> None:
    known = KnownIds.from_mapping({f"id-{index}": index for index in range(50)})
    chunks = _stored_records(known, records_per_chunk=8)
    assert KnownIds.from_records(chunks, count=50) == known
    with pytest.raises(MalformedKnownIdsError, match="more than the 49 records announced"):
        KnownIds.from_records(chunks, count=49)
    with pytest.raises(MalformedKnownIdsError, match="50 records where 51 were announced"):
        KnownIds.from_records(chunks, count=51)
