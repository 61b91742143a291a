"""The self-audit (logic/audit.py) inside run_archive, against the fakes: a result the API lists later than
the late-arrival window is missed by the scans and archived once by the audit, through the run's own write
intent and commit; an audit longer than a run resumes; a crash anywhere in an audit run loses and doubles
nothing; and an audit that is not due costs no page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

import pytest

from hook_archive.errors import ArchiveWriteError
from hook_archive.logic.archive_run import ArchiverDependencies, RunSettings
from hook_archive.logic.audit import compared_days, digest_of
from hook_archive.logic.partitioning import partition_prefix
from hook_archive.models.checkpoint import DayDigest
from hook_archive.models.hook_result import IN_PROGRESS, HookResult, utc_date
from hook_archive.models.run_report import RunReport
from tests.functional.fakes import FakeBucket, FakeWorld, Probe, S3Error, decode_rows, default_settings
from tests.functional.history import BASE_MS, COMPLETE_FAILED, MINUTE_MS, History
from tests.functional.reconciliation import reconcile
from tests.simulated_crash import SimulatedCrash

DAY_MS = 86_400_000
AUDIT_EVERY_MS = DAY_MS


class FakeArchivedIds:
    """S3ArchivedIds over the fake bucket: this account-region's keys of a dt partition, their ids."""

    def __init__(self, bucket: FakeBucket, settings: RunSettings, probe: Probe) -> None:
        self._bucket = bucket
        self._settings = settings
        self._probe = probe
        self.days_read: list[date] = []

    def ids_of_days(self, days: Iterable[date]) -> tuple[dict[date, frozenset[str]], int]:
        self._probe.step("archive.ids_of_days", "adapter")
        found: dict[date, frozenset[str]] = {}
        objects = 0
        for day in days:
            self.days_read.append(day)
            prefix = partition_prefix(self._settings.archive_prefix, day)
            keys = self._bucket.keys(f"{prefix}{self._settings.account_id}-{self._settings.region}-")
            ids: set[str] = set()
            for key in keys:
                self._probe.step("s3.GetObject archive", "wire")
                try:
                    body = self._bucket.get(key).body
                except S3Error as error:
                    raise ArchiveWriteError(f"reading {key} for the audit failed: {error.code}") from error
                rows = decode_rows(body)
                ids.update(row["hook_result_id"] for row in rows if row["invoked_at_ms"] is not None)
            objects += len(keys)
            found[day] = frozenset(ids)
        return found, objects


class AuditedWorld(FakeWorld):
    """A FakeWorld whose archiver also audits (the handler's wiring: S3ArchivedIds in the dependencies)."""

    def dependencies(self, probe: Probe | None = None) -> ArchiverDependencies:
        probe = probe or Probe()
        deps = super().dependencies(probe)
        self.last_reads = FakeArchivedIds(self.bucket, self.settings, probe)
        return replace(deps, archived_ids=self.last_reads)


def audited_world(
    *, audit_interval_ms: int = AUDIT_EVERY_MS, days: int = 3, per_day: int = 30
) -> AuditedWorld:
    world = AuditedWorld(now_ms=BASE_MS, settings=default_settings(audit_interval_ms=audit_interval_ms))
    world.api.add(*History(1).days(end_ms=BASE_MS - 60 * MINUTE_MS, days=days, per_day=per_day))
    return world


def completed(outcome: RunReport | BaseException) -> RunReport:
    assert isinstance(outcome, RunReport), repr(outcome)
    assert not outcome.errors, outcome.errors
    return outcome


def plant_a_late_failure(world: FakeWorld) -> HookResult:
    """A failed result invoked well behind the newest archived one, that the API starts listing only now: the
    README's "late arrival" limit."""
    newest = max(result.invoked_at_ms or 0 for result in world.api.results())
    late = History(77).one(newest - 2 * world.settings.late_window_ms, status=COMPLETE_FAILED)
    world.api.add(late, visible_from_ms=world.clock())
    return late


