"""What an invocation asks for, from its event: a schedule tick, a full reconciliation, or the days of the
raw objects S3 notified (through SQS, or EventBridge)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from urllib.parse import unquote_plus

from curator.logic.curation import CurationRequest
from curator.models.raw_archive import day_of_key


def _s3_keys(event: Mapping[str, Any]) -> Iterable[str]:
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            body = json.loads(record.get("body") or "{}")
            yield from _s3_keys(body if isinstance(body, Mapping) else {})
        elif record.get("eventSource") == "aws:s3":
            # S3 notifications URL-encode the key, spaces as '+'.
            yield unquote_plus(record["s3"]["object"]["key"])
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), Mapping):
        key = event["detail"].get("object", {}).get("key")
        if isinstance(key, str):
            yield key


def request_from_event(event: Mapping[str, Any], *, archive_prefix: str) -> CurationRequest:
    if event.get("full") is True:
        return CurationRequest(full=True)
    if "Records" in event or event.get("source") == "aws.s3":
        days: set[date] = set()
        for key in _s3_keys(event):
            day = day_of_key(archive_prefix, key)
            if day is not None:
                days.add(day)
        # Notifications name objects, not what to leave alone: maintenance runs on the schedule only.
        return CurationRequest(days=frozenset(days), compact=True, expire=False)
    return CurationRequest()
