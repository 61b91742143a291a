"""The only boto3 code of ``replay``: PutEvents through the archiver's own publisher (10 entries a call, only
retryable entry failures sent again, a bounded number of times), paced by a Pacer.

The publisher reports a whole call that failed as failed entries; a replay must tell that apart (AWS refused:
stop, exit 3, or 2 for a bus that does not exist) from entries that failed (exit 1). The paced client below
sees each call first, so it keeps the refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.dal.event_publisher import EventBridgePublisher
from hook_archive_cli.archive_reads import CLIENT_CONFIG, aws_failure
from hook_archive_cli.errors import CliError, UsageError
from hook_archive_cli.replay import Pacer, ReplayEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

# A bus that is not there is the caller's configuration (exit 2), as a bucket that is not there.
_NOT_THERE = frozenset({"ResourceNotFoundException"})
ENTRY_ATTEMPTS = 4


class _PacedClient:
    """An EventBridge client whose PutEvents waits for the pacer and keeps the first whole-call failure."""

    def __init__(self, client: EventBridgeClient, pacer: Pacer) -> None:
        self._client = client
        self._pacer = pacer
        self.refusal: BaseException | None = None

    def put_events(self, **request: Any) -> Any:
        self._pacer.wait(len(request["Entries"]))
        try:
            return self._client.put_events(**request)
        except (ClientError, BotoCoreError) as error:
            if self.refusal is None:
                self.refusal = error
            raise


@dataclass
class PutOutcome:
    put: int = 0
    calls: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    not_sent: list[str] = field(default_factory=list)
    refusal: CliError | None = None


def bus_region(bus: str, default: str) -> str:
    """A bus ARN's region (PutEvents must be called there); a bus name is the caller's region's."""
    return bus.split(":", 4)[3] if bus.startswith("arn:") else default


def put_replays(
    session: boto3.Session,
    events: Sequence[ReplayEvent],
    *,
    bus: str,
    pacer: Pacer,
    sleep: Callable[[float], None],
    on_progress: Callable[[int, int], None] | None = None,
) -> PutOutcome:
    """Put ``events`` on ``bus``, a batch at a time; stop at the first call AWS refuses."""
    region = bus_region(bus, session.region_name or "")
    client = _PacedClient(session.client("events", region_name=region, config=CLIENT_CONFIG), pacer)
    publisher = EventBridgePublisher(
        bus_name=bus,
        client=client,  # type: ignore[arg-type]  # the one call the publisher makes, paced
        entry_attempts=ENTRY_ATTEMPTS,
        workers=1,  # one call at a time: the pacer counts them in order
        sleep=sleep,
    )
    by_envelope = {id(event.envelope): event.hook_result_id for event in events}
    outcome = PutOutcome()
    size = pacer.batch_size
    for start in range(0, len(events), size):
        batch = events[start : start + size]
        published = publisher.publish([event.envelope for event in batch])
        outcome.put += published.published
        outcome.calls += published.calls
        if client.refusal is not None:
            outcome.refusal = _refusal(bus, client.refusal)
            outcome.not_sent = [event.hook_result_id for event in events[start:]]
            # Entries of an earlier call may have gone out before the refusal: they count as put.
            return outcome
        for failure in published.failed:
            outcome.failed.append(
                {
                    "hook_result_id": by_envelope[id(failure.envelope)],
                    "error_code": failure.error_code,
                    "message": failure.error_message,
                }
            )
        if on_progress is not None:
            on_progress(min(start + size, len(events)), len(events))
    return outcome


def _refusal(bus: str, error: BaseException) -> CliError:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code") or "")
        if code in _NOT_THERE:
            message = str(error.response.get("Error", {}).get("Message") or "")
            return UsageError(f"PutEvents on bus {bus} failed: {code}: {message} (check --bus and --region)")
    return aws_failure(f"PutEvents on bus {bus}", error)
