"""The self-audit of an Organization's member archiver, on the wire: the member template's role and the
central bucket's policy must let a member list its own keys of a day (s3:ListBucket) and read their id
column (s3:GetObject on its own <account>-* keys); the late arrival it repairs lands in the central archive
once, with its event on the central bus."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from emulation.aws_stack import REGION, local_aws
from emulation.hook_results_api import HookResultsEmulator
from emulation.organization import CentralArchive, LocalOrganization, MemberArchiver
from emulation.reconciliation import reconcile_member
from emulation.synthetic_history import synthetic_history, synthetic_results

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
QUIET = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}


@pytest.fixture
def member() -> Iterator[tuple[MemberArchiver, CentralArchive]]:
    with local_aws(page_size=50) as aws:
        organization = LocalOrganization.create(aws)
        central = CentralArchive.create(organization)
        emulator = HookResultsEmulator(tls=True, page_size=50, seed=3)
        emulator.authorizer = aws.authorizer
        emulator.start()
        try:
            emulator.add(
                *synthetic_history(end=datetime.now(UTC) - timedelta(hours=1), days=3, per_day=20, seed=9)
            )
            archiver = MemberArchiver(
                central, organization.members["member-a"], REGION, emulator, runtime_environment=QUIET
            )
            yield archiver, central
        finally:
            emulator.stop()


def test_a_members_audit_repairs_a_late_arrival_into_the_central_archive_once(
    member: tuple[MemberArchiver, CentralArchive],
) -> None:
    archiver, central = member
    assert archiver.run()["status"] == "complete"
    # Given a failed result the member's API lists only now, from well behind the newest archived one,
    newest = max(result.invoked_at for result in archiver.emulator.results())
    (late,) = synthetic_results(
        start=newest - timedelta(minutes=31), end=newest - timedelta(minutes=30), count=1, seed=7
    )
    late = dataclasses.replace(late, status="HOOK_COMPLETE_FAILED", hook_status_reason="late")
    archiver.emulator.add(dataclasses.replace(late, visible_from=datetime.now(UTC)))
    assert archiver.run()["archived"] == 0
    # when the member's daily audit is due, then it lists and reads its own keys in the central bucket,
    audited = archiver.run(later_ms=DAY_MS + 3_600_000)
    assert audited["errors"] == []
    assert (audited["audit_repaired"], audited["audit_completed"]) == (1, True)
    assert audited["audit_objects_read"] == 1  # only the late result's day: the other days' digests agree
    # and the central archive holds the result once, its event on the central bus.
    report = reconcile_member(
        central.organization.aws.client("s3"),
        central.bucket,
        account_id=archiver.account,
        region=REGION,
        emulator=archiver.emulator,
        events=central.organization.aws.receive_events(),
    )
    assert report.ok, report.summary()
