"""What is new: classification, coverage and early stop, on a pure model of the API."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hook_archive.logic.sweep import Sweep
from hook_archive.models.checkpoint import Checkpoint
from hook_archive.models.hook_result import HookResult
from tests.unit.factories import BASE_MS, hook_result

LATE_MS = 60_000
TIMEOUT_MS = 3_600_000


@dataclass
class RunResult:
    archived: list[HookResult]
    pages: int
    checkpoint: Checkpoint
    stopped_early: bool


def newest_first(results: Sequence[HookResult]) -> list[HookResult]:
    return sorted(results, key=lambda result: (-(result.invoked_at_ms or 0), result.hook_result_id))


# Scan snapshots behind the tokens of sweep_run, as the API keeps them: token -> (listing, offset).
_TOKENS: dict[str, tuple[list[HookResult], int]] = {}


def sweep_run(
    checkpoint: Checkpoint,
    listing: Sequence[HookResult],
    *,
    page_size: int = 10,
    max_pages: int | None = None,
    now_ms: int | None = None,
) -> RunResult:
    """Drive one sweep over `listing` the way archive_run does (resuming a cut-short scan), without I/O."""
    now = now_ms if now_ms is not None else max((r.invoked_at_ms or 0 for r in listing), default=BASE_MS) + 1
    sweep = Sweep(checkpoint, late_window_ms=LATE_MS, in_progress_timeout_ms=TIMEOUT_MS, now_ms=now)
    snapshot, start = _TOKENS[checkpoint.scan.next_token] if checkpoint.scan else (list(listing), 0)
    archived: list[HookResult] = []
    pages = 0
    exhausted = True
    stopped_early = False
    resume_token: str | None = None
    for offset in range(start, len(snapshot), page_size):
        pages += 1
        archived.extend(sweep.observe(snapshot[offset : offset + page_size]))
        if offset + page_size >= len(snapshot):
            break
        if sweep.can_stop_early():
            exhausted, stopped_early = False, True
            break
        if max_pages is not None and pages >= max_pages:
            exhausted = False
            resume_token = f"token-{len(_TOKENS)}"
            _TOKENS[resume_token] = (snapshot, offset + page_size)
            break
    outcome = sweep.finish(exhausted=exhausted, resume_token=resume_token)
    archived.extend(outcome.abandoned)
    return RunResult(archived, pages, outcome.applied_to(checkpoint), stopped_early)


def empty_checkpoint() -> Checkpoint:
    return Checkpoint.initial(account_id="123456789012", region="us-east-1")


def test_backfill_archives_every_terminal_result_once_and_rerun_archives_nothing() -> None:
    history = [hook_result(n) for n in range(95)]
    first = sweep_run(empty_checkpoint(), newest_first(history))
    assert sorted(r.hook_result_id for r in first.archived) == sorted(r.hook_result_id for r in history)
    second = sweep_run(first.checkpoint, newest_first(history))
    assert second.archived == []


def test_in_progress_waits_then_is_archived_once_in_final_status() -> None:
    running = hook_result(5, status="HOOK_IN_PROGRESS")
    history = [hook_result(n) for n in range(5)] + [running]
    first = sweep_run(empty_checkpoint(), newest_first(history))
    assert running.hook_result_id not in {r.hook_result_id for r in first.archived}
    assert running.hook_result_id in first.checkpoint.pending
    finished = replace(running, status="HOOK_COMPLETE_FAILED")
    later = [*history[:5], finished, hook_result(50)]
    second = sweep_run(first.checkpoint, newest_first(later))
    assert Counter(r.hook_result_id for r in second.archived) == {
        finished.hook_result_id: 1,
        hook_result(50).hook_result_id: 1,
    }
    assert [r.status for r in second.archived if r.hook_result_id == finished.hook_result_id] == [
        "HOOK_COMPLETE_FAILED"
    ]
    assert second.checkpoint.pending == {}
    assert sweep_run(second.checkpoint, newest_first(later)).archived == []


def test_in_progress_past_the_timeout_is_archived_as_it_stands_and_never_again() -> None:
    stuck = hook_result(1, status="HOOK_IN_PROGRESS")
    first = sweep_run(empty_checkpoint(), [stuck])
    much_later = BASE_MS + TIMEOUT_MS + 10_000
    second = sweep_run(first.checkpoint, [stuck], now_ms=much_later)
    assert [r.hook_result_id for r in second.archived] == [stuck.hook_result_id]
    assert second.checkpoint.pending == {}
    finished = replace(stuck, status="HOOK_COMPLETE_SUCCEEDED")
    assert sweep_run(second.checkpoint, [finished], now_ms=much_later + 1).archived == []


def test_steady_state_newest_first_stops_one_page_after_the_new_results() -> None:
    history = [hook_result(n * 100) for n in range(300)]
    backfill = sweep_run(empty_checkpoint(), newest_first(history))
    assert backfill.checkpoint.order == "newest_first"
    new = [hook_result(40_000 + n) for n in range(25)]
    run = sweep_run(backfill.checkpoint, newest_first(history + new))
    assert run.stopped_early
    assert sorted(r.hook_result_id for r in run.archived) == sorted(r.hook_result_id for r in new)
    assert run.pages <= -(-len(new) // 10) + 1


def test_shuffled_order_is_detected_and_every_run_scans_everything() -> None:
    history = [hook_result(n * 100) for n in range(200)]
    listing = newest_first(history)
    random.Random(7).shuffle(listing)
    backfill = sweep_run(empty_checkpoint(), listing)
    assert backfill.checkpoint.order == "unordered"
    new = [hook_result(40_000 + n) for n in range(5)]
    later = listing + new
    random.Random(8).shuffle(later)
    run = sweep_run(backfill.checkpoint, later)
    assert not run.stopped_early
    assert run.pages == 21
    assert sorted(r.hook_result_id for r in run.archived) == sorted(r.hook_result_id for r in new)


def test_early_stop_is_not_used_before_a_complete_scan_proved_the_order() -> None:
    history = [hook_result(n * 100) for n in range(100)]
    run = sweep_run(empty_checkpoint(), newest_first(history))
    assert not run.stopped_early
    assert run.pages == 10


def test_known_ids_stay_bounded_by_the_late_arrival_window() -> None:
    checkpoint = empty_checkpoint()
    archived_total = 0
    for tick in range(10):
        batch = [hook_result(tick * 1_000_000 + n * 1000) for n in range(50)]
        run = sweep_run(checkpoint, newest_first(batch), now_ms=BASE_MS + tick * 1_000_000_000)
        archived_total += len(run.archived)
        checkpoint = run.checkpoint
        # Only results within LATE_MS of the newest are remembered by id.
        assert len(checkpoint.known_ids) <= LATE_MS // 1000 + 1
    assert archived_total == 500


def test_results_without_invoked_at_are_deduplicated_by_id() -> None:
    odd = hook_result(3, invoked_at_ms=None)
    first = sweep_run(empty_checkpoint(), [hook_result(1), odd])
    assert odd.hook_result_id in {r.hook_result_id for r in first.archived}
    assert sweep_run(first.checkpoint, [hook_result(1), odd]).archived == []


def test_a_result_without_invoked_at_is_archived_once_however_long_it_stays_listed() -> None:
    # Given a result the API lists without InvokedAt, among results that keep arriving
    odd = hook_result(3, invoked_at_ms=None)
    checkpoint = empty_checkpoint()
    archived: list[str] = []
    for tick in range(6):
        # When runs go on for far longer than the late-arrival window
        newer = [
            hook_result(100 + tick * 10 + n, invoked_at_ms=BASE_MS + tick * 10 * LATE_MS + n)
            for n in range(3)
        ]
        run = sweep_run(checkpoint, [*newest_first(newer), odd], now_ms=BASE_MS + tick * 10 * LATE_MS + 10)
        archived.extend(result.hook_result_id for result in run.archived)
        checkpoint = run.checkpoint
    # Then it is archived exactly once: no position ever settles it, so its id is never forgotten
    assert archived.count(odd.hook_result_id) == 1
    assert odd.hook_result_id in checkpoint.known_ids


def test_unknown_status_values_count_as_terminal() -> None:
    novel = hook_result(1, status="HOOK_SOMETHING_NEW")
    assert [r.hook_result_id for r in sweep_run(empty_checkpoint(), [novel]).archived] == [
        novel.hook_result_id
    ]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[int], str, int, list[int], int]:
    offsets = draw(st.lists(st.integers(0, 5_000), min_size=0, max_size=120))
    order = draw(st.sampled_from(["newest_first", "shuffled", "oldest_first"]))
    page_size = draw(st.integers(1, 15))
    budgets = draw(st.lists(st.integers(1, 6), min_size=0, max_size=6))
    seed = draw(st.integers(0, 2**16))
    return offsets, order, page_size, budgets, seed


def ordered(results: Sequence[HookResult], order: str, rng: random.Random) -> list[HookResult]:
    listing = newest_first(results)
    if order == "shuffled":
        rng.shuffle(listing)
    elif order == "oldest_first":
        listing.reverse()
    return listing


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_interrupted_runs_then_a_clean_run_archive_every_result_exactly_once(
    scenario: tuple[list[int], str, int, list[int], int],
) -> None:
    # Given a history with duplicate timestamps, in any order, read in pages of any size,
    offsets, order, page_size, budgets, seed = scenario
    history = [hook_result(n, invoked_at_ms=BASE_MS + offset * 1000) for n, offset in enumerate(offsets)]
    listing = ordered(history, order, random.Random(seed))
    # when runs are cut short by the time budget after a random number of pages, then one runs to the end,
    checkpoint = empty_checkpoint()
    archived: list[str] = []
    for budget in [*budgets, None]:
        run = sweep_run(checkpoint, listing, page_size=page_size, max_pages=budget)
        archived.extend(r.hook_result_id for r in run.archived)
        checkpoint = run.checkpoint
    # then every result is archived exactly once.
    assert Counter(archived) == Counter(r.hook_result_id for r in history)


@st.composite
def ticks(draw: st.DrawFn) -> tuple[str, int, int, list[tuple[int, int, int | None]]]:
    order = draw(st.sampled_from(["newest_first", "newest_first", "shuffled"]))
    page_size = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**16))
    # Each tick: new arrivals, how many in-progress ones finish, and the run's page budget (None: no limit).
    plan = draw(
        st.lists(
            st.tuples(st.integers(0, 12), st.integers(0, 3), st.one_of(st.none(), st.integers(1, 4))),
            min_size=1,
            max_size=10,
        )
    )
    return order, page_size, seed, plan


@settings(max_examples=200, deadline=None)
@given(ticks())
def test_arrivals_late_results_and_finishing_invocations_are_archived_exactly_once(
    scenario: tuple[str, int, int, list[tuple[int, int, int | None]]],
) -> None:
    # Given results that keep arriving between runs, some up to the late-arrival window behind the newest,
    # some in progress that finish later, and runs cut short at random,
    order, page_size, seed, plan = scenario
    rng = random.Random(seed)
    visible: dict[str, HookResult] = {}
    newest = BASE_MS
    checkpoint = empty_checkpoint()
    archived: list[HookResult] = []
    number = 0
    now = BASE_MS
    for arrivals, finishing, budget in plan:
        for _ in range(arrivals):
            number += 1
            late = rng.random() < 0.3
            invoked = (
                newest - rng.randrange(0, int(LATE_MS * 0.9)) if late else newest + rng.randrange(0, 20_000)
            )
            status = "HOOK_IN_PROGRESS" if rng.random() < 0.25 else "HOOK_COMPLETE_FAILED"
            result = hook_result(number, invoked_at_ms=invoked, status=status)
            visible[result.hook_result_id] = result
            newest = max(newest, invoked)
        running = [r for r in visible.values() if not r.is_terminal]
        for result in rng.sample(running, min(finishing, len(running))):
            visible[result.hook_result_id] = replace(result, status="HOOK_COMPLETE_SUCCEEDED")
        now = max(now, newest) + 1_000
        run = sweep_run(
            checkpoint,
            ordered(list(visible.values()), order, rng),
            page_size=page_size,
            max_pages=budget,
            now_ms=now,
        )
        archived.extend(run.archived)
        checkpoint = run.checkpoint
    # when everything finishes and two unhurried runs follow,
    for result_id, result in list(visible.items()):
        if not result.is_terminal:
            visible[result_id] = replace(result, status="HOOK_COMPLETE_SUCCEEDED")
    for _ in range(2):
        now += 1_000
        run = sweep_run(
            checkpoint, ordered(list(visible.values()), order, rng), page_size=page_size, now_ms=now
        )
        archived.extend(run.archived)
        checkpoint = run.checkpoint
    # then each invocation is archived exactly once, in its final status.
    assert Counter(r.hook_result_id for r in archived) == Counter(list(visible))
    assert all(r.is_terminal for r in archived)
    assert checkpoint.pending == {}


def test_backfill_longer_than_one_run_resumes_where_the_last_run_stopped() -> None:
    # Given an order nobody has proven yet and runs that can each read only 3 pages,
    history = [hook_result(n * 10) for n in range(100)]
    listing = newest_first(history)
    random.Random(3).shuffle(listing)
    checkpoint = empty_checkpoint()
    archived: list[str] = []
    runs = 0
    # when runs follow each other,
    while True:
        runs += 1
        run = sweep_run(checkpoint, listing, page_size=10, max_pages=3)
        archived.extend(r.hook_result_id for r in run.archived)
        checkpoint = run.checkpoint
        if checkpoint.scan is None or runs > 10:
            break
    # then each continues the same scan: 10 pages take 4 runs, and everything is archived once.
    assert runs == 4
    assert Counter(archived) == Counter(r.hook_result_id for r in history)
    assert checkpoint.order == "unordered"
    assert len(checkpoint.known_ids) <= LATE_MS // 1000 + 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 3_000), min_size=1, max_size=60),
    st.lists(st.integers(0, 59), max_size=20),
    st.integers(1, 9),
    st.booleans(),
)
def test_ids_repeated_within_and_across_pages_are_archived_once(
    offsets: list[int], repeats: list[int], page_size: int, shuffle: bool
) -> None:
    # Given a listing where some results come back again on the same or a later page,
    history = [hook_result(n, invoked_at_ms=BASE_MS + offset * 1000) for n, offset in enumerate(offsets)]
    listing = newest_first(history)
    for position in repeats:
        item = listing[position % len(listing)]
        listing.insert(min(len(listing), position % len(listing) + position % 7), item)
    if shuffle:
        random.Random(len(offsets)).shuffle(listing)
    # when two runs read it,
    first = sweep_run(empty_checkpoint(), listing, page_size=page_size)
    second = sweep_run(first.checkpoint, listing, page_size=page_size)
    # then every id is archived exactly once.
    assert Counter(r.hook_result_id for r in first.archived + second.archived) == Counter(
        r.hook_result_id for r in history
    )
