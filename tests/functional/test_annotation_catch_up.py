"""Enrichment coverage: failures not enriched in their own run wait on the checkpoint's catch-up list, and
later runs archive their annotations, exactly once, under the same write intent. run_archive against the
fakes, with an in-memory annotations table beside the results (below); judged from the stored objects and
the fake API."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from hook_archive.dal.aws_errors import S3_CONFLICT_CODES, S3_NOT_FOUND_CODES
from hook_archive.errors import ArchiveConflictError, ArchiveWriteError
from hook_archive.logic.archive_run import ArchiverDependencies, run_archive
from hook_archive.logic.run_settings import settings_for
from hook_archive.models.annotation_schema import AnnotationRow
from hook_archive.models.config import ArchiverConfig
from hook_archive.models.hook_result import FAILED_STATUSES
from hook_archive.models.run_report import RunReport
from tests.functional.fakes import (
    ACCOUNT_ID,
    BUCKET,
    REGION,
    FakeBucket,
    FakeSpooledObject,
    FakeWorld,
    MemorySpool,
    Probe,
    S3Error,
    default_settings,
)
from tests.functional.history import BASE_MS, COMPLETE_FAILED, MINUTE_MS, SUCCEEDED, hook_result
from tests.functional.reconciliation import reconcile
from tests.simulated_crash import SimulatedCrash

ANNOTATIONS_PREFIX = "hook-results/annotations/dt="


# -- the annotations table, in memory (AnnotationSpool / S3ArchiveWriter.upload + read_annotations) ----------


def annotation_spool() -> MemorySpool[AnnotationRow]:
    """The annotation spool in memory: each object's body the JSON of its rows."""
    return MemorySpool(lambda rows: json.dumps([row.__dict__ for row in rows]).encode())


class FakeAnnotationStore:
    """S3ArchiveWriter's annotation half in memory: conditional writes as the archive store's (a new key only
    if absent, a dead run's object only if it still has the ETag read, else ArchiveConflictError); a missing
    object reads as ([], None)."""

    def __init__(self, bucket: FakeBucket, *, probe: Probe) -> None:
        self._bucket = bucket
        self._probe = probe

    def upload(self, spooled: FakeSpooledObject, *, replacing_etag: str | None = None) -> int:
        self._probe.step("annotations.upload", "adapter")
        try:
            self._bucket.put(
                spooled.key, spooled.body, if_match=replacing_etag or None, if_none_match=not replacing_etag
            )
        except S3Error as error:
            if error.code in S3_CONFLICT_CODES or (error.code == "NoSuchKey" and replacing_etag):
                raise ArchiveConflictError(f"{spooled.key} changed under this run ({error.code})") from error
            raise ArchiveWriteError(f"writing {spooled.key} failed: {error.code}") from error
        return len(spooled.body)

    def read_annotations(self, key: str) -> tuple[list[AnnotationRow], str | None]:
        self._probe.step("annotations.read_annotations", "adapter")
        try:
            stored = self._bucket.get(key)
        except S3Error as error:
            if error.code in S3_NOT_FOUND_CODES:
                return [], None
            raise ArchiveWriteError(f"reading {key} failed: {error.code}") from error
        return [AnnotationRow(**row) for row in json.loads(stored.body)], stored.etag


class AnnotatedWorld(FakeWorld):
    def dependencies(self, probe: Probe | None = None) -> ArchiverDependencies:
        probe = probe or Probe()
        deps = super().dependencies(probe)
        return replace(
            deps,
            annotations=FakeAnnotationStore(self.bucket, probe=probe),
            new_annotation_spool=lambda _archived_at_ms: annotation_spool(),
        )

    def annotation_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key in self.bucket.keys(ANNOTATIONS_PREFIX):
            day = key.split("/dt=", 1)[1].split("/", 1)[0]
            rows.extend({**row, "dt": day} for row in json.loads(self.bucket.objects[key].body))
        return rows


# -- the judge ------------------------------------------------------------------------------------------


@dataclass
class AnnotationFindings:
    missing: set[str]
    duplicated: set[str]
    mismatched: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.mismatched)


