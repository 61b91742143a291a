"""The linters AWS and the community use on templates, offline: sam validate --lint, cfn-lint, checkov."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulation.lambda_runtime import load_template
from tests.template.cfn import REPO_ROOT, TEMPLATE, _transformed_text, sam_environment, tool

MIN_REASON_LENGTH = 40


def run(command: list[str | Path], *, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # tools from .tools/, fixed arguments
        [str(part) for part in command],
        cwd=cwd,
        env=sam_environment(),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sam_validate_with_lint_accepts_the_template() -> None:
    result = run([tool("sam", "sam"), "validate", "--lint", "--template-file", TEMPLATE])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint_reports_nothing_not_even_informational() -> None:
    result = run([tool("sam", "cfn-lint"), "--include-checks", "I", "--", TEMPLATE])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _checkov(path: Path) -> dict[str, Any]:
    checkov = tool("checkov", "checkov")
    options = ["--framework", "cloudformation", "--skip-download", "--output", "json"]
    result = run([checkov, "--file", path, *options], cwd=path.parent)
    # checkov exits 1 when a check failed: the report says which.
    assert result.returncode in {0, 1}, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _suppressions(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    found = {}
    for logical_id, resource in document["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            found[(logical_id, skip["id"])] = skip.get("comment", "")
    return found


@pytest.mark.parametrize("form", ["template.yaml", "SAM-transformed"])
def test_checkov_fails_nothing_and_skips_only_what_the_template_suppresses_with_a_reason(
    form: str, tmp_path: Path
) -> None:
    if form == "template.yaml":
        path = TEMPLATE
    else:
        # The transformed template shows what SAM generates (function, schedule and its role) to checkov too.
        path = tmp_path / "transformed.json"
        path.write_text(_transformed_text(TEMPLATE))
    report = _checkov(path)
    results = report["results"]
    failed = [
        (check["resource"], check["check_id"], check["check_name"]) for check in results["failed_checks"]
    ]
    assert failed == []
    declared = _suppressions(load_template())
    for (logical_id, check_id), reason in declared.items():
        assert len(reason) >= MIN_REASON_LENGTH, f"{logical_id} suppresses {check_id} without a reason"
    skipped = {(check["resource"].split(".", 1)[1], check["check_id"]) for check in results["skipped_checks"]}
    # Every skip comes from the template, and every suppression still has something to suppress.
    assert {key for key in skipped if key in declared} == set(declared)
    if form == "SAM-transformed":
        # SAM copies the function's Metadata onto what it generates from it; nothing else is skipped.
        generated = {key for key in skipped if key not in declared}
        assert all(logical_id.startswith("ArchiverFunction") for logical_id, _ in generated), generated
    else:
        assert skipped == set(declared)
