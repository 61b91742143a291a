"""`cfn-hook-archive report`: the HTML report of an archive the real archiver wrote, its numbers checked
against the Parquet counted in plain Python, then opened in headless Chromium (Debian's package): the chart
titles and data points are in the rendered DOM, the screenshot is not blank and shows the charts' colours,
and the console has no error. Without Chromium these are skipped, unless
CFN_HOOK_ARCHIVE_TEMPLATE_CHECKS=required (`make test`, whose `browser` target installs it): then they
fail."""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulation.archiver_harness import ARCHIVE_PREFIX
from hook_archive_cli.html_report import PALETTE, TITLES
from tests.cli.conftest import ArchiveSnapshot, CliRun, Operator
from tests.cli.test_query import (
    cli,
    read_annotations,
    read_rows,
    truth_daily,
    truth_top_rules,
    truth_top_targets,
    truth_warn_mode,
    write_copy,
)

DAYS = 30
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
# Chromium logs each console message to stderr as `INFO:CONSOLE:<line>] "<message>", source: ...`.
CONSOLE_MESSAGE = re.compile(r":CONSOLE[:(]\d*\)?\]? ?(\"[^\n]*)")


@dataclass(frozen=True)
class Report:
    run: CliRun
    path: Path
    copy: Path

    @property
    def html(self) -> str:
        return self.path.read_text()


@pytest.fixture(scope="module")
def report(archive_snapshot: ArchiveSnapshot, tmp_path_factory: pytest.TempPathFactory) -> Report:
    copy = write_copy(archive_snapshot.objects, tmp_path_factory.mktemp("copy"))
    path = tmp_path_factory.mktemp("report") / "report.html"
    run = cli("report", "--days", str(DAYS), "--out", str(path), "--local", str(copy), "--json")
    assert run.exit_status == 0, run.stderr
    return Report(run, path, copy)


@pytest.fixture(scope="module")
def truth(report: Report) -> list[dict[str, Any]]:
    return read_rows(report.copy)


# ----------------------------------------------------------------------------------------- the numbers


def test_the_reports_numbers_are_the_archives_rows_counted_in_python(
    report: Report, truth: list[dict[str, Any]]
) -> None:
    data = report.run.report
    daily = {
        (row["day"], row["hook"]): (row["failures"], row["invocations"])
        for row in data["failures_per_day_per_hook"]
    }
    assert daily == truth_daily(truth, days=DAYS)
    warn = {
        row["hook"]: (row["warnings"], row["hook_errors"], row["targets"])
        for row in data["warn_mode_failures"]
    }
    assert warn == truth_warn_mode(truth, days=DAYS)
    assert warn  # the synthetic account has a WARN-mode hook that fails
    targets = [
        [row["target_type"], row["target"], row["failures"], row["hooks"]]
        for row in data["top_failing_targets"]
    ]
    assert targets == truth_top_targets(truth, days=DAYS)
    assert data["invocations"] == len(truth)
    assert data["annotations_archived"] is True
    rules = [
        [
            row["hook"],
            row["rule"],
            row["severity"],
            row["failures"],
            row["remediation_message"],
            row["remediation_link"],
        ]
        for row in data["top_failing_rules"]
    ]
    assert rules == truth_top_rules(read_annotations(report.copy), days=DAYS)
    assert len(rules) >= 5


def test_the_html_needs_no_network_and_runs_no_script(report: Report) -> None:
    html = report.html.lower()

    for reference in ("src=", "href=", "url(", "@import", "<script", "<link", "<iframe", "<object"):
        assert reference not in html, reference
    assert "content-security-policy" in html  # anything added later that loads a resource is refused
    assert report.run.report["bytes"] == len(report.path.read_bytes())


def test_a_report_read_from_s3_equals_the_report_of_a_local_copy(
    archived: Operator, report: Report, tmp_path: Path
) -> None:
    out = tmp_path / "from-s3.html"

    run = archived.cli("report", "--days", str(DAYS), "--out", str(out), *archived.location, "--json")

    assert run.exit_status == 0, run.stderr
    ignored = {"source", "generated_at", "out", "bytes"}
    assert {k: v for k, v in run.report.items() if k not in ignored} == {
        k: v for k, v in report.run.report.items() if k not in ignored
    }
    assert run.report["source"] == f"s3://{archived.aws.bucket}/{ARCHIVE_PREFIX}/"
    assert out.exists()