def annotation_findings(world: AnnotatedWorld, *, exempt: frozenset[str] = frozenset()) -> AnnotationFindings:
    """Every archived failure has the API's annotations in hook_annotations exactly once, in its row's
    partition; nothing else is there. `exempt`: failures whose annotations are known to be lost."""
    failed_rows = {
        row["hook_result_id"]: row["dt"] for row in world.archive_rows() if row["status"] in FAILED_STATUSES
    }
    archived: dict[str, Counter[tuple[Any, ...]]] = {}
    findings = AnnotationFindings(set(), set(), [])
    for row in world.annotation_rows():
        result_id = row["hook_result_id"]
        archived.setdefault(result_id, Counter())[
            (row["annotation_name"], row["status"], row["severity_level"])
        ] += 1
        if failed_rows.get(result_id) != row["dt"]:
            findings.mismatched.append(f"{result_id}: not a failure archived in dt={row['dt']}")
    for result_id in failed_rows.keys() - exempt:
        wanted = Counter(
            (item.get("AnnotationName"), item.get("Status"), item.get("SeverityLevel"))
            for item in world.api.stored(result_id).annotations
        )
        got = archived.get(result_id, Counter())
        if got == wanted:
            continue
        if not got:
            findings.missing.add(result_id)
        elif (
            got == Counter({key: 2 * count for key, count in wanted.items()}) or got.total() > wanted.total()
        ):
            findings.duplicated.add(result_id)
        else:
            findings.mismatched.append(f"{result_id}: {got} != {wanted}")
    return findings


# -- the world ------------------------------------------------------------------------------------------


def annotations_of(number: int) -> list[dict[str, str]]:
    return [
        {"AnnotationName": f"RULE_{number % 3}", "Status": "FAILED", "SeverityLevel": "HIGH"},
        {"AnnotationName": "TAGS", "Status": "PASSED", "SeverityLevel": "LOW"},
    ]


def add_failures(world: FakeWorld, numbers: range, *, at_ms: int) -> list[str]:
    """Failed invocations one minute apart up to at_ms (oldest first), each with its own annotations, and a
    success between every two, so runs also archive results that have nothing to enrich."""
    ids = []
    for offset, number in enumerate(numbers):
        invoked = at_ms - (len(numbers) - offset) * MINUTE_MS
        failed = hook_result(number, invoked_at_ms=invoked, status=COMPLETE_FAILED)
        world.api.add(failed, annotations=annotations_of(number))
        world.api.add(hook_result(10_000 + number, invoked_at_ms=invoked + 1, status=SUCCEEDED))
        ids.append(failed.hook_result_id)
    return ids


def burst_world(failures: int, **settings: Any) -> tuple[AnnotatedWorld, list[str]]:
    world = AnnotatedWorld(now_ms=BASE_MS, settings=default_settings(**settings))
    ids = add_failures(world, range(failures), at_ms=BASE_MS - 30 * MINUTE_MS)
    return world, ids


def configured_world(failures: int, **variables: str) -> tuple[AnnotatedWorld, list[str]]:
    """burst_world, its settings derived from environment variables as the handler's cold start does."""
    environ = {"AWS_REGION": REGION, "ARCHIVE_BUCKET": BUCKET, "AUDIT_INTERVAL_HOURS": "0", **variables}
    settings = settings_for(ArchiverConfig.from_environ(environ), ACCOUNT_ID)
    world = AnnotatedWorld(now_ms=BASE_MS, settings=settings)
    ids = add_failures(world, range(failures), at_ms=BASE_MS - 30 * MINUTE_MS)
    return world, ids


def completed(outcome: RunReport | BaseException) -> RunReport:
    assert isinstance(outcome, RunReport), repr(outcome)
    assert outcome.status == "complete", outcome
    assert not outcome.errors, outcome.errors
    return outcome


def next_run(world: AnnotatedWorld, probe: Probe | None = None) -> RunReport | BaseException:
    world.clock.advance(5 * MINUTE_MS)
    return world.run(probe)


def listed(world: FakeWorld) -> list[str]:
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    return [item.hook_result_id for item in checkpoint.annotations_due]


# -- the tests ------------------------------------------------------------------------------------------


