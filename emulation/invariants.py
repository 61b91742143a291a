"""The three invariants a reconciliation judges, as one report: the archive equals the ground truth exactly
once, every failure was announced, and the checkpoint is closed and bounded. The wire tiers fill it from moto
and the emulator (emulation/reconciliation.py), the fakes tier from its fakes (tests/functional)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class Reconciliation:
    rows: int = 0
    expected: int = 0
    missing: set[str] = field(default_factory=set)
    unexpected: set[str] = field(default_factory=set)
    duplicated: set[str] = field(default_factory=set)
    mismatched: list[str] = field(default_factory=list)
    events: int = 0
    failures_without_event: set[str] = field(default_factory=set)
    events_without_failed_row: set[str] = field(default_factory=set)
    events_naming_another_object: set[str] = field(default_factory=set)
    checkpoint_problems: list[str] = field(default_factory=list)
    # The annotations table: every failure announced as enriched has exactly its API annotations, once.
    annotation_rows: int = 0
    annotations_missing: set[str] = field(default_factory=set)
    annotations_duplicated: set[str] = field(default_factory=set)
    annotations_mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No finding of any kind: every field but the three counts is empty."""
        return not any(
            getattr(self, f.name)
            for f in fields(self)
            if f.name not in {"rows", "expected", "events", "annotation_rows"}
        )

    def summary(self) -> str:
        findings = " ".join(
            f"{f.name}={sorted(value)[:5] if isinstance(value, set) else value[:5]}"
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), set | list)
        )
        return (
            f"rows={self.rows} expected={self.expected} events={self.events} "
            f"annotation_rows={self.annotation_rows} {findings}"
        )
