"""An Organization archiving into one central archive, on the wire: the central stack is template.yaml with
OrganizationId (its bucket, key and bus policies put on moto's resources), each member runs the real
handler with the role the member template (generated from template.yaml) defines, in its own account and
region, against its own account-region's ListHookResults; fleet health runs with the central stack's
read-only FleetHealthRole. Every call goes through the authorizing proxy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from emulation.function_role import RoleDocuments
from emulation.organization import FleetHealthCheck
from emulation.reconciliation import reconcile_member
from emulation.synthetic_history import synthetic_results
from tests.integration.member_fleet import QUIET, Fleet, backfilled_fleet

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with backfilled_fleet(seed=50) as backfilled:
        yield backfilled


def test_every_member_archives_exactly_its_own_results_into_the_central_archive(fleet: Fleet) -> None:
    events = fleet.aws.receive_events()
    s3 = fleet.aws.client("s3")
    for (_name, region), member in fleet.members.items():
        report = reconcile_member(
            s3,
            fleet.central.bucket,
            account_id=member.account,
            region=region,
            emulator=member.emulator,
            events=events,
        )
        assert report.ok, report.summary()
        assert report.rows > 0
        assert report.events > 0  # its failures reached the central bus, in us-east-1, from both regions
    # Every object's key names the account whose role wrote it: the central policy lets nothing else in.
    writers = {key.rsplit("/", 1)[1].split("-", 1)[0] for key in fleet.central.object_keys()}
    assert writers == {member.account for member in fleet.members.values()}


def test_a_member_role_is_named_as_the_member_template_says_and_the_central_policies_admit(
    fleet: Fleet,
) -> None:
    member = fleet.members[("member-a", "eu-west-1")]
    assert member.role_name == "cfn-hook-archive-archiver-eu-west-1"
    verdicts = [
        verdict
        for verdict in fleet.aws.authorizer.verdicts  # type: ignore[union-attr]
        if verdict.principal_arn.startswith(f"arn:aws:sts::{member.account}:assumed-role/{member.role_name}/")
    ]
    assert verdicts
    assert all(verdict.allowed and not verdict.denied_items for verdict in verdicts)


def test_put_events_on_a_bus_of_another_region_is_refused_at_the_callers_regional_endpoint(
    fleet: Fleet,
) -> None:
    # EventBridge takes another account's bus by ARN at that bus's region only; the archiver's client is
    # made there (AwsClients.create), and a client of the function's own region is refused.
    member = fleet.members[("member-a", "eu-west-1")]
    entry = {
        "EventBusName": fleet.central.bus_arn,
        "Source": "cfn-hook-archive",
        "DetailType": "CloudFormation Hook Invocation Failed",
        "Detail": "{}",
    }
    with pytest.raises(ClientError) as refused:
        member.client("events").put_events(Entries=[entry])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Cross-region" in refused.value.response["Error"]["Message"]


def test_fleet_health_with_its_read_only_role_names_the_member_that_stopped(fleet: Fleet) -> None:
    stopped = fleet.members[("member-b", "eu-west-1")]
    for member in fleet.members.values():
        if member is stopped:
            continue
        moment = datetime.now(UTC)
        member.emulator.add(
            *synthetic_results(start=moment - timedelta(minutes=2), end=moment, count=4, seed=3)
        )
        assert member.run(later_ms=4 * HOUR_MS)["status"] == "complete"
    report = FleetHealthCheck(fleet.central, runtime_environment=QUIET).run(later_ms=4 * HOUR_MS + 60_000)
    assert report["archivers_seen"] == len(fleet.members)
    assert report["stale"] == [f"{stopped.account}/{stopped.region}"]


# What each FleetHealthRole statement's absence shows: the check's own finding, or (Logs, Tracing) the Lambda
# service's delivery with the role refused while the check itself is unchanged.
FLEET_ROLE_CASES = {
    "ListCheckpoints": "listing",
    "ReadCheckpoints": "unreadable",
    "ArchiveKey": "unreadable",
    "Logs": "logs",
    "Tracing": "trace",
}


def test_every_statement_of_the_fleet_health_role_has_a_case(fleet: Fleet) -> None:
    documents = RoleDocuments.of(fleet.central.deployment(), "FleetHealthRole")
    assert set(documents.sids()) == set(FLEET_ROLE_CASES)


@pytest.mark.parametrize(("statement", "finding"), sorted(FLEET_ROLE_CASES.items()))
def test_fleet_health_without_a_statement_of_its_role_says_what_it_could_not_read(
    fleet: Fleet, statement: str, finding: str
) -> None:
    documents = RoleDocuments.of(fleet.central.deployment(), "FleetHealthRole").without(statement)
    check = FleetHealthCheck(fleet.central, documents=documents, runtime_environment=QUIET)
    if finding in {"logs", "trace"}:
        report = check.run()
        assert report["archivers_seen"] == len(fleet.members)
        refused = [delivery for delivery in check.deliveries if not delivery.delivered]
        assert [delivery.what for delivery in refused] == [finding]
        assert FleetHealthCheck(fleet.central, runtime_environment=QUIET).run()["archivers_seen"] > 0
        return
    if finding == "listing":
        with pytest.raises(Exception, match=r"listing checkpoints under .* failed: AccessDenied"):
            check.run()
        return
    report = check.run()
    statuses = {row["status"] for row in report["archivers"]}
    assert statuses == {"unreadable"}
    assert all("AccessDenied" in row["problem"] for row in report["archivers"])
    # Unreadable is counted stale: a check that cannot see an archiver cannot vouch for it.
    assert report["stale_archivers"] == len(fleet.members)