def test_a_burst_larger_than_the_bound_ends_with_every_failures_annotations_archived_exactly_once() -> None:
    # Given 45 failures and at most 10 GetHookResult calls a run,
    world, ids = burst_world(45, max_enrichments=10)
    # when the first run archives them all and enriches 10,
    first = completed(world.run())
    assert (first.archived, first.failures, first.enriched) == (90, 45, 10)
    assert (first.annotations_deferred, first.annotations_pending) == (35, 35)
    # then every result and every event is there already: enrichment never holds archiving back,
    assert reconcile(world).ok, reconcile(world).summary()
    # and the 35 others' annotations are missing (the check can fail: this is its control case).
    assert len(annotation_findings(world).missing) == 35
    # When new failures arrive during the catch-up, each run enriches its own first, then the oldest listed.
    new_ids = add_failures(world, range(100, 103), at_ms=world.clock() + 5 * MINUTE_MS)
    second = completed(next_run(world))
    assert (second.enriched, second.annotations_caught_up, second.annotations_pending) == (3, 7, 28)
    # (The API lists newest first, so the first run enriched the newest 10; the catch-up takes the oldest.)
    annotated = {row["hook_result_id"] for row in world.annotation_rows()}
    assert annotated == {*ids[35:], *new_ids, *ids[:7]}
    pending = [completed(next_run(world)).annotations_pending for _ in range(3)]
    assert pending == [18, 8, 0]
    # Then, in steady state, every failure's annotations are archived exactly once, and nothing is listed.
    findings = annotation_findings(world)
    assert findings.ok, findings
    assert listed(world) == []
    assert len(world.annotation_rows()) == 2 * len(ids + new_ids)
    # No failure event was sent twice by the catch-up.
    assert len(world.bus.delivered) == len(ids + new_ids)
    assert reconcile(world).ok, reconcile(world).summary()


def _catch_up_world() -> AnnotatedWorld:
    world, _ids = burst_world(12, max_enrichments=4)
    assert completed(world.run()).annotations_pending == 8
    return world


def test_a_crash_before_any_step_of_a_catch_up_run_loses_and_doubles_no_annotation() -> None:
    # Given failures waiting on the list, count the steps of a clean catch-up run.
    probe = Probe()
    clean = completed(next_run(_catch_up_world(), probe))
    assert clean.annotations_caught_up == 4
    steps = list(probe.steps)
    assert "annotations.upload" in steps
    failures = []
    for crash_at in range(1, len(steps) + 1):
        # When the same run dies before step crash_at, then clean runs follow,
        world = _catch_up_world()
        outcome = next_run(world, Probe(crash_at=crash_at))
        assert not isinstance(outcome, RunReport), f"step {crash_at} did not crash"
        world.settle(runs=4)
        # then every failure's annotations are archived exactly once and the list is empty.
        findings = annotation_findings(world)
        if not findings.ok or listed(world):
            failures.append(
                f"crash before step {crash_at} ({steps[crash_at - 1]}): {findings}, {listed(world)}"
            )
    assert not failures, "\n".join(failures)


def test_a_listed_failure_a_dead_run_annotated_is_adopted_and_never_fetched_again() -> None:
    world = _catch_up_world()
    before = set(listed(world))

    saves: list[int] = []

    # Given a catch-up run that writes its annotation objects, then dies before its commit (its second save),
    def crash_at_commit(step: int, label: str) -> None:
        if label == "checkpoints.save":
            saves.append(step)
            if len(saves) == 2:
                raise SimulatedCrash("commit")

    crashed = next_run(world, Probe(on_step=crash_at_commit))
    assert isinstance(crashed, SimulatedCrash), repr(crashed)
    world.clock.advance(10 * MINUTE_MS)  # past its lease
    assert set(listed(world)) == before  # the list was not committed
    written = {row["hook_result_id"] for row in world.annotation_rows()} & before
    assert written
    # when the API has since lost those annotations (a fetch would now write nothing),
    originals = {result_id: world.api.stored(result_id) for result_id in written}
    for stored in originals.values():
        world.api.add(stored.result, annotations=())
    calls = world.api.calls["GetHookResult"]
    report = completed(next_run(world))
    # then the dead run's rows were adopted, the ids left the list without a call, and none is doubled.
    assert report.annotations_adopted == 2 * len(written)
    assert not set(listed(world)) & written
    assert world.api.calls["GetHookResult"] - calls == report.annotations_caught_up
    world.settle(runs=3)
    for stored in originals.values():  # judged against what the API said when the dead run fetched them
        world.api.add(stored.result, annotations=stored.annotations)
    assert annotation_findings(world).ok, annotation_findings(world)


