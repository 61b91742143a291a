"""`cfn-hook-archive replay`: failure events sent again from an archive the real archiver wrote, received
through the local bus's rule into SQS and checked against the repo's JSON Schema; narrowing, dry runs, a
bus that is not there or may not be used, entry failures and retries, and the pace (on a fake clock)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import jsonschema
import pyarrow.parquet as pq
import pytest

from emulation.archiver_harness import ARCHIVE_PREFIX
from emulation.aws_stack import ACCOUNT_ID, REGION
from emulation.fault_proxy import Call
from hook_archive.logic.failure_events import build_detail, iso_ms, to_envelope
from hook_archive.models.failure_event import Enrichment
from hook_archive.models.hook_result import to_epoch_ms
from hook_archive_cli.__main__ import build_parser
from hook_archive_cli.replay import Pacer
from tests.cli.conftest import STACK, CliRun, Operator, _moto_client, stack_template, today
from tests.template.cfn import REPO_ROOT
from tests.unit.factories import hook_result

DETAIL_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((REPO_ROOT / "schemas" / "hook-failure-event.v1.json").read_text())
)
FAILED = {"HOOK_COMPLETE_FAILED", "HOOK_FAILED"}


@dataclass
class FakeTime:
    """A monotonic clock that only sleeping moves: the pace is measured in its seconds, not the wall's."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


def replay(operator: Operator, *argv: str, fake: FakeTime | None = None) -> CliRun:
    """`cfn-hook-archive replay ARGV` in this process, paced and backing off on a fake clock."""
    fake = fake or FakeTime()
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            args = build_parser().parse_args(["replay", *argv])
            status = args.run(args, monotonic=fake.clock, sleep=fake.sleep)
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
    return CliRun(status, stdout.getvalue(), stderr.getvalue())


@dataclass(frozen=True)
class Row:
    result_id: str
    status: str
    type_name: str
    day: str
    key: str
    archived_at_ms: int


def archive_rows(operator: Operator) -> list[Row]:
    rows = []
    for key in operator.object_keys():
        body = operator.s3().get_object(Bucket=operator.aws.bucket, Key=key)["Body"].read()
        for row in pq.read_table(io.BytesIO(body)).to_pylist():
            rows.append(
                Row(
                    row["hook_result_id"],
                    row["status"],
                    row["type_name"],
                    row["invoked_at"].date().isoformat(),
                    key,
                    to_epoch_ms(row["archived_at"]),
                )
            )
    return rows


def failed_rows(operator: Operator) -> dict[str, Row]:
    return {row.result_id: row for row in archive_rows(operator) if row.status in FAILED}


def window(operator: Operator) -> list[str]:
    first = min(row.day for row in archive_rows(operator))
    return [*operator.location, "--since", first, "--until", today().isoformat()]


def put_events_calls(operator: Operator) -> int:
    return sum(call.operation == "PutEvents" for call in operator.aws.proxy.calls)


def bus(operator: Operator) -> list[str]:
    return ["--bus", operator.aws.bus_name]


@contextlib.contextmanager
def put_events_seen(operator: Operator, fake: FakeTime) -> Iterator[list[tuple[float, int]]]:
    """(fake time, entries) of every PutEvents that reaches the local bus: the proxy asks each call's
    rule whether it applies, and this rule only takes notes."""
    seen: list[tuple[float, int]] = []

    def note(call: Call) -> bool:
        seen.append((fake.now, len(json.loads(call.body)["Entries"])))
        return False

    operator.aws.proxy.inject("PutEvents", "delay", match=note, times=None)
    yield seen


# ------------------------------------------------------------------------------------------- success


