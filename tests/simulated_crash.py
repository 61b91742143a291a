"""The crash the fault and integration tiers inject into the archiver."""

from __future__ import annotations


class SimulatedCrash(BaseException):
    """The process dies here: not an Exception, so no cleanup code of the archiver runs."""
