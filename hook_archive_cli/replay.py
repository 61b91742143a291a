"""``replay``: which archived rows to send again, and the events they become. Pure: the rows are read by
hook_archive_cli.archive_reads and the events put by hook_archive_cli.event_replays.

Events are built by the archiver's own builder (build_detail, then to_envelope, which fits them under
PutEvents' 256 KB), so a replayed event differs from a live one only where it must:

- ``schema_version`` 1.1 and ``replay`` (when and why it was sent again);
- ``enrichment``: status ``unavailable`` with error_code ``NotArchived``, since the archive does not keep
  GetHookResult's annotations and target (yet); the summary fields, archive_uri and archived_at are the
  archive's.

Consumers drop repeats by ``hook_result_id``: a replay of an event they already handled is a no-op for them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hook_archive.dal.event_publisher import KEPT_FOR_NEXT_RUN_ENTRY_CODES, MAX_ENTRIES_PER_CALL
from hook_archive.logic.failure_events import EventEnvelope, build_detail, iso_ms, to_envelope
from hook_archive.logic.partitioning import s3_uri
from hook_archive.models.failure_event import Enrichment, Replay
from hook_archive.models.hook_result import utc_date
from hook_archive_cli.verify import UNDATED, ArchivedRow

FAILED_STATUSES = frozenset({"HOOK_COMPLETE_FAILED", "HOOK_FAILED"})
REPLAY_REASON = "cfn-hook-archive replay"
# What the model allows for "no GetHookResult answer": the archive holds none to replay.
NOT_ARCHIVED = Enrichment(status="unavailable", error_code="NotArchived")


@dataclass(frozen=True)
class Selection:
    """The failed rows to replay, one per hook_result_id, oldest first; and the --ids nothing matched."""

    rows: list[ArchivedRow]
    not_found: list[str]


def select(
    rows: Iterable[ArchivedRow],
    *,
    since: date,
    until: date,
    hook: str | None = None,
    ids: Sequence[str] = (),
) -> Selection:
    """Failed invocations of [since, until] (by InvokedAt, UTC), of one hook type, or of these ids.

    An id archived twice (the archive is exactly once, but a copy or a repair may duplicate) is sent once:
    the first archived row, as the archiver sent it first.
    """
    wanted = set(ids)
    chosen: dict[str, ArchivedRow] = {}
    for row in rows:
        result = row.result
        if result.status not in FAILED_STATUSES:
            continue
        day = utc_date(result.invoked_at_ms) if result.invoked_at_ms is not None else row.day
        if not since <= day <= until:
            continue
        if hook is not None and result.type_name != hook:
            continue
        if wanted and result.hook_result_id not in wanted:
            continue
        previous = chosen.get(result.hook_result_id)
        if previous is None or (row.archived_at_ms or 0, row.key) < (
            previous.archived_at_ms or 0,
            previous.key,
        ):
            chosen[result.hook_result_id] = row
    ordered = sorted(
        chosen.values(), key=lambda row: (row.result.invoked_at_ms or 0, row.result.hook_result_id)
    )
    return Selection(ordered, sorted(wanted - set(chosen)))


def _archived_order(row: ArchivedRow) -> tuple[int, str]:
    return (row.archived_at_ms or 0, row.key)


@dataclass(frozen=True)
class ReplayEvent:
    hook_result_id: str
    day: str
    type_name: str | None
    envelope: EventEnvelope


def replay_events(
    rows: Sequence[ArchivedRow],
    *,
    bucket: str,
    account_id: str,
    region: str,
    source: str,
    replayed_at_ms: int,
) -> list[ReplayEvent]:
    marker = Replay(replayed_at=iso_ms(replayed_at_ms), reason=REPLAY_REASON)
    events = []
    for row in rows:
        detail = build_detail(
            row.result,
            account_id=account_id,
            region=region,
            archive_uri=s3_uri(bucket, row.key),
            # Objects written before archived_at existed do not exist: the column is in the first schema.
            archived_at_ms=row.archived_at_ms if row.archived_at_ms is not None else replayed_at_ms,
            enrichment=NOT_ARCHIVED,
        ).replayed(marker)
        events.append(
            ReplayEvent(
                row.result.hook_result_id,
                row.day.isoformat() if row.result.invoked_at_ms is not None else UNDATED,
                row.result.type_name,
                to_envelope(detail, source=source),
            )
        )
    return events


class Pacer:
    """At most ``rate`` entries in any one second: a call whose entries would exceed that, counted with the
    entries sent in the second before it, waits until the oldest of those leave the window."""

    def __init__(
        self,
        rate: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1 entry a second")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[tuple[float, int]] = deque()

    @property
    def batch_size(self) -> int:
        """PutEvents' 10 a call, or fewer when the rate is lower: one call never exceeds the rate."""
        return min(MAX_ENTRIES_PER_CALL, self.rate)

    def wait(self, entries: int) -> None:
        if entries > self.rate:
            raise ValueError(f"{entries} entries in one call exceed the rate of {self.rate} a second")
        now = self._clock()
        while True:
            while self._sent and self._sent[0][0] + 1.0 <= now:
                self._sent.popleft()
            if sum(count for _, count in self._sent) + entries <= self.rate:
                self._sent.append((now, entries))
                return
            until = self._sent[0][0] + 1.0
            self._sleep(until - now)
            now = max(self._clock(), until)  # a clock a hair short of `until` must not loop forever