def test_an_empty_archive_gives_a_report_that_says_so_with_exit_zero(tmp_path: Path) -> None:
    out = tmp_path / "empty.html"

    run = cli("report", "--out", str(out), "--local", str(tmp_path), "--json")

    assert run.exit_status == 0, run.stderr
    assert run.report["invocations"] == 0
    html = out.read_text()
    assert "No failed invocations archived in the last 30 day(s)." in html
    assert "No invocations archived in the last 30 day(s)." in html
    assert "<svg" not in html  # no empty chart
    assert "No annotations archived yet" in html


def test_a_copy_without_annotations_says_none_are_archived_and_draws_no_rules_chart(
    report: Report, tmp_path: Path
) -> None:
    # Given the results of the same archive without its annotations (written before they were kept)
    copy = tmp_path / "results-only"
    for path in (report.copy / ARCHIVE_PREFIX).glob("dt=*/*.parquet"):
        target = copy / path.relative_to(report.copy)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    out = tmp_path / "results-only.html"

    run = cli("report", "--days", str(DAYS), "--out", str(out), "--local", str(copy), "--json")

    assert run.exit_status == 0, run.stderr
    assert run.report["annotations_archived"] is False
    assert run.report["top_failing_rules"] == []
    assert run.report["failures_per_day_per_hook"] == report.run.report["failures_per_day_per_hook"]
    page = out.read_text()
    assert "No annotations archived yet" in page
    assert 'data-chart="rules"' not in page
    assert 'data-chart="rules"' in report.html  # the control: the same archive with annotations has it


def test_an_output_in_a_missing_directory_exits_two_before_reading_anything(tmp_path: Path) -> None:
    run = cli("report", "--out", str(tmp_path / "nowhere" / "report.html"), "--local", str(tmp_path))

    assert run.exit_status == 2
    assert "no directory" in run.stderr