def test_replay_sends_every_failed_row_of_the_window_once_with_the_marker_in_the_published_schema(
    archived: Operator,
) -> None:
    expected = failed_rows(archived)
    assert len(expected) > 10  # more than one PutEvents call

    run = replay(archived, *window(archived), *bus(archived), "--json")

    assert run.exit_status == 0, run.stdout + run.stderr
    report = run.report
    assert (report["ok"], report["selected"], report["put"]) == (True, len(expected), len(expected))
    assert (report["failed"], report["not_sent"], report["not_found"]) == ([], [], [])
    events = archived.aws.receive_events()
    assert sorted(event["detail"]["hook_result_id"] for event in events) == sorted(expected)
    for event in events:
        detail = event["detail"]
        DETAIL_SCHEMA.validate(detail)
        row = expected[detail["hook_result_id"]]
        assert event["source"] == "cfn-hook-archive"
        assert event["detail-type"] == "CloudFormation Hook Invocation Failed"
        assert detail["schema_version"] == "1.1"
        assert detail["replay"]["reason"] == "cfn-hook-archive replay"
        assert detail["replay"]["replayed_at"].endswith("Z")
        assert detail["enrichment"] == {
            "status": "unavailable",
            "error_code": "NotArchived",
            "original_type_name": None,
            "target": None,
            "annotations": [],
        }
        assert (detail["status"], detail["type_name"]) == (row.status, row.type_name)
        assert (detail["account_id"], detail["region"]) == (ACCOUNT_ID, REGION)
        assert detail["archive_uri"] == f"s3://{archived.aws.bucket}/{row.key}"
        assert detail["archived_at"] == iso_ms(row.archived_at_ms)
        assert detail["invoked_at"].startswith(row.day)


def test_a_live_event_is_still_schema_version_1_0_without_a_replay_key() -> None:
    detail = build_detail(
        hook_result(1, status="HOOK_COMPLETE_FAILED"),
        account_id=ACCOUNT_ID,
        region=REGION,
        archive_uri="s3://bucket/hook-results/dt=2026-01-01/x.parquet",
        archived_at_ms=0,
        enrichment=Enrichment(status="disabled"),
    )

    document = json.loads(to_envelope(detail, source="cfn-hook-archive").detail)

    assert document["schema_version"] == "1.0"
    assert "replay" not in document
    DETAIL_SCHEMA.validate(document)
    with pytest.raises(jsonschema.ValidationError):  # the version says whether the marker is there
        DETAIL_SCHEMA.validate(
            {**document, "replay": {"replayed_at": "2026-01-01T00:00:00.000Z", "reason": "r"}}
        )


def test_hook_narrows_to_one_hook_types_failures(archived: Operator) -> None:
    expected = {
        item for item, row in failed_rows(archived).items() if row.type_name == "AWS::ControlTower::Hook"
    }
    assert expected

    run = replay(archived, *window(archived), *bus(archived), "--hook", "AWS::ControlTower::Hook", "--json")

    assert run.exit_status == 0, run.stdout + run.stderr
    assert {event["detail"]["hook_result_id"] for event in archived.aws.receive_events()} == expected
    assert run.report["put"] == len(expected)


def test_ids_narrow_to_those_invocations_and_name_the_ids_no_failed_row_has(archived: Operator) -> None:
    rows = archive_rows(archived)
    failed = sorted(row.result_id for row in rows if row.status in FAILED)[:2]
    succeeded = next(row.result_id for row in rows if row.status not in FAILED)

    run = replay(archived, *window(archived), *bus(archived), "--ids", *failed, succeeded, "nope", "--json")

    assert run.exit_status == 0, run.stdout + run.stderr
    assert sorted(event["detail"]["hook_result_id"] for event in archived.aws.receive_events()) == failed
    assert run.report["not_found"] == sorted([succeeded, "nope"])


def test_the_window_is_by_invoked_day(archived: Operator) -> None:
    failed = failed_rows(archived)
    last_day = max(row.day for row in failed.values())
    expected = {item for item, row in failed.items() if row.day == last_day}

    run = replay(
        archived, *archived.location, "--since", last_day, "--until", last_day, *bus(archived), "--json"
    )

    assert run.exit_status == 0, run.stdout + run.stderr
    assert {event["detail"]["hook_result_id"] for event in archived.aws.receive_events()} == expected


