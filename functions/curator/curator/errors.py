"""Domain errors: each says what failed."""

from __future__ import annotations


class CuratorError(Exception):
    """Base class of every error the curator raises on purpose."""


class ConfigError(CuratorError):
    """The Lambda environment is missing a variable or holds a bad value."""


class RawArchiveError(CuratorError):
    """Listing or reading the raw archive failed: the run stops before committing anything."""


class CuratedTableError(CuratorError):
    """The curated table could not be loaded, created, read or written."""


class CommitConflictError(CuratedTableError):
    """Another writer committed to the table first (Iceberg's optimistic concurrency): nothing of this
    attempt landed, and the run plans again from the new snapshot."""


class CommitAttemptsExhaustedError(CuratedTableError):
    """Every attempt lost to a concurrent writer: the run stops, the next one catches up."""


class UnsupportedTableError(CuratedTableError):
    """The table exists but is not the table this curator writes (another schema or partition spec)."""


class CurationFailedError(CuratorError):
    """Both tables' curations failed in one run: the message holds each table's error."""
