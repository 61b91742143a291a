"""What preflight needs from the machine: commands on PATH and the versions they report."""

from __future__ import annotations

import shutil
import subprocess

from hook_archive_cli.facts import LocalFacts, LocalTool, one_line
from hook_archive_cli.preflight import PYTHON_COMMAND

# `sam --version` starts a Python program: seconds on a cold disk, never minutes.
VERSION_TIMEOUT_SECONDS = 60


def find_tool(command: str, *, path: str | None = None) -> LocalTool:
    """``command`` as PATH (or ``path``) resolves it, and the first line of its ``--version``."""
    located = shutil.which(command, path=path)
    if located is None:
        return LocalTool(command, None, None)
    try:
        completed = subprocess.run(  # noqa: S603  # a command found on the user's PATH, no shell
            [located, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return LocalTool(command, located, None, one_line(str(error)))
    lines = (completed.stdout.strip() or completed.stderr.strip()).splitlines()
    first = one_line(lines[0]) if lines else ""
    if completed.returncode != 0:
        return LocalTool(command, located, None, first or f"exit status {completed.returncode}")
    return LocalTool(command, located, first or None, None if first else "printed no version")


def read_local_tools(*, path: str | None = None) -> LocalFacts:
    return LocalFacts(sam=find_tool("sam", path=path), python=find_tool(PYTHON_COMMAND, path=path))
