"""The ids the checkpoint must remember, kept compact so a long backfill does not grow memory per id.

Until a complete scan proves the API's order, a backfill spread over many invocations must remember every
id it archived (see logic/sweep.py). As Python strings in a dict that cost about 370 bytes of memory per
id, and the whole set was loaded, copied and serialised as JSON twice per run. Here each id is a 128-bit
BLAKE2b digest in two sorted uint64 arrays, with its InvokedAt position in an int64 array: 24 bytes per
id, looked up by binary search, stored as one binary object beside the checkpoint (dal/checkpoint_store).

A digest collision would make a new result look archived. With 128 bits the chance among even 10^7
remembered ids is about 10^-25, far below the chance of a hardware fault; the ids themselves stay in the
archive, so nothing else depends on the digest.
"""

from __future__ import annotations

import hashlib
import heapq
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping

_HIGH = 64
_LOW_MASK = (1 << 64) - 1
_ENTRY_BYTES = 24  # high + low digest halves + position
MAGIC = (
    b"CFNHAK01"  # cfn-hook-archive known ids, layout 1: magic, then highs, lows, positions (little-endian)
)


class MalformedKnownIdsError(ValueError):
    """The stored known-ids object cannot be decoded."""


def id_digest(result_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(result_id.encode(), digest_size=16).digest(), "big")


def _little_endian(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def _from_little_endian(typecode: str, data: bytes | memoryview) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
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
        # Sorted by (high, low), without repeats: built only by from_mapping / merged / from_bytes.
        self._highs = highs if highs is not None else array("Q")
        self._lows = lows if lows is not None else array("Q")
        self._positions = positions if positions is not None else array("q")

    @classmethod
    def from_mapping(cls, positions: Mapping[str, int]) -> KnownIds:
        return cls().merged(positions, keep=lambda _position: True)

    def __len__(self) -> int:
        return len(self._highs)

    def __bool__(self) -> bool:
        return len(self._highs) > 0

    def __contains__(self, result_id: object) -> bool:
        if not self._highs or not isinstance(result_id, str):
            return False
        return self._index(id_digest(result_id)) is not None

    def position_of(self, result_id: str) -> int | None:
        index = self._index(id_digest(result_id)) if self._highs else None
        return None if index is None else self._positions[index]

    def _index(self, digest: int) -> int | None:
        high, low = digest >> _HIGH, digest & _LOW_MASK
        index = bisect_left(self._highs, high)
        while index < len(self._highs) and self._highs[index] == high:
            if self._lows[index] == low:
                return index
            index += 1
        return None

    def positions(self) -> Iterator[int]:
        return iter(self._positions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KnownIds):
            return NotImplemented
        return (self._highs, self._lows, self._positions) == (other._highs, other._lows, other._positions)

    __hash__ = None  # type: ignore[assignment]  # compared by value; never a key

    def __repr__(self) -> str:
        return f"KnownIds({len(self)} ids)"

    def merged(self, additions: Mapping[str, int], *, keep: Callable[[int], bool]) -> KnownIds:
        """A new set: these ids plus the additions, keeping only entries whose position passes `keep`.

        Works in one streaming pass, so a merge never holds the whole set as Python objects."""
        added = sorted(
            (digest >> _HIGH, digest & _LOW_MASK, position)
            for digest, position in ((id_digest(result_id), pos) for result_id, pos in additions.items())
            if keep(position)
        )
        current = (
            entry for entry in zip(self._highs, self._lows, self._positions, strict=True) if keep(entry[2])
        )
        highs, lows, positions = array("Q"), array("Q"), array("q")
        last: tuple[int, int] | None = None
        for high, low, position in heapq.merge(current, added):
            if (high, low) == last:
                continue  # the same id twice: the first (lowest) position wins, both are unsettled alike
            last = (high, low)
            highs.append(high)
            lows.append(low)
            positions.append(position)
        return KnownIds(highs, lows, positions)

    def sections(self) -> tuple[bytes, bytes, bytes, bytes]:
        """The stored layout: magic, then the highs, lows and positions, each little-endian."""
        return MAGIC, _little_endian(self._highs), _little_endian(self._lows), _little_endian(self._positions)

    def views(self) -> list[memoryview]:
        """The stored layout without copying the arrays (a copy only on a big-endian host)."""
        if sys.byteorder != "little":
            return [memoryview(section) for section in self.sections()]
        arrays = (self._highs, self._lows, self._positions)
        return [memoryview(MAGIC), *(memoryview(values).cast("B") for values in arrays)]

    @classmethod
    def from_sections(cls, highs: bytes, lows: bytes, positions: bytes) -> KnownIds:
        if not len(highs) == len(lows) == len(positions) or len(highs) % 8:
            raise MalformedKnownIdsError(
                f"known-ids sections of {len(highs)}, {len(lows)} and {len(positions)} bytes do not match"
            )
        return cls(
            _from_little_endian("Q", highs),
            _from_little_endian("Q", lows),
            _from_little_endian("q", positions),
        )

    def to_bytes(self) -> bytes:
        return b"".join(self.views())

    @classmethod
    def from_bytes(cls, data: bytes) -> KnownIds:
        body = data[len(MAGIC) :]
        if data[: len(MAGIC)] != MAGIC or len(body) % _ENTRY_BYTES:
            raise MalformedKnownIdsError(
                f"not a known-ids object (expected {MAGIC!r} then 24-byte entries, got {len(data)} bytes)"
            )
        count = len(body) // _ENTRY_BYTES
        return cls.from_sections(body[: 8 * count], body[8 * count : 16 * count], body[16 * count :])