def test_not_found_and_access_denied_are_counted_by_reason_and_leave_the_list() -> None:
    # Given one failure refused for good in its own run (AccessDenied), and 15 listed,
    world, _ids = burst_world(21, max_enrichments=5)
    world.api.inject("GetHookResult", "AccessDenied", times=1)
    first = completed(world.run())
    assert first.annotations_unavailable_reasons == {"AccessDenied": 1}
    assert (first.annotations_unavailable, first.annotations_pending) == (
        1,
        16,
    )  # the refused one is not listed
    # when the catch-up meets AccessDenied (kms:Decrypt) and HookResultNotFound (aged out),
    world.api.inject("GetHookResult", "AccessDenied", times=1)
    world.api.inject("GetHookResult", "HookResultNotFound", times=1)
    oldest = listed(world)[:2]
    second = completed(next_run(world))
    # then each is counted by its reason and leaves the list; the other calls caught up as usual.
    assert second.annotations_unavailable_reasons == {"AccessDenied": 1, "HookResultNotFound": 1}
    assert (second.annotations_unavailable, second.annotations_caught_up, second.annotations_pending) == (
        2,
        3,
        11,
    )
    assert not set(oldest) & set(listed(world))
    world.settle(runs=4)
    refused_in_its_run = {
        event.detail["hook_result_id"]
        for event in world.bus.delivered
        if event.detail["enrichment"]["status"] == "unavailable"
    }
    assert len(refused_in_its_run) == 1
    refused = {*refused_in_its_run, *oldest}
    assert annotation_findings(world, exempt=frozenset(refused)).ok
    # Control: without the exemption, exactly those three are reported missing.
    assert annotation_findings(world).missing == refused


def test_a_throttled_failure_stays_listed_with_its_attempts_and_is_caught_up_when_the_api_recovers() -> None:
    world, _ids = burst_world(8, max_enrichments=5)
    assert completed(world.run()).annotations_pending == 3
    world.api.inject("GetHookResult", "Throttling", times=None)
    report = completed(next_run(world))
    # Three refusals in a row stop the asking; each listed failure met one, and stays with it counted.
    assert (report.annotations_caught_up, report.annotations_unavailable, report.annotations_pending) == (
        0,
        0,
        3,
    )
    checkpoint = world.load_checkpoint()
    assert checkpoint is not None
    assert [item.attempts for item in checkpoint.annotations_due] == [1, 1, 1]
    world.api.clear_faults()
    report = completed(next_run(world))
    assert (report.annotations_caught_up, report.annotations_pending) == (3, 0)
    assert annotation_findings(world).ok


def test_a_failure_throttled_on_every_attempt_is_given_up_at_the_bound_and_counted() -> None:
    world, _ids = burst_world(7, max_enrichments=5, max_enrichment_attempts=3)
    assert completed(world.run()).annotations_pending == 2
    world.api.inject("GetHookResult", "Throttling", times=None)
    assert [completed(next_run(world)).annotations_pending for _ in range(3)] == [2, 2, 0]
    last = world.reports[-1]
    assert isinstance(last, RunReport)
    assert last.annotations_unavailable_reasons == {"Throttling (gave up)": 2}
    assert listed(world) == []


def test_a_full_catch_up_list_counts_its_overflow_and_keeps_what_was_waiting() -> None:
    # Given a list that holds 4, and 10 failures of which a run enriches 2,
    world, _ids = burst_world(10, max_enrichments=2, max_annotations_due=4)
    first = completed(world.run())
    # then 4 are listed, and the 4 that did not fit are counted, as lost, never silently.
    assert (first.annotations_deferred, first.annotations_pending, first.annotations_overflowed) == (8, 4, 4)
    assert first.annotations_unavailable_reasons == {"overflow": 4}
    waiting = listed(world)
    # A later run's failures do not push out those already waiting.
    add_failures(world, range(200, 203), at_ms=world.clock() + 5 * MINUTE_MS)
    second = completed(next_run(world))
    assert second.annotations_overflowed == 1  # 3 new, 2 enriched, 1 deferred: the list is still full
    assert set(waiting) <= set(listed(world))


def test_a_run_that_cannot_write_annotations_keeps_the_list_as_it_is() -> None:
    world = _catch_up_world()
    waiting = listed(world)
    plain = FakeWorld.dependencies(world)  # no annotations table
    world.clock.advance(5 * MINUTE_MS)
    world.api.add(hook_result(500, invoked_at_ms=world.clock() - MINUTE_MS, status=SUCCEEDED))
    report = run_archive(world.settings, plain, run_id="plain", deadline_ms=world.clock() + 300_000)
    assert report.annotations_caught_up == 0
    assert listed(world) == waiting