def test_a_result_listed_after_the_late_window_is_missed_by_scans_and_archived_once_by_the_audit() -> None:
    # Given an archive that is complete, and a failed result that the API lists only later than the window,
    world = audited_world()
    completed(world.run())
    world.clock.advance(5 * MINUTE_MS)
    late = plant_a_late_failure(world)
    # when scheduled runs go on before the audit is due, then they miss it (the limit the audit closes),
    for _ in range(3):
        report = completed(world.run())
        assert (report.archived, report.audit_pages) == (0, 0)
        world.clock.advance(5 * MINUTE_MS)
    assert reconcile(world).missing == {late.hook_result_id}
    # when the audit is due, then the run archives it, counts it, and announces it like any new failure,
    world.clock.advance(AUDIT_EVERY_MS)
    report = completed(world.run())
    assert (report.audit_repaired, report.archived, report.audit_completed) == (1, 1, True)
    # (the listing twice, 91 results at 25 a page: once to compare the digests, once to repair the day that
    # differs, whose objects alone it reads: one, this account-region's),
    assert report.audit_pages == 8
    assert report.audit_objects_read == 1
    assert report.events_published == 1
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.audit is not None
    assert checkpoint.audit.last_completed_ms == world.clock() - report.duration_ms
    assert checkpoint.audit.last_repaired == 1  # what fleet health reads (members publish no AuditRepaired)
    assert reconcile(world).ok, reconcile(world).summary()
    # and neither the next runs nor the next audit archive it again.
    for _ in range(2):
        world.clock.advance(5 * MINUTE_MS)
        assert completed(world.run()).archived == 0
    world.clock.advance(AUDIT_EVERY_MS)
    again = completed(world.run())
    assert (again.audit_completed, again.audit_repaired, again.archived) == (True, 0, 0)
    assert (again.audit_pages, again.audit_objects_read) == (4, 0)  # the digests agree: no read
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.audit is not None
    assert checkpoint.audit.last_repaired == 0  # the next completed audit replaces the count
    ids = [row["hook_result_id"] for row in world.archive_rows()]
    assert ids.count(late.hook_result_id) == 1
    assert reconcile(world).ok, reconcile(world).summary()


def test_an_audit_that_is_not_due_pages_no_more_than_a_run_without_audit() -> None:
    # Given the same world with the audit on and off,
    audited, plain = audited_world(), audited_world(audit_interval_ms=0)
    calls: list[tuple[int, int]] = []
    for step in range(6):
        # when runs happen inside the audit interval,
        for world in (audited, plain):
            completed(world.run())
            world.clock.advance(5 * MINUTE_MS)
            if step == 3:
                world.api.add(History(40).one(world.clock() - MINUTE_MS))
        calls.append((audited.api.calls["ListHookResults"], plain.api.calls["ListHookResults"]))
    # then they make the same ListHookResults calls,
    assert all(with_audit == without for with_audit, without in calls), calls
    # and the control: once the audit is due, the audited world pages more, so the count does tell.
    for world in (audited, plain):
        world.clock.advance(AUDIT_EVERY_MS)
        completed(world.run())
    assert audited.api.calls["ListHookResults"] > plain.api.calls["ListHookResults"]


def test_an_audit_longer_than_a_run_resumes_from_its_token_and_completes_once() -> None:
    # Given a slow API (50 s a page) so that a run has time for a few pages only,
    world = audited_world(days=10, per_day=30)
    completed(world.run())
    world.clock.advance(5 * MINUTE_MS)
    late = plant_a_late_failure(world)
    world.clock.advance(AUDIT_EVERY_MS)
    reports = []
    # when runs go on, each with its time budget,
    for _ in range(12):
        report = completed(world.run(Probe(tick_ms=50_000, slow_calls="cloudformation.ListHookResults")))
        reports.append(report)
        checkpoint = world.load_checkpoint()
        assert checkpoint is not None
        assert checkpoint.audit is not None
        if report.audit_completed:
            assert not checkpoint.audit.in_progress
            assert checkpoint.audit.last_completed_ms is not None
            break
        assert checkpoint.audit.in_progress
        assert checkpoint.audit.next_token is not None
        world.clock.advance(5 * MINUTE_MS)
    # then the audit spans several runs, each resuming where the last stopped, and completes,
    audit_runs = [report for report in reports if report.audit_pages]
    assert len(audit_runs) >= 3, [report.audit_pages for report in reports]
    assert reports[-1].audit_completed
    # 301 results, 25 a page: 13 to compare, 13 to repair the day that differs, no page twice.
    assert sum(report.audit_pages for report in reports) == 26
    # archiving the late result once, which the completed audit records whichever run repaired it,
    assert sum(report.audit_repaired for report in reports) == 1
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.audit is not None
    assert checkpoint.audit.last_repaired == 1
    assert reconcile(world).ok, reconcile(world).summary()
    # and the next run does not audit again before the interval.
    world.clock.advance(5 * MINUTE_MS)
    assert completed(world.run()).audit_pages == 0
    assert [row["hook_result_id"] for row in world.archive_rows()].count(late.hook_result_id) == 1


