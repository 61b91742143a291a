"""The curator at Organization scale, on the wire: the central stack (template.yaml with OrganizationId) runs
its CuratorFunction, with the central stack's CuratorRole, over the raw objects every member account-region
wrote into the central archive (keys `dt=.../<account>-<region>-<seq>.parquet`, SSE-KMS with the central
key). hook_results must then be exactly the union of the raw archive: every row of every member, once, with
the same values, and each row's lineage naming the object it came from; hook_annotations the union of the
members' raw annotations, every row once. Every call goes through the authorizing proxy."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emulation.curated_queries import annotation_rows
from emulation.curator_harness import ROLE_LOGICAL_ID, CentralDeployment, CuratorHarness
from emulation.synthetic_history import synthetic_results
from tests.integration.member_fleet import QUIET, REGIONS, backfilled_fleet
from tests.integration.member_fleet import Fleet as MemberFleet

pytestmark = pytest.mark.integration


@dataclass
class Fleet(MemberFleet):
    curator: CuratorHarness[CentralDeployment]


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """The backfilled members, and the central stack's curator."""
    with backfilled_fleet(seed=70) as members:
        curator = CuratorHarness(CentralDeployment(members.central), runtime_environment=QUIET)
        yield Fleet(members.aws, members.central, members.members, curator)


def _raw_union(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """Ground truth: every row of every object in the central archive, by id, with the key it is in."""
    s3 = fleet.aws.client("s3")
    rows: dict[str, dict[str, Any]] = {}
    for key in fleet.central.object_keys():
        body = s3.get_object(Bucket=fleet.central.bucket, Key=key)["Body"].read()
        for row in pq.read_table(io.BytesIO(body)).to_pylist():
            assert row["hook_result_id"] not in rows, f"{row['hook_result_id']} twice in the raw archive"
            rows[row["hook_result_id"]] = {**row, "raw_object_key": key, "dt": key.split("/dt=")[1][:10]}
    return rows


def _assert_curated_is_the_raw_union(fleet: Fleet) -> None:
    raw = _raw_union(fleet)
    curated = fleet.curator.curated_rows().to_pylist()
    ids = [row["hook_result_id"] for row in curated]
    assert len(ids) == len(set(ids)), "a hook_result_id twice in hook_results"
    assert set(ids) == set(raw)
    for row in curated:
        for name, value in raw[row["hook_result_id"]].items():
            assert row[name] == value, (name, row["hook_result_id"])


def _assert_curated_annotations_are_the_raw_union(fleet: Fleet) -> None:
    s3 = fleet.aws.client("s3")
    tables = []
    for key in fleet.central.object_keys(table="annotations"):
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=fleet.central.bucket, Key=key)["Body"].read()))
        tables.append(table.append_column("dt", pa.array([key.split("/dt=")[1][:10]] * table.num_rows)))
    assert tables, "the members wrote no annotations: nothing to compare"
    raw = pa.concat_tables(tables)
    assert annotation_rows(fleet.curator.curated_annotations()) == annotation_rows(raw)


def _refusals(fleet: Fleet) -> list[Any]:
    assert fleet.aws.authorizer is not None
    return [
        verdict
        for verdict in fleet.aws.authorizer.verdicts
        if ROLE_LOGICAL_ID in verdict.principal_arn and verdict.denial is not None
    ]


def test_the_central_curator_curates_every_members_raw_objects_into_hook_results_exactly(
    fleet: Fleet,
) -> None:
    # Given the central archive, written by 2 accounts x 2 regions with the central key
    writers = {tuple(key.rsplit("/", 1)[1].split("-", 1)) for key in fleet.central.object_keys()}
    assert {account for account, _ in writers} == {m.account for m in fleet.members.values()}
    raw = _raw_union(fleet)
    assert {(row["account_id"], row["region"]) for row in raw.values()} == {
        (member.account, region) for (_name, region), member in fleet.members.items()
    }
    # When the central stack's curator runs, with the central stack's CuratorRole
    report = fleet.curator.run()
    # Then hook_results is exactly the union of the raw archive, and nothing it did was refused
    assert report["objects_added"] == len(fleet.central.object_keys())
    assert report["rows_written"] == len(_raw_union(fleet))
    assert report["annotations"]["objects_added"] == len(fleet.central.object_keys(table="annotations"))
    _assert_curated_is_the_raw_union(fleet)
    _assert_curated_annotations_are_the_raw_union(fleet)
    assert _refusals(fleet) == []
    assert {row["account_id"] for row in fleet.curator.curated_rows().to_pylist()} == {
        m.account for m in fleet.members.values()
    }
    assert {row["region"] for row in fleet.curator.curated_rows().to_pylist()} == set(REGIONS)


def test_members_archiving_on_are_curated_by_the_next_central_run_once(fleet: Fleet) -> None:
    # Given the table curated, and every member archiving new results hours later
    fleet.curator.run()
    before = fleet.curator.curated_rows().num_rows
    moment = datetime.now(UTC)
    for index, member in enumerate(fleet.members.values()):
        member.emulator.add(
            *synthetic_results(start=moment - timedelta(minutes=3), end=moment, count=6, seed=300 + index)
        )
        assert member.run()["status"] == "complete"
    # When the central curator runs twice
    first = fleet.curator.run()
    second = fleet.curator.run()
    # Then the new rows are in hook_results once, and the second run had nothing to do
    assert first["rows_written"] == len(_raw_union(fleet)) - before > 0
    assert second["rows_written"] == second["annotations"]["rows_written"] == 0
    _assert_curated_is_the_raw_union(fleet)
    _assert_curated_annotations_are_the_raw_union(fleet)
    assert _refusals(fleet) == []


def test_the_comparison_sees_a_difference_a_members_expired_object_keeps_its_rows(fleet: Fleet) -> None:
    # A control for the check above, and expiry at Organization scale: one member's object expires
    # (the lifecycle deletes it), its rows stay in hook_results, so the table is no longer the raw union
    key = fleet.central.object_keys(next(iter(fleet.members.values())).account)[0]
    fleet.curator.run()
    rows_before = fleet.curator.curated_rows().num_rows
    fleet.aws.client("s3").delete_object(Bucket=fleet.central.bucket, Key=key)
    report = fleet.curator.run({"full": True})
    assert report["objects_vanished"] == 1
    assert fleet.curator.curated_rows().num_rows == rows_before
    with pytest.raises(AssertionError):
        _assert_curated_is_the_raw_union(fleet)