def test_the_stack_gives_the_archive_and_the_bus(archived: Operator) -> None:
    template = json.loads(stack_template(STACK, bucket=archived.aws.bucket, prefix=ARCHIVE_PREFIX))
    template["Outputs"]["EventBusName"] = {"Value": archived.aws.bus_name}
    _moto_client(archived.aws, "cloudformation").create_stack(
        StackName=STACK, TemplateBody=json.dumps(template)
    )
    first = min(row.day for row in archive_rows(archived))

    run = replay(archived, "--stack", STACK, "--since", first, "--until", today().isoformat(), "--json")

    assert run.exit_status == 0, run.stdout + run.stderr
    assert run.report["bus"] == archived.aws.bus_name
    assert len(archived.aws.receive_events()) == len(failed_rows(archived))


def test_dry_run_prints_the_entries_and_sends_nothing(archived: Operator) -> None:
    expected = failed_rows(archived)
    calls_before = put_events_calls(archived)

    run = replay(archived, *window(archived), *bus(archived), "--dry-run", "--json")
    table = replay(archived, *window(archived), "--dry-run")  # no bus needed to look

    assert run.exit_status == 0, run.stdout + run.stderr
    assert table.exit_status == 0, table.stdout + table.stderr
    assert archived.aws.receive_events() == []
    assert put_events_calls(archived) == calls_before
    entries = run.report["entries"]
    assert (run.report["dry_run"], run.report["put"]) == (True, 0)
    assert sorted(json.loads(entry["Detail"])["hook_result_id"] for entry in entries) == sorted(expected)
    for entry in entries:
        DETAIL_SCHEMA.validate(json.loads(entry["Detail"]))
        assert entry["EventBusName"] == archived.aws.bus_name
    assert f"{len(expected)} event(s) would be sent; nothing was sent" in table.stdout
    assert sum(line.startswith("would send ") for line in table.stdout.splitlines()) == len(expected)


# ------------------------------------------------------------------------------------------- failures


def test_a_bus_that_does_not_exist_exits_two_and_sends_nothing(archived: Operator) -> None:
    run = replay(archived, *window(archived), "--bus", "no-such-bus", "--json")

    assert run.exit_status == 2, run.stdout + run.stderr
    report = run.report
    assert "ResourceNotFoundException" in report["refused"]
    assert report["put"] == 0
    assert sorted(report["not_sent"]) == sorted(failed_rows(archived))
    assert archived.aws.receive_events() == []


def test_a_caller_the_authorizer_denies_put_events_exits_three_and_lists_what_was_not_sent(
    archived: Operator,
) -> None:
    reader = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}],
    }
    archived.use_credentials(*archived.iam_user("replayer", reader))

    run = replay(archived, *window(archived), *bus(archived), "--json")

    assert run.exit_status == 3, run.stdout + run.stderr
    report = run.report
    assert "AccessDeniedException" in report["refused"]
    assert (report["put"], report["calls"]) == (0, 1)  # stopped at the first refusal
    assert sorted(report["not_sent"]) == sorted(failed_rows(archived))
    assert archived.aws.receive_events() == []


