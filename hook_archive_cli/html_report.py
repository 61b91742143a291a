"""``report``: one self-contained HTML file of charts about the last N days of the archive, for a person who
was not at the terminal (a manager, an audit, a ticket).

Why hand-made inline SVG, not a charting library: the file must open with no network, in any browser, years
later, and be small enough to attach to a ticket. A library that embeds itself offline (plotly with
``include_plotlyjs=True``) adds ~3.5 MB of JavaScript to every report and a dependency the CLI does not have
(plotly is not installed in this project); Vega-Lite and Chart.js would need their scripts inlined the same
way. Four charts of bars and lines are a few hundred lines of SVG: no script at all (nothing to fail in the
console, nothing to block under a strict Content-Security-Policy), text that search and screen readers see,
and a tooltip per mark through SVG ``<title>``. Every chart also has its numbers in a table beneath it.

The numbers come from the named queries themselves (queries/*.sql, narrowed to ``--days``), run by DuckDB
over a local copy of the archive, so the report and ``cfn-hook-archive query`` can never disagree:

- failures per day per hook and the failure-rate trend: daily_failure_trend;
- WARN-mode failures, what switching each hook to FAIL would block: warn_mode_failures_last_30_days;
- top failing targets: top_failing_targets_last_30_days;
- top failing rules and controls, with severity and remediation: annotations/top_failing_rules_last_30_days,
  over hook_annotations (the annotations GetHookResult returned for each failure). An archive without
  annotation objects (from before they were kept) says so instead of showing an empty chart.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hook_archive_cli.local_archive import LocalArchive, QueryResult
from hook_archive_cli.named_queries import Narrowing, load
from hook_archive_cli.query import text

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in grey print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
OVERALL_COLOUR = "#333333"
WIDTH, HEIGHT = 1000, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 16, 44
BAR_ROW = 26
LABEL_WIDTH = 420
MAX_LABEL = 56

TITLES = {
    "failures": "Failures per day per hook",
    "rate": "Failure rate trend",
    "warn": "WARN-mode failures: what switching to FAIL would block",
    "targets": "Top failing targets",
    "rules": "Top failing rules and controls",
}


@dataclass(frozen=True)
class DailyRow:
    day: str
    hook: str
    failures: int
    invocations: int


@dataclass(frozen=True)
class WarnRow:
    hook: str
    warnings: int
    hook_errors: int
    targets: int
    last_warning_at: str


@dataclass(frozen=True)
class TargetRow:
    target_type: str
    target: str
    failures: int
    hooks: int


@dataclass(frozen=True)
class RuleRow:
    hook: str
    rule: str
    severity: str
    failures: int
    remediation_message: str
    remediation_link: str


# GetHookResult's SeverityLevel values, most severe first, in Okabe-Ito colours from hot to cold
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Annotation.html).
SEVERITY_COLOURS = {
    "CRITICAL": "#D55E00",
    "HIGH": "#E69F00",
    "MEDIUM": "#CC79A7",
    "LOW": "#56B4E9",
    "INFORMATIONAL": "#999999",
}
NO_SEVERITY_COLOUR = "#BBBBBB"
RULE_ROW = 44


@dataclass
class ReportData:
    days: int
    source: str
    generated_at: datetime
    objects: int
    daily: list[DailyRow] = field(default_factory=list)
    warn: list[WarnRow] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)
    rules: list[RuleRow] = field(default_factory=list)
    annotations_archived: bool = False

    @property
    def day_axis(self) -> list[str]:
        """Every day of the window, oldest first, including days without a row (the queries' dt >= filter)."""
        today = self.generated_at.astimezone(UTC).date()
        return [(today - timedelta(days=offset)).isoformat() for offset in range(self.days, -1, -1)]

    @property
    def hooks(self) -> list[str]:
        return sorted({row.hook for row in self.daily})

    def failures_per_day(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = defaultdict(dict)
        for row in self.daily:
            table[row.day][row.hook] = row.failures
        return table

    def rate_per_day(self) -> dict[str, float]:
        """All hooks together: failures / invocations per day, in percent (days with invocations only)."""
        failures: dict[str, int] = defaultdict(int)
        invocations: dict[str, int] = defaultdict(int)
        for row in self.daily:
            failures[row.day] += row.failures
            invocations[row.day] += row.invocations
        return {day: 100.0 * failures[day] / invocations[day] for day in sorted(invocations)}

    def as_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "source": self.source,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "objects": self.objects,
            "invocations": sum(row.invocations for row in self.daily),
            "failures": sum(row.failures for row in self.daily),
            "failures_per_day_per_hook": [row.__dict__ for row in self.daily],
            "failure_rate_per_day": {day: round(rate, 1) for day, rate in self.rate_per_day().items()},
            "warn_mode_failures": [row.__dict__ for row in self.warn],
            "top_failing_targets": [row.__dict__ for row in self.targets],
            "top_failing_rules": [row.__dict__ for row in self.rules],
            "annotations_archived": self.annotations_archived,
        }


def _records(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def collect(archive: LocalArchive, *, days: int, source: str, now: datetime) -> ReportData:
    def run(name: str) -> list[dict[str, Any]]:
        return _records(archive.run(load(name, Narrowing(days=days)).athena_sql))

    data = ReportData(
        days=days,
        source=source,
        generated_at=now,
        objects=len(archive.objects),
        annotations_archived=bool(archive.annotation_objects),
    )
    data.daily = [
        DailyRow(str(row["dt"]), str(row["type_name"]), int(row["failures"]), int(row["invocations"]))
        for row in run("daily_failure_trend")
    ]
    data.warn = [
        WarnRow(
            str(row["type_name"]),
            int(row["warnings"]),
            int(row["hook_errors"]),
            int(row["targets"]),
            text(row["last_warning_at"]),
        )
        for row in run("warn_mode_failures_last_30_days")
    ]
    data.targets = [
        TargetRow(str(row["target_type"]), str(row["target"]), int(row["failures"]), int(row["hooks"]))
        for row in run("top_failing_targets_last_30_days")
    ]
    data.rules = [
        RuleRow(
            hook=str(row["type_name"]),
            rule=text(row["annotation_name"]),
            severity=text(row["severity_level"]),
            failures=int(row["failures"]),
            remediation_message=text(row["remediation_message"]),
            remediation_link=text(row["remediation_link"]),
        )
        for row in run("annotations/top_failing_rules_last_30_days")
    ]
    return data


# ---------------------------------------------------------------------------------------------- SVG


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above value: round axis maxima."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _short(label: str) -> str:
    """A label that fits: a stack ARN as stack/NAME/first-id-characters; anything else cut at the front."""
    if ":stack/" in label:
        name, _, stack_id = label.split(":stack/", 1)[1].partition("/")
        label = f"stack/{name}/{stack_id[:8]}…" if stack_id else f"stack/{name}"
    return label if len(label) <= MAX_LABEL else "…" + label[-(MAX_LABEL - 1) :]


def _colour(hooks: Sequence[str], hook: str) -> str:
    return PALETTE[hooks.index(hook) % len(PALETTE)]


def _y_axis(maximum: float, *, unit: str = "") -> list[str]:
    plot_height = HEIGHT - TOP - BOTTOM
    parts = []
    for tick in range(5):
        value = maximum * tick / 4
        y = TOP + plot_height - plot_height * tick / 4
        label = f"{value:g}{unit}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{label}</text>'
        )
    return parts


def _x_labels(days: Sequence[str], centre: Any) -> list[str]:
    every = max(1, len(days) // 10)
    return [
        f'<text x="{centre(index):.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">'
        f"{_e(day[5:])}</text>"
        for index, day in enumerate(days)
        if index % every == 0 or index == len(days) - 1
    ]


def _legend(hooks: Sequence[str], *, extra: Sequence[tuple[str, str]] = ()) -> str:
    items = [(hook, _colour(hooks, hook)) for hook in hooks] + list(extra)
    return (
        '<ul class="legend">'
        + "".join(
            f'<li><span class="swatch" style="background:{colour}"></span>{_e(name)}</li>'
            for name, colour in items
        )
        + "</ul>"
    )


def _svg(chart: str, title: str, parts: Sequence[str], height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" data-chart="{chart}" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{_e(title)}">' + "".join(parts) + "</svg>"
    )


def failures_chart(data: ReportData) -> str:
    days, hooks, table = data.day_axis, data.hooks, data.failures_per_day()
    totals = [sum(table.get(day, {}).values()) for day in days]
    maximum = _nice_ceiling(max(totals, default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(days)
    parts = _y_axis(maximum)
    for index, day in enumerate(days):
        bottom = float(TOP + plot_height)
        for hook in hooks:
            value = table.get(day, {}).get(hook, 0)
            if not value:
                continue
            height = plot_height * value / maximum
            bottom -= height
            parts.append(
                f'<rect x="{LEFT + index * slot + slot * 0.1:.1f}" y="{bottom:.1f}" width="{slot * 0.8:.1f}" '
                f'height="{height:.1f}" fill="{_colour(hooks, hook)}" data-day="{day}" '
                f'data-hook="{_e(hook)}" data-value="{value}"><title>{day} {_e(hook)}: {value} failure(s)'
                "</title></rect>"
            )
    parts += _x_labels(days, lambda index: LEFT + index * slot + slot / 2)
    return _svg("failures", TITLES["failures"], parts) + _legend(hooks)


def rate_chart(data: ReportData) -> str:
    days, hooks = data.day_axis, data.hooks
    per_hook: dict[str, dict[str, float]] = defaultdict(dict)
    for row in data.daily:
        per_hook[row.hook][row.day] = 100.0 * row.failures / row.invocations
    overall = data.rate_per_day()
    maximum = _nice_ceiling(max([*overall.values(), *(v for s in per_hook.values() for v in s.values())]))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(days) - 1, 1)

    def point(day: str, rate: float) -> tuple[float, float]:
        return LEFT + days.index(day) * step, TOP + plot_height - plot_height * rate / maximum

    parts = _y_axis(maximum, unit="%")
    series = [(hook, _colour(hooks, hook), per_hook[hook], "hook") for hook in hooks]
    series.append(("all hooks", OVERALL_COLOUR, overall, "overall"))
    for name, colour, rates, kind in series:
        points = [point(day, rates[day]) for day in days if day in rates]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" class="line {kind}"/>')
        for day in (day for day in days if day in rates):
            x, y = point(day, rates[day])
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{4 if kind == "overall" else 2.5}" fill="{colour}" '
                f'data-series="{_e(name)}" data-day="{day}" data-value="{rates[day]:.1f}">'
                f"<title>{day} {_e(name)}: {rates[day]:.1f}% failed</title></circle>"
            )
    parts += _x_labels(days, lambda index: LEFT + index * step)
    return _svg("rate", TITLES["rate"], parts) + _legend(hooks, extra=[("all hooks", OVERALL_COLOUR)])


def _bars(chart: str, rows: Sequence[tuple[str, int, str, str]]) -> str:
    """Horizontal bars: (label, value, colour, text after the bar) per row, longest first as given."""
    maximum = _nice_ceiling(max((value for _, value, _, _ in rows), default=0))
    height = TOP + BAR_ROW * len(rows) + 8
    span = WIDTH - LABEL_WIDTH - RIGHT - 200
    parts = []
    for index, (label, value, colour, note) in enumerate(rows):
        y = TOP + index * BAR_ROW
        width = span * value / maximum
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" class="label" text-anchor="end">{_e(_short(label))}'
            f"<title>{_e(label)}</title></text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_ROW - 8}" fill="{colour}" '
            f'data-label="{_e(label)}" data-value="{value}"><title>{_e(label)}: {_e(note)}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 16}" class="value">{_e(note)}</text>'
        )
    return _svg(chart, TITLES[chart], parts, height=height)


def warn_chart(data: ReportData) -> str:
    hooks = sorted({*data.hooks, *(row.hook for row in data.warn)})
    return _bars(
        "warn",
        [
            (row.hook, row.warnings, _colour(hooks, row.hook), f"{row.warnings} on {row.targets} target(s)")
            for row in data.warn
        ],
    )


def targets_chart(data: ReportData) -> str:
    return _bars(
        "targets",
        [
            (row.target, row.failures, PALETTE[3], f"{row.failures} failure(s), {row.hooks} hook(s)")
            for row in data.targets
        ],
    )


def rules_chart(data: ReportData) -> str:
    """One bar per rule and hook, coloured by severity; its name, severity, count and remediation link as
    text (the link is text, not an anchor: the page loads and links nothing)."""
    maximum = _nice_ceiling(max((row.failures for row in data.rules), default=0))
    span = WIDTH - LABEL_WIDTH - RIGHT - 200
    parts = []
    for index, row in enumerate(data.rules):
        y = TOP + index * RULE_ROW
        width = span * row.failures / maximum
        colour = SEVERITY_COLOURS.get(row.severity, NO_SEVERITY_COLOUR)
        note = f"{row.failures} failure(s), {row.severity or 'no severity'}"
        parts.append(
            f'<g class="rule" data-hook="{_e(row.hook)}" data-rule="{_e(row.rule)}" '
            f'data-severity="{_e(row.severity)}" data-value="{row.failures}" '
            f'data-link="{_e(row.remediation_link)}">'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" class="label" text-anchor="end">{_e(_short(row.rule))}'
            f"<title>{_e(row.rule)} ({_e(row.hook)})</title></text>"
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 32}" class="tick" text-anchor="end">'
            f"{_e(_short(row.hook))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_ROW - 8}" fill="{colour}">'
            f"<title>{_e(row.rule)}: {_e(note)}. {_e(row.remediation_message)}</title></rect>"
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 16}" class="value">{_e(note)}</text>'
            f'<text x="{LABEL_WIDTH}" y="{y + 34}" class="link">{_e(row.remediation_link)}</text></g>'
        )
    legend = _legend([], extra=[(level.lower(), colour) for level, colour in SEVERITY_COLOURS.items()])
    return _svg("rules", TITLES["rules"], parts, height=TOP + RULE_ROW * len(data.rules) + 8) + legend


