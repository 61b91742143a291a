"""Reading py-spy's raw (collapsed-stack) output: self and inclusive shares per frame."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class FrameShare:
    frame: str
    self_share: float
    inclusive_share: float


def _function(frame: str) -> str:
    """'name (path/to/file.py:123)' -> 'name (file.py)', so lines of one function add up."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match.group("file")
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{match.group('function')} ({short})"


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks[tuple(_function(frame) for frame in stack.split(";"))] += int(count)
    return stacks


def top_frames(
    stacks: Counter[tuple[str, ...]], *, under: str | None = None, limit: int = 15
) -> tuple[int, list[FrameShare], list[FrameShare]]:
    """(samples, top by self time, top by inclusive time), counting only stacks that pass through a frame
    whose text contains `under` (e.g. the handler), so interpreter start and imports are left out."""
    selected = Counter(
        {stack: count for stack, count in stacks.items() if under is None or any(under in f for f in stack)}
    )
    total = sum(selected.values()) or 1
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in selected.items():
        if stack:
            self_counts[stack[-1]] += count
        for frame in set(stack):
            inclusive[frame] += count
    by_self = [
        FrameShare(frame, count / total, inclusive[frame] / total)
        for frame, count in self_counts.most_common(limit)
    ]
    by_inclusive = [
        FrameShare(frame, self_counts[frame] / total, count / total)
        for frame, count in inclusive.most_common(limit + 12)
    ]
    return sum(selected.values()), by_self, by_inclusive


def own_frames(
    stacks: Counter[tuple[str, ...]], *, under: str, folders: frozenset[str], limit: int = 12
) -> list[FrameShare]:
    """Frames of our own modules (by folder, e.g. logic/, dal/), by inclusive share."""
    _, _, by_inclusive = top_frames(stacks, under=under, limit=100_000)
    mine = [share for share in by_inclusive if share.frame.rsplit("(", 1)[-1].split("/")[0] in folders]
    return mine[:limit]


def categorize(
    stacks: Counter[tuple[str, ...]], rules: list[tuple[str, list[str]]], *, under: str
) -> list[tuple[str, float]]:
    """Share of samples per activity: a stack goes to the first rule whose markers all occur in it."""
    counts: Counter[str] = Counter()
    total = 0
    for stack, count in stacks.items():
        if not any(under in frame for frame in stack):
            continue
        total += count
        joined = ";".join(stack)
        for name, markers in rules:
            if all(marker in joined for marker in markers):
                counts[name] += count
                break
    return [(name, count / (total or 1)) for name, count in counts.most_common()]
