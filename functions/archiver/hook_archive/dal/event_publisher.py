"""EventBridge PutEvents: at most 10 entries a call, and only failed entries with a retryable code are
sent again. What still fails is handed back to the caller, never silently dropped."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.dal.aws_errors import error_code, error_message
from hook_archive.logic.failure_events import EventEnvelope

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES_PER_CALL = 10
RETRYABLE_ENTRY_CODES = frozenset(
    {
        "ThrottlingException",
        "InternalException",
        "InternalFailure",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# Not retried within the run (the same call would fail again) but kept for the next one: they end when the
# role or the bus policy is fixed (PutEventsResultEntry's authorization codes), and a notification is not
# worth losing to a permission mistake.
KEPT_FOR_NEXT_RUN_ENTRY_CODES = frozenset(
    {"AccessDeniedException", "NotAuthorizedForSourceException", "NotAuthorizedForDetailTypeException"}
)


@dataclass(frozen=True)
class FailedEntry:
    envelope: EventEnvelope
    error_code: str
    error_message: str
    retryable: bool


@dataclass
class PublishOutcome:
    published: int = 0
    calls: int = 0
    failed: list[FailedEntry] = field(default_factory=list)


class EventBridgePublisher:
    def __init__(
        self,
        *,
        bus_name: str,
        client: EventBridgeClient | None = None,
        botocore_config: Config | None = None,
        entry_attempts: int = 4,
        workers: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client or boto3.client("events", config=botocore_config)
        self._bus_name = bus_name
        self._entry_attempts = entry_attempts
        self._workers = workers
        self._sleep = sleep

    def publish(self, envelopes: Sequence[EventEnvelope]) -> PublishOutcome:
        """Chunks of 10 go out on a few threads (boto3 clients are thread-safe): calls are latency-bound."""
        chunks = [
            list(envelopes[start : start + MAX_ENTRIES_PER_CALL])
            for start in range(0, len(envelopes), MAX_ENTRIES_PER_CALL)
        ]
        outcome = PublishOutcome()
        if self._workers <= 1 or len(chunks) <= 1:
            parts = [self._publish_chunk(chunk) for chunk in chunks]
        else:
            with ThreadPoolExecutor(max_workers=min(self._workers, len(chunks))) as pool:
                parts = list(pool.map(self._publish_chunk, chunks))
        for part in parts:
            outcome.published += part.published
            outcome.calls += part.calls
            outcome.failed.extend(part.failed)
        return outcome

    def _publish_chunk(self, chunk: list[EventEnvelope]) -> PublishOutcome:
        outcome = PublishOutcome()
        self._send_with_retries(chunk, outcome)
        return outcome

    def _send_with_retries(self, chunk: list[EventEnvelope], outcome: PublishOutcome) -> None:
        for attempt in range(1, self._entry_attempts + 1):
            outcome.calls += 1
            try:
                response = self._client.put_events(Entries=[self._entry(envelope) for envelope in chunk])
            except ClientError as error:
                # botocore already retried throttling and 5xx: whatever reaches here fails the whole chunk.
                code, message = error_code(error), error_message(error)
                outcome.failed.extend(FailedEntry(envelope, code, message, True) for envelope in chunk)
                return
            except BotoCoreError as error:
                outcome.failed.extend(
                    FailedEntry(envelope, type(error).__name__, str(error), True) for envelope in chunk
                )
                return
            retry: list[EventEnvelope] = []
            last_errors: dict[int, tuple[str, str]] = {}
            for envelope, result in zip(chunk, response.get("Entries", []), strict=False):
                code = result.get("ErrorCode") or ""
                if not code:
                    outcome.published += 1
                elif code in RETRYABLE_ENTRY_CODES:
                    retry.append(envelope)
                    last_errors[id(envelope)] = (code, result.get("ErrorMessage", ""))
                else:
                    kept = code in KEPT_FOR_NEXT_RUN_ENTRY_CODES
                    outcome.failed.append(FailedEntry(envelope, code, result.get("ErrorMessage", ""), kept))
            if not retry:
                return
            if attempt == self._entry_attempts:
                outcome.failed.extend(
                    FailedEntry(envelope, *last_errors[id(envelope)], True) for envelope in retry
                )
                return
            chunk = retry
            self._sleep(min(2.0, 0.1 * 2**attempt))

    def _entry(self, envelope: EventEnvelope) -> PutEventsRequestEntryTypeDef:
        return {
            "EventBusName": self._bus_name,
            "Source": envelope.source,
            "DetailType": envelope.detail_type,
            "Detail": envelope.detail,
            "Resources": list(envelope.resources),
        }