def test_a_throttled_entry_is_sent_again_and_everything_arrives(archived: Operator) -> None:
    archived.aws.proxy.inject("PutEvents", "partial_events", failed_entries={0: "ThrottlingException"})
    fake = FakeTime()

    run = replay(archived, *window(archived), *bus(archived), "--json", fake=fake)

    assert run.exit_status == 0, run.stdout + run.stderr
    expected = failed_rows(archived)
    assert run.report["put"] == len(expected)
    assert run.report["calls"] == -(-len(expected) // 10) + 1  # the retry is one more call
    assert fake.slept  # backed off before the retry, on the fake clock
    assert sorted(event["detail"]["hook_result_id"] for event in archived.aws.receive_events()) == sorted(
        expected
    )


def test_an_entry_that_keeps_failing_is_retried_a_bounded_number_of_times_then_listed_with_exit_one(
    archived: Operator,
) -> None:
    # Given a bus on which the first entry of every call fails, retried or not
    archived.aws.proxy.inject(
        "PutEvents", "partial_events", failed_entries={0: "InternalException"}, times=None
    )
    fake = FakeTime()

    run = replay(archived, *window(archived), *bus(archived), "--json", fake=fake)

    assert run.exit_status == 1, run.stdout + run.stderr
    report = run.report
    expected = failed_rows(archived)
    batches = -(-len(expected) // 10)
    assert [item["error_code"] for item in report["failed"]] == ["InternalException"] * batches
    assert report["calls"] == batches * 4  # each batch's call, then three attempts of its first entry
    assert len(fake.slept) >= 3 * batches  # backed off between attempts
    assert report["put"] == len(expected) - batches
    given_up = {item["hook_result_id"] for item in report["failed"]}
    received = {event["detail"]["hook_result_id"] for event in archived.aws.receive_events()}
    assert received == set(expected) - given_up
    table = replay(archived, *window(archived), *bus(archived), fake=fake)  # the same, for a person
    assert table.exit_status == 1
    assert all(f"failed {item}: InternalException" in table.stdout for item in given_up)


def test_an_entry_refused_for_its_source_exits_three(archived: Operator) -> None:
    archived.aws.proxy.inject(
        "PutEvents", "partial_events", failed_entries={0: "NotAuthorizedForSourceException"}, times=1
    )

    run = replay(archived, *window(archived), *bus(archived), "--json")

    assert run.exit_status == 3, run.stdout + run.stderr
    assert [item["error_code"] for item in run.report["failed"]] == ["NotAuthorizedForSourceException"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-01-02", "--until", "2026-01-01"], "is after --until"),
        (["--since", "2026-01-01", "--until", "2026-01-02", "--rate", "0"], "--rate must be at least 1"),
        (["--since", "yesterday", "--until", "2026-01-02"], "not a date"),
        (["--since", "2026-01-01", "--until", "2026-01-02", "--source", "aws.events"], "--source"),
        (["--since", "2026-01-01", "--until", "2026-01-02"], "say which bus"),
    ],
)
def test_bad_arguments_exit_two(operator: Operator, arguments: list[str], message: str) -> None:
    calls_before = put_events_calls(operator)

    run = replay(operator, *operator.location, *arguments)

    assert run.exit_status == 2, run.stdout + run.stderr
    assert message in run.stderr
    assert put_events_calls(operator) == calls_before


# ------------------------------------------------------------------------------------------- the pace


def test_rate_bounds_the_entries_put_in_any_second_on_a_fake_clock(archived: Operator) -> None:
    fake = FakeTime()
    expected = failed_rows(archived)
    rate = 4

    with put_events_seen(archived, fake) as seen:
        run = replay(archived, *window(archived), *bus(archived), "--rate", str(rate), "--json", fake=fake)

    assert run.exit_status == 0, run.stdout + run.stderr
    assert sum(entries for _, entries in seen) == len(expected)
    assert max(entries for _, entries in seen) <= rate  # batches shrink to the rate
    for start, _ in seen:
        assert sum(entries for moment, entries in seen if start <= moment < start + 1) <= rate
    # And it did not wait more than it had to: the whole replay took about len / rate seconds.
    elapsed = seen[-1][0] - seen[0][0]
    assert len(expected) / rate - 1 <= elapsed <= len(expected) / rate
    assert len(archived.aws.receive_events()) == len(expected)


def test_pacer_lets_a_burst_of_the_rate_through_then_waits_out_the_second() -> None:
    fake = FakeTime(now=0.0)
    pacer = Pacer(50, clock=fake.clock, sleep=fake.sleep)
    sent: list[tuple[float, int]] = []

    for _ in range(25):  # 250 entries, 10 a call
        pacer.wait(10)
        sent.append((fake.now, 10))
        fake.now += 0.01  # each call takes a little while

    assert pacer.batch_size == 10
    for start, _ in sent:
        assert sum(count for moment, count in sent if start <= moment < start + 1) <= 50
    assert 4.0 <= sent[-1][0] <= 4.3  # 250 entries at 50 a second: the fifth second's burst
    with pytest.raises(ValueError, match="exceed the rate"):
        Pacer(5).wait(10)
    assert Pacer(5).batch_size == 5
