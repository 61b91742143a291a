"""How ``status`` and ``verify`` show their reports: aligned plain-text tables for people (stable in a pipe
or a log, unlike a terminal-width table), JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hook_archive_cli.status import (
    AnnotationsStatus,
    ArchiverStatus,
    AuditStatus,
    ScanStatus,
    StatusReport,
    iso,
)
from hook_archive_cli.verify import DayReport, VerifyReport

_SHOWN_IDS = 5  # ids listed per day and kind in the table; --json has them all


def as_json(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2, sort_keys=False)


def duration(seconds: int) -> str:
    """3d 4h, 2h 5m, 7m, 12s: the two largest units."""
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if seconds >= size or (name == "s" and not parts):
            parts.append(f"{seconds // size}{name}")
            seconds %= size
        if len(parts) == 2:  # noqa: PLR2004  # the two largest units
            break
    return " ".join(parts)


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: frozenset[int]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        aligned = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(aligned).rstrip()

    return [line(header), *(line(row) for row in rows)]


# ---------------------------------------------------------------------------------------------- status


def _scan(scan: ScanStatus) -> str:
    if scan.state in {"complete", "unknown"}:
        return scan.state
    words = [scan.state.replace("_", " ")]
    if scan.percent is not None:
        words.append(f"{scan.percent:.1f}%")
    if scan.oldest_reached_ms is not None:
        words.append(f"at {iso(scan.oldest_reached_ms)}")
    if scan.eta_seconds is not None:
        words.append(f"ETA {duration(scan.eta_seconds)}")
    elif scan.results_seen is not None:
        words.append(f"({scan.results_seen} results seen)")
    return " ".join(words)


def _lease(archiver: ArchiverStatus) -> str:
    if archiver.lease_holder is None:
        return "-"
    return f"{archiver.lease_holder} ({'live' if archiver.lease_live else 'lapsed'})"


def _outbox(archiver: ArchiverStatus) -> str:
    if not archiver.outbox:
        return "0"
    return f"{archiver.outbox} ({archiver.events_deferred} deferred, {archiver.events_failing} failing)"


def _annotations(annotations: AnnotationsStatus) -> str:
    if annotations.pending is None:
        return "-"
    if annotations.oldest_pending_dt is None:
        return str(annotations.pending)
    return f"{annotations.pending} (oldest {annotations.oldest_pending_dt})"


def _audit(audit: AuditStatus | None, *, now_ms: int) -> str:
    """last 5h ago (2 repaired), due in 19h; during an audit: repair 12 page(s), last never, due now."""
    if audit is None:
        return "-"
    words = []
    if audit.in_progress:
        words.append(f"{audit.phase} {audit.pages} page(s),")
    if audit.last_completed_age_seconds is None:
        words.append("last never,")
    else:
        repaired = "" if audit.last_repaired is None else f" ({audit.last_repaired} repaired)"
        words.append(f"last {duration(audit.last_completed_age_seconds)} ago{repaired},")
    until = (audit.next_due_ms - now_ms) // 1000
    words.append(f"due in {duration(until)}" if until > 0 else "due now")
    return " ".join(words)


def status_table(report: StatusReport) -> str:
    heading = f"cfn-hook-archive status: {report.location} (stale after {report.stale_after_hours:g} h)"
    if not report.archivers:
        return (
            f"{heading}\n\nno checkpoint under {report.location}_state/: no archiver has committed here yet. "
            "Check --prefix (or --stack), and that the archiver has run."
        )
    header = (
        "ARCHIVER",
        "HEALTH",
        "LAST COMMIT",
        "AGE",
        "LEASE",
        "SCAN",
        "OUTBOX",
        "PENDING",
        "ANNOTATIONS DUE",
        "AUDIT",
    )
    rows = [
        (
            archiver.name,
            archiver.health,
            iso(archiver.last_commit_ms) or "-",
            duration(archiver.age_seconds),
            _lease(archiver),
            _scan(archiver.scan),
            _outbox(archiver),
            str(archiver.pending),
            _annotations(archiver.annotations),
            _audit(archiver.audit, now_ms=report.checked_at_ms),
        )
        for archiver in report.archivers
    ]
    table = _columns(header, rows, right=frozenset())
    lines = [heading, "", table[0]]
    for archiver, line in zip(report.archivers, table[1:], strict=True):
        lines.append(line)
        if archiver.last_error:
            lines.append(f"    last error: {archiver.last_error}")
    healthy = sum(1 for archiver in report.archivers if archiver.health == "ok")
    lines += ["", f"{len(report.archivers)} archiver(s): {healthy} ok, {len(report.archivers) - healthy} not"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- verify


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def _day_details(day: DayReport) -> list[str]:
    lines = []
    if day.missing:
        lines.append(f"    {day.day} missing: {_ids(day.missing)}")
    if day.duplicates:
        lines.append(f"    {day.day} duplicated: {_ids(day.duplicates)}")
    for mismatch in day.mismatches[:_SHOWN_IDS]:
        lines.append(
            f"    {day.day} mismatch: {mismatch.hook_result_id} {mismatch.field}: "
            f"listed {mismatch.listed!r}, archived {mismatch.archived!r} ({mismatch.key})"
        )
    if len(day.mismatches) > _SHOWN_IDS:
        lines.append(f"    {day.day} and {len(day.mismatches) - _SHOWN_IDS} more mismatch(es)")
    return lines


def verify_table(report: VerifyReport) -> str:
    heading = (
        f"cfn-hook-archive verify: account {report.account_id}, {report.region}, {report.location}, "
        f"{report.since} to {report.until} (late-arrival window {report.late_window_seconds} s)"
    )
    header = (
        "DAY",
        "LISTED",
        "ARCHIVED",
        "MISSING",
        "DUPLICATES",
        "MISMATCHES",
        "NOT YET DUE",
        "IN PROGRESS",
        "NOT LISTED",
    )
    rows = [
        (
            day.day,
            str(day.listed),
            str(day.archived),
            str(len(day.missing)),
            str(len(day.duplicates)),
            str(len(day.mismatches)),
            str(day.not_yet_due),
            str(day.in_progress),
            str(day.not_listed),
        )
        for day in report.days
    ]
    lines = [heading, ""]
    if rows:
        lines += _columns(header, rows, right=frozenset(range(1, len(header))))
    else:
        lines.append("nothing listed and nothing archived in these days")
    details = [line for day in report.days for line in _day_details(day)]
    if details:
        lines += ["", *details]
    totals = report.totals()
    lines += [
        "",
        f"{report.listed} listed ({report.malformed} malformed), {report.archived} archived row(s): "
        f"{report.discrepancies} discrepancy(ies): {totals['missing']} missing, {totals['duplicates']} "
        f"duplicated, {totals['mismatches']} mismatched",
    ]
    return "\n".join(lines)