@dataclass
class ReplayReport:
    bus: str | None
    source: str
    since: date
    until: date
    hook: str | None
    dry_run: bool
    rate: int
    events: list[ReplayEvent]
    not_found: list[str]
    put: int = 0
    calls: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # hook_result_id, error_code, message
    not_sent: list[str] = field(default_factory=list)  # stopped before them: AWS refused
    refused: str | None = None  # AWS's refusal that stopped the replay
    refused_exit_status: int | None = None  # 2 for a bus that is not there, else 3

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_sent and self.refused is None

    @property
    def aws_refused(self) -> bool:
        """A call refused, or an entry refused for authorization (the caller's policy or the bus's)."""
        return self.refused is not None or any(
            item["error_code"] in KEPT_FOR_NEXT_RUN_ENTRY_CODES for item in self.failed
        )

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "bus": self.bus,
            "source": self.source,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "hook": self.hook,
            "rate": self.rate,
            "selected": len(self.events),
            "not_found": self.not_found,
            "put": self.put,
            "calls": self.calls,
            "failed": self.failed,
            "not_sent": self.not_sent,
            "refused": self.refused,
        }
        if self.dry_run:
            document["entries"] = [
                {
                    "Source": event.envelope.source,
                    "DetailType": event.envelope.detail_type,
                    "Resources": list(event.envelope.resources),
                    "EventBusName": self.bus,
                    "Detail": event.envelope.detail,
                }
                for event in self.events
            ]
        return document

    def lines(self) -> list[str]:
        target = f"bus {self.bus}" if self.bus else "no bus given"
        heading = (
            f"cfn-hook-archive replay{' --dry-run' if self.dry_run else ''}: failed invocations "
            f"{self.since} to {self.until}{f' of {self.hook}' if self.hook else ''}, source {self.source}, "
            f"{target}, at most {self.rate:g} a second"
        )
        lines = [heading, ""]
        if self.dry_run:
            lines += [
                f"would send {event.hook_result_id}  {event.day}  {event.type_name or '-'}"
                for event in self.events
            ]
        lines += [f"not found (no failed row with this id in the window): {item}" for item in self.not_found]
        lines += [
            f"failed {item['hook_result_id']}: {item['error_code']}: {item['message']}"
            for item in self.failed
        ]
        if self.refused:
            lines.append(f"AWS refused: {self.refused}; {len(self.not_sent)} event(s) not sent")
        if self.dry_run:
            lines.append(f"{len(self.events)} event(s) would be sent; nothing was sent")
        else:
            lines.append(
                f"{len(self.events)} event(s) selected: {self.put} put in {self.calls} call(s), "
                f"{len(self.failed)} failed, {len(self.not_sent)} not sent"
            )
        return lines
