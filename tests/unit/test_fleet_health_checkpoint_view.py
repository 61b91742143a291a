"""Fleet health reads the archiver's checkpoint with a model of its own (the deployables share no code):
these tests keep that model and the key layout in step with the archiver's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from fleet_health.logic.checkpoint_keys import account_region_of
from fleet_health.models.checkpoint_view import (
    CHECKPOINT_FORMAT,
    AuditView,
    CheckpointView,
    LeaseView,
    ScanView,
)
from hook_archive.logic.partitioning import checkpoint_key, known_ids_prefix
from hook_archive.models.checkpoint import AuditProgress, Checkpoint, OutboxEntry, ScanProgress, WriteIntent

_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
_PREFIX = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)


def test_every_field_the_check_reads_is_a_field_of_the_archivers_checkpoint() -> None:
    pairs: list[tuple[type[BaseModel], type[BaseModel]]] = [
        (CheckpointView, Checkpoint),
        (LeaseView, WriteIntent),
        (ScanView, ScanProgress),
        (AuditView, AuditProgress),
    ]
    for view, archiver_model in pairs:
        missing = set(view.model_fields) - set(archiver_model.model_fields)
        assert not missing, f"{view.__name__} reads {missing}, which {archiver_model.__name__} lacks"
    assert Checkpoint.model_fields["format"].default == CHECKPOINT_FORMAT


PAGE_TOKEN = "page-2"  # noqa: S105  # an API paging token, not a secret


def test_a_real_archiver_checkpoint_reads_back_with_its_lease_outbox_scan_and_commit_time() -> None:
    written = Checkpoint.initial(account_id="111111111111", region="eu-west-1").model_copy(
        update={
            "sequence": 12,
            "updated_at_ms": 1_780_000_000_000,
            "outbox": [OutboxEntry(hook_result_id=f"r{i}", detail="{}", attempts=2) for i in range(4)],
            "scan": ScanProgress(next_token=PAGE_TOKEN, results_seen=250, out_of_order=False),
            "intent": WriteIntent(run_id="run-9", sequence=13, object_keys=["k"], lease_expires_ms=42),
            "audit": AuditProgress(next_due_ms=99, last_completed_ms=50, last_repaired=3, repaired=1),
        }
    )
    read = CheckpointView.model_validate_json(written.to_json_bytes())
    assert (read.account_id, read.region, read.sequence, read.updated_at_ms) == (
        "111111111111",
        "eu-west-1",
        12,
        1_780_000_000_000,
    )
    assert len(read.outbox) == 4
    assert read.scan == ScanView(next_token=PAGE_TOKEN, results_seen=250)
    assert read.intent == LeaseView(run_id="run-9", lease_expires_ms=42)
    assert read.audit == AuditView(last_completed_ms=50, last_repaired=3)


def test_a_fresh_archiver_checkpoint_reads_with_no_lease_no_scan_and_no_commit_time() -> None:
    read = CheckpointView.model_validate_json(
        Checkpoint.initial(account_id="111111111111", region="eu-west-1").to_json_bytes()
    )
    assert (read.intent, read.scan, read.updated_at_ms, read.outbox) == (None, None, None, [])


@given(prefix=_PREFIX, account=st.from_regex(r"\A\d{12}\Z"), region=_SEGMENT)
def test_the_check_finds_the_account_region_in_every_key_the_archiver_writes(
    prefix: str, account: str, region: str
) -> None:
    assert account_region_of(prefix, checkpoint_key(prefix, account_id=account, region=region)) == (
        account,
        region,
    )
    known_ids = known_ids_prefix(prefix, account_id=account, region=region) + "0" * 64 + ".bin"
    assert account_region_of(prefix, known_ids) is None