def test_a_bucket_that_does_not_exist_exits_two(operator: Operator, tmp_path: Path) -> None:
    run = operator.cli("report", "--out", str(tmp_path / "r.html"), "--bucket", "no-such-archive-bucket")

    assert run.exit_status == 2
    assert "NoSuchBucket" in run.stderr
    assert not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "chromium is not installed: `make browser` installs Debian's package"
        if os.environ.get("CFN_HOOK_ARCHIVE_TEMPLATE_CHECKS") == "required":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _chromium(binary: str, profile: Path, page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(  # noqa: S603  # our own binary path and flags
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def console_messages(stderr: str) -> list[str]:
    return [match.group(1) for match in CONSOLE_MESSAGE.finditer(stderr)]


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]
    screenshot: Path


@pytest.fixture(scope="module")
def rendered(chromium: str, report: Report, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    work = tmp_path_factory.mktemp("chromium")
    dumped = _chromium(chromium, work / "profile-dom", report.path, "--dump-dom")
    screenshot = work / "report.png"
    _chromium(
        chromium, work / "profile-png", report.path, f"--screenshot={screenshot}", "--window-size=1200,1600"
    )
    return Rendered(dumped.stdout, console_messages(dumped.stderr), screenshot)


def test_the_console_check_sees_an_error_a_page_makes(chromium: str, tmp_path: Path) -> None:
    # The check below is only worth something if it catches one: a page that logs and throws
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><p>x</p><script>console.error("planted"); throw new Error("boom");</script>'
    )

    messages = console_messages(_chromium(chromium, tmp_path / "profile", page, "--dump-dom").stderr)

    assert any("planted" in message for message in messages), messages
    assert any("Uncaught Error: boom" in message for message in messages), messages


def test_the_report_renders_without_a_console_message(rendered: Rendered) -> None:
    assert "<svg" in rendered.dom  # it did render the page
    assert rendered.console == []


def test_the_rendered_dom_has_every_chart_title_and_the_annotations_panel(rendered: Rendered) -> None:
    for title in TITLES.values():
        assert f"<h2>{title}</h2>" in rendered.dom.replace("&amp;", "&"), title
    for chart in ("failures", "rate", "warn", "targets", "rules"):
        assert f'data-chart="{chart}"' in rendered.dom
    assert "No annotations archived yet" not in rendered.dom


RULE_MARK = re.compile(
    r'<g class="rule" data-hook="([^"]*)" data-rule="([^"]*)" data-severity="([^"]*)" '
    r'data-value="(\d+)" data-link="([^"]*)">(.*?)</g>',
    re.DOTALL,
)


def test_the_rendered_rules_are_the_archived_annotations_with_severity_count_and_link_as_text(
    rendered: Rendered, report: Report
) -> None:
    expected = truth_top_rules(read_annotations(report.copy), days=DAYS)
    marks: list[tuple[str, str, str, int, str, str]] = [
        (
            html.unescape(match[1]),
            html.unescape(match[2]),
            html.unescape(match[3]),
            int(match[4]),
            html.unescape(match[5]),
            match[6],
        )
        for match in RULE_MARK.finditer(rendered.dom)
    ]
    assert [(hook, rule, severity, value, link) for hook, rule, severity, value, link, _ in marks] == [
        (hook, rule, severity, failures, link) for hook, rule, severity, failures, _message, link in expected
    ]
    # What a reader sees, as text: the rule's name, its count and severity, its remediation link
    for (_hook, rule, severity, value, link, body), row in zip(marks, expected, strict=True):
        shown = html.unescape(re.sub(r"<title>.*?</title>", "", body))
        assert rule in shown
        assert f"{value} failure(s), {severity}" in shown
        assert link in shown
        assert row[4] in html.unescape(body)  # the remediation message, in the bar's tooltip


def test_the_rendered_bars_are_the_failures_per_day_and_hook_of_the_archive(
    rendered: Rendered, truth: list[dict[str, Any]]
) -> None:
    bars = {
        (day, hook): int(value)
        for day, hook, value in re.findall(
            r'<rect [^>]*data-day="([^"]+)" data-hook="([^"]+)" data-value="(\d+)"', rendered.dom
        )
    }
    expected = {key: failures for key, (failures, _) in truth_daily(truth, days=DAYS).items() if failures}
    assert bars == expected
    assert len(expected) >= 8


def test_the_rendered_warn_and_target_bars_and_rate_points_are_the_archives(
    rendered: Rendered, truth: list[dict[str, Any]]
) -> None:
    labelled = dict(re.findall(r'<rect [^>]*data-label="([^"]+)" data-value="(\d+)"', rendered.dom))
    for hook, (warnings, _errors, _targets) in truth_warn_mode(truth, days=DAYS).items():
        assert labelled[hook] == str(warnings)
    for _kind, target, failures, _hooks in truth_top_targets(truth, days=DAYS):
        assert labelled[target] == str(failures)
    overall = dict(
        re.findall(r'data-series="all hooks" data-day="([^"]+)" data-value="([\d.]+)"', rendered.dom)
    )
    per_day: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for (day, _hook), (failures, invocations) in truth_daily(truth, days=DAYS).items():
        per_day[day] += invocations
        failed[day] += failures
    assert overall == {day: f"{100 * failed[day] / per_day[day]:.1f}" for day in per_day}


def test_the_screenshot_is_not_blank_and_shows_the_charts_colours(rendered: Rendered) -> None:
    width, height, pixels = read_png(rendered.screenshot.read_bytes())

    assert (width, height) == (1200, 1600)
    assert len(pixels) > 50  # text, axes, bars and lines: a blank page has one or two colours
    background = pixels.most_common(1)[0][1]
    assert background < 0.98 * width * height
    first_hook = bytes.fromhex(PALETTE[0].removeprefix("#"))
    assert pixels[first_hook] > 500, "no bar of the first hook's colour was painted"


def read_png(data: bytes) -> tuple[int, int, Counter[bytes]]:
    """A PNG's size and how many pixels have each RGB colour: the stdlib only (zlib, struct), 8-bit RGB or
    RGBA, not interlaced, as Chromium writes its screenshots."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, compressed = 8, []
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0)
            assert colour in {2, 6}  # RGB, RGBA
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            compressed.append(body)
    raw = zlib.decompress(b"".join(compressed))
    stride = width * channels
    previous = bytearray(stride)
    counts: Counter[bytes] = Counter()
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels)
        counts.update(bytes(line[x : x + 3]) for x in range(0, stride, channels))
        previous = line
    return width, height, counts


def _unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> bytearray:
    if kind == 1:  # Sub
        for i in range(step, len(line)):
            line[i] = (line[i] + line[i - step]) & 0xFF
    elif kind == 2:  # Up
        line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
    elif kind == 3:  # Average
        for i in range(len(line)):
            left = line[i - step] if i >= step else 0
            line[i] = (line[i] + (left + previous[i]) // 2) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(len(line)):
            a = line[i - step] if i >= step else 0
            b, c = previous[i], previous[i - step] if i >= step else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return line