def test_the_catch_up_stops_at_the_time_budget_and_the_run_still_commits_what_it_did() -> None:
    # Given 25 failures waiting on the list, and GetHookResult calls that take a minute each,
    world, _ids = burst_world(30, max_enrichments=5)
    assert completed(world.run()).annotations_pending == 25
    slow = Probe(tick_ms=60_000, slow_calls="cloudformation.GetHookResult")
    # when a run has 240 s for paging (300 s timeout, 60 s margin),
    report = completed(next_run(world, slow))
    # then it stops asking after 4 calls, well inside its bound of 5, and commits those 4 and the rest listed.
    assert (report.annotations_caught_up, report.annotations_pending) == (4, 21)
    assert report.checkpoint_committed
    assert len(listed(world)) == 21
    world.settle(runs=6)
    assert annotation_findings(world).ok


# -- the catch-up's limits, as settings (MAX_ANNOTATIONS_DUE, ANNOTATION_FETCH_ATTEMPTS) --------------------


def test_max_annotations_due_caps_the_list_at_its_value_and_counts_the_overflow() -> None:
    # Given 10 failures of which a run enriches 2, and a list of 3,
    world, _ids = configured_world(10, MAX_ENRICHMENTS_PER_RUN="2", MAX_ANNOTATIONS_DUE="3")
    report = completed(world.run())
    # then 8 are deferred, 3 listed, and the 5 that did not fit are counted as lost.
    assert report.annotations_deferred == 8
    assert (report.annotations_pending, report.annotations_overflowed) == (3, 5)
    assert report.annotations_unavailable_reasons == {"overflow": 5}
    assert len(listed(world)) == 3
    # Control: the default list holds all 8.
    world, _ids = configured_world(10, MAX_ENRICHMENTS_PER_RUN="2")
    report = completed(world.run())
    assert (report.annotations_pending, report.annotations_overflowed) == (8, 0)
    assert len(listed(world)) == 8


def _throttled_runs(attempts: str | None) -> tuple[list[RunReport], int]:
    """Two failures listed, then three runs with GetHookResult throttled for good: their reports, and the
    GetHookResult calls they made."""
    variables = {"MAX_ENRICHMENTS_PER_RUN": "5"}
    if attempts is not None:
        variables["ANNOTATION_FETCH_ATTEMPTS"] = attempts
    world, _ids = configured_world(7, **variables)
    assert completed(world.run()).annotations_pending == 2
    world.api.inject("GetHookResult", "Throttling", times=None)
    calls = world.api.calls["GetHookResult"]
    reports = [completed(next_run(world)) for _ in range(3)]
    return reports, world.api.calls["GetHookResult"] - calls


def test_annotation_fetch_attempts_of_two_gives_up_after_two_throttled_calls() -> None:
    reports, calls = _throttled_runs("2")
    # Each listed failure is asked once a run: the second run's throttled call is its last, counted there.
    assert [report.annotations_pending for report in reports] == [2, 0, 0]
    assert calls == 2 * 2
    assert [report.annotations_unavailable_reasons for report in reports] == [
        {},
        {"Throttling (gave up)": 2},
        {},
    ]
    # Control: the default (5) still lists both after three throttled calls each.
    reports, calls = _throttled_runs(None)
    assert ([report.annotations_pending for report in reports], calls) == ([2, 2, 2], 3 * 2)
    assert all(not report.annotations_unavailable_reasons for report in reports)


def test_annotation_fetch_attempts_counts_the_refusal_in_the_failures_own_run() -> None:
    # Given a failure whose GetHookResult is throttled in its own run,
    for attempts, listed_after, given_up in (("1", 0, {"Throttling (gave up)": 1}), ("2", 1, {})):
        world, _ids = configured_world(1, ANNOTATION_FETCH_ATTEMPTS=attempts)
        world.api.inject("GetHookResult", "Throttling", times=1)
        report = completed(world.run())
        # then with one attempt allowed that call was its last, and with two it waits on the list.
        assert report.annotations_pending == listed_after
        assert report.annotations_unavailable_reasons == given_up
