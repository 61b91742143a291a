"""The crash the fault and integration tiers inject into the archiver."""

from __future__ import annotations

import dataclasses
from typing import Any


class SimulatedCrash(BaseException):
    """The process dies here: not an Exception, so no cleanup code of the archiver runs."""


class CrashOnCommit:
    """Checkpoint store whose final commit (the save without an intent) never happens: the run dies after
    its intent and every object it wrote."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.location = inner.location

    def load(self) -> Any:
        return self._inner.load()

    def save(self, checkpoint: Any, *, etag: str | None) -> str:
        if checkpoint.intent is None:
            raise SimulatedCrash("commit")
        return str(self._inner.save(checkpoint, etag=etag))


def crash_on_commit(deps: Any, *, around: Any = None) -> Any:
    """`deps` (or `around`, a wrapped copy of them) whose run dies just before the checkpoint commit."""
    return dataclasses.replace(
        around if around is not None else deps, checkpoints=CrashOnCommit(deps.checkpoints)
    )
