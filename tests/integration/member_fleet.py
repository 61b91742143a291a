"""Member archivers of a local Organization, each backfilled once: the setup the Organization tiers share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from emulation.aws_stack import LocalAws, local_aws
from emulation.hook_results_api import HookResultsEmulator
from emulation.organization import CentralArchive, LocalOrganization, MemberArchiver
from emulation.synthetic_history import synthetic_history

PAGE_SIZE = 50
REGIONS = ("us-east-1", "eu-west-1")
QUIET = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}


@dataclass
class Fleet:
    aws: LocalAws
    central: CentralArchive
    members: dict[tuple[str, str], MemberArchiver]  # (account name, region) -> archiver


@contextmanager
def backfilled_fleet(*, seed: int) -> Iterator[Fleet]:
    """Two member accounts in REGIONS archiving into one central archive, each archiver run once (a
    backfill of three days), on a local stack of its own."""
    with local_aws(page_size=PAGE_SIZE) as aws, ExitStack() as stack:
        organization = LocalOrganization.create(aws)
        central = CentralArchive.create(organization)
        members = backfilled_members(
            organization, central, stack, regions=REGIONS, seed=seed, runtime_environment=QUIET
        )
        yield Fleet(aws, central, members)


def backfilled_members(
    organization: LocalOrganization,
    central: CentralArchive,
    stack: ExitStack,
    *,
    regions: Sequence[str],
    seed: int,
    runtime_environment: dict[str, str],
) -> dict[tuple[str, str], MemberArchiver]:
    """Every member account in every region, each with its own ListHookResults emulator (stopped by `stack`)
    holding three days of 20 results a day (history seeds from `seed`, one per account-region), and its
    archiver run once to completion. Keyed by (account name, region)."""
    members = {}
    now = datetime.now(UTC)
    for index, (name, region) in enumerate((n, r) for n in organization.members for r in regions):
        emulator = HookResultsEmulator(tls=True, page_size=PAGE_SIZE, seed=index)
        emulator.authorizer = organization.aws.authorizer
        emulator.start()
        stack.callback(emulator.stop)
        emulator.add(*synthetic_history(end=now - timedelta(hours=1), days=3, per_day=20, seed=seed + index))
        members[(name, region)] = MemberArchiver(
            central, organization.members[name], region, emulator, runtime_environment=runtime_environment
        )
    for member in members.values():
        assert member.run()["status"] == "complete"
    return members
