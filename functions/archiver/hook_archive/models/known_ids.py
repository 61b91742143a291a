"""The ids the checkpoint must remember, kept compact so a long backfill does not grow memory per id.

Until a complete scan proves the API's order, a backfill spread over many invocations must remember every
id it archived (see logic/sweep.py). As Python strings in a dict they cost many times their length in
memory, and the whole set was loaded, copied and serialised as JSON twice per run. Here each id is a 128-bit
BLAKE2b digest, split in two signed 64-bit halves, with its InvokedAt position: three sorted int64 arrays,
24 bytes per id, looked up by binary search. It is stored as one binary object beside the checkpoint
(dal/checkpoint_store): a magic, then 24-byte little-endian records (high, low, position) in sorted order.

A run changes the set only at its commit, as a KnownIdsUpdate (the set it loaded plus what it archived,
minus what became settled). The update is streamed record by record into the stored object, so a large set
is never held twice in memory; the next run loads the new object.

A digest collision would make a new result look archived. With 128 bits the chance among even 10^7
remembered ids is about 10^-25, far below the chance of a hardware fault; the ids themselves stay in the
archive, so nothing else depends on the digest.

What the set costs a long backfill in memory and checkpoint time is measured in bench/RESULTS.md, section 3.
"""

from __future__ import annotations

import hashlib
import heapq
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from hook_archive.errors import MalformedKnownIdsError

MAGIC = b"CFNHAK01"  # cfn-hook-archive known ids, layout 1: magic, then sorted (high, low, position) records
RECORD_BYTES = 24
_RECORDS_PER_CHUNK = 8192

Entry = tuple[int, int, int]  # (high, low, position)


def id_key(result_id: str) -> tuple[int, int]:
    """The id's 128-bit BLAKE2b digest as two signed 64-bit halves (the arrays' element type)."""
    digest = hashlib.blake2b(result_id.encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "little", signed=True), int.from_bytes(
        digest[8:], "little", signed=True
    )


def _records(entries: Iterable[Entry]) -> Iterator[bytes]:
    """Entries as stored: chunks of little-endian int64 triples."""
    chunk = array("q")
    for entry in entries:
        chunk.extend(entry)
        if len(chunk) >= 3 * _RECORDS_PER_CHUNK:
            yield _little_endian(chunk)
            chunk = array("q")
    if chunk:
        yield _little_endian(chunk)


def _little_endian(values: array[int]) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _merge(
    current: Iterable[Entry], additions: Mapping[str, int], keep: Callable[[int], bool]
) -> Iterator[Entry]:
    """The sorted union of current entries and the additions (both filtered by `keep`), one entry per id."""
    added = sorted(
        (*id_key(result_id), position) for result_id, position in additions.items() if keep(position)
    )
    last: tuple[int, int] | None = None
    for high, low, position in heapq.merge((entry for entry in current if keep(entry[2])), added):
        if (high, low) == last:
            continue  # the same id twice: the first (lowest) position wins, both are unsettled alike
        last = (high, low)
        yield high, low, position


def _records_array(chunk: bytes) -> array[int]:
    if len(chunk) % RECORD_BYTES:
        raise MalformedKnownIdsError(f"a chunk of {len(chunk)} bytes is not whole 24-byte records")
    values = array("q")
    values.frombytes(chunk)
    if sys.byteorder != "little":
        values.byteswap()
    return values


