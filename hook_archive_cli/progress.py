"""Spinners for what takes more than a moment, on stderr only, and only for a person at a terminal: never
with --json, never when stderr is a pipe or a file, so scripts read clean output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.status import Status


class Progress:
    def __init__(self, *, json_output: bool, stream: TextIO | None = None) -> None:
        self._console = Console(file=stream or sys.stderr, stderr=stream is None)
        self.enabled = not json_output and self._console.is_terminal

    @contextmanager
    def step(self, message: str) -> Iterator[Step]:
        """A spinner with ``message`` while the block runs, cleared when it ends."""
        if not self.enabled:
            yield Step(None)
            return
        with self._console.status(message, spinner="dots") as status:
            yield Step(status)


class Step:
    def __init__(self, status: Status | None) -> None:
        self._status = status

    def update(self, message: str) -> None:
        if self._status is not None:
            self._status.update(message)