def steps_of_an_audit_run() -> list[str]:
    world = prepared_for_an_audit()
    probe = Probe()
    assert completed(world.run(probe)).audit_repaired == 1
    return probe.steps


def prepared_for_an_audit() -> AuditedWorld:
    world = audited_world()
    completed(world.run())
    world.clock.advance(5 * MINUTE_MS)
    plant_a_late_failure(world)
    world.clock.advance(AUDIT_EVERY_MS)
    return world


def test_a_crash_before_any_step_of_an_audit_run_loses_and_doubles_nothing() -> None:
    steps = steps_of_an_audit_run()
    assert {"archive.ids_of_days", "archive.upload", "checkpoints.save", "events.publish"} <= set(steps)
    failures = []
    for crash_at in range(1, len(steps) + 1):
        # Given a run that repairs a late result and dies before its step crash_at,
        world = prepared_for_an_audit()
        assert isinstance(world.run(Probe(crash_at=crash_at)), SimulatedCrash)
        # when clean runs follow (the first after the dead run's lease lapsed),
        repaired = 0
        for outcome in world.settle(runs=3):
            repaired += completed(outcome).audit_repaired
        # then the archive is exact: the result archived once, its failure announced.
        reconciliation = reconcile(world)
        if not reconciliation.ok:
            failures.append(
                f"crash before step {crash_at} ({steps[crash_at - 1]}): {reconciliation.summary()}"
            )
        elif repaired > 1:
            failures.append(f"crash before step {crash_at}: repaired {repaired} times")
    assert not failures, "\n".join(failures)


def test_an_archive_read_that_fails_stops_the_audit_and_fails_the_run_after_its_commit() -> None:
    # Given a due audit whose archive reads are refused,
    world = prepared_for_an_audit()
    world.bucket.inject(
        "GetObject", "AccessDenied", prefix=f"{world.settings.archive_prefix}/dt=", times=None
    )
    # when the run happens, then the scan's work is committed, the audit is still due, the run fails,
    outcome = world.run()
    assert isinstance(outcome, RunReport), repr(outcome)
    assert outcome.checkpoint_committed
    assert outcome.audit_repaired == 0
    assert any("self-audit stopped" in error for error in outcome.errors)
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.audit is not None
    assert checkpoint.audit.last_completed_ms is None  # not completed: still due
    assert checkpoint.audit.next_due_ms <= world.clock()
    # and once reads work again, it finishes and archives the result once.
    world.bucket.clear_faults()
    world.clock.advance(5 * MINUTE_MS)
    assert completed(world.run()).audit_repaired == 1
    assert reconcile(world).ok, reconcile(world).summary()


@pytest.mark.parametrize("interval_ms", [0, AUDIT_EVERY_MS])
def test_a_forced_audit_runs_whatever_the_interval(interval_ms: int) -> None:
    world = audited_world(audit_interval_ms=interval_ms)
    completed(world.run())
    world.clock.advance(5 * MINUTE_MS)
    plant_a_late_failure(world)
    world.clock.advance(20 * MINUTE_MS)
    assert completed(world.run()).audit_pages == 0
    world.settings = replace(world.settings, audit_forced=True)
    report = completed(world.run())
    assert (report.audit_completed, report.audit_repaired) == (True, 1)
    assert reconcile(world).ok, reconcile(world).summary()


