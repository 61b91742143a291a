"""Domain errors: each says what failed, so logs and alarms need no stack trace to be understood."""

from __future__ import annotations


class ArchiverError(Exception):
    """Base class of every error the archiver raises on purpose."""


class ConfigError(ArchiverError):
    """The Lambda environment is missing a variable or holds a bad value."""


# The errors that are also ValueErrors were ValueErrors first: they stay so, for code that catches
# ValueError and for pydantic, which reports a ValueError raised in a validator as a ValidationError.


class MalformedHookResultError(ArchiverError, ValueError):
    """A summary we cannot archive at all (no usable HookResultId): the run counts it and goes on."""


class HookResultsError(ArchiverError):
    """ListHookResults or GetHookResult failed after botocore's retries."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


class PaginationError(HookResultsError):
    """The API's paging misbehaved: a repeated token or too many pages."""


class ArchiveWriteError(ArchiverError):
    """Writing or deleting an archive object in S3 failed."""


class ArchiveConflictError(ArchiveWriteError):
    """An archive object changed under this run (conditional PUT failed), or this run outlived its lease:
    another run has taken over, so this one stops writing and never commits."""


class CheckpointError(ArchiverError):
    """The checkpoint could not be read or written."""


class MalformedKnownIdsError(ArchiverError, ValueError):
    """The stored known-ids object cannot be decoded (dal/checkpoint_store reports it as corrupt)."""


class CheckpointCorruptError(CheckpointError):
    """The checkpoint object exists but is not a valid checkpoint; never reset it silently."""


class CheckpointConflictError(CheckpointError):
    """Another run changed the checkpoint first (S3 conditional write failed): this run lost cleanly."""


class RunInProgressError(CheckpointError):
    """Another run holds a live lease on the checkpoint."""


class EventTooLargeError(ArchiverError, ValueError):
    """A failure event cannot be shortened to fit PutEvents' entry size."""


class EventPublishError(ArchiverError):
    """PutEvents failed for some entries after retries."""

    def __init__(self, message: str, *, failed_entries: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.failed_entries = failed_entries
