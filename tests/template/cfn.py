"""What the template tier needs to read template.yaml the way CloudFormation would.

- `transformed()`: the SAM transform (aws-sam-translator, run by the SAM CLI's own Python) of template.yaml.
- `Stack`: one deployment of it: parameter values, conditions evaluated, intrinsics resolved.
- `tool()`: the CLI tools `make tools` installs; absent ones skip the test, or fail it under `make test`.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from emulation.cfn_stack import ACCOUNT_ID, NO_VALUE, PARTITION, REGION, Stack

__all__ = ["ACCOUNT_ID", "NO_VALUE", "PARTITION", "REGION", "Stack"]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
TOOLS = REPO_ROOT / ".tools"
BUILD_DIRS = {
    "arm64": REPO_ROOT / ".aws-sam" / "build",
    "x86_64": REPO_ROOT / ".aws-sam" / "x86_64" / "build",
}
# `make test` sets this: there, a missing tool or build is a failure, not a reason to skip.
REQUIRED_ENV = "CFN_HOOK_ARCHIVE_TEMPLATE_CHECKS"


def missing(what: str, how: str) -> None:
    """Fail under `make test`; elsewhere (a bare `pytest tests/unit`, an IDE) skip with the remedy."""
    message = f"{what} is missing: run `{how}`"
    if os.environ.get(REQUIRED_ENV) == "required":
        pytest.fail(message)
    pytest.skip(message)


def tool(venv: str, name: str) -> Path:
    path = TOOLS / venv / "bin" / name
    if not path.exists():
        missing(f".tools/{venv}/bin/{name}", "make tools")
    return path


def build_dir(architecture: str) -> Path:
    path = BUILD_DIRS[architecture]
    if not (path / "template.yaml").exists():
        missing(
            f"the {architecture} build ({path.relative_to(REPO_ROOT)})",
            f"make {_BUILD_TARGETS[architecture]}",
        )
    return path


_BUILD_TARGETS = {"arm64": "build", "x86_64": "build-x86_64"}


def sam_environment() -> dict[str, str]:
    return {**os.environ, "SAM_CLI_TELEMETRY": "0"}


@cache
def _transformed_text(path: Path) -> str:
    python = tool("sam", "python")
    completed = subprocess.run(  # noqa: S603  # our own tool, fixed arguments
        [str(python), str(REPO_ROOT / "tooling" / "sam_transform.py"), str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if completed.returncode:
        pytest.fail(f"the SAM transform of {path.name} failed:\n{completed.stderr}")
    return completed.stdout


def transformed(path: Path = TEMPLATE) -> dict[str, Any]:
    """CloudFormation as the AWS::Serverless transform makes it (a fresh copy each call)."""
    document: dict[str, Any] = json.loads(_transformed_text(path))
    return document


def dashboard_metrics(body: str) -> list[list[Any]]:
    """Dashboard metric arrays with "." and "..." shorthands expanded."""
    expanded: list[list[Any]] = []
    for widget in json.loads(body)["widgets"]:
        previous: list[Any] = []
        for metric in widget["properties"]["metrics"]:
            options = [item for item in metric if isinstance(item, dict)]
            names = [item for item in metric if not isinstance(item, dict)]
            if names == ["..."]:
                names = previous
            names = [previous[index] if name == "." else name for index, name in enumerate(names)]
            previous = names
            expanded.append(names + options)
    return expanded
