"""Domain errors: each says what failed."""

from __future__ import annotations


class FleetHealthError(Exception):
    """Base class of every error the fleet-health check raises on purpose."""


class ConfigError(FleetHealthError):
    """The Lambda environment is missing a variable or holds a bad value."""


class CheckpointListingError(FleetHealthError):
    """Listing the checkpoints failed: the check cannot see the fleet, so it fails as a whole."""


class CheckpointReadError(FleetHealthError):
    """One checkpoint could not be read: reported as that archiver's finding, the check goes on."""

    def __init__(self, message: str, *, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code


class CheckpointGoneError(CheckpointReadError):
    """The checkpoint was deleted between listing and reading it (an account-region being removed)."""
