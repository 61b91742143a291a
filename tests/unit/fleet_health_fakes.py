"""An in-memory CheckpointSource: the archive bucket's objects as the fleet-health check sees them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fleet_health.logic.fleet_check import StoredObject


@dataclass
class MemoryCheckpoints:
    objects: dict[str, tuple[bytes | Exception, int]] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def put(self, key: str, body: bytes | Exception, *, last_modified_ms: int) -> None:
        self.objects[key] = (body, last_modified_ms)

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        for key in sorted(self.objects):  # S3 lists in key order
            if key.startswith(prefix):
                yield StoredObject(key=key, last_modified_ms=self.objects[key][1])

    def read(self, key: str) -> bytes:
        self.reads.append(key)
        body = self.objects[key][0]
        if isinstance(body, Exception):
            raise body
        return body
