"""Results: one summary row per figure (value next to its target), per-section details, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["met", "missed", "info"]


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    target: str = ""
    verdict: Verdict = "info"


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # Markdown paragraphs and tables
    data: dict[str, Any] = field(default_factory=dict)  # raw figures other sections may use
    seconds: float = 0.0

    def row(self, measure: str, value: str, target: str = "", verdict: Verdict = "info") -> None:
        self.rows.append(Row(measure, value, target, verdict))

    def add(self, text: str) -> None:
        self.details.append(text.rstrip() + "\n")

    def table(
        self, header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None
    ) -> None:
        self.add(markdown_table(header, rows, align))


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """align: one letter per column, l or r (default: first left, the rest right)."""
    spec = align or "l" + "r" * (len(header) - 1)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in spec) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else float("nan")


def spread(values: Sequence[float]) -> str:
    """'median (min-max, n=k)' for a few repetitions."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f} (n=1)"
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f}, n={len(values)})"


def mb(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


def verdict_mark(verdict: Verdict) -> str:
    return {"met": "met", "missed": "**MISSED**", "info": "-"}[verdict]


def machine_description() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; {memory}; load average at the end: {load}",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); {_versions()}",
        f"- git: {_git_head()}; run at {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "- Everything on loopback: moto server (S3, EventBridge, SQS) and the ListHookResults emulator "
        "each in "
        "its own process; every measured invocation in a fresh process of its own.",
    ]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    parts = []
    for name in ("boto3", "pyarrow", "pydantic", "aws-lambda-powertools", "moto", "awswrangler", "duckdb"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def _git_head() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607  # git from PATH, read only
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"


def render(sections: Sequence[Section], *, mode: str, total_seconds: float) -> str:
    lines = [
        "# cfn-hook-archive benchmarks",
        "",
        f"`python -m bench{' --quick' if mode == 'quick' else ''}` ({mode} run, {total_seconds / 60:.1f} "
        "min). "
        "Figures are medians of repeated runs unless marked n=1; ratios are paired within one repetition "
        "(same servers, same data, back to back) and the median of those ratios is shown. Benchmarks assert "
        "nothing: each figure stands next to its target.",
        "",
        "## Machine",
        "",
        *machine_description(),
        "",
        "## Summary",
        "",
        markdown_table(
            ["#", "measure", "result", "target", "verdict"],
            [
                (section.key, row.measure, row.value, row.target or "-", verdict_mark(row.verdict))
                for section in sections
                for row in section.rows
            ],
            "llrrl",
        ),
        "",
    ]
    for section in sections:
        lines += [f"## {section.key}. {section.title}", "", f"_Section time: {section.seconds:.0f} s._", ""]
        for block in section.details:
            lines += [block]
    return "\n".join(lines).rstrip() + "\n"
