"""How preflight shows its rows: a table for people, JSON for scripts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from hook_archive_cli.preflight import Row

_MARKS = {"pass": "pass", "warn": "WARN", "fail": "FAIL"}


def summary(rows: Sequence[Row]) -> str:
    counts = Counter(row.status for row in rows)
    return f"{counts['fail']} failed, {counts['warn']} warning(s), {counts['pass']} passed"


def table(rows: Sequence[Row], *, heading: str) -> str:
    width = max(len(row.name) for row in rows)
    lines = [heading, ""]
    for row in rows:
        lines.append(f"{_MARKS[row.status]:<4}  {row.name:<{width}}  {row.detail}")
        if row.fix and row.status != "pass":
            lines.append(f"{'':<4}  {'':<{width}}  fix: {row.fix}")
    lines += ["", summary(rows)]
    return "\n".join(lines)


def as_json(rows: Sequence[Row], *, region: str, template: str) -> str:
    return json.dumps(
        {
            "ok": not any(row.status == "fail" for row in rows),
            "region": region,
            "template": template,
            "rows": [row.as_json() for row in rows],
        },
        indent=2,
    )