def _rules_content(data: ReportData, window: str) -> str:
    if not data.annotations_archived:
        return _empty(
            "No annotations archived yet: this archive has no objects under annotations/ (it was written "
            "before annotations were kept, or no failure has been enriched with GetHookResult yet)."
        )
    if not data.rules:
        return _empty(f"No failed rules or controls in {window}.")
    return rules_chart(data) + _table(
        ["hook", "rule or control", "severity", "failures", "remediation", "remediation link"],
        [
            (r.hook, r.rule, r.severity, r.failures, r.remediation_message, r.remediation_link)
            for r in data.rules
        ],
    )


# ---------------------------------------------------------------------------------------------- HTML


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<details><summary>The numbers</summary><table><tr>{head}</tr>{body}</table></details>"


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


def _panel(key: str, explanation: str, content: str) -> str:
    return (
        f'<section class="panel" id="{key}"><h2>{_e(TITLES[key])}</h2>'
        f'<p class="note">{_e(explanation)}</p>{content}</section>'
    )


def render(data: ReportData) -> str:
    window = f"the last {data.days} day(s)"
    no_failures = _empty(f"No failed invocations archived in {window}.")
    failed = sum(row.failures for row in data.daily)
    invocations = sum(row.invocations for row in data.daily)
    panels = [
        _panel(
            "failures",
            "Invocations that ended HOOK_COMPLETE_FAILED or HOOK_FAILED, by the UTC day of InvokedAt, "
            "stacked by hook (daily_failure_trend).",
            (failures_chart(data) if failed else no_failures)
            + _table(
                ["day", "hook", "failures", "invocations"],
                [(row.day, row.hook, row.failures, row.invocations) for row in data.daily],
            ),
        ),
        _panel(
            "warn",
            "Failures of hooks in WARN mode: the deployments went ahead with a warning. Switching the hook "
            "to FAIL would have blocked them (warn_mode_failures_last_30_days).",
            (warn_chart(data) if data.warn else _empty(f"No WARN-mode failures in {window}."))
            + _table(
                ["hook", "warnings", "hook errors", "targets", "last warning"],
                [(r.hook, r.warnings, r.hook_errors, r.targets, r.last_warning_at) for r in data.warn],
            ),
        ),
        _panel(
            "targets",
            "The stacks, change sets and Cloud Control requests that failed hooks most often "
            "(top_failing_targets_last_30_days, the ten first).",
            (targets_chart(data) if data.targets else no_failures)
            + _table(
                ["target type", "target", "failures", "hooks"],
                [(r.target_type, r.target, r.failures, r.hooks) for r in data.targets],
            ),
        ),
        _panel(
            "rate",
            "Failed invocations as a share of all invocations per day: each hook, and all hooks together.",
            (rate_chart(data) if invocations else _empty(f"No invocations archived in {window}."))
            + _table(
                ["day", "failure rate (all hooks)"],
                [(day, f"{rate:.1f}%") for day, rate in data.rate_per_day().items()],
            ),
        ),
        _panel(
            "rules",
            "The Guard rules and controls that failed most, with their severity and remediation, from the "
            "annotations GetHookResult returned for each failure "
            "(annotations/top_failing_rules_last_30_days, the twenty first).",
            _rules_content(data, window),
        ),
    ]
    generated = data.generated_at.astimezone(UTC).isoformat(timespec="seconds")
    summary = (
        f"{invocations:,} invocation(s), {failed:,} failed"
        + (f" ({100.0 * failed / invocations:.1f}%)" if invocations else "")
        + f", {len(data.hooks)} hook(s), from {data.objects:,} archive object(s)."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>cfn-hook-archive report: {_e(window)}</title>
<style>{_STYLE}</style></head>
<body><header><h1>CloudFormation Hook results: {_e(window)}</h1>
<p class="meta">{_e(data.source)}, days {_e(data.day_axis[0])} to {_e(data.day_axis[-1])} (UTC);
generated {_e(generated)} by cfn-hook-archive report.</p>
<p class="summary">{_e(summary)}</p></header>
{"".join(panels)}
</body></html>
"""


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:24px auto;
max-width:1080px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 4px}
.meta,.note{color:#555;margin:2px 0}.summary{font-weight:600}
.panel{border:1px solid #ddd;border-radius:6px;padding:14px 16px;margin:16px 0}
.chart{display:block;margin:8px 0}
.grid{stroke:#e4e4e4;stroke-width:1}.tick,.value,.label{font-size:12px;fill:#444}
.link{font-size:11px;fill:#0b5394}
.line{stroke-width:1.5;opacity:.55}.line.overall{stroke-width:3;opacity:1}
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.empty{background:#f6f6f6;border:1px dashed #bbb;border-radius:4px;padding:18px;color:#444;text-align:center}
table{border-collapse:collapse;font-size:12px;margin-top:6px}
td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left;white-space:nowrap}
summary{cursor:pointer;color:#555;font-size:12px}
"""