def test_a_result_the_audit_repairs_above_the_settled_floor_is_remembered_and_never_archived_again() -> None:
    # Given a quiet account (the newest result an hour old) and a result invoked after it, older than the
    # window, that the API starts listing in the middle of an audit run, after the scan went by,
    world = audited_world()
    completed(world.run())
    world.clock.advance(AUDIT_EVERY_MS)
    newest = max(result.invoked_at_ms or 0 for result in world.api.results())
    between = History(78).one(newest + 10 * MINUTE_MS)
    assert between.invoked_at_ms is not None
    assert between.invoked_at_ms < world.clock() - world.settings.late_window_ms
    pages_asked = []

    def appear_before_the_audits_first_page(_number: int, label: str) -> None:
        if label == "hook_results.pages":
            pages_asked.append(label)
            if len(pages_asked) == 2:  # the scan stopped after its first page; this is the audit's first
                world.api.add(between)

    # when the audit repairs it,
    report = completed(world.run(Probe(on_step=appear_before_the_audits_first_page)))
    assert (report.pages, report.audit_repaired) == (1, 1)
    # then the scans that follow, which list it above the settled floor, do not archive it again.
    for _ in range(3):
        world.clock.advance(5 * MINUTE_MS)
        assert completed(world.run()).archived == 0
    assert [row["hook_result_id"] for row in world.archive_rows()].count(between.hook_result_id) == 1
    assert reconcile(world).ok, reconcile(world).summary()


def test_an_invocation_that_finishes_in_the_audit_run_is_archived_once_by_the_scan_not_twice() -> None:
    # Given an invocation still in progress at the last run, that finishes before the run that audits,
    world = audited_world()
    running = History(79).one(BASE_MS - 30 * MINUTE_MS, status=IN_PROGRESS)
    world.api.add(running)
    assert completed(world.run()).deferred_in_progress == 1
    world.clock.advance(AUDIT_EVERY_MS)
    world.api.set_status(running.hook_result_id, "HOOK_COMPLETE_SUCCEEDED", "finished")
    # when that run's scan archives it and its audit sees it missing from the archive (not yet written),
    report = completed(world.run())
    # then the audit leaves it to the scan: one row.
    assert (report.archived_completed, report.audit_repaired, report.audit_completed) == (1, 0, True)
    assert [row["hook_result_id"] for row in world.archive_rows()].count(running.hook_result_id) == 1
    assert reconcile(world).ok, reconcile(world).summary()


# -- the digests: no read in steady state (logic/audit.py, models/checkpoint.py IdDigests)


def true_digests(world: FakeWorld) -> dict[date, DayDigest]:
    """The archive's digest per day, from reading every committed and uncommitted object back."""
    ids: dict[date, set[str]] = {}
    for row in world.archive_rows():
        if row["invoked_at_ms"] is not None:
            ids.setdefault(date.fromisoformat(row["dt"]), set()).add(row["hook_result_id"])
    return {day: digest_of(found) for day, found in ids.items()}


def digest_gaps(world: FakeWorld) -> dict[date, tuple[DayDigest | None, DayDigest]]:
    """The compared days (and every archived day) whose checkpoint digest is not the archive's."""
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.id_digests is not None
    truth = true_digests(world)
    days = set(truth) | set(compared_days(world.clock()))
    return {
        day: (checkpoint.id_digests.of(day), truth.get(day, DayDigest()))
        for day in sorted(days)
        if checkpoint.id_digests.of(day) != truth.get(day, DayDigest())
    }


def test_in_steady_state_an_audit_reads_no_object_and_a_late_arrival_makes_it_read_only_its_day() -> None:
    # Given an archive kept by scheduled runs, with failures and successes,
    world = audited_world(days=5, per_day=40)
    completed(world.run())
    for _ in range(3):
        world.clock.advance(5 * MINUTE_MS)
        completed(world.run())
    assert digest_gaps(world) == {}
    # when the daily audit is due and nothing arrived late, then it pages the listing once and reads nothing,
    world.clock.advance(AUDIT_EVERY_MS)
    quiet = completed(world.run())
    assert (quiet.audit_completed, quiet.audit_pages, quiet.audit_objects_read) == (True, 8, 0)
    assert quiet.audit_repaired == 0
    # and the control: a late arrival makes the next audit read its day's objects only, and repair it once.
    world.clock.advance(5 * MINUTE_MS)
    late = plant_a_late_failure(world)
    assert late.invoked_at_ms is not None
    late_day = utc_date(late.invoked_at_ms)
    day_objects = len(
        world.bucket.keys(
            f"{partition_prefix(world.settings.archive_prefix, late_day)}{world.settings.account_id}-"
        )
    )
    world.clock.advance(AUDIT_EVERY_MS)
    audited = completed(world.run())
    assert (audited.audit_repaired, audited.audit_objects_read) == (1, day_objects)
    assert world.last_reads.days_read == [late_day]
    assert digest_gaps(world) == {}
    assert reconcile(world).ok, reconcile(world).summary()
    world.clock.advance(AUDIT_EVERY_MS)
    again = completed(world.run())
    assert (again.audit_repaired, again.audit_objects_read, again.archived) == (0, 0, 0)
    assert [row["hook_result_id"] for row in world.archive_rows()].count(late.hook_result_id) == 1


