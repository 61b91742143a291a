"""The audit's archive digests (models/checkpoint.py IdDigests) under any order of commits, crashes and
adoptions: after every run that commits, each day's digest equals the digest of the archive read back."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hook_archive.models.hook_result import IN_PROGRESS
from hook_archive.models.run_report import RunReport
from tests.functional.fakes import Probe
from tests.functional.history import MINUTE_MS, History
from tests.functional.test_audit import AUDIT_EVERY_MS, audited_world, digest_gaps

# One run: how many new results, how far behind the clock each was invoked (minutes; some beyond the
# late-arrival window, some without InvokedAt), whether some are in progress, and the step it dies before.
runs = st.lists(
    st.tuples(
        st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=3 * 24 * 60)), max_size=6),
        st.booleans(),
        st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
        st.sampled_from([5 * MINUTE_MS, 40 * MINUTE_MS, AUDIT_EVERY_MS]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=runs, seed=st.integers(min_value=0, max_value=10_000))
def test_after_every_commit_each_days_digest_equals_the_archive_read_back(
    runs: list[tuple[list[int | None], bool, int | None, int]], seed: int
) -> None:
    world = audited_world(days=2, per_day=10)
    history = History(100 + seed)  # not the world's History(1): ids never collide
    assert isinstance(world.run(), RunReport)
    assert digest_gaps(world) == {}
    for behind, in_progress, crash_at, advance_ms in runs:
        world.clock.advance(advance_ms)
        for minutes in behind:
            invoked_at = None if minutes is None else world.clock() - minutes * MINUTE_MS
            status = IN_PROGRESS if in_progress and minutes is not None and minutes < 60 else None
            world.api.add(history.one(invoked_at, status=status), visible_from_ms=world.clock())
        outcome = world.run(Probe(crash_at=crash_at) if crash_at is not None else None)
        if isinstance(outcome, RunReport) and outcome.checkpoint_committed:
            assert digest_gaps(world) == {}, (crash_at, outcome)
    for outcome in world.settle(runs=2):
        assert isinstance(outcome, RunReport), repr(outcome)
    assert digest_gaps(world) == {}