class KnownIds:
    """An immutable set of result ids, each with the InvokedAt position (epoch ms) it was archived at."""

    __slots__ = ("_highs", "_lows", "_positions")

    def __init__(
        self,
        highs: array[int] | None = None,
        lows: array[int] | None = None,
        positions: array[int] | None = None,
    ) -> None:
        # Sorted by (high, low), without repeats: built only from sorted, merged entries.
        self._highs = highs if highs is not None else array("q")
        self._lows = lows if lows is not None else array("q")
        self._positions = positions if positions is not None else array("q")

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> KnownIds:
        known = cls()
        for high, low, position in entries:
            known._highs.append(high)
            known._lows.append(low)
            known._positions.append(position)
        return known

    @classmethod
    def from_mapping(cls, positions: Mapping[str, int]) -> KnownIds:
        return cls.from_entries(_merge((), positions, lambda _position: True))

    @classmethod
    def from_records(cls, chunks: Iterable[bytes], *, count: int) -> KnownIds:
        """Read stored records chunk by chunk (each a whole number of records). With the count known, the
        arrays are allocated once at their final size and filled in place: growing them chunk by chunk would
        reallocate and copy them again and again, which fragments the heap by about their own size."""
        known = cls(array("q", [0]) * count, array("q", [0]) * count, array("q", [0]) * count)
        filled = 0
        for chunk in chunks:
            values = _records_array(chunk)
            size = len(values) // 3
            if filled + size > count:
                raise MalformedKnownIdsError(f"more than the {count} records announced")
            known._highs[filled : filled + size] = values[0::3]
            known._lows[filled : filled + size] = values[1::3]
            known._positions[filled : filled + size] = values[2::3]
            filled += size
        if filled != count:
            raise MalformedKnownIdsError(f"{filled} records where {count} were announced")
        return known

    def __len__(self) -> int:
        return len(self._highs)

    def __bool__(self) -> bool:
        return len(self._highs) > 0

    def __contains__(self, result_id: object) -> bool:
        if not self._highs or not isinstance(result_id, str):
            return False
        return self._index(result_id) is not None

    def position_of(self, result_id: str) -> int | None:
        index = self._index(result_id) if self._highs else None
        return None if index is None else self._positions[index]

    def _index(self, result_id: str) -> int | None:
        high, low = id_key(result_id)
        index = bisect_left(self._highs, high)
        while index < len(self._highs) and self._highs[index] == high:
            if self._lows[index] == low:
                return index
            index += 1
        return None

    def positions(self) -> Iterator[int]:
        return iter(self._positions)

    def entries(self) -> Iterator[Entry]:
        return zip(self._highs, self._lows, self._positions, strict=True)

    def records(self) -> Iterator[bytes]:
        return _records(self.entries())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KnownIds):
            return NotImplemented
        return (self._highs, self._lows, self._positions) == (other._highs, other._lows, other._positions)

    __hash__ = None  # type: ignore[assignment]  # compared by value; never a key

    def __repr__(self) -> str:
        return f"KnownIds({len(self)} ids)"

    def merged(self, additions: Mapping[str, int], *, keep: Callable[[int], bool]) -> KnownIds:
        """A new set in memory: these ids plus the additions, keeping only positions that pass `keep`."""
        return KnownIds.from_entries(_merge(self.entries(), additions, keep))

    def updated(
        self, additions: Mapping[str, int], *, keep: Callable[[int], bool]
    ) -> KnownIds | KnownIdsUpdate:
        """This set itself when nothing would change, else the change, to be streamed at the commit."""
        kept = {result_id: position for result_id, position in additions.items() if keep(position)}
        if not kept and all(keep(position) for position in self._positions):
            return self
        return KnownIdsUpdate(self, kept, keep)

    def to_bytes(self) -> bytes:
        return MAGIC + b"".join(self.records())

    @classmethod
    def from_bytes(cls, data: bytes) -> KnownIds:
        if data[: len(MAGIC)] != MAGIC or (len(data) - len(MAGIC)) % RECORD_BYTES:
            raise MalformedKnownIdsError(
                f"not a known-ids object (expected {MAGIC!r} then 24-byte records, got {len(data)} bytes)"
            )
        body = data[len(MAGIC) :]
        return cls.from_records([body], count=len(body) // RECORD_BYTES)


@dataclass(frozen=True, eq=False)
class KnownIdsUpdate:
    """A set of known ids as it will be after a commit: `base` plus `additions`, minus what `keep` rejects.
    Written by streaming the merge (records()); it is never equal to a stored set, since it is a change."""

    base: KnownIds
    additions: Mapping[str, int]
    keep: Callable[[int], bool]

    def records(self) -> Iterator[bytes]:
        return _records(_merge(self.base.entries(), self.additions, self.keep))

    @cached_property
    def materialized(self) -> KnownIds:
        """The resulting set in memory (for a run chained in memory, as the unit tests do)."""
        return self.base.merged(self.additions, keep=self.keep)

    def __contains__(self, result_id: object) -> bool:
        return result_id in self.materialized

    def __len__(self) -> int:
        return len(self.materialized)

    def position_of(self, result_id: str) -> int | None:
        return self.materialized.position_of(result_id)

    def positions(self) -> Iterator[int]:
        return self.materialized.positions()

    def updated(
        self, additions: Mapping[str, int], *, keep: Callable[[int], bool]
    ) -> KnownIds | KnownIdsUpdate:
        return self.materialized.updated(additions, keep=keep)