def test_an_abandoned_invocation_is_counted_on_both_sides_and_its_day_reads_nothing() -> None:
    # Given an invocation the API lists in progress for good, which the archiver abandons (archives as is),
    world = audited_world()
    stuck = History(81).one(BASE_MS - 30 * MINUTE_MS, status=IN_PROGRESS)
    world.api.add(stuck)
    completed(world.run())
    world.clock.advance(world.settings.in_progress_timeout_ms + 5 * MINUTE_MS)
    assert completed(world.run()).archived_abandoned == 1
    # when the audit is due, then its day agrees: the listing counts it as the archive does, no read,
    world.clock.advance(AUDIT_EVERY_MS)
    report = completed(world.run())
    assert (report.audit_completed, report.audit_objects_read, report.audit_repaired) == (True, 0, 0)
    assert digest_gaps(world) == {}


def test_an_old_checkpoint_without_digests_reads_every_day_once_then_the_next_audit_reads_none() -> None:
    # Given an archive whose checkpoint was written before digests existed,
    world = audited_world(days=4, per_day=30)
    completed(world.run())
    store = world.checkpoint_store()
    checkpoint, etag = store.load()
    assert checkpoint is not None
    store.save(checkpoint.model_copy(update={"id_digests": None}), etag=etag)
    world.clock.advance(5 * MINUTE_MS)
    completed(world.run())  # a run after the upgrade: its digests start after today
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.id_digests is not None
    assert all(checkpoint.id_digests.of(day) is None for day in true_digests(world))
    # when the audit is due, then it reads every compared day whose digest is unknown once (those before
    # the upgrade; this account-region's objects),
    world.clock.advance(AUDIT_EVERY_MS)
    digests = checkpoint.id_digests
    upgraded = completed(world.run())
    assert upgraded.audit_completed
    unknown = [day for day in compared_days(world.clock()) if digests.of(day) is None]
    assert len(unknown) >= 88
    assert sorted(world.last_reads.days_read) == unknown
    assert upgraded.audit_objects_read == len(world.archive_keys())
    assert upgraded.audit_repaired == 0
    assert digest_gaps(world) == {}
    # and the next audit reads none.
    world.clock.advance(AUDIT_EVERY_MS)
    assert completed(world.run()).audit_objects_read == 0


def test_a_crash_before_any_step_of_a_digest_updating_run_leaves_the_digests_equal_to_the_archive() -> None:
    steps = steps_of_an_audit_run()
    failures = []
    for crash_at in range(1, len(steps) + 1):
        # Given a run that repairs a late result (and so re-syncs its day) and dies before its step crash_at,
        world = prepared_for_an_audit()
        assert isinstance(world.run(Probe(crash_at=crash_at)), SimulatedCrash)
        # when clean runs follow, one of them adopting what the dead run wrote,
        for outcome in world.settle(runs=3):
            completed(outcome)
        # then the checkpoint's digests equal those of the archive read back, and the archive is exact.
        gaps = digest_gaps(world)
        if gaps:
            failures.append(f"crash before step {crash_at} ({steps[crash_at - 1]}): {gaps}")
        elif not reconcile(world).ok:
            failures.append(f"crash before step {crash_at}: {reconcile(world).summary()}")
    assert not failures, "\n".join(failures)
    # and the control: a digest the commit forgot to update is seen.
    world = prepared_for_an_audit()
    completed(world.run())
    store = world.checkpoint_store()
    checkpoint, etag = store.load()
    assert checkpoint is not None
    assert checkpoint.id_digests is not None
    day, digest = next(iter(checkpoint.id_digests.days.items()))
    wrong = DayDigest(count=digest.count - 1, sum=digest.sum)
    days = {**checkpoint.id_digests.days, day: wrong}
    store.save(
        checkpoint.model_copy(update={"id_digests": checkpoint.id_digests.model_copy(update={"days": days})}),
        etag=etag,
    )
    assert digest_gaps(world)
